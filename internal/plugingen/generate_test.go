package plugingen

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// goTool returns the go command, failing the test when there is none.
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	require.NoError(t, err, "these tests build Go code: put the go command on PATH")
	return p
}

// repoRoot is the checkout these tests run in.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	root := FindCheckout(wd)
	require.NotEmpty(t, root, "the tests run inside the authbus checkout")
	return root
}

// offlineGoEnv is the environment of go commands run on generated plugins:
// the shared module and build caches, no network, go.mod completed as needed.
func offlineGoEnv() []string {
	return append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
}

func TestOptionsValidate(t *testing.T) {
	good := Options{Name: "my-plugin", Template: TemplateHook, Authbus: Requirement{Replace: "/src/authbus"}}
	tests := []struct {
		name string
		edit func(*Options)
		want []string
	}{
		{name: "valid", edit: func(*Options) {}},
		{name: "valid with a published version", edit: func(o *Options) { o.Authbus = Requirement{Version: "v0.1.0"} }},
		{name: "bad name", edit: func(o *Options) { o.Name = "My_Plugin" }, want: []string{"name:"}},
		{name: "unknown template", edit: func(o *Options) { o.Template = "cron" }, want: []string{`template "cron" is not one of hook, events, routes`}},
		{name: "bad module", edit: func(o *Options) { o.Module = "my plugin" }, want: []string{`module "my plugin"`}},
		{name: "no requirement", edit: func(o *Options) { o.Authbus = Requirement{} }, want: []string{"authbus requirement"}},
		{name: "bad version", edit: func(o *Options) { o.Authbus = Requirement{Version: "0.1.0"} }, want: []string{`"0.1.0" must be a module version`}},
		{name: "every problem at once", edit: func(o *Options) { o.Name, o.Template = "", "" },
			want: []string{"name:", "template"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			err := o.Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				return
			}
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestGenerateWritesEveryFile(t *testing.T) {
	for _, tmpl := range Templates() {
		t.Run(string(tmpl), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "acme-"+string(tmpl))
			files, err := Generate(dir, Options{Name: "acme-" + string(tmpl), Template: tmpl, Module: "example.com/acme",
				Authbus: Requirement{Replace: "../authbus"}})
			require.NoError(t, err)
			require.ElementsMatch(t, []string{".gitignore", "README.md", "go.mod", "main.go", "plugin.json",
				string(tmpl) + ".go", string(tmpl) + "_test.go"}, files)
			require.True(t, slices.IsSorted(files))
			for _, f := range files {
				b, err := os.ReadFile(filepath.Join(dir, f))
				require.NoError(t, err)
				require.NotContains(t, string(b), "[[", "%s: every template action ran", f)
				require.NotContains(t, string(b), "<no value>", "%s: every field exists", f)
			}
			goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			require.NoError(t, err)
			require.Contains(t, string(goMod), "module example.com/acme\n")
			require.Contains(t, string(goMod), "require github.com/authbus/authbus "+zeroVersion)
			require.Contains(t, string(goMod), "replace github.com/authbus/authbus => ../authbus")

			doc, err := os.ReadFile(filepath.Join(dir, "plugin.json"))
			require.NoError(t, err)
			m, problems := CheckManifest(doc)
			require.Empty(t, problems)
			require.Equal(t, "acme-"+string(tmpl), m.ID)
			require.Equal(t, "Acme "+string(tmpl), m.Name)
			require.Equal(t, "^0.1.0", m.CoreVersion)

			test, err := os.ReadFile(filepath.Join(dir, string(tmpl)+"_test.go"))
			require.NoError(t, err)
			require.Contains(t, string(test), `const id = "acme-`+string(tmpl)+`"`)
			require.Contains(t, string(test), "plugintest.Conformance(")
		})
	}
}

func TestGeneratePublishedVersion(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "acme")
	_, err := Generate(dir, Options{Name: "acme", Template: TemplateHook, Authbus: Requirement{Version: "v0.3.1"}, GoVersion: "1.26"})
	require.NoError(t, err)
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	require.Equal(t, "module acme\n\ngo 1.26\n\nrequire github.com/authbus/authbus v0.3.1\n", string(goMod))
}

func TestGenerateRefusesANonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(mine, []byte("package main // mine\n"), 0o644))
	_, err := Generate(dir, Options{Name: "acme", Template: TemplateHook, Authbus: Requirement{Version: "v0.1.0"}})
	require.ErrorIs(t, err, ErrNotEmpty)
	b, err := os.ReadFile(mine)
	require.NoError(t, err)
	require.Equal(t, "package main // mine\n", string(b), "nothing overwritten")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing added")

	empty := t.TempDir()
	_, err = Generate(empty, Options{Name: "acme", Template: TemplateHook, Authbus: Requirement{Version: "v0.1.0"}})
	require.NoError(t, err, "an existing empty directory is fine")
}

func TestResolveRequirement(t *testing.T) {
	root := repoRoot(t)
	// A second checkout, to tell "the enclosing one" from "the one this binary was built from".
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "go.mod"), []byte("module "+ModulePath+"\n\ngo 1.26.8\n"), 0o644))
	notCheckout := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(notCheckout, "go.mod"), []byte("module example.com/other\n"), 0o644))
	outside := t.TempDir()

	tests := []struct {
		name      string
		pluginDir string
		opts      ResolveOptions
		want      Requirement
		why       string
		err       string
	}{
		{name: "explicit checkout", pluginDir: filepath.Join(outside, "p"), opts: ResolveOptions{AuthbusDir: other},
			want: Requirement{Replace: other}, why: "--authbus-dir"},
		{name: "explicit checkout enclosing the plugin", pluginDir: filepath.Join(other, "plugins", "p"), opts: ResolveOptions{AuthbusDir: other},
			want: Requirement{Replace: "../.."}, why: "--authbus-dir"},
		{name: "not a checkout", pluginDir: filepath.Join(outside, "p"), opts: ResolveOptions{AuthbusDir: notCheckout},
			err: "is not a checkout of github.com/authbus/authbus"},
		{name: "explicit version", pluginDir: filepath.Join(other, "p"), opts: ResolveOptions{AuthbusVersion: "0.2.0"},
			want: Requirement{Version: "v0.2.0"}, why: "--authbus-version"},
		{name: "bad version", pluginDir: filepath.Join(outside, "p"), opts: ResolveOptions{AuthbusVersion: "latest"}, err: "--authbus-version"},
		{name: "inside a checkout", pluginDir: filepath.Join(other, "plugins", "p"), want: Requirement{Replace: "../.."}, why: "enclosing checkout"},
		{name: "outside: the checkout this binary was built from", pluginDir: filepath.Join(outside, "p"),
			want: Requirement{Replace: root}, why: "built from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why, err := ResolveRequirement(tt.pluginDir, tt.opts)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Contains(t, why, tt.why)
		})
	}
}

func TestReleaseVersion(t *testing.T) {
	tests := []struct {
		version string
		ok      bool
	}{
		{"v0.1.0", true},
		{"v1.2.3-rc.1", true},
		{"v0.0.0-20260101120000-abcdef123456", true},
		{"v0.1.0-dev", false},
		{"v0.1.1-0.20260101120000-abcdef123456+dirty", false},
		{"(devel)", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			_, ok := releaseVersion(tt.version)
			require.Equal(t, tt.ok, ok)
		})
	}
}

func TestModuleCacheIsNotACheckout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "authbus@v0.1.0")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+ModulePath+"\n"), 0o644))
	require.False(t, IsCheckout(dir), "a replace into the read-only module cache would be wrong")
	require.True(t, IsCheckout(repoRoot(t)))
}

// TestGeneratedPluginsBuildAndPassTheirTests is the promise of `authbus
// plugin generate`: each template, as generated, passes go vet and its own
// tests (Conformance included) under the race detector.
func TestGeneratedPluginsBuildAndPassTheirTests(t *testing.T) {
	goCmd := goTool(t)
	root := repoRoot(t)
	for _, tmpl := range Templates() {
		t.Run(string(tmpl), func(t *testing.T) {
			id := "gen-" + string(tmpl)
			dir := filepath.Join(t.TempDir(), id)
			_, err := Generate(dir, Options{Name: id, Template: tmpl, Module: "example.com/" + id, Authbus: Requirement{Replace: root}})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			for _, args := range [][]string{{"vet", "./..."}, {"test", "-race", "-count=1", "./..."}} {
				cmd := exec.CommandContext(ctx, goCmd, args...)
				cmd.Dir, cmd.Env = dir, offlineGoEnv()
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "go %s in the generated %s plugin:\n%s", strings.Join(args, " "), tmpl, out)
			}
			m, err := os.ReadFile(filepath.Join(dir, "plugin.json"))
			require.NoError(t, err)
			_, problems := CheckManifest(m)
			require.Empty(t, problems)
		})
	}
}
