package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/plugingen"
)

// authbusRoot is the checkout these tests run in.
func authbusRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	require.True(t, plugingen.IsCheckout(root), "cmd/authbus tests run inside the authbus checkout")
	return root
}

// offlineGo keeps the go commands these tests run off the network: every
// module a generated plugin needs is in the shared module cache.
func offlineGo(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	require.NoError(t, err, "these tests build Go code: put the go command on PATH")
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOWORK", "off")
	t.Setenv("GOTOOLCHAIN", "local")
	return goCmd
}

// TestPluginGenerateCheckTest is a plugin team's first minutes: generate a
// plugin, build it as written (go.mod complete, no -mod=mod), check it
// against the core, run its tests.
func TestPluginGenerateCheckTest(t *testing.T) {
	goCmd := offlineGo(t)
	root := authbusRoot(t)
	parent := t.TempDir()
	out := mustRun(t, "plugin", "generate", "--name", "acme-notes", "--template", "routes", "--dir", parent,
		"--module", "example.com/acme-notes", "--authbus-dir", root)
	dir := filepath.Join(parent, "acme-notes")
	require.Contains(t, out, "created "+dir+" from the routes template")
	require.Contains(t, out, "--authbus-dir")
	require.Contains(t, out, "go mod tidy: go.mod and go.sum are complete")
	for _, f := range []string{"main.go", "routes.go", "routes_test.go", "plugin.json", "README.md", "go.mod", "go.sum"} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(goMod), "replace github.com/authbus/authbus => "+root)

	build := exec.Command(goCmd, "build", "./...")
	build.Dir, build.Env = dir, append(os.Environ(), "GOFLAGS=-mod=readonly")
	b, err := build.CombinedOutput()
	require.NoError(t, err, "the generated plugin builds as written:\n%s", b)

	out = mustRun(t, "plugin", "validate", dir)
	require.Contains(t, out, "ok: plugin acme-notes 0.1.0")

	out = mustRun(t, "plugin", "check", dir)
	require.Contains(t, out, "built "+dir+"; manifest from its --print-manifest output")
	require.Contains(t, out, "ok: the core would accept acme-notes 0.1.0")
	require.Contains(t, out, `effective config: {"maxLength":500,"maxNotes":100}`)

	out = mustRun(t, "plugin", "test", dir)
	require.Regexp(t, `plugin test .*acme-notes: \d+ passed, 0 failed, 0 skipped in 1 package\(s\)`, out)

	// A second generate into the same place refuses and changes nothing.
	before, err := os.ReadFile(filepath.Join(dir, "routes.go"))
	require.NoError(t, err)
	_, _, err = runCLI(t, "plugin", "generate", "--name", "acme-notes", "--dir", parent, "--authbus-dir", root)
	require.ErrorIs(t, err, plugingen.ErrNotEmpty)
	after, err := os.ReadFile(filepath.Join(dir, "routes.go"))
	require.NoError(t, err)
	require.Equal(t, before, after)
}

func TestPluginGenerateErrors(t *testing.T) {
	root := authbusRoot(t)
	tests := []struct {
		name  string
		args  []string
		usage bool
		err   string
	}{
		{name: "no name", args: []string{}, usage: true},
		{name: "bad name", args: []string{"--name", "My_Plugin"}, err: "--name: plugin id"},
		{name: "unknown template", args: []string{"--name", "acme", "--template", "cron"}, err: `template "cron" is not one of hook, events, routes`},
		{name: "not a checkout", args: []string{"--name", "acme", "--authbus-dir", t.TempDir()}, err: "is not a checkout"},
		{name: "stray argument", args: []string{"--name", "acme", "extra"}, usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"plugin", "generate", "--dir", t.TempDir(), "--tidy=false"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--authbus-dir") {
				args = append(args, "--authbus-dir", root)
			}
			_, _, err := runCLI(t, args...)
			if tt.usage {
				require.ErrorIs(t, err, errUsage)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestPluginValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good/plugin.json", auditManifest)
	bad := writeFile(t, dir, "bad.json", `{"id": "Audit", "name": "Audit", "version": "1.0", "coreVersion": "^0.1.0",
		"verison": "1.0.0", "hooks": [{"point": "beforeSignIn", "timeout": "2 minutes"}], "events": ["user.created"]}`)
	tests := []struct {
		name string
		arg  string
		err  error
		want []string
	}{
		{name: "valid", arg: good, want: []string{good + ": ok: plugin audit 1.0.0"}},
		{name: "a plugin directory", arg: filepath.Dir(good), want: []string{"ok: plugin audit 1.0.0"}},
		{name: "every problem with its field", arg: bad, err: errProblems, want: []string{
			bad + ": 5 problem(s):",
			"  id: plugin id \"Audit\"",
			"  version: \"1.0\" is not a semantic version",
			"  verison: is not a field of a plugin manifest",
			"  hooks[0].timeout: ",
			"  events[0]: \"user.created\" is not covered by an \"events:subscribe:\" permission"}},
		{name: "missing file", arg: filepath.Join(dir, "nope.json"), err: os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, "plugin", "validate", tt.arg)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
			} else {
				require.NoError(t, err)
			}
			for _, w := range tt.want {
				require.Contains(t, out, w)
			}
		})
	}
	_, _, err := runCLI(t, "plugin", "validate")
	require.ErrorIs(t, err, errUsage)
}

