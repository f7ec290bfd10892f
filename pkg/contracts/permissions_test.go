package contracts

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPermissionValidate(t *testing.T) {
	tests := []struct {
		perm Permission
		err  string // empty: valid
	}{
		{perm: PermUserRead},
		{perm: PermUserWrite},
		{perm: PermSessionRead},
		{perm: PermSessionWrite},
		{perm: PermEmailSend},
		{perm: PermCryptoUse},
		{perm: "events:subscribe:user.created"},
		{perm: "events:subscribe:user.*"},
		{perm: "events:subscribe:>"},
		{perm: "events:subscribe:*.login.>"},
		{perm: "events:publish:security.threat.detected"},
		{perm: "hooks:call:beforeSignIn"},
		{perm: "plugin:invoke:audit"},
		{perm: "http:mount:/api/auth/organization"},
		{perm: "user:delete", err: `unknown permission "user:delete"`},
		{perm: "", err: `unknown permission ""`},
		{perm: "USER:READ", err: `unknown permission "USER:READ"`},
		{perm: "events:subscribe:", err: `permission "events:subscribe:" needs an argument after "events:subscribe:"`},
		{perm: "events:subscribe:user.>.x", err: `">" must be the last token`},
		{perm: "events:subscribe:user.", err: "has an empty token"},
		{perm: "events:subscribe:User.created", err: `token "User" may only hold`},
		{perm: "events:subscribe:billing.>", err: "matches no event of the catalog"},
		{perm: "events:publish:user.creat*", err: `token "creat*" may only hold`},
		{perm: "hooks:call:beforeLunch", err: `unknown hook point "beforeLunch"`},
		{perm: "plugin:invoke:Audit", err: `plugin id "Audit" must start with a lowercase letter`},
		{perm: "plugin:invoke:core", err: `plugin id "core" is reserved`},
		{perm: "http:mount:/shop", err: `"/shop" must start with "/api/"`},
		{perm: "http:mount:/api/shop/", err: `not end with "/"`},
		{perm: "http:mount:/api/../admin", err: `hold no ".."`},
		{perm: "http:mount:/api/shop/*", err: `must not contain "?", "#", "*"`},
		{perm: "http:mount:/api/admin", err: "is inside /api/admin, which the core serves"},
		{perm: "http:mount:/api/plugins/audit", err: "is inside /api/plugins, which the core serves"},
	}
	for _, tt := range tests {
		t.Run(string(tt.perm), func(t *testing.T) {
			err := tt.perm.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestPermissionCovers(t *testing.T) {
	tests := []struct {
		held, want Permission
		covers     bool
	}{
		{held: PermUserRead, want: PermUserRead, covers: true},
		{held: PermUserWrite, want: PermUserRead, covers: false},
		{held: "events:subscribe:user.>", want: "events:subscribe:user.created", covers: true},
		{held: "events:subscribe:user.*", want: "events:subscribe:user.created", covers: true},
		{held: "events:subscribe:>", want: "events:subscribe:org.member.added", covers: true},
		{held: "events:subscribe:>", want: "events:subscribe:user.*", covers: true},
		{held: "events:subscribe:*.created", want: "events:subscribe:org.created", covers: true},
		{held: "events:subscribe:user.created", want: "events:subscribe:user.>", covers: false},
		{held: "events:subscribe:user.*", want: "events:subscribe:org.created", covers: false},
		{held: "events:subscribe:org.*", want: "events:subscribe:org.>", covers: false},
		{held: "events:subscribe:user.>", want: "events:publish:user.created", covers: false},
		{held: "events:subscribe:>", want: "events:subscribe:billing.paid", covers: false},
		{held: "http:mount:/api/shop", want: "http:mount:/api/shop/items", covers: false},
		{held: "http:mount:/api/shop", want: "http:mount:/api/shop", covers: true},
		{held: "plugin:invoke:audit", want: "plugin:invoke:orgs", covers: false},
	}
	for _, tt := range tests {
		t.Run(string(tt.held)+" covers "+string(tt.want), func(t *testing.T) {
			require.Equal(t, tt.covers, tt.held.Covers(tt.want))
		})
	}
}

func TestPermissionScope(t *testing.T) {
	prefix, arg, ok := Permission("events:subscribe:user.*").Scope()
	require.True(t, ok)
	require.Equal(t, PermEventsSubscribe, prefix)
	require.Equal(t, "user.*", arg)
	_, _, ok = PermUserRead.Scope()
	require.False(t, ok)
}

func TestSubjectMatches(t *testing.T) {
	tests := []struct {
		pattern, subject string
		match            bool
	}{
		{"user.created", "user.created", true},
		{"user.created", "user.deleted", false},
		{"user.*", "user.created", true},
		{"user.*", "user", false},
		{"user.*", "user.created.x", false},
		{"*.created", "org.created", true},
		{"*", "user", true},
		{"*", "user.created", false},
		{"user.>", "user.created", true},
		{"user.>", "user.a.b.c", true},
		{"user.>", "user", false},
		{">", "user", true},
		{">", "auth.login.success", true},
		{"auth.*.success", "auth.login.success", true},
		{"auth.*.success", "auth.login.failed", false},
		{"user.created", "user.created.x", false},
		{"user.created.x", "user.created", false},
		{"", "", true},
		{"", "user", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" ~ "+tt.subject, func(t *testing.T) {
			require.Equal(t, tt.match, SubjectMatches(tt.pattern, tt.subject))
		})
	}
}

func TestValidatePluginID(t *testing.T) {
	tests := []struct {
		id  string
		err string // empty: valid
	}{
		{id: "ab"},
		{id: "rate-limit"},
		{id: "oauth2-proxy"},
		{id: "a1"},
		{id: strings.Repeat("a", 63)},
		{id: "", err: "plugin id is empty"},
		{id: "a", err: `plugin id "a" must be 2 to 63 characters long`},
		{id: strings.Repeat("a", 64), err: "must be 2 to 63 characters long"},
		{id: "1abc", err: "must start with a lowercase letter"},
		{id: "-abc", err: "must start with a lowercase letter"},
		{id: "Abc", err: "must start with a lowercase letter"},
		{id: "aBc", err: "may only hold lowercase letters, digits and hyphens"},
		{id: "a_b", err: "may only hold lowercase letters, digits and hyphens"},
		{id: "a.b", err: "may only hold lowercase letters, digits and hyphens"},
		{id: "a b", err: "may only hold lowercase letters, digits and hyphens"},
		{id: "abc-", err: `must not end with a hyphen or contain "--"`},
		{id: "a--b", err: `must not end with a hyphen or contain "--"`},
		{id: "core", err: `plugin id "core" is reserved`},
		{id: "admin", err: "is reserved"},
		{id: "authbus", err: "is reserved"},
		{id: "system", err: "is reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			err := ValidatePluginID(tt.id)
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
}
