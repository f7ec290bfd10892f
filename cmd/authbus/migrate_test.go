package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
)

func TestMigrate(t *testing.T) {
	backends := []struct {
		name    string
		url     func(t *testing.T) string
		created bool
	}{
		{"sqlite", sqliteURL, true},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }, false},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			out := mustRun(t, "migrate", "--database-url", url)
			require.Contains(t, out, "("+b.name+")")
			require.Contains(t, out, "applied 0001_init.sql\n")
			require.Contains(t, out, "1 migration(s) applied now, 1 in all")
			if b.created {
				require.Contains(t, out, "created the database file")
			}
			out = mustRun(t, "migrate", "--database-url", url)
			require.Contains(t, out, "up to date: 1 migration(s) already applied (0001_init.sql)")
			require.NotContains(t, out, "created")

			t.Setenv(envDatabaseURL, url)
			require.Contains(t, mustRun(t, "migrate"), "up to date", "the URL defaults to $AUTHBUS_DATABASE_URL")
		})
	}
}

func TestMigrateErrors(t *testing.T) {
	t.Setenv(envDatabaseURL, "")
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  []string
	}{
		{name: "no database", args: []string{"migrate"}, want: []string{"no database: pass --database-url or set AUTHBUS_DATABASE_URL"}},
		{name: "bad scheme", args: []string{"migrate", "--database-url", "mysql://root:hunter2@db/auth"}, want: []string{`unsupported database URL: scheme "mysql"`}},
		{name: "memory", args: []string{"migrate", "--database-url", ":memory:"}, want: []string{"give a file path"}},
		{name: "unreachable", args: []string{"migrate", "--database-url", "postgres://authbus:hunter2@127.0.0.1:1/auth?connect_timeout=2"},
			want: []string{"cannot connect to the database postgres://authbus:xxxxx@127.0.0.1:1/auth", "is it running", "connection refused"}},
		{name: "missing directory", args: []string{"migrate", "--database-url", "/nonexistent-dir/core.db"}, want: []string{"cannot open the database /nonexistent-dir/core.db"}},
		{name: "stray argument", args: []string{"migrate", "now"}, usage: true},
		{name: "unknown flag", args: []string{"migrate", "--force"}, usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, tt.args...)
			require.Error(t, err)
			if tt.usage {
				require.ErrorIs(t, err, errUsage)
				return
			}
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "hunter2", "passwords are not printed")
		})
	}
	_, err := os.Stat(filepath.Join("/nonexistent-dir"))
	require.True(t, os.IsNotExist(err), "nothing created")
}
