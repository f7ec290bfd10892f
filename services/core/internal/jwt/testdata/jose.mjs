// Cross-checks this package against jose, the library better-auth 1.7.25 uses for
// its email-verification tokens. Needs the peer's node_modules:
//   (cd /work/shared/peers/better-auth && npm ci)
//   PEER_DIR=/work/shared/peers/better-auth node testdata/jose.mjs sign > testdata/jose_vectors.json
//   go test -run TestPrintForJose -v ./services/core/internal/jwt/ -args -print-for-jose |
//     grep '^{' | PEER_DIR=... node testdata/jose.mjs verify
// "sign" mints tokens exactly as better-auth's signJWT does (crypto/jwt.mjs), but with
// fixed iat/exp so the Go test can compare bytes. "verify" reads JSON lines
// {name, secret, token, now} and runs jose's jwtVerify as better-auth's verify-email
// route does ({algorithms: ["HS256"]}), printing one result line per token.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import readline from "node:readline";

const peer = process.env.PEER_DIR || new URL("../../../../../../shared/peers/better-auth/", import.meta.url).pathname;
const require = createRequire(peer.replace(/\/?$/, "/") + "package.json");
const { SignJWT, jwtVerify, errors } = await import(pathToFileURL(require.resolve("jose")).href);

const secret = "peer-test-secret-0123456789-abcdefghijklmnop";
const enc = (s) => new TextEncoder().encode(s);

if (process.argv[2] === "sign") {
	const iat = 1795318737;
	const cases = [
		{ name: "verification", payload: { email: "vector.user@example.com", updateTo: undefined, userId: "NIwg4Pl41HgEePd3jvNDkziJc3b4jzRe" } },
		{ name: "change-email-verification", payload: { email: "vector.user@example.com", updateTo: "new.address@example.com", requestType: "change-email-verification", userId: "NIwg4Pl41HgEePd3jvNDkziJc3b4jzRe" } },
		{ name: "change-email-confirmation", payload: { email: "old@example.com", updateTo: "new@example.com", requestType: "change-email-confirmation", userId: "u1" } },
		{ name: "non-ascii-and-html-chars", payload: { email: "jürgen@exämple.com", updateTo: "a<b>&c@example.com", userId: "ü-1" } },
	];
	const out = [];
	for (const c of cases) {
		const token = await new SignJWT(c.payload).setProtectedHeader({ alg: "HS256" }).setIssuedAt(iat).setExpirationTime(iat + 3600).sign(enc(secret));
		out.push({ name: c.name, secret, iat, ttlSeconds: 3600, claims: c.payload, token });
	}
	console.log(JSON.stringify(out, null, "\t"));
} else if (process.argv[2] === "verify") {
	let failures = 0;
	for await (const line of readline.createInterface({ input: process.stdin })) {
		if (!line.trim()) continue;
		const v = JSON.parse(line);
		try {
			const { payload, protectedHeader } = await jwtVerify(v.token, enc(v.secret), { algorithms: ["HS256"], currentDate: new Date(v.now * 1000) });
			console.log(`OK   ${v.name} header=${JSON.stringify(protectedHeader)} payload=${JSON.stringify(payload)}`);
			if (v.want !== "ok") failures++;
		} catch (e) {
			const kind = e instanceof errors.JWTExpired ? "expired" : "invalid";
			console.log(`${kind.toUpperCase().padEnd(4)} ${v.name}: ${e.code} ${e.message}`);
			if (v.want !== kind) failures++;
		}
	}
	console.log(failures === 0 ? "all as expected" : `${failures} unexpected results`);
	process.exit(failures);
} else {
	console.error("usage: node jose.mjs sign|verify");
	process.exit(2);
}