func TestPluginCheck(t *testing.T) {
	offlineGo(t)
	example := filepath.Join(authbusRoot(t), "examples", "signup-allowlist")
	dir := t.TempDir()
	stingy := writeFile(t, dir, "plugins.yaml", `
plugins:
  signup-allowlist: {permissions: ["events:subscribe:user.created"], config: {allowedDomains: ["Not A Domain"]}}
`)
	needsAudit := writeFile(t, dir, "needs-audit/plugin.json", `{"id": "needs-audit", "name": "Needs audit", "version": "1.0.0",
		"coreVersion": "^0.1.0", "dependencies": {"required": ["audit@^1.0.0"], "conflicts": ["orgs"]}}`)
	writeFile(t, dir, "peers/audit.json", auditManifest)
	writeFile(t, dir, "peers-with-conflict/audit.json", auditManifest)
	writeFile(t, dir, "peers-with-conflict/orgs.json", strings.Replace(orgsManifest, `"dependencies":{"required":["audit"]}`, `"dependencies":{}`, 1))

	tests := []struct {
		name    string
		args    []string
		refused bool
		want    []string
	}{
		{name: "the example, built", args: []string{example}, want: []string{
			"built " + example + "; manifest from its --print-manifest output",
			"against core 0.1.0 and authbus dev defaults",
			"ok: the core would accept signup-allowlist 0.1.0",
			"granted: events:subscribe:user.created, email:send",
			`effective config: {"allowedDomains":["example.com"]`}},
		{name: "a core version outside coreVersion", args: []string{"--core-version", "1.0.0", example}, refused: true, want: []string{
			"REFUSED: the core would refuse signup-allowlist 0.1.0 with 1 reason(s):",
			"coreVersion: the plugin needs core ^0.1.0 but this core is 1.0.0"}},
		{name: "permissions and config the operator refuses", args: []string{"--plugins-file", stingy, example}, refused: true, want: []string{
			"against core 0.1.0 and " + stingy,
			`permissions[1]: "email:send" is not granted by the operator; add it to plugins.signup-allowlist.permissions in ` + stingy,
			"config.allowedDomains.0: "}},
		{name: "a missing required plugin", args: []string{filepath.Dir(needsAudit)}, refused: true, want: []string{
			"note: no Go files in " + filepath.Dir(needsAudit),
			`dependencies.required[0]: required plugin "audit@^1.0.0" is not registered`,
			"the plugin would keep retrying"}},
		{name: "its dependency registered", args: []string{"--manifests", filepath.Join(dir, "peers"), filepath.Dir(needsAudit)}, want: []string{
			"ok: the core would accept needs-audit 1.0.0"}},
		{name: "a conflicting plugin registered", args: []string{"--manifests", filepath.Join(dir, "peers-with-conflict"), filepath.Dir(needsAudit)},
			refused: true, want: []string{`dependencies.conflicts[0]: plugin "orgs" (version 1.0.0) is registered`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runCLI(t, append([]string{"plugin", "check"}, tt.args...)...)
			if tt.refused {
				require.ErrorIs(t, err, errProblems, out)
			} else {
				require.NoError(t, err, "%s\n%s", out, errOut)
			}
			for _, w := range tt.want {
				require.Contains(t, out, w)
			}
		})
	}

	t.Run("does not build", func(t *testing.T) {
		broken := filepath.Join(t.TempDir(), "broken")
		writeFile(t, broken, "go.mod", "module broken\n\ngo 1.26\n")
		writeFile(t, broken, "main.go", "package main\n\nfunc main() { nope() }\n")
		_, _, err := runCLI(t, "plugin", "check", broken)
		require.ErrorIs(t, err, plugingen.ErrBuild)
		require.ErrorContains(t, err, "undefined: nope")
	})
	t.Run("usage", func(t *testing.T) {
		_, _, err := runCLI(t, "plugin", "check")
		require.ErrorIs(t, err, errUsage)
		_, _, err = runCLI(t, "plugin", "check", "--core-version", "one", example)
		require.ErrorContains(t, err, "--core-version")
	})
}

func TestPluginTestReportsFailures(t *testing.T) {
	offlineGo(t)
	dir := t.TempDir()
	writeFile(t, dir, "go.mod", "module fake\n\ngo 1.26\n")
	writeFile(t, dir, "fake.go", "package fake\n")
	writeFile(t, dir, "fake_test.go", `package fake

import "testing"

func TestGood(t *testing.T) {}

func TestBad(t *testing.T) { t.Fatal("this plugin is broken") }
`)
	out, _, err := runCLI(t, "plugin", "test", "--race=false", dir)
	require.Error(t, err)
	require.Contains(t, out, "this plugin is broken")
	require.Contains(t, out, "1 passed, 1 failed, 0 skipped in 1 package(s)")
	require.Contains(t, out, "FAIL fake TestBad")

	out, _, err = runCLI(t, "plugin", "test", "--race=false", dir, "--", "-run", "TestGood")
	require.NoError(t, err)
	require.Contains(t, out, "1 passed, 0 failed, 0 skipped in 1 package(s)")

	_, _, err = runCLI(t, "plugin", "test", filepath.Join(dir, "fake.go"))
	require.ErrorContains(t, err, "is not a plugin directory")
}
