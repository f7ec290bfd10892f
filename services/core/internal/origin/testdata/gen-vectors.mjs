// Generates the vectors origin_test.go compares against, all from the REAL
// better-auth 1.7.25 (peers/better-auth):
//
//   url.json      WHATWG `new URL(s)`: protocol, host, origin (what
//                 better-auth's getProtocol/getHost/getOrigin return)
//   match.json    better-auth's matchesOriginPattern(url, pattern,
//                 {allowRelativePaths}) for every url x pattern
//   peer.json     the real server's answer to requests exercising the origin /
//                 CSRF middleware and the callback URL checks (§10 rules 1, 2, 4)
//
//   node gen-vectors.mjs /path/to/peers/better-auth
//
// writes the three files next to this script; starts and stops the peer itself.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const peer = process.argv[2];
if (!peer) {
	console.error("usage: node gen-vectors.mjs <peer dir with node_modules>");
	process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const { matchesOriginPattern } = await import(
	pathToFileURL(join(peer, "node_modules/better-auth/dist/auth/trusted-origins.mjs")).href
);
const save = (name, v) => writeFile(join(here, name), JSON.stringify(v, null, "\t") + "\n");

// ---------------------------------------------------------------- url.json
const urls = [
	"http://example.com", "HTTP://EXAMPLE.COM:80/x", "https://example.com:443", "https://example.com:8443/",
	"http://example.com:", "http://a:0080", "http://a:65535", "http://a:65536", "http://a:1x", "http://a:+1",
	"http://:80", "http://", "http:", "http:///example.com", "http:\\\\example.com\\x", "http:example.com",
	"https:/\\example.com", "http://user:pass@example.com", "http://@example.com", "http://user@", "http://a@b@c.com",
	"http://ex%61mple.com", "http://exa%00mple.com", "http://ex ample.com", "http://ex<ample.com", "http://ex%25ample.com",
	"http://münchen.de", "http://MÜNCHEN.DE", "http://xn--mnchen-3ya.de", "http://xn--abc.de", "http://xn--.de",
	"http://ＥＸＡＭＰＬＥ.com", "http://ex\u00ADample.com", "http://example.com.", "http://EXAMPLE.com..",
	"http://a\u3002b.com", "http://xn--nxasmq6b.com", "http://βόλος.com", "http://faß.de", "http://\u200d.com",
	"http://a\u0661.com", "http://\u05D0\u05D1.com",
	"http://0x7f.1", "http://127.1", "http://2130706433", "http://1.2.3.4.5", "http://999.1.1.1", "http://1.2.3.256",
	"http://1.2.3.4.", "http://1.2.3.4..", "http://0x", "http://0xg.com", "http://1.0x", "http://017.1", "http://09.1",
	"http://4294967295", "http://4294967296", "http://1.2.65535", "http://1.2.65536",
	"http://[::1]", "http://[::1]:3000", "http://[0:0::1]", "http://[::ffff:1.2.3.4]", "http://[1:2:3:4:5:6:7:8]",
	"http://[1:0:0:2:0:0:0:3]", "http://[1::2:3:4:5:6:7]", "http://[::1", "http://[fe80::1%25eth0]", "http://[::1]x",
	"http://[1:2:3:4:5:6:7:8:9]", "http://[::1.2.3]", "http://[::01.2.3.4]", "http://[AbCd::EF]", "http://[::]", "http://[0::0:0]",
	"http://a.b.c.1e", "http://foo.0x", "http://foo.09", "http://foo.1", "http://\texample.com", " http://example.com ",
	"http://exa\nmple.com", "\u0000http://example.com", "http://example.com\u0001",
	"javascript:alert(1)", "javascript://example.com/%0aalert(1)", "myapp://callback", "myapp://Host.Example/Path/../x",
	"myapp:/path", "myapp:path", "myapp://ho st", "myapp://host:abc", "myapp://host:123", "myapp://host:", "myapp://[::1]",
	"myapp://h^st", "myapp://", "myapp://:12", "myapp://a%zz", "myapp://é.com", "exp://192.168.1.5:8081", "file:///etc/passwd",
	"file://host/x", "file://localhost/x", "file://ho st/x", "file:c:/x", "ws://example.com:80", "wss://example.com",
	"ftp://example.com:21", "blob:https://example.com/uuid", "data:text/html,hi", "//example.com", "/relative", "example.com",
	"1http://x", "h+t.t-p://x", "http://a_b.example.com", "http://*.example.com", "http://exa*mple.com", "http://a%2Fb.com",
	"http://%41.com", "http://%zz.com", "http://a..b", "http://.example.com", "http://-a-.com", "http://ab--c.com",
	"https://example.com/?q#f", "https://example.com?x", "https://example.com#x", "http://example.com\\@evil.com",
	"http://evil.com#@example.com", "https://app.example.com.evil.com", "http://192.168.0.1:3000", "http://192.168.attacker.com",
	"http://0.0.0.0", "null", "", " ", "http://a b", "HtTpS://ExAmPlE.cOm:0443",
];
const urlOut = urls.map((input) => {
	try {
		const u = new URL(input);
		return { input, ok: true, protocol: u.protocol, host: u.host, origin: u.origin };
	} catch {
		return { input, ok: false };
	}
});
await save("url.json", { generator: `node ${process.version} new URL (as used by better-auth 1.7.25)`, cases: urlOut });

// -------------------------------------------------------------- match.json
const patterns = [
	"http://127.0.0.1:3000", "https://app.example.com", "https://app.example.com/", "HTTPS://APP.EXAMPLE.COM",
	"*.example.com", "*.example.com:*", "https://*.example.com", "http*://*.example.com", "https://app-?.example.com",
	"192.168.*.*", "http://192.168.*.*:3000", "10.0.*.*", "exp://192.168.*.*:8081", "myapp://", "myapp://callback",
	"myapp://host/cb", "myapp://*/cb/*", "exp://*", "chrome-extension://abcdef", "*", "https://*", "*example.com",
	"https://[::1]:3000", "http://xn--mnchen-3ya.de", "myapp:", "myapp://host/cb/", "https://a\\*b.example.com",
];
const matchURLs = [
	...urls,
	"/", "/dashboard", "/a/b?c=d#e", "//evil.com", "/\\evil.com", "/%2Fevil.com", "/%5cevil", "/%5Cevil", "/a%2fb?x=%2f",
	"/a?next=//x", "/a#%2f", "/\tx", "/x\u0000", "/\u0085x", "/x\u2028y", "/ok path", "/../x", "/%2e%2e/x", "/é",
	"https://app.example.com/x", "https://evil.com/?https://app.example.com", "https://a.example.com", "https://example.com",
	"https://deep.a.example.com", "http://a.example.com:8080", "https://app-1.example.com", "https://app-12.example.com",
	"https://192.168.1.5", "http://192.168.1.5:3000", "http://192.168.attacker.com:3000", "http://10.0.1.2", "http://10.0.x.y",
	"http://10.0.1.2.3", "exp://192.168.evil.com:8081", "exp://user@192.168.1.5:8081", "myapp://callback/x", "myapp://CALLBACK",
	"myapp://other", "myapp:callback", "myapp://host/cb", "myapp://host/cb/deep", "myapp://host/cbx", "myapp://host/cb/../evil",
	"myapp://host/cb/%2e%2e/evil", "myapp://user@host/cb", "myapp://x/cb/y", "myapp://x/cb", "myapp://x/cb/y?z#w",
	"chrome-extension://abcdef/popup.html", "chrome-extension://ABCDEF", "https://[::1]:3000/x", "http://münchen.de/x",
	"javascript://app.example.com/%0aalert(1)", "javascript://a.example.com", "HTTPS://APP.EXAMPLE.COM:443/",
	"https://app.example.com:443", "https://app.example.com:444", "https://a.b.example.com", "https://app-x.example.com",
];
const seen = new Set();
const matchCases = [];
for (const url of matchURLs) {
	if (seen.has(url)) continue;
	seen.add(url);
	const bits = (allowRelativePaths) =>
		patterns.map((p) => (matchesOriginPattern(url, p, { allowRelativePaths }) ? "1" : "0")).join("");
	matchCases.push({ url, strict: bits(false), relative: bits(true) });
}
await save("match.json", { generator: "better-auth 1.7.25 matchesOriginPattern", patterns, cases: matchCases });

// --------------------------------------------------------------- peer.json
const TRUSTED = [
	"*.wild.example.com", "https://*.sub.example.net", "myapp://", "https://app.example.com", "exp://192.168.*.*:8081",
];
function freePort() {
	return new Promise((resolve, reject) => {
		const s = createServer();
		s.listen(0, "127.0.0.1", () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
		s.on("error", reject);
	});
}
const port = await freePort();
const child = spawn(process.execPath, [join(peer, "server.mjs")], {
	cwd: peer,
	env: { ...process.env, PORT: String(port), PEER_BASE_URL: "http://localhost:3000", PEER_TRUSTED_ORIGINS: TRUSTED.join(",") },
	stdio: ["ignore", "ignore", "inherit"],
});
try {
	for (let i = 0; ; i++) {
		try {
			if ((await fetch(`http://127.0.0.1:${port}/api/auth/ok`)).ok) break;
		} catch {}
		if (i > 200) throw new Error("peer did not start");
		await new Promise((r) => setTimeout(r, 50));
	}

	// Raw node:http so Host, Origin, Referer and Sec-Fetch-* are sent as given.
	const send = (method, path, headers, body) =>
		new Promise((resolve, reject) => {
			const data = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
			const h = { host: "localhost:3000", ...headers };
			if (data !== undefined) h["content-type"] = "application/json";
			const req = http.request({ host: "127.0.0.1", port, method, path: "/api/auth" + path, headers: h }, (res) => {
				let text = "";
				res.on("data", (c) => (text += c));
				res.on("end", () => resolve({ status: res.statusCode, body: text }));
			});
			req.on("error", reject);
			if (data !== undefined) req.write(data);
			req.end();
		});

	const trusted = "http://localhost:3000";
	const scenarios = [];
	const add = async (name, method, path, headers, body, rule) => {
		const res = await send(method, path, headers, body);
		let json = null;
		try {
			json = JSON.parse(res.body);
		} catch {}
		scenarios.push({ name, rule, method, path, headers: { host: "localhost:3000", ...headers }, body: body ?? null, status: res.status, code: json?.code ?? "", message: json?.message ?? "" });
	};

	// Rule 1: cookie-bearing POST (bogus session: passing the check gives 401 UNAUTHORIZED).
	const C = { cookie: "better-auth.session_token=bogus" };
	const upd = { name: "x" };
	await add("cookie, no Origin or Referer", "POST", "/update-user", { ...C }, upd, "request");
	await add("cookie, trusted Origin", "POST", "/update-user", { ...C, origin: trusted }, upd, "request");
	await add("cookie, untrusted Origin", "POST", "/update-user", { ...C, origin: "https://evil.example.org" }, upd, "request");
	await add("cookie, Origin null", "POST", "/update-user", { ...C, origin: "null" }, upd, "request");
	await add("cookie, Origin null + same-origin fetch", "POST", "/update-user", { ...C, origin: "null", "sec-fetch-site": "same-origin" }, upd, "request");
	await add("cookie, Origin null + same-origin fetch, untrusted Host", "POST", "/update-user", { ...C, origin: "null", "sec-fetch-site": "same-origin", host: "evil.test:3000" }, upd, "request");
	await add("cookie, Origin null + same-site fetch", "POST", "/update-user", { ...C, origin: "null", "sec-fetch-site": "same-site" }, upd, "request");
	await add("cookie, trusted Referer", "POST", "/update-user", { ...C, referer: "http://localhost:3000/settings?tab=1" }, upd, "request");
	await add("cookie, untrusted Referer", "POST", "/update-user", { ...C, referer: "https://evil.example.org/x" }, upd, "request");
	await add("cookie, Referer null", "POST", "/update-user", { ...C, referer: "null" }, upd, "request");
	await add("cookie, empty Origin, trusted Referer", "POST", "/update-user", { ...C, origin: "", referer: "http://localhost:3000/" }, upd, "request");
	await add("cookie, untrusted Origin beats trusted Referer", "POST", "/update-user", { ...C, origin: "https://evil.example.org", referer: "http://localhost:3000/" }, upd, "request");
	await add("cookie, host-only wildcard", "POST", "/update-user", { ...C, origin: "https://a.wild.example.com" }, upd, "request");
	await add("cookie, host-only wildcard, other port", "POST", "/update-user", { ...C, origin: "https://a.wild.example.com:8443" }, upd, "request");
	await add("cookie, scheme wildcard", "POST", "/update-user", { ...C, origin: "https://a.sub.example.net" }, upd, "request");
	await add("cookie, scheme wildcard, wrong scheme", "POST", "/update-user", { ...C, origin: "http://a.sub.example.net" }, upd, "request");
	await add("cookie, upper-case Origin", "POST", "/update-user", { ...C, origin: "HTTPS://APP.EXAMPLE.COM" }, upd, "request");
	await add("cookie, Origin with default port", "POST", "/update-user", { ...C, origin: "https://app.example.com:443" }, upd, "request");
	await add("cookie, Origin with a path", "POST", "/update-user", { ...C, origin: "https://app.example.com/path" }, upd, "request");
	await add("cookie, custom scheme Origin", "POST", "/update-user", { ...C, origin: "myapp://anything" }, upd, "request");
	await add("cookie, IPv4 wildcard", "POST", "/update-user", { ...C, origin: "exp://192.168.1.20:8081" }, upd, "request");
	await add("cookie, IPv4 wildcard with a name", "POST", "/update-user", { ...C, origin: "exp://192.168.evil.com:8081" }, upd, "request");
	await add("cookie, look-alike suffix", "POST", "/update-user", { ...C, origin: "https://app.example.com.evil.com" }, upd, "request");
	await add("empty Cookie header, no Origin", "POST", "/update-user", { cookie: "" }, upd, "request");
	await add("no cookie, untrusted Origin", "POST", "/update-user", { origin: "https://evil.example.org" }, upd, "request");
	await add("GET with cookie, no Origin", "GET", "/get-session", { ...C }, undefined, "request");

	// Rule 2: URL parameters (wrong credentials: passing gives 401 INVALID_EMAIL_OR_PASSWORD).
	const creds = { email: "nobody@example.com", password: "password123" };
	const cb = async (name, extra, query = "") => add(name, "POST", "/sign-in/email" + query, {}, { ...creds, ...extra }, "params");
	for (const u of [
		"/dashboard", "/", "//evil.com", "/\\evil.com", "/%2Fevil.com", "/%5Cevil", "/a?next=%2F%2Fx", "/a#x", "/../x",
		"http://localhost:3000/x", "https://app.example.com/cb", "https://evil.example.org/x", "https://x.wild.example.com/cb",
		"https://x.sub.example.net/cb", "http://x.sub.example.net/cb", "myapp://done", "javascript:alert(1)",
		"javascript://x.wild.example.com/%0aalert(1)", "dashboard", "https://app.example.com.evil.com/",
	]) await cb(`callbackURL ${JSON.stringify(u)}`, { callbackURL: u });
	await cb("callbackURL number", { callbackURL: 1 });
	await cb("callbackURL zero", { callbackURL: 0 });
	await cb("callbackURL true", { callbackURL: true });
	await cb("callbackURL false", { callbackURL: false });
	await cb("callbackURL null", { callbackURL: null });
	await cb("callbackURL empty", { callbackURL: "" });
	await cb("callbackURL array", { callbackURL: ["/x"] });
	await cb("callbackURL object", { callbackURL: {} });
	await cb("query callbackURL untrusted", {}, "?callbackURL=https%3A%2F%2Fevil.example.org");
	await cb("query callbackURL trusted", {}, "?callbackURL=%2Fok");
	await cb("query callbackURL repeated", {}, "?callbackURL=%2Fa&callbackURL=%2Fb");
	await cb("empty body callbackURL falls back to query", { callbackURL: "" }, "?callbackURL=https%3A%2F%2Fevil.example.org");
	await cb("body callbackURL wins over query", { callbackURL: "/ok" }, "?callbackURL=https%3A%2F%2Fevil.example.org");
	await cb("redirectTo untrusted", { redirectTo: "https://evil.example.org/r" });
	await cb("redirectTo trusted", { redirectTo: "/reset" });
	await cb("redirectTo number", { redirectTo: 5 });
	await cb("errorCallbackURL untrusted", { errorCallbackURL: "https://evil.example.org/e" });
	await cb("newUserCallbackURL untrusted", { newUserCallbackURL: "https://evil.example.org/n" });
	await cb("newUserCallbackURL number", { newUserCallbackURL: 7 });
	await cb("all four untrusted: callbackURL first", { callbackURL: "https://evil.example.org/1", redirectTo: "https://evil.example.org/2", errorCallbackURL: "https://evil.example.org/3", newUserCallbackURL: "https://evil.example.org/4" });
	await cb("redirectTo before errorCallbackURL", { redirectTo: "https://evil.example.org/2", errorCallbackURL: "https://evil.example.org/3" });
	await cb("errorCallbackURL before newUserCallbackURL", { errorCallbackURL: "https://evil.example.org/3", newUserCallbackURL: "https://evil.example.org/4" });
	await add("request-password-reset redirectTo untrusted", "POST", "/request-password-reset", {}, { email: "nobody@example.com", redirectTo: "https://evil.example.org/r" }, "params");
	await add("request-password-reset redirectTo relative", "POST", "/request-password-reset", {}, { email: "nobody@example.com", redirectTo: "/reset" }, "params");
	await add("cookie, untrusted Origin and untrusted callbackURL: origin first", "POST", "/sign-in/email", { ...C, origin: "https://evil.example.org" }, { ...creds, callbackURL: "https://evil.example.org" }, "params");

	// Rule 4: sign-in / sign-up form CSRF without cookies.
	const si = async (name, headers, path = "/sign-in/email") => add(name, "POST", path, headers, path === "/sign-in/email" ? creds : { name: "n", email: "csrf@example.com", password: "short" }, "form");
	await si("no fetch metadata, no Origin", {});
	await si("cross-site navigate", { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" });
	await si("cross-site navigate with trusted Origin", { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", origin: trusted });
	await si("cross-site cors, no Origin", { "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" });
	await si("cross-site cors, untrusted Origin", { "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors", origin: "https://evil.example.org" });
	await si("same-origin, trusted Origin", { "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors", origin: trusted });
	await si("same-origin, no Origin", { "sec-fetch-site": "same-origin" });
	await si("whitespace-only fetch metadata, no Origin", { "sec-fetch-mode": "  " });
	await si("Sec-Fetch-Dest only", { "sec-fetch-dest": "document" });
	await si("untrusted Origin, no fetch metadata", { origin: "https://evil.example.org" });
	await si("trusted Referer, no fetch metadata", { referer: "http://localhost:3000/login" });
	await si("Cross-Site (case) navigate, trusted Origin", { "sec-fetch-site": "Cross-Site", "sec-fetch-mode": "navigate", origin: trusted });
	await si("Origin null + same-origin", { origin: "null", "sec-fetch-site": "same-origin" });
	await si("Origin null, no fetch metadata", { origin: "null" });
	await si("cookie + cross-site navigate + trusted Origin", { ...C, "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", origin: trusted });
	await si("sign-up cross-site navigate", { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" }, "/sign-up/email");
	await si("sign-up untrusted Origin", { origin: "https://evil.example.org" }, "/sign-up/email");
	await si("sign-up, no fetch metadata (passes to PASSWORD_TOO_SHORT)", {}, "/sign-up/email");

	await save("peer.json", { generator: "better-auth 1.7.25 peer (server.mjs)", baseURL: "http://localhost:3000", trustedOrigins: ["http://localhost:3000", ...TRUSTED], scenarios });
} finally {
	child.kill();
}
