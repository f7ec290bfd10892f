// Drives a REAL better-auth server over its HTTP API to fill its database
// for the importer's fixtures (see README.md).
//
//   node signup.mjs http://127.0.0.1:3000/api/auth            sign up users.json, ask a reset for carol
//   node signup.mjs http://127.0.0.1:3000/api/auth admin      (admin plugin, alice an admin) make dave
//                                                             an admin and ban carol
import { readFileSync } from "node:fs";

const base = process.argv[2];
const phase = process.argv[3] || "signup";
const origin = new URL(base).origin;
const users = JSON.parse(readFileSync(new URL("./users.json", import.meta.url)));

async function call(path, body, cookie) {
	const res = await fetch(base + path, {
		method: "POST",
		headers: { "content-type": "application/json", origin, ...(cookie ? { cookie } : {}) },
		body: JSON.stringify(body),
	});
	const text = await res.text();
	if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
	return { json: JSON.parse(text), cookie: (res.headers.getSetCookie?.() || []).map((c) => c.split(";")[0]).join("; ") };
}

if (phase === "signup") {
	for (const u of users) {
		const { json } = await call("/sign-up/email", { name: u.name, email: u.email, password: u.password });
		console.log(`signed up ${json.user.email} as ${json.user.id}`);
	}
	await call("/request-password-reset", { email: "carol@example.com", redirectTo: "/reset" });
	console.log("asked a password reset for carol@example.com");
} else if (phase === "admin") {
	const alice = users[0];
	const { json, cookie } = await call("/sign-in/email", { email: alice.email, password: alice.password });
	console.log(`signed in ${json.user.email}`);
	const list = await fetch(`${base}/admin/list-users?limit=10`, { headers: { cookie, origin } }).then((r) => r.json());
	const byEmail = Object.fromEntries(list.users.map((u) => [u.email, u]));
	await call("/admin/set-role", { userId: byEmail["dave@example.com"].id, role: "admin" }, cookie);
	console.log("dave@example.com is an admin");
	await call("/admin/ban-user", { userId: byEmail["carol@example.com"].id, banReason: "spam", banExpiresIn: 60 * 60 * 24 * 365 * 50 }, cookie);
	console.log("carol@example.com is banned");
} else {
	throw new Error(`unknown phase ${phase}`);
}
