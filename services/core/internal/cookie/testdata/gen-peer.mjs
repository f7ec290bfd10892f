// Captures peer.json: Set-Cookie / set-auth-token headers of the REAL
// better-auth 1.7.25 peer (peers/better-auth/server.mjs) with the cookie cache
// on (PEER_COOKIE_CACHE=1), over http and with an https base URL (__Secure-
// names), for cookie_test.go.
//
//   node gen-peer.mjs /path/to/peers/better-auth > peer.json
//
// It starts the peer itself (two processes on free ports) and stops it.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";

const peer = process.argv[2];
if (!peer) {
	console.error("usage: node gen-peer.mjs <peer dir with node_modules>");
	process.exit(2);
}
const SECRET = "peer-test-secret-0123456789-abcdefghijklmnop";

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

async function startPeer(env) {
	const port = await freePort();
	const child = spawn(process.execPath, [join(peer, "server.mjs")], {
		cwd: peer,
		env: { ...process.env, PORT: String(port), BETTER_AUTH_SECRET: SECRET, PEER_COOKIE_CACHE: "1", ...env },
		stdio: ["ignore", "pipe", "inherit"],
	});
	const base = `http://127.0.0.1:${port}`;
	for (let i = 0; i < 200; i++) {
		try {
			if ((await fetch(`${base}/api/auth/ok`)).ok) return { child, base };
		} catch {}
		await new Promise((r) => setTimeout(r, 50));
	}
	child.kill();
	throw new Error("peer did not start");
}

function cookieHeader(setCookies) {
	// name=value of every cookie that is not being deleted, in order.
	return setCookies
		.map((sc) => sc.split(";")[0])
		.filter((pair, i) => !/;\s*Max-Age=0(;|$)/i.test(setCookies[i]))
		.join("; ");
}

async function run(base, origin, steps) {
	const out = [];
	for (const s of steps) {
		const headers = { origin };
		if (s.body !== undefined) headers["content-type"] = "application/json";
		const cookie = typeof s.cookie === "function" ? s.cookie(out) : s.cookie;
		if (cookie) headers.cookie = cookie;
		const res = await fetch(base + "/api/auth" + s.path, {
			method: s.method ?? (s.body !== undefined ? "POST" : "GET"),
			headers,
			body: s.body === undefined ? undefined : JSON.stringify(s.body),
			redirect: "manual",
		});
		const text = await res.text();
		let json = null;
		try {
			json = JSON.parse(text);
		} catch {}
		out.push({
			name: s.name,
			request: { method: s.method ?? (s.body !== undefined ? "POST" : "GET"), path: s.path, cookie: cookie ?? "", body: s.body ?? null },
			status: res.status,
			setCookie: res.headers.getSetCookie(),
			setAuthToken: res.headers.get("set-auth-token") ?? "",
			date: res.headers.get("date"),
			token: json?.token ?? json?.session?.token ?? "",
			response: json,
		});
	}
	return out;
}

const longName = "L".repeat(3000) + "-é-" + "M".repeat(2000);
const byName = (out, name) => out.find((s) => s.name === name);

const httpSteps = [
	{ name: "sign-up (cache, html chars, U+2028)", path: "/sign-up/email", body: { name: "Zoë <&> \u2028 'q' \"d\"", email: "zoe@example.com", password: "password123", image: "https://img.example/a.png?x=1&y=<2>" } },
	{ name: "get-session from cache", path: "/get-session", cookie: (o) => cookieHeader(byName(o, "sign-up (cache, html chars, U+2028)").setCookie) },
	{ name: "sign-in rememberMe=false", path: "/sign-in/email", body: { email: "zoe@example.com", password: "password123", rememberMe: false } },
	{ name: "get-session dont_remember", path: "/get-session", cookie: (o) => cookieHeader(byName(o, "sign-in rememberMe=false").setCookie) },
	{ name: "sign-in again with dont_remember cookie", path: "/sign-in/email", body: { email: "zoe@example.com", password: "password123" }, cookie: (o) => cookieHeader(byName(o, "sign-in rememberMe=false").setCookie) },
	{ name: "sign-up long name (chunked cache)", path: "/sign-up/email", body: { name: longName, email: "long@example.com", password: "password123" } },
	{ name: "get-session from chunked cache", path: "/get-session", cookie: (o) => cookieHeader(byName(o, "sign-up long name (chunked cache)").setCookie) },
	{ name: "sign-in with chunked cookies present", path: "/sign-in/email", body: { email: "zoe@example.com", password: "password123" }, cookie: (o) => cookieHeader(byName(o, "sign-up long name (chunked cache)").setCookie) },
	{ name: "sign-out with chunked cookies", path: "/sign-out", body: {}, cookie: (o) => cookieHeader(byName(o, "sign-up long name (chunked cache)").setCookie) },
	{ name: "sign-out with session_data cookie", path: "/sign-out", body: {}, cookie: (o) => cookieHeader(byName(o, "sign-in again with dont_remember cookie").setCookie) },
	{ name: "sign-out without cookies", path: "/sign-out", body: {} },
];

