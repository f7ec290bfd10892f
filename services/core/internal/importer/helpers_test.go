package importer_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/importer"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/storeopen"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fixtureDir holds the databases made by the real better-auth (README.md there).
const fixtureDir = "testdata/better-auth"

// sqliteDB creates a SQLite database file from a SQL script and returns its path.
func sqliteDB(t testing.TB, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "better-auth.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(testCtx(t), script)
	require.NoError(t, err)
	return path
}

// postgresDB runs a SQL script (pg_dump's psql meta-commands, lines
// starting with a backslash, left out) in a new database and returns its URL.
func postgresDB(t testing.TB, script string) string {
	t.Helper()
	url := pgtest.URL(t)
	execPostgres(t, url, script)
	return url
}

func execPostgres(t testing.TB, url, script string) {
	t.Helper()
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(script))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), `\`) {
			b.WriteString(sc.Text())
			b.WriteByte('\n')
		}
	}
	require.NoError(t, sc.Err())
	conn, err := pgx.Connect(testCtx(t), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(testCtx(t), b.String())
	require.NoError(t, err)
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

// fixtureUser is a user of users.json: what was signed up.
type fixtureUser struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

func fixtureUsers(t testing.TB) []fixtureUser {
	t.Helper()
	var users []fixtureUser
	require.NoError(t, json.Unmarshal([]byte(readFile(t, filepath.Join(fixtureDir, "users.json"))), &users))
	require.Len(t, users, 4)
	return users
}

// destinations are the stores imported into.
var destinations = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"to-sqlite", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "core.db") }},
	{"to-postgres", func(t testing.TB) string { return pgtest.URL(t) }},
}

// openStore opens and migrates the core store at url, closed at cleanup.
func openStore(t testing.TB, url string) store.Store {
	t.Helper()
	st, err := storeopen.Open(testCtx(t), url, storeopen.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// openSource opens a better-auth database, closed at cleanup.
func openSource(t testing.TB, url string) *importer.Source {
	t.Helper()
	src, err := importer.OpenSource(testCtx(t), url)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, src.Close()) })
	return src
}

// outboxEvents returns the unpublished events in the outbox.
func outboxEvents(t testing.TB, st store.Store) []contracts.Envelope {
	t.Helper()
	recs, err := st.FetchOutbox(testCtx(t), 10000)
	require.NoError(t, err)
	out := make([]contracts.Envelope, len(recs))
	for i, r := range recs {
		out[i] = r.Event
	}
	return out
}

func ptr[T any](v T) *T { return &v }
