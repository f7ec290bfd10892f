package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

const auditManifest = `{"id":"audit","name":"Audit","version":"1.0.0","coreVersion":"^0.1.0",
 "permissions":["user:read","events:subscribe:user.>"],"events":["user.>"],
 "configSchema":{"type":"object","properties":{"retention":{"type":"integer","minimum":1}}}}`

const orgsManifest = `{"id":"orgs","name":"Organizations","version":"1.0.0","coreVersion":"^0.1.0",
 "permissions":["session:write","http:mount:/api/auth/organization"],"mount":"/api/auth/organization",
 "dependencies":{"required":["audit"]}}`

func TestPluginValidateConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "manifests/audit/plugin.json", auditManifest)
	writeFile(t, dir, "manifests/orgs.json", orgsManifest)
	good := writeFile(t, dir, "good.yaml", `
plugins:
  audit: {permissions: [user:read, "events:subscribe:user.>"], config: {retention: 30}}
  orgs: {permissions: [session:write, "http:mount:/api/auth/organization"]}
`)
	bad := writeFile(t, dir, "bad.yaml", `
plugins:
  audit: {permissions: [user:read], config: {retention: 0}}
  orgs: {permissions: [session:write]}
`)
	broken := writeFile(t, dir, "broken.yaml", "plugins:\n  audit: {config: {k: \"${AUTHBUS_TEST_UNSET_VAR}\"}}\n")

	tests := []struct {
		name    string
		args    []string
		wantErr bool
		want    []string
	}{
		{name: "file only", args: []string{good}, want: []string{"2 plugin(s) configured"}},
		{name: "against manifests", args: []string{"--manifests", filepath.Join(dir, "manifests"), good}, want: []string{"ok      audit 1.0.0", "ok      orgs 1.0.0"}},
		{name: "refusals", args: []string{"--manifests", filepath.Join(dir, "manifests"), bad}, wantErr: true, want: []string{
			"REFUSED audit 1.0.0", `permissions[1]: "events:subscribe:user.>" is not granted by the operator`, "config.retention: minimum",
			"REFUSED orgs 1.0.0", "mount: mounting routes under /api/auth/organization needs the permission"}},
		{name: "unset variable", args: []string{broken}, wantErr: true, want: []string{"AUTHBUS_TEST_UNSET_VAR is not set"}},
		{name: "missing file", args: []string{filepath.Join(dir, "nope.yaml")}, wantErr: true, want: []string{"no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"plugin", "validate-config"}, tt.args...), &out, &errOut)
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err, out.String())
			}
			for _, w := range tt.want {
				require.Contains(t, out.String(), w)
			}
		})
	}
	var out, errOut bytes.Buffer
	require.ErrorIs(t, run(context.Background(), []string{"plugin", "validate-config"}, &out, &errOut), errUsage)
}

func TestPluginNATSConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "manifests/audit.json", auditManifest)
	cfg := writeFile(t, dir, "plugins.yaml", `
plugins:
  audit: {permissions: [user:read, user:write, "events:subscribe:user.>"], nats: {password: "${AUDIT_PW}"}}
  off: {enabled: false}
`)
	t.Setenv("AUDIT_PW", "audit-secret")
	var out, errOut bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"plugin", "nats-config", "--config", cfg,
		"--manifests", filepath.Join(dir, "manifests"), "--core-password", "core-secret"}, &out, &errOut), errOut.String())
	conf := writeFile(t, dir, "nats.conf", out.String())
	opts, err := server.ProcessConfigFile(conf)
	require.NoError(t, err, out.String())
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	require.Len(t, users, 2, out.String())
	require.Equal(t, "core-secret", users["authbus-core"].Password)
	audit := users["audit"]
	require.Equal(t, "audit-secret", audit.Password)
	require.Contains(t, audit.Permissions.Publish.Allow, "core.audit.users.get")
	require.NotContains(t, audit.Permissions.Publish.Allow, "core.audit.users.update", "granted but not asked for: left out")
	require.Contains(t, audit.Permissions.Subscribe.Allow, "hook.*.audit")

	out.Reset()
	t.Setenv("AUTHBUS_PLUGINS_FILE", "")
	require.ErrorIs(t, run(context.Background(), []string{"plugin", "nats-config"}, &out, &errOut), errUsage)
}
