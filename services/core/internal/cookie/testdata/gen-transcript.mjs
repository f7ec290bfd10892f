// Extracts transcript.json from the recorded better-auth 1.7.25 transcript
// (shared/better-auth-transcript.txt, made by peers/better-auth/probe.mjs):
// for every exchange, the request's Cookie / Authorization headers, the
// response's Set-Cookie and set-auth-token headers and the JSON "token".
//
//   node gen-transcript.mjs /path/to/better-auth-transcript.txt > transcript.json
import { readFile } from "node:fs/promises";

const path = process.argv[2];
if (!path) {
	console.error("usage: node gen-transcript.mjs <better-auth-transcript.txt>");
	process.exit(2);
}
const text = await readFile(path, "utf8");
const out = [];
for (const block of text.split(/\n### /).slice(1)) {
	const lines = block.split("\n");
	const ex = { label: lines[0].trim(), request: "", cookie: "", authorization: "", body: null, setCookie: [], setAuthToken: "", token: "" };
	for (const line of lines.slice(1)) {
		if (line.startsWith("> cookie: ")) ex.cookie = line.slice(10);
		else if (line.startsWith("> authorization: ")) ex.authorization = line.slice(17);
		else if (/^> (GET|POST) /.test(line)) ex.request = line.slice(2);
		else if (line.startsWith("> {")) ex.body = JSON.parse(line.slice(2));
		else if (line.startsWith("< set-cookie: ")) ex.setCookie.push(line.slice(14));
		else if (line.startsWith("< set-auth-token: ")) ex.setAuthToken = line.slice(18);
		else if (line.startsWith("< {")) {
			try {
				const body = JSON.parse(line.slice(2));
				ex.token = body?.token ?? body?.session?.token ?? "";
			} catch {}
		}
	}
	if (ex.cookie || ex.authorization || ex.setCookie.length || ex.setAuthToken) out.push(ex);
}
process.stdout.write(
	JSON.stringify({ generator: "shared/better-auth-transcript.txt (better-auth 1.7.25 peer, default secret)", secret: "peer-test-secret-0123456789-abcdefghijklmnop", exchanges: out }, null, "\t") + "\n",
);
