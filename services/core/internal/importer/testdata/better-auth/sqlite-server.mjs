// A REAL better-auth server (the npm package, as in ../../../../../../../shared/peers/better-auth)
// on a SQLite file through better-sqlite3 and better-auth's own Kysely
// adapter, with the admin plugin (user.role, banned, banReason, banExpires).
// Used once to produce sqlite.sql (see README.md).
//
//   PORT=3100 SQLITE_FILE=/tmp/ba.db [ADMIN_USER_IDS=id,…] node sqlite-server.mjs
import http from "node:http";
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { toNodeHandler } from "better-auth/node";
import { admin } from "better-auth/plugins";
import { getMigrations } from "better-auth/db/migration";

const PORT = Number(process.env.PORT || 3100);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const options = {
	baseURL: ORIGIN,
	basePath: "/api/auth",
	secret: "fixture-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
	database: new Database(process.env.SQLITE_FILE),
	emailAndPassword: {
		enabled: true,
		async sendResetPassword({ user, token }) {
			console.log(`[mail] reset-password ${user.email} ${token}`);
		},
	},
	plugins: [admin({ adminUserIds: (process.env.ADMIN_USER_IDS || "").split(",").filter(Boolean) })],
	telemetry: { enabled: false },
};
const { runMigrations } = await getMigrations(options);
await runMigrations();
const handler = toNodeHandler(betterAuth(options));
const server = http.createServer(handler);
server.listen(PORT, "127.0.0.1", () => console.log(`better-auth (sqlite) on ${ORIGIN}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
process.on("SIGINT", () => server.close(() => process.exit(0)));
