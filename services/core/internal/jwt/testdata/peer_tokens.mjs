// Drives the real better-auth peer (server.mjs, memory adapter) to mint email-verification tokens:
//   (cd /work/shared/peers/better-auth && npm ci && PORT=38917 node server.mjs) &
//   node testdata/peer_tokens.mjs http://127.0.0.1:38917/api/auth > testdata/peer_tokens.json
// sign-up -> send-verification-email -> GET verify-email -> change-email; tokens read from GET /__peer/outbox.
const base = process.argv[2];
const origin = new URL(base).origin;
let cookie = "";
async function call(method, path, body) {
  const res = await fetch(base + path, {
    method, redirect: "manual",
    headers: { "content-type": "application/json", origin, cookie },
    body: body ? JSON.stringify(body) : undefined,
  });
  const sc = res.headers.getSetCookie();
  if (sc.length) cookie = sc.map((c) => c.split(";")[0]).join("; ");
  return [res.status, await res.text()];
}
const email = "Vector.User@Example.com";
console.error(await call("POST", "/sign-up/email", { email, password: "password-1234", name: "Vector" }));
console.error(await call("POST", "/send-verification-email", { email: email.toLowerCase(), callbackURL: "/done" }));
let box = await (await fetch(origin + "/__peer/outbox")).json();
const verify = box.filter((m) => m.kind === "verify-email").at(-1);
console.error(await call("GET", "/verify-email?token=" + verify.token));
console.error(await call("POST", "/change-email", { newEmail: "New.Address@Example.com", callbackURL: "/changed" }));
box = await (await fetch(origin + "/__peer/outbox")).json();
const change = box.filter((m) => m.kind === "verify-email").at(-1);
const secret = (await (await fetch(origin + "/__peer/info")).json()).secret;
const entry = (name, m) => ({ name, to: m.to, url: m.url, token: m.token });
const producedBy = `testdata/peer_tokens.mjs against better-auth 1.7.25 (peers/better-auth/server.mjs), ${new Date().toISOString().slice(0, 10)}`;
console.log(JSON.stringify({ producedBy, secret, tokens: [entry("send-verification-email", verify), entry("change-email-verification", change)] }, null, "\t"));
