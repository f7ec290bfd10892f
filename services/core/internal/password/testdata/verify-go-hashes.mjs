// Verifies go-hashes.json (hashes made by this Go package, written by
// `go test ./services/core/internal/password/ -run TestGoHashes -update`) with the
// REAL better-auth 1.7.25 `verifyPassword` from `better-auth/crypto`.
// Prints one line per vector and exits non-zero if any fails.
//
//   node verify-go-hashes.mjs /path/to/peers/better-auth
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const peer = process.argv[2];
if (!peer) {
	console.error("usage: node verify-go-hashes.mjs <peer dir with node_modules>");
	process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const { verifyPassword } = await import(
	pathToFileURL(join(peer, "node_modules/better-auth/dist/crypto/index.mjs")).href
);
const pkg = JSON.parse(await readFile(join(peer, "node_modules/better-auth/package.json"), "utf8"));
const { vectors } = JSON.parse(await readFile(join(here, "go-hashes.json"), "utf8"));
let failed = 0;
for (const v of vectors) {
	const ok = await verifyPassword({ hash: v.hash, password: v.password });
	const wrong = await verifyPassword({ hash: v.hash, password: v.password + "x" });
	const pass = ok && !wrong;
	if (!pass) failed++;
	console.log(`${pass ? "PASS" : "FAIL"} ${v.name}: verifyPassword(right)=${ok} verifyPassword(wrong)=${wrong}`);
}
console.log(`better-auth ${pkg.version}, node ${process.version}: ${vectors.length - failed}/${vectors.length} Go hashes verified`);
process.exit(failed ? 1 : 0);
