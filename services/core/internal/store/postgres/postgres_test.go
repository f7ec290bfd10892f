package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/postgres"
	"github.com/authbus/authbus/services/core/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t testing.TB, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func migrated(t testing.TB) *postgres.Store {
	t.Helper()
	s := open(t, pgtest.URL(t), postgres.Options{})
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store { return migrated(t) }, storetest.Features{
		OpenEmpty: func(t testing.TB) func() store.Store {
			url := pgtest.URL(t)
			return func() store.Store { return open(t, url, postgres.Options{}) }
		},
		SnapshotHorizon: true,
	})
}

func BenchmarkSessionLookup(b *testing.B) {
	storetest.BenchmarkSessionLookup(b, func(t testing.TB) store.Store { return migrated(t) })
}

func BenchmarkSignUp(b *testing.B) {
	storetest.BenchmarkSignUp(b, func(t testing.TB) store.Store { return migrated(t) })
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// The tables are better-auth's, column for column, in schema core.
func TestSchemaFollowsBetterAuth(t *testing.T) {
	url := pgtest.URL(t)
	s := open(t, url, postgres.Options{})
	require.NoError(t, s.Migrate(context.Background()))
	conn := connect(t, url)
	want := map[string][]string{
		"user": {"id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt",
			"role", "banned", "banReason", "banExpires"},
		"session": {"id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId",
			"activeOrganizationId", "data"},
		"account": {"id", "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken",
			"accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "password", "createdAt", "updatedAt"},
		"verification": {"id", "identifier", "value", "expiresAt", "createdAt", "updatedAt"},
		"outbox":       {"seq", "xid", "eventId", "type", "subject", "event", "createdAt", "publishedAt"},
		"migration":    {"version", "name", "appliedAt"},
	}
	for table, cols := range want {
		rows, err := conn.Query(context.Background(), `SELECT column_name FROM information_schema.columns
			WHERE table_schema = 'core' AND table_name = $1 ORDER BY ordinal_position`, table)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, cols, got, "columns of core.%s", table)
	}
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&n))
	require.Zero(t, n, "nothing outside schema core")

	var version int
	var name string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT "version", "name" FROM core."migration"`).Scan(&version, &name))
	require.Equal(t, 1, version)
	require.Equal(t, "0001_init.sql", name)
}

func TestSessionTokenIsStoredHashed(t *testing.T) {
	url := pgtest.URL(t)
	s := open(t, url, postgres.Options{})
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	token := "k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH"
	require.NoError(t, s.InTx(ctx, func(tx store.Tx) error {
		u, err := tx.CreateUser(ctx, store.User{Email: "hash@example.com"})
		if err != nil {
			return err
		}
		_, err = tx.CreateSession(ctx, store.Session{TokenHash: store.HashToken(token), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)})
		return err
	}))
	var stored string
	require.NoError(t, connect(t, url).QueryRow(ctx, `SELECT "token" FROM core."session"`).Scan(&stored))
	require.Equal(t, store.HashToken(token), stored)
	require.NotContains(t, stored, token)
}

// A relay whose connection breaks loses the lock (the server frees it), is
// told so, and another replica takes over.
func TestRelayLockLostWithItsConnection(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	a := open(t, url, postgres.Options{LockCheckInterval: 20 * time.Millisecond})
	require.NoError(t, a.Migrate(ctx))
	b := open(t, url, postgres.Options{})
	lock, ok, err := a.TryRelayLock(ctx)
	require.NoError(t, err)
	require.True(t, ok)

	admin := connect(t, url)
	rows, err := admin.Query(ctx, `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	require.NoError(t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Len(t, pids, 1, "one advisory lock: the relay's")
	var terminated bool
	require.NoError(t, admin.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pids[0]).Scan(&terminated))
	require.True(t, terminated)

	select {
	case <-lock.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("the broken connection was not noticed")
	}
	require.Eventually(t, func() bool {
		l, ok, err := b.TryRelayLock(ctx)
		require.NoError(t, err)
		if ok {
			require.NoError(t, l.Release())
		}
		return ok
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, lock.Release(), "releasing a lost lock is fine")
}

// Each transaction's events carry its id (xid8), increasing from one
// transaction to the next, and FetchOutbox follows it.
func TestOutboxRowsCarryTheTransactionID(t *testing.T) {
	s := migrated(t)
	ctx := context.Background()
	var want []string
	for i := range 3 {
		e, err := contracts.NewEnvelope("authbus/core", contracts.EventUserUpdated, "u", map[string]int{"i": i})
		require.NoError(t, err)
		want = append(want, e.ID)
		require.NoError(t, s.InTx(ctx, func(tx store.Tx) error { return tx.AppendOutbox(ctx, e) }))
	}
	recs, err := s.FetchOutbox(ctx, 10)
	require.NoError(t, err)
	var got []string
	for _, r := range recs {
		got = append(got, r.Event.ID)
	}
	require.Equal(t, want, got)

	rows, err := s.Pool().Query(ctx, `SELECT "xid"::text::bigint FROM core."outbox" ORDER BY "seq"`)
	require.NoError(t, err)
	xids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	require.Len(t, xids, 3)
	require.True(t, xids[0] < xids[1] && xids[1] < xids[2], "xids %v", xids)
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, url, wantErr string
	}{
		{name: "not a connection string", url: "postgres://u:secretpw@host:notaport/db", wantErr: "connection string"},
		{name: "nobody listening", url: "postgres://u:secretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", wantErr: "connect to postgres at 127.0.0.1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.Open(context.Background(), tc.url, postgres.Options{})
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), "secretpw")
		})
	}
}
