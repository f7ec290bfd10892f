package storeopen_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/postgres"
	"github.com/authbus/authbus/services/core/internal/store/sqlite"
	"github.com/authbus/authbus/services/core/internal/store/storeopen"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestParse(t *testing.T) {
	tests := []struct {
		name        string
		url         string
		wantBackend storeopen.Backend
		wantTarget  string
		wantErr     string
	}{
		{name: "postgres", url: "postgres://u:p@db:5432/authbus?sslmode=disable", wantBackend: storeopen.Postgres, wantTarget: "postgres://u:p@db:5432/authbus?sslmode=disable"},
		{name: "postgresql", url: "postgresql://db/authbus", wantBackend: storeopen.Postgres, wantTarget: "postgresql://db/authbus"},
		{name: "upper-case scheme", url: "POSTGRES://db/authbus", wantBackend: storeopen.Postgres, wantTarget: "POSTGRES://db/authbus"},
		{name: "memory", url: ":memory:", wantBackend: storeopen.SQLite, wantTarget: sqlite.Memory},
		{name: "sqlite memory", url: "sqlite::memory:", wantBackend: storeopen.SQLite, wantTarget: sqlite.Memory},
		{name: "sqlite relative", url: "sqlite:./.authbus/core.db", wantBackend: storeopen.SQLite, wantTarget: "./.authbus/core.db"},
		{name: "sqlite absolute", url: "sqlite:///var/lib/authbus/core.db", wantBackend: storeopen.SQLite, wantTarget: "/var/lib/authbus/core.db"},
		{name: "sqlite two slashes", url: "sqlite://data/core.db", wantBackend: storeopen.SQLite, wantTarget: "data/core.db"},
		{name: "sqlite escaped", url: "sqlite:my%20data/core.db", wantBackend: storeopen.SQLite, wantTarget: "my data/core.db"},
		{name: "file URI, query dropped", url: "file:core.db?cache=shared", wantBackend: storeopen.SQLite, wantTarget: "core.db"},
		{name: "plain relative path", url: "core.db", wantBackend: storeopen.SQLite, wantTarget: "core.db"},
		{name: "plain dotted path", url: "./.authbus/core.db", wantBackend: storeopen.SQLite, wantTarget: "./.authbus/core.db"},
		{name: "plain absolute path", url: "/var/lib/authbus/core.db", wantBackend: storeopen.SQLite, wantTarget: "/var/lib/authbus/core.db"},
		{name: "path with a colon in a directory", url: "./a:b/core.db", wantBackend: storeopen.SQLite, wantTarget: "./a:b/core.db"},
		{name: "empty", url: "  ", wantErr: "empty"},
		{name: "sqlite without a path", url: "sqlite:", wantErr: "has no file path"},
		{name: "postgres without //", url: "postgres:db", wantErr: "start with postgres://"},
		{name: "mysql, password not echoed", url: "mysql://root:hunter2@db/authbus", wantErr: `scheme "mysql"`},
		{name: "http", url: "http://example.com/db", wantErr: `scheme "http"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			backend, target, err := storeopen.Parse(tc.url)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, storeopen.ErrUnsupportedURL)
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "hunter2")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantBackend, backend)
			require.Equal(t, tc.wantTarget, target)
		})
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name     string
		url      func(t *testing.T) string
		wantType any
	}{
		{name: "postgres", url: func(t *testing.T) string { return pgtest.URL(t) }, wantType: &postgres.Store{}},
		{name: "sqlite file", url: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "core.db") }, wantType: &sqlite.Store{}},
		{name: "plain path", url: func(t *testing.T) string { return filepath.Join(t.TempDir(), "core.db") }, wantType: &sqlite.Store{}},
		{name: "memory", url: func(t *testing.T) string { return ":memory:" }, wantType: &sqlite.Store{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := storeopen.Open(ctx, tc.url(t), storeopen.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.Close()) })
			require.IsType(t, tc.wantType, s)
			// Migrated: a sign-up works.
			require.NoError(t, s.InTx(ctx, func(tx store.Tx) error {
				_, err := tx.CreateUser(ctx, store.User{Email: "open@example.com"})
				return err
			}))
			_, err = s.UserByEmail(ctx, "open@example.com")
			require.NoError(t, err)
		})
	}
}

func TestOpenSkipMigrate(t *testing.T) {
	ctx := context.Background()
	s, err := storeopen.Open(ctx, ":memory:", storeopen.Options{SkipMigrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	_, err = s.UserByEmail(ctx, "x@example.com")
	require.ErrorContains(t, err, "no such table")
	require.NoError(t, s.Migrate(ctx))
	_, err = s.UserByEmail(ctx, "x@example.com")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestOpenBadURL(t *testing.T) {
	_, err := storeopen.Open(context.Background(), "redis://localhost", storeopen.Options{})
	require.ErrorIs(t, err, storeopen.ErrUnsupportedURL)
}
