package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
)

func TestUserPromoteDemote(t *testing.T) {
	to := sqliteURL(t)
	mustRun(t, "migrate", "--database-url", to)
	mustRun(t, "import", "better-auth", "--from", betterAuthSQLite(t), "--database-url", to)
	imported := len(sqliteOutbox(t, to))

	steps := []struct {
		name   string
		args   []string
		want   string
		event  bool
		role   string
		before string
	}{
		{"promote", []string{"user", "promote", "Alice@Example.com", "--database-url", to}, "alice@example.com (KukV2k9zcpM2qcTVcX3Pfv3JLcrbIZPd) is now an admin (was user)", true, "admin", ""},
		{"promote again", []string{"user", "promote", "--database-url", to, "alice@example.com"}, "is already an admin: nothing changed", false, "", ""},
		{"demote", []string{"user", "demote", "alice@example.com", "--database-url=" + to}, "is now a user (was admin)", true, "user", ""},
		{"demote a user", []string{"user", "demote", "alice@example.com", "--database-url", to}, "is already a user: nothing changed", false, "", ""},
	}
	events := imported
	for _, s := range steps {
		out := mustRun(t, s.args...)
		require.Contains(t, out, s.want, s.name)
		rows := sqliteOutbox(t, to)
		if !s.event {
			require.Len(t, rows, events, "%s: no event", s.name)
			continue
		}
		events++
		require.Len(t, rows, events, s.name)
		last := rows[len(rows)-1]
		require.Equal(t, string(contracts.EventUserUpdated), last.Type)
		require.Equal(t, "KukV2k9zcpM2qcTVcX3Pfv3JLcrbIZPd", last.Subject)
		env, err := contracts.DecodeEnvelope([]byte(last.Event))
		require.NoError(t, err)
		require.Contains(t, out, env.ID)
		var data contracts.UserUpdated
		require.NoError(t, json.Unmarshal(env.Data, &data))
		require.Equal(t, []string{"role"}, data.Changed)
		require.Equal(t, s.role, data.User.Role)
		require.Equal(t, "alice@example.com", data.User.Email)
	}
}

func TestUserErrors(t *testing.T) {
	t.Setenv(envDatabaseURL, "")
	db := sqliteURL(t)
	mustRun(t, "migrate", "--database-url", db)
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{name: "no email", args: []string{"user", "promote", "--database-url", db}, usage: true},
		{name: "two emails", args: []string{"user", "promote", "a@example.com", "b@example.com", "--database-url", db}, usage: true},
		{name: "unknown subcommand", args: []string{"user", "delete", "a@example.com"}, usage: true},
		{name: "unknown user", args: []string{"user", "promote", "nobody@example.com", "--database-url", db}, want: "no user with that email: nobody@example.com"},
		{name: "no database", args: []string{"user", "promote", "a@example.com"}, want: "no database"},
		{name: "missing file", args: []string{"user", "demote", "a@example.com", "--database-url", "/nonexistent/core.db"}, want: "check the path, or create it with `authbus migrate`"},
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