const httpsSteps = [
	{ name: "secure sign-up", path: "/sign-up/email", body: { name: "Sec", email: "sec@example.com", password: "password123" } },
	{ name: "secure sign-in rememberMe=false", path: "/sign-in/email", body: { email: "sec@example.com", password: "password123", rememberMe: false } },
	{ name: "secure sign-out", path: "/sign-out", body: {}, cookie: (o) => cookieHeader(byName(o, "secure sign-up").setCookie) },
];

// Variants of a valid session cookie / Authorization header, sent to
// GET /get-session: "authenticated" records whether the real server
// recognised the session.
async function probes(base, origin) {
	const up = await fetch(base + "/api/auth/sign-up/email", {
		method: "POST",
		headers: { origin, "content-type": "application/json" },
		body: JSON.stringify({ name: "Probe", email: "probe@example.com", password: "password123" }),
	});
	const { token } = await up.json();
	const signed = up.headers.get("set-auth-token");
	const sig = signed.slice(signed.lastIndexOf(".") + 1);
	const enc = encodeURIComponent(signed);
	const urlSig = sig.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	// Same bytes, different unused low bits in the last base64 character.
	const last = alphabet.indexOf(sig[42]);
	const lowBits = `${token}.${sig.slice(0, 42)}${alphabet[(last & ~3) | ((last + 1) & 3)]}=`;
	const N = "better-auth.session_token";
	const cookieCases = [
		["encoded", `${N}=${enc}`],
		["decoded (raw + / =)", `${N}=${signed}`],
		["quoted", `${N}="${enc}"`],
		["spaces around", `  ${N} =  ${enc}  `],
		["no space after ;", `x=1;${N}=${enc};y=2`],
		["part without = before", `junk; ${N}=${enc}`],
		["signature low bits differ", `${N}=${encodeURIComponent(lowBits)}`],
		["url-alphabet signature", `${N}=${token}.${urlSig}`],
		["unpadded signature", `${N}=${encodeURIComponent(signed.slice(0, -1))}`],
		["double padded 45 chars", `${N}=${encodeURIComponent(signed + "=")}`],
		["extra dot before", `${N}=${encodeURIComponent("x." + signed)}`],
		["extra dot after", `${N}=${encodeURIComponent(signed + ".x")}`],
		["empty value", `${N}=`],
		["only signature", `${N}=${encodeURIComponent("." + sig)}`],
		["tampered signature", `${N}=${token}.AAAA`],
		["bogus first, valid second", `${N}=bogus; ${N}=${enc}`],
		["valid first, bogus second", `${N}=${enc}; ${N}=bogus`],
		["wrong case name", `Better-Auth.session_token=${enc}`],
		["secure name on plain server", `__Secure-${N}=${enc}`],
		["malformed escape keeps raw text", `${N}=${enc}%ZZ`],
	];
	const bearerCases = [
		["signed std", `Bearer ${signed}`],
		["raw token", `Bearer ${token}`],
		["lowercase scheme", `bearer ${signed}`],
		["uppercase scheme", `BEARER ${token}`],
		["extra spaces", `Bearer    ${signed}   `],
		["percent-encoded signed", `Bearer ${enc}`],
		["url-alphabet signature", `Bearer ${token}.${urlSig}`],
		["unpadded std signature", `Bearer ${signed.slice(0, -1)}`],
		["signature low bits differ", `Bearer ${lowBits}`],
		["tampered signature", `Bearer ${token}.AAAA`],
		["two dots", `Bearer ${signed}.x`],
		["unknown raw token", `Bearer ${"x".repeat(32)}`],
		["no space", `Bearer${token}`],
		["basic scheme", `Basic ${token}`],
		["scheme only", `Bearer `],
	];
	const get = async (headers) => {
		const res = await fetch(base + "/api/auth/get-session?disableCookieCache=true", { headers });
		const body = await res.json();
		return body?.session?.token === token;
	};
	const cookies = [];
	for (const [name, cookie] of cookieCases) cookies.push({ name, cookie, authenticated: await get({ cookie }) });
	const bearer = [];
	for (const [name, authorization] of bearerCases) bearer.push({ name, authorization, authenticated: await get({ authorization }) });
	return { token, signed, cookies, bearer };
}

const peers = [];
try {
	const plain = await startPeer({});
	peers.push(plain.child);
	const httpOut = await run(plain.base, plain.base, httpSteps);
	const probeOut = await probes(plain.base, plain.base);

	const httpsOrigin = "https://auth.example.test";
	const secure = await startPeer({ PEER_BASE_URL: httpsOrigin });
	peers.push(secure.child);
	const httpsOut = await run(secure.base, httpsOrigin, httpsSteps);

	process.stdout.write(
		JSON.stringify({ generator: "better-auth 1.7.25 peer, PEER_COOKIE_CACHE=1", secret: SECRET, http: httpOut, https: httpsOut, probes: probeOut }, null, "\t") + "\n",
	);
} finally {
	for (const c of peers) c.kill();
}
