// Writes a SQLite database as SQL text (schema, then every row as an
// INSERT with its value exactly as stored: ISO date text, 0/1 booleans), so
// that the fixture is reviewable. Usage: node dump-sqlite.mjs file.db > sqlite.sql
import Database from "better-sqlite3";

const db = new Database(process.argv[2], { readonly: true });
const quote = (v) => {
	if (v === null) return "NULL";
	if (typeof v === "number" || typeof v === "bigint") return String(v);
	return `'${String(v).replaceAll("'", "''")}'`;
};
const out = ["-- better-auth SQLite database, dumped by dump-sqlite.mjs (see README.md)", "PRAGMA foreign_keys=OFF;", "BEGIN;"];
const objects = db
	.prepare("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index', rowid")
	.all();
for (const o of objects.filter((o) => o.type === "table")) {
	out.push(`${o.sql};`);
	const cols = db.prepare(`SELECT name FROM pragma_table_info(?)`).all(o.name).map((c) => c.name);
	for (const row of db.prepare(`SELECT * FROM "${o.name}" ORDER BY rowid`).raw().all()) {
		out.push(`INSERT INTO "${o.name}" (${cols.map((c) => `"${c}"`).join(", ")}) VALUES (${row.map(quote).join(", ")});`);
	}
}
for (const o of objects.filter((o) => o.type === "index")) out.push(`${o.sql};`);
out.push("COMMIT;");
console.log(out.join("\n"));
