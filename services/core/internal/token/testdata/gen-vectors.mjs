// Generates vectors.json: better-auth 1.7.25's id/token generators run on a
// fixed byte stream (crypto.getRandomValues replaced), so token_test.go can
// check that the Go generators map random bytes to characters the same way,
// rejection sampling included.
//
//   node gen-vectors.mjs /path/to/peers/better-auth > vectors.json
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const peer = process.argv[2];
if (!peer) {
	console.error("usage: node gen-vectors.mjs <peer dir with node_modules>");
	process.exit(2);
}
const mod = (p) => import(pathToFileURL(join(peer, "node_modules", p)).href);
const { generateId } = await mod("@better-auth/core/dist/utils/id.mjs");
const { generateRandomString } = await mod("better-auth/dist/crypto/random.mjs");

// A deterministic stream with many values >= 248 and >= 252 (rejected).
function stream(seed) {
	let x = seed >>> 0;
	const bytes = [];
	for (let i = 0; i < 4096; i++) {
		x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
		const b = x >>> 24;
		bytes.push(i % 7 === 3 ? 248 + (b % 8) : b);
	}
	return bytes;
}

function withStream(bytes, fn) {
	let pos = 0;
	const orig = crypto.getRandomValues.bind(crypto);
	crypto.getRandomValues = (buf) => {
		for (let i = 0; i < buf.length; i++) buf[i] = bytes[pos++];
		return buf;
	};
	try {
		return fn();
	} finally {
		crypto.getRandomValues = orig;
	}
}

const cases = [];
for (const [name, seed, fn] of [
	["generateId(32) session token / id", 1, () => generateId(32)],
	["generateId(32) second seed", 2, () => generateId(32)],
	["generateId(24) reset token", 3, () => generateId(24)],
	['generateRandomString(32, "0-9", "a-z") delete-account token', 4, () => generateRandomString(32, "0-9", "a-z")],
	['generateRandomString(32, "0-9", "a-z") second seed', 5, () => generateRandomString(32, "0-9", "a-z")],
]) {
	const bytes = stream(seed).slice(0, 256);
	cases.push({ name, bytes: Buffer.from(bytes).toString("hex"), output: withStream(bytes, fn) });
}
process.stdout.write(JSON.stringify({ generator: "better-auth 1.7.25 generateId / generateRandomString", cases }, null, "\t") + "\n");
