package operator

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
)

func env(vars map[string]string) LookupFunc {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParse(t *testing.T) {
	c, err := Parse([]byte(`
plugins:
  audit:
    permissions: [user:read, "events:subscribe:user.>"]
    config:
      retention: ${RETENTION}
      region: ${REGION:-eu}
      label: "${LABEL}"
      escaped: "$${NOT_A_VAR}"
      nested: {url: "https://${HOST}/x", list: [1, 2.5, true, null]}
    nats: {password: "${AUDIT_PW}"}
    hooks:
      beforeSignIn: {order: 5, timeout: 200ms, failurePolicy: open}
  orgs:
    enabled: false
`), "plugins.yaml", env(map[string]string{"RETENTION": "30", "LABEL": "007", "HOST": "example.com", "AUDIT_PW": "pw", "REGION": ""}))
	require.NoError(t, err)
	a := c.Plugins["audit"]
	require.True(t, a.IsEnabled())
	require.JSONEq(t, `{"retention":30,"region":"eu","label":"007","escaped":"${NOT_A_VAR}","nested":{"url":"https://example.com/x","list":[1,2.5,true,null]}}`, string(a.Config))
	require.Equal(t, "pw", a.NATS.Password)
	require.Equal(t, "audit", a.NATSUser("audit"))
	h := a.Hooks[contracts.HookBeforeSignIn]
	require.Equal(t, 5, *h.Order)
	require.Equal(t, Duration(200*time.Millisecond), h.Timeout)
	require.Equal(t, contracts.FailOpen, h.FailurePolicy)
	_, listed, enabled := c.Entry("orgs")
	require.True(t, listed)
	require.False(t, enabled)
	_, listed, enabled = c.Entry("stranger")
	require.False(t, listed || enabled)
	require.Equal(t, []string{"audit", "orgs"}, c.IDs())

	granted, missing := c.Grants("audit", []contracts.Permission{"user:read", "events:subscribe:user.created", "email:send"})
	require.Equal(t, []contracts.Permission{"user:read", "events:subscribe:user.created"}, granted)
	require.Equal(t, []contracts.Permission{"email:send"}, missing)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{name: "unset variable without default", yaml: "plugins:\n  audit:\n    config: {k: \"${MISSING}\"}\n", want: "line 3: environment variable MISSING is not set"},
		{name: "unknown field", yaml: "plugins:\n  audit:\n    permision: [user:read]\n", want: "field permision not found"},
		{name: "bad plugin id", yaml: "plugins:\n  Audit: {}\n", want: `plugins.Audit: plugin id "Audit" must start with a lowercase letter`},
		{name: "unknown permission", yaml: "plugins:\n  audit: {permissions: [user:delete]}\n", want: `plugins.audit.permissions[0]: unknown permission "user:delete"`},
		{name: "duplicate permission", yaml: "plugins:\n  audit: {permissions: [user:read, user:read]}\n", want: "listed twice"},
		{name: "config not a mapping", yaml: "plugins:\n  audit: {config: [1]}\n", want: "plugins.audit.config: must be a mapping"},
		{name: "bad hook override", yaml: "plugins:\n  audit: {hooks: {beforeSignin: {failurePolicy: maybe, timeout: 1h}}}\n", want: `unknown hook point "beforeSignin"`},
		{name: "bad duration", yaml: "plugins:\n  audit: {hooks: {beforeSignIn: {timeout: soon}}}\n", want: `"soon" is not a duration`},
		{name: "same NATS user twice", yaml: "plugins:\n  audit: {nats: {user: x}}\n  orgs: {nats: {user: x}}\n", want: `"x" is also the NATS user`},
		{name: "not YAML", yaml: "plugins: [", want: "invalid plugin configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "p.yaml", env(nil))
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestFromEnvPolicy(t *testing.T) {
	t.Setenv(EnvFile, "")
	c, err := FromEnv(false)
	require.NoError(t, err)
	_, _, enabled := c.Entry("audit")
	require.False(t, enabled, "production without a file enables nothing")
	require.Contains(t, c.Source, EnvFile)

	c, err = FromEnv(true)
	require.NoError(t, err)
	_, _, enabled = c.Entry("audit")
	require.True(t, enabled, "dev enables every plugin")
	granted, missing := c.Grants("audit", []contracts.Permission{"email:send"})
	require.Equal(t, []contracts.Permission{"email:send"}, granted)
	require.Empty(t, missing)

	path := filepath.Join(t.TempDir(), "plugins.yaml")
	require.NoError(t, os.WriteFile(path, []byte("plugins:\n  audit: {permissions: [user:read]}\n"), 0o600))
	t.Setenv(EnvFile, path)
	c, err = FromEnv(true)
	require.NoError(t, err)
	require.Equal(t, path, c.Source)
	_, missing = c.Grants("audit", []contracts.Permission{"email:send"})
	require.Equal(t, []contracts.Permission{"email:send"}, missing, "a file's grants are explicit")
}

func TestDevFileKeepsExplicitGrants(t *testing.T) {
	c, err := Parse([]byte("dev: true\nplugins:\n  audit: {permissions: [user:read]}\n  orgs: {}\n"), "d.yaml", env(nil))
	require.NoError(t, err)
	_, missing := c.Grants("audit", []contracts.Permission{"email:send"})
	require.Equal(t, []contracts.Permission{"email:send"}, missing)
	granted, _ := c.Grants("orgs", []contracts.Permission{"email:send"})
	require.Equal(t, []contracts.Permission{"email:send"}, granted, "a listed plugin without permissions gets what it asks in dev")
	granted, _ = c.Grants("unlisted", []contracts.Permission{"user:write"})
	require.Equal(t, []contracts.Permission{"user:write"}, granted)
}
