package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/authbus/authbus/internal/pgtest"
)

// betterAuthFixtures are databases written by the real better-auth server
// (see the README.md there).
const betterAuthFixtures = "../../services/core/internal/importer/testdata/better-auth"

// runCLI runs `authbus args…` and returns its output and error.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustRun runs the CLI and requires success.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, args...)
	require.NoError(t, err, "stderr: %s", errOut)
	return out
}

// sqliteURL is a new SQLite database path.
func sqliteURL(t *testing.T) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "core.db")
}

// betterAuthSQLite makes a better-auth SQLite database from the fixture.
func betterAuthSQLite(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(betterAuthFixtures, "sqlite.sql"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "better-auth.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(string(script))
	require.NoError(t, err)
	return path
}

// betterAuthPostgres restores the Postgres fixture into a new database.
func betterAuthPostgres(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(betterAuthFixtures, "postgres.sql"))
	require.NoError(t, err)
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(script))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), `\`) { // pg_dump's psql meta-commands
			b.WriteString(sc.Text() + "\n")
		}
	}
	url := pgtest.URL(t)
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), b.String())
	require.NoError(t, err)
	return url
}

// outboxRow is an event the commands wrote, read back from SQLite.
type outboxRow struct{ Type, Subject, Event string }

func sqliteOutbox(t *testing.T, url string) []outboxRow {
	t.Helper()
	db, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite:"))
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT "type", "subject", "event" FROM "outbox" ORDER BY "seq"`)
	require.NoError(t, err)
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		require.NoError(t, rows.Scan(&r.Type, &r.Subject, &r.Event))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}
