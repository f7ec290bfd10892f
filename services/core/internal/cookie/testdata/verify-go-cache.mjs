// Checks go-cache.json (a session_data cookie written by this Go package,
// refreshed by `go test ./services/core/internal/cookie/ -run TestGoCacheVector -update`)
// with the REAL better-auth 1.7.25 getCookieCache ("compact" strategy), which
// re-serialises the payload with JSON.stringify before checking the HMAC.
// Also checks that a one-byte change is refused. Exits non-zero on failure.
//
//   node verify-go-cache.mjs /path/to/peers/better-auth
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const peer = process.argv[2];
if (!peer) {
	console.error("usage: node verify-go-cache.mjs <peer dir with node_modules>");
	process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const { getCookieCache } = await import(pathToFileURL(join(peer, "node_modules/better-auth/dist/cookies/index.mjs")).href);
const { secret, cookie } = JSON.parse(await readFile(join(here, "go-cache.json"), "utf8"));

const read = (c) => getCookieCache(new Headers({ cookie: c }), { secret, isSecure: false, strategy: "compact" });
const good = await read(cookie);
// Tamper: same JSON with one character of the signature changed.
const [name, value] = cookie.split("=");
const json = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
json.signature = (json.signature[0] === "A" ? "B" : "A") + json.signature.slice(1);
const bad = await read(`${name}=${Buffer.from(JSON.stringify(json)).toString("base64url")}`);
const ok = !!good && good.session.token === "GdulJ82ccTIELytbf6xpECb8wmtkQnXn" && good.user.name === "Zoë <&> \u2028" && bad === null;
console.log(`getCookieCache(Go cookie): ${good ? `session ${good.session.id}, user ${JSON.stringify(good.user.name)}, version ${good.version}` : "null"}`);
console.log(`getCookieCache(tampered Go cookie): ${bad === null ? "null" : "ACCEPTED"}`);
console.log(ok ? "PASS" : "FAIL");
process.exit(ok ? 0 : 1);
