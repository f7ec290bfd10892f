#!/usr/bin/env bash
# Benchmark matrix against the authbus core (same cases and TSV columns as
# bench.sh runs against the better-auth peer, so the two can be compared in one run):
#   sqlite    cases ok, get-session, sign-in, sign-up    (cookie cache off)
#   postgres  the same on a throwaway Postgres cluster
#   <db>+cc   get-session with the session_data cookie cache on
#
#   bench/run-authbus.sh [sqlite] [postgres]     # default: both
#
# Env: PORT (3200), PG_PORT (55433), PG_BIN (/usr/lib/postgresql/15/bin), PASSES (1),
#      and bench.sh's (DURATION, WARMUP, CONCS, OUT, HEY). Needs hey
#      (go install github.com/rakyll/hey@latest) and node for the sign-up case.
# To compare with better-auth: ../shared/peers/better-auth/bench/run-peer.sh with the
# same OUT, then node bench/summarize.mjs bench/results/results.tsv.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PORT="${PORT:-3200}"
PG_PORT="${PG_PORT:-55433}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
export OUT="${OUT:-$HERE/results}"
DBS="${*:-sqlite postgres}"
WORK="$(mktemp -d)"
LOG="$OUT/run.log"
mkdir -p "$OUT"
SERVER_PID=""
PG_DATA=""

as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
	[ -n "$PG_DATA" ] && as_pg "$PG_BIN/pg_ctl -D $PG_DATA -m fast stop" >>"$LOG" 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

command -v hey >/dev/null || [ -x "$HOME/go/bin/hey" ] || go install github.com/rakyll/hey@latest
echo "# building the core" | tee -a "$LOG"
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$WORK/core" ./services/core/cmd/core)

start_pg() {
	PG_DATA="$WORK/pg"
	mkdir -p "$PG_DATA" && chmod 755 "$WORK"
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DATA"
	as_pg "$PG_BIN/initdb -D $PG_DATA -U postgres --auth=trust" >>"$LOG" 2>&1
	as_pg "$PG_BIN/pg_ctl -D $PG_DATA -o '-p $PG_PORT -k /tmp -c max_connections=200' -l $PG_DATA/server.log -w start" >>"$LOG" 2>&1
}

start_core() { # database url, extra env...
	local db="$1"; shift
	env AUTHBUS_SECRET=bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz \
		AUTHBUS_BASE_URL="http://127.0.0.1:$PORT" AUTHBUS_HTTP_ADDR="127.0.0.1:$PORT" AUTHBUS_OPS_ADDR=127.0.0.1:0 \
		AUTHBUS_DATABASE_URL="$db" AUTHBUS_DEV=true AUTHBUS_NATS_EMBEDDED=true AUTHBUS_NATS_STORE_DIR="$WORK/nats" \
		AUTHBUS_LOG_LEVEL=warn "$@" "$WORK/core" >>"$LOG" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/api/auth/ok" >/dev/null && return 0; sleep 0.1; done
	echo "core did not start; see $LOG" >&2; exit 1
}
stop_core() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

BASE="http://127.0.0.1:$PORT/api/auth"
echo "# $(date -u +%FT%TZ) authbus core $(cd "$ROOT" && git rev-parse --short HEAD) $(go version | cut -d' ' -f3) on $(nproc) cores" | tee -a "$LOG"
for pass in $(seq "${PASSES:-1}"); do
	for db in $DBS; do
		PG_PID=""
		case "$db" in
		sqlite) url="$WORK/bench-$pass.db" ;;
		postgres)
			[ -n "$PG_DATA" ] || start_pg
			PG_PID="$(head -1 "$PG_DATA/postmaster.pid")"
			psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS bench; CREATE DATABASE bench;" >>"$LOG" 2>&1
			url="postgres://postgres@127.0.0.1:$PG_PORT/bench?sslmode=disable" ;;
		*) echo "unknown database $db" >&2; exit 2 ;;
		esac
		start_core "$url"
		LABEL="authbus-$db" SERVER_PID="$SERVER_PID" PG_PID="$PG_PID" "$HERE/bench.sh" "$BASE" 2>&1 | tee -a "$LOG"
		stop_core
		start_core "$url" AUTHBUS_SESSION_COOKIE_CACHE=true
		LABEL="authbus-$db+cc" CASES=get-session SERVER_PID="$SERVER_PID" PG_PID="$PG_PID" "$HERE/bench.sh" "$BASE" 2>&1 | tee -a "$LOG"
		stop_core
	done
done
node "$HERE/summarize.mjs" "$OUT/results.tsv"
