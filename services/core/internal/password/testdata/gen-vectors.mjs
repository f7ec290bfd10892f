// Generates vectors.json: password hashes made by the REAL better-auth 1.7.25
// (`hashPassword` from `better-auth/crypto`), plus each password's JS `.length`
// and its NFKC form, for password_test.go.
//
//   node gen-vectors.mjs /path/to/peers/better-auth > vectors.json
//
// The peer directory must have had `npm ci` run in it.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const peer = process.argv[2];
if (!peer) {
	console.error("usage: node gen-vectors.mjs <peer dir with node_modules>");
	process.exit(2);
}
const mod = (p) => import(pathToFileURL(join(peer, "node_modules", p)).href);
const { hashPassword, verifyPassword } = await mod("better-auth/dist/crypto/index.mjs");
const pkg = JSON.parse(
	await (await import("node:fs/promises")).readFile(join(peer, "node_modules/better-auth/package.json"), "utf8"),
);

const cases = [
	["ascii", "password123"],
	["ascii-symbols", "P@ss:w0rd!~ \"quoted\" \\ back"],
	["fullwidth-nfkc", "Ｐａｓｓｗｏｒｄ１２３"],
	["ligature-and-angstrom-nfkc", "ﬁnal-Å-Ω-ℌ-①②③"],
	["decomposed-accents", "cafe\u0301-nai\u0308ve"],
	["max-128-ascii", "a".repeat(64) + "B".repeat(63) + "9"],
	["emoji-astral", "🔐pass🦄word👨‍👩‍👧‍👦"],
	["astral-math-nfkc", "𝐏𝐚𝐬𝐬𝐰𝐨𝐫𝐝"],
	["cjk-and-hangul-jamo", "パスワード-\u1100\u1161\u11a8"],
	["empty", ""],
];

const out = {
	generator: "better-auth/crypto hashPassword",
	betterAuthVersion: pkg.version,
	vectors: [],
};
for (const [name, password] of cases) {
	const hash = await hashPassword(password);
	if (!(await verifyPassword({ hash, password }))) throw new Error(`self-check failed for ${name}`);
	out.vectors.push({
		name,
		password,
		jsLength: password.length,
		nfkc: password.normalize("NFKC"),
		hash,
	});
}
process.stdout.write(JSON.stringify(out, null, "\t") + "\n");
