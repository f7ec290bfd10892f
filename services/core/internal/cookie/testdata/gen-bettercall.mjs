// Generates bettercall.json: what better-call 1.4.5 / better-auth 1.7.25's
// own functions return for tricky inputs — Cookie header parsing (both
// parsers), Set-Cookie serialisation, signed values, decodeURIComponent,
// set-auth-token extraction — so cookie_test.go can compare case by case.
//
//   node gen-bettercall.mjs /path/to/peers/better-auth > bettercall.json
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const peer = process.argv[2];
if (!peer) {
	console.error("usage: node gen-bettercall.mjs <peer dir with node_modules>");
	process.exit(2);
}
const mod = (p) => import(pathToFileURL(join(peer, "node_modules", p)).href);
const bc = await mod("better-call/dist/cookies.mjs");
const utils = await mod("better-auth/dist/cookies/cookie-utils.mjs");
const SECRET = "peer-test-secret-0123456789-abcdefghijklmnop";

const headers = [
	"",
	"a=1",
	"a=1; b=2",
	"a=1;b=2;c=3",
	"  a  =  1  ;  b = 2 ",
	"a=1; a=2",
	"a=2; a=1",
	'a="quoted"',
	'a="',
	'a="x',
	'a=x"',
	'a=""',
	"a=%20space%3D",
	"a=%E4%BD%A0%E5%A5%BD",
	"a=%ZZ",
	"a=%",
	"a=%E4%BD",
	"a=%C0%80",
	"a=%ED%A0%80",
	"a=%F4%90%80%80",
	"a=%41%42+c",
	"noequals; a=1",
	"a; b=2",
	"a; b; c=3; d",
	";;a=1;;",
	"=novalue; a=1",
	"a=b=c",
	"a=1; =2",
	"a=\t1\t",
	"a=1\u00a0",
	"\u00a0a=1",
	"a=1;\u000bb=2",
	"a=é; b=2",
	"a=1,b=2",
	"a=1, b=2",
	"b.0=x; b.1=y; b=z",
	"b.1=y; b.0=x",
	"b.00=x; b.1=y; b.-1=z; b.01=q; b.2=w",
	"b.0=x; b.0=y",
	"name with space=1; ok=2",
	'q="a;b"; r=1',
	"x=a\\b; y=c\"d",
	"__Secure-better-auth.session_token=abc; better-auth.session_token=def",
	"better-auth.session_token=k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH.TiUHpy3enDDHzS6Z22BY%2BtHTd7%2F0%2BDb83PViltDjAKA%3D; Path=/",
];

const parse = headers.map((h) => ({
	header: h,
	betterCall: [...bc.parseCookies(h)],
	betterAuth: [...utils.parseCookies(h)],
}));

const expires = new Date(Date.UTC(2021, 0, 2, 3, 4, 5)); // in the past: better-call refuses > 400 days ahead
const serializeCases = [
	["better-auth.session_token", "plain", { maxAge: 604800, path: "/", httpOnly: true, sameSite: "lax" }],
	["better-auth.session_token", "", { maxAge: 0, path: "/", httpOnly: true, sameSite: "lax" }],
	["better-auth.dont_remember", "x y/z=+", { path: "/", httpOnly: true, sameSite: "lax" }],
	["__Secure-better-auth.session_token", "v", { maxAge: 10, path: "/", httpOnly: true, secure: true, sameSite: "lax" }],
	["__Secure-x", "v", { path: "/" }],
	["__secure-x", "v", {}],
	["__Host-x", "v", { domain: "example.com", path: "/sub" }],
	["n", "v", { sameSite: "none" }],
	["n", "v", { sameSite: "strict", partitioned: true }],
	["n", "v", { maxAge: 300, domain: "example.com", path: "/", expires, httpOnly: true, secure: true, sameSite: "lax", partitioned: true }],
	["n", "é/日本", { maxAge: 1 }],
	["n", "!~*'()-_.", {}],
];
const serialize = serializeCases.map(([name, value, opts]) => ({
	name,
	value,
	options: { ...opts, expires: opts.expires ? opts.expires.toISOString() : undefined },
	result: bc.serializeCookie(name, value, opts),
}));

const signedValues = ["k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH", "true", "", "a.b", "é ünïcode", "2fa-abcdefghijklmnopqrst"];
const signed = [];
for (const value of signedValues) {
	signed.push({ value, result: await bc.serializeSignedCookie("c", value, SECRET, {}) });
}

const decodeCases = ["abc", "%41", "%4", "%", "%zz", "a%20b", "%E2%82%AC", "%E2%82", "%E2%82%41", "%C3%A9%", "%F0%9F%94%90", "%ED%9F%BF", "%ED%A0%80", "%EF%BF%BF", "%F4%8F%BF%BF", "%F4%90%80%80", "%C1%81", "%E0%80%81", "%80", "%FE", "%2f%2F%3b", "+%2B"];
const decode = decodeCases.map((s) => {
	try {
		return { input: s, ok: true, output: decodeURIComponent(s) };
	} catch {
		return { input: s, ok: false, output: "" };
	}
});
const encodeCases = ["abc", "a b", "é", "日本", "🔐", "!~*'()-_.", "+/=?&#%;,", "\u0000\u007f"];
const encode = encodeCases.map((s) => ({ input: s, output: encodeURIComponent(s) }));

// set-auth-token: the bearer after-hook reads the *last* session cookie.
const N = "better-auth.session_token";
const authTokenCases = [
	[`${N}=abc.def%2B%3D; Max-Age=604800; Path=/`],
	[`${N}=; Max-Age=0; Path=/`],
	[`${N}=abc; Max-Age=0`],
	[`${N}=abc; max-age=00`],
	[`${N}=abc; Max-Age=-0`],
	[`${N}=abc; Max-Age=0x`],
	[`${N}=abc; Max-Age=x0`],
	[`${N}=abc; Path=/`, `other=1`],
	[`${N}=first; Path=/`, `${N}=; Max-Age=0`],
	[`${N}=; Max-Age=0`, `${N}=second; Path=/`],
	[`${N}="quoted%2F"; Path=/`],
	[`other=1`],
];
const setAuthToken = authTokenCases.map((lines) => {
	const parsed = utils.parseSetCookieHeader(lines.join(", ")).get(N);
	const ok = !!parsed && !!parsed.value && parsed["max-age"] !== 0;
	return { setCookie: lines, ok, token: ok ? parsed.value : "" };
});

process.stdout.write(
	JSON.stringify({ generator: "better-call 1.4.5 / better-auth 1.7.25 functions", secret: SECRET, parse, serialize, signed, decode, encode, setAuthToken }, null, "\t") + "\n",
);
