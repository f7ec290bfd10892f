package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/sqlite"
	"github.com/authbus/authbus/services/core/internal/store/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func migrated(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s := open(t, path)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func tempPath(t testing.TB) string { return filepath.Join(t.TempDir(), "core.db") }

func openEmpty(t testing.TB) func() store.Store {
	path := tempPath(t)
	return func() store.Store { return open(t, path) }
}

func TestConformance(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		storetest.Run(t, func(t testing.TB) store.Store { return migrated(t, tempPath(t)) }, storetest.Features{OpenEmpty: openEmpty})
	})
	t.Run("memory", func(t *testing.T) {
		storetest.Run(t, func(t testing.TB) store.Store { return migrated(t, sqlite.Memory) }, storetest.Features{OpenEmpty: openEmpty})
	})
}

func BenchmarkSessionLookup(b *testing.B) {
	storetest.BenchmarkSessionLookup(b, func(t testing.TB) store.Store { return migrated(t, tempPath(t)) })
}

func BenchmarkSignUp(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			storetest.BenchmarkSignUp(b, func(t testing.TB) store.Store {
				s, err := sqlite.Open(context.Background(), tempPath(t), sqlite.Options{Synchronous: sync})
				require.NoError(t, err)
				t.Cleanup(func() { _ = s.Close() })
				require.NoError(t, s.Migrate(context.Background()))
				return s
			})
		})
	}
}

// rawDB opens the file directly, as `authbus import` or a person with the sqlite3 shell would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStorageFormatMatchesBetterAuth(t *testing.T) {
	path := tempPath(t)
	s := migrated(t, path)
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.UTC)
	token := "k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH"
	var u store.User
	require.NoError(t, s.InTx(ctx, func(tx store.Tx) error {
		var err error
		u, err = tx.CreateUser(ctx, store.User{Email: "Fay@Example.com", EmailVerified: true, CreatedAt: at})
		if err != nil {
			return err
		}
		_, err = tx.CreateSession(ctx, store.Session{TokenHash: store.HashToken(token), UserID: u.ID, ExpiresAt: at.Add(time.Hour), CreatedAt: at})
		return err
	}))

	db := rawDB(t, path)
	var createdAt, createdType, email string
	var verified int
	require.NoError(t, db.QueryRow(`SELECT CAST("createdAt" AS TEXT), typeof("createdAt"), "email", "emailVerified" FROM "user"`).
		Scan(&createdAt, &createdType, &email, &verified))
	require.Equal(t, "2026-01-02T03:04:05.678Z", createdAt, "Date.toISOString() form")
	require.Equal(t, "text", createdType)
	require.Equal(t, "fay@example.com", email)
	require.Equal(t, 1, verified, "booleans are 0/1")

	var stored string
	require.NoError(t, db.QueryRow(`SELECT "token" FROM "session"`).Scan(&stored))
	require.Equal(t, store.HashToken(token), stored)
	require.NotContains(t, stored, token)
	require.Len(t, stored, 64)

	var declared string
	require.NoError(t, db.QueryRow(`SELECT "type" FROM pragma_table_info('user') WHERE "name" = 'createdAt'`).Scan(&declared))
	require.Equal(t, "date", declared, "better-auth's column type")
}

