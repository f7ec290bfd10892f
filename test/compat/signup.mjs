// Signs one user up with the REAL better-auth client (createAuthClient →
// signUp.email) and prints the client's result as one JSON line:
// {"data": …, "error": …} (error is null on success; on failure it is the
// client's error object: status, statusText, code, message).
//
//   node signup.mjs <baseURL> <email> <password> [name]
//
// baseURL is e.g. http://127.0.0.1:8080/api/auth. Like client.mjs it sends
// the Origin a browser would. Exit code 0 whenever the client returned a
// result (success or error), 2 on bad usage or a thrown exception.
import { createAuthClient } from "better-auth/client";

const [baseURL, email, password, name] = process.argv.slice(2);
if (!baseURL || !email || !password) {
	console.error("usage: node signup.mjs <baseURL> <email> <password> [name]");
	process.exit(2);
}
const origin = process.env.AUTH_ORIGIN || new URL(baseURL).origin;

const client = createAuthClient({
	baseURL,
	fetchOptions: {
		customFetchImpl: (input, init = {}) => {
			const headers = new Headers(init.headers);
			if (!headers.has("origin")) headers.set("origin", origin);
			return fetch(input, { ...init, headers });
		},
	},
});

try {
	const r = await client.signUp.email({ email, password, name: name ?? email.split("@")[0] });
	console.log(JSON.stringify({ data: r.data ?? null, error: r.error ?? null }));
} catch (e) {
	console.error(`signUp.email threw: ${e?.stack ?? e}`);
	process.exit(2);
}
