#!/usr/bin/env bash
# Rebuilds postgres.sql and sqlite.sql with the REAL better-auth server (see README.md).
#   PG_URL=postgres://postgres@127.0.0.1:55440/betterauth ./make.sh
# PG_URL must name an empty database; pg_dump (same major version as the server) must be on PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peer=${PEER_DIR:-$here/../../../../../../../shared/peers/better-auth}
: "${PG_URL:?set PG_URL to an empty Postgres database}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cp -r "$peer/." "$work/"
cp "$here"/{signup.mjs,sqlite-server.mjs,dump-sqlite.mjs,users.json} "$work/"
cd "$work"
npm ci --no-audit --no-fund
npm install --no-save --no-audit --no-fund better-sqlite3@12.11.1

wait_up() { for _ in $(seq 100); do curl -fs "$1/ok" >/dev/null && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }

# Postgres: the peer server as is (no admin plugin), tables created by better-auth's migrator.
PORT=3101 PEER_DB=postgres PEER_PG_URL="$PG_URL" node server.mjs & pg_pid=$!
wait_up http://127.0.0.1:3101/api/auth
node signup.mjs http://127.0.0.1:3101/api/auth signup
kill $pg_pid; wait $pg_pid || true
pg_dump --inserts --no-owner --no-privileges --no-comments "$PG_URL" > "$here/postgres.sql"

# SQLite: better-auth on better-sqlite3 with the admin plugin; then alice (an
# admin by adminUserIds) makes dave an admin and bans carol, over HTTP.
db="$work/better-auth.db"
PORT=3102 SQLITE_FILE="$db" node sqlite-server.mjs & s_pid=$!
wait_up http://127.0.0.1:3102/api/auth
node signup.mjs http://127.0.0.1:3102/api/auth signup
kill $s_pid; wait $s_pid || true
alice=$(node -e 'const D=require("better-sqlite3"); console.log(new D(process.argv[1]).prepare("select id from user where email=?").get("alice@example.com").id)' "$db")
PORT=3102 SQLITE_FILE="$db" ADMIN_USER_IDS="$alice" node sqlite-server.mjs & s_pid=$!
wait_up http://127.0.0.1:3102/api/auth
node signup.mjs http://127.0.0.1:3102/api/auth admin
kill $s_pid; wait $s_pid || true
node dump-sqlite.mjs "$db" > "$here/sqlite.sql"
echo "wrote $here/postgres.sql and $here/sqlite.sql"