func TestReadsOtherDateForms(t *testing.T) {
	path := tempPath(t)
	s := migrated(t, path)
	db := rawDB(t, path)
	want := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	tests := []struct {
		name  string
		value any
		want  time.Time
	}{
		{name: "better-auth (toISOString)", value: "2026-01-02T03:04:05.678Z", want: want},
		{name: "RFC 3339 with offset", value: "2026-01-02T04:04:05.678+01:00", want: want},
		{name: "more digits", value: "2026-01-02T03:04:05.678999Z", want: want},
		{name: "SQLite datetime()", value: "2026-01-02 03:04:05", want: want.Truncate(time.Second)},
		{name: "Unix milliseconds", value: want.UnixMilli(), want: want},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := store.NewID()
			_, err := db.Exec(`INSERT INTO "user" ("id", "name", "email", "createdAt", "updatedAt") VALUES (?, '', ?, ?, ?)`,
				id, "form"+string(rune('a'+i))+"@example.com", tc.value, tc.value)
			require.NoError(t, err)
			u, err := s.UserByID(context.Background(), id)
			require.NoError(t, err)
			require.True(t, tc.want.Equal(u.CreatedAt), "got %v", u.CreatedAt)
			require.Equal(t, time.UTC, u.CreatedAt.Location())
			require.Equal(t, store.RoleUser, u.Role, "column defaults apply to imported rows")
		})
	}
	t.Run("garbage is an error, not a zero time", func(t *testing.T) {
		id := store.NewID()
		_, err := db.Exec(`INSERT INTO "user" ("id", "name", "email", "createdAt", "updatedAt") VALUES (?, '', 'garbage@example.com', 'yesterday', 'yesterday')`, id)
		require.NoError(t, err)
		_, err = s.UserByID(context.Background(), id)
		require.ErrorContains(t, err, `cannot read "yesterday" as a time`)
	})
}

func TestConnectionSettings(t *testing.T) {
	path := tempPath(t)
	s := migrated(t, path)
	ctx := context.Background()
	db := rawDB(t, path)
	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "wal", mode, "WAL is a property of the file")

	// Foreign keys are on for the writer: a session of an unknown user is refused.
	err := s.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.CreateSession(ctx, store.Session{TokenHash: "h", UserID: "nobody", ExpiresAt: time.Now()})
		return err
	})
	require.ErrorIs(t, err, store.ErrNotFound)
}

// While a write transaction is open, reads go on: they use the read pool, not the writer.
func TestReadsDoNotWaitForTheWriter(t *testing.T) {
	s := migrated(t, tempPath(t))
	ctx := context.Background()
	var u store.User
	require.NoError(t, s.InTx(ctx, func(tx store.Tx) error {
		var err error
		u, err = tx.CreateUser(ctx, store.User{Email: "reader@example.com"})
		return err
	}))
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(ctx, func(tx store.Tx) error {
			if _, err := tx.UpdateUser(ctx, u.ID, store.UserUpdate{Name: store.Some("changed")}); err != nil {
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	readCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := s.UserByID(readCtx, u.ID)
	require.NoError(t, err, "a read during a write transaction")
	require.Equal(t, "", got.Name, "the uncommitted change is not visible")
	close(release)
	require.NoError(t, <-done)
	got, err = s.UserByID(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, "changed", got.Name)
}

func TestMemoryRelayLock(t *testing.T) {
	s := migrated(t, sqlite.Memory)
	ctx := context.Background()
	l, ok, err := s.TryRelayLock(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = s.TryRelayLock(ctx)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, l.Release())
	l, ok, err = s.TryRelayLock(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, l.Release())

	other := migrated(t, sqlite.Memory)
	_, ok, err = other.TryRelayLock(ctx)
	require.NoError(t, err)
	require.True(t, ok, "two in-memory stores are two databases")
}

func TestMigrationsAreRecorded(t *testing.T) {
	path := tempPath(t)
	migrated(t, path)
	var version int
	var name, appliedAt string
	require.NoError(t, rawDB(t, path).QueryRow(`SELECT "version", "name", CAST("appliedAt" AS TEXT) FROM "migration"`).Scan(&version, &name, &appliedAt))
	require.Equal(t, 1, version)
	require.Equal(t, "0001_init.sql", name)
	_, err := time.Parse("2006-01-02T15:04:05.000Z", appliedAt)
	require.NoError(t, err)
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		opts    sqlite.Options
		wantErr string
	}{
		{name: "empty path", path: "", wantErr: "path is empty"},
		{name: "question mark", path: "a?b.db", wantErr: "contains '?'"},
		{name: "bad synchronous", path: "x.db", opts: sqlite.Options{Synchronous: "OFF"}, wantErr: "use FULL or NORMAL"},
		{name: "directory does not exist", path: filepath.Join(t.TempDir(), "missing", "core.db"), wantErr: "open sqlite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqlite.Open(context.Background(), tc.path, tc.opts)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
