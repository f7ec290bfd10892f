package main

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
)

func TestImportBetterAuth(t *testing.T) {
	cases := []struct {
		name     string
		from, to func(t *testing.T) string
	}{
		{"sqlite into sqlite", func(t *testing.T) string { return betterAuthSQLite(t) }, sqliteURL},
		{"postgres into postgres", betterAuthPostgres, func(t *testing.T) string { return pgtest.URL(t) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			from, to := c.from(t), c.to(t)
			mustRun(t, "migrate", "--database-url", to)

			dry := mustRun(t, "import", "better-auth", "--from", from, "--database-url", to, "--dry-run")
			require.Contains(t, dry, "dry run: nothing was written")
			require.Regexp(t, `users\s+4\s+4\s+0\s+0\s+0`, dry)
			require.Contains(t, dry, "4 user.created event(s) would be written")

			out := mustRun(t, "import", "better-auth", "--from", from, "--database-url", to)
			require.NotContains(t, out, "dry run")
			require.Regexp(t, `read\s+imported\s+already present\s+duplicates\s+skipped`, out)
			require.Regexp(t, `users\s+4\s+4\s+0\s+0\s+0`, out)
			require.Regexp(t, `accounts\s+4\s+4\s+0\s+0\s+0`, out)
			require.Regexp(t, `verifications\s+1\s+1\s+0\s+0\s+0`, out)
			require.Contains(t, out, "4 user.created event(s) written to the outbox")
			require.Contains(t, out, "4 session(s) not carried")

			again := mustRun(t, "import", "better-auth", "--from", from, "--database-url", to)
			require.Regexp(t, `users\s+4\s+0\s+4\s+0\s+0`, again, "nothing new the second time")
			require.Contains(t, again, "0 user.created event(s) written")

			// The imported users can be administered.
			require.Contains(t, mustRun(t, "user", "promote", "alice@example.com", "--database-url", to), "alice@example.com")
		})
	}
}

func TestImportReportsDuplicates(t *testing.T) {
	from, to := betterAuthSQLite(t), sqliteURL(t)
	mustRun(t, "migrate", "--database-url", to)
	mustRun(t, "import", "better-auth", "--from", from, "--database-url", to)

	// Another better-auth database with the same people under other ids.
	other := betterAuthSQLite(t)
	db, err := sql.Open("sqlite", other)
	require.NoError(t, err)
	_, err = db.Exec(`PRAGMA foreign_keys = OFF;
		UPDATE "user" SET "id" = 'other' || "id";
		UPDATE "account" SET "id" = 'other' || "id", "userId" = 'other' || "userId", "accountId" = 'other' || "accountId";`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	out := mustRun(t, "import", "better-auth", "--from", "sqlite:"+other, "--database-url", to)
	require.Regexp(t, `users\s+4\s+0\s+0\s+4\s+0`, out)
	require.Regexp(t, `accounts\s+4\s+0\s+0\s+0\s+4`, out, "accounts of users not imported are skipped")
	require.Regexp(t, `verifications\s+1\s+0\s+1\s+0\s+0`, out)
	require.Contains(t, out, "left out:\n")
	require.Contains(t, out, "duplicate user otherKukV2k9zcpM2qcTVcX3Pfv3JLcrbIZPd: email alice@example.com already belongs to user KukV2k9zcpM2qcTVcX3Pfv3JLcrbIZPd in the store")
}

func TestImportErrors(t *testing.T) {
	t.Setenv(envDatabaseURL, "")
	migrated := sqliteURL(t)
	from := betterAuthSQLite(t)
	mustRun(t, "migrate", "--database-url", migrated)
	fresh := pgtest.URL(t)
	notBetterAuth := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", notBetterAuth)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE "orders" ("id" integer primary key)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{name: "no --from", args: []string{"import", "better-auth", "--database-url", migrated}, usage: true},
		{name: "unknown source kind", args: []string{"import", "auth0"}, usage: true},
		{name: "no database", args: []string{"import", "better-auth", "--from", from}, want: "no database"},
		{name: "not migrated", args: []string{"import", "better-auth", "--from", from, "--database-url", fresh}, want: "run `authbus migrate` first"},
		{name: "source missing", args: []string{"import", "better-auth", "--from", "/nonexistent/ba.db", "--database-url", migrated}, want: "no such file"},
		{name: "source not better-auth", args: []string{"import", "better-auth", "--from", notBetterAuth, "--database-url", migrated}, want: `not a better-auth database`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, tt.args...)
			require.Error(t, err)
			if tt.usage {
				require.ErrorIs(t, err, errUsage)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}
