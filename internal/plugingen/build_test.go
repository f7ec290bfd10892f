package plugingen

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeModule writes a tiny Go module (no dependencies) with the given
// files into a new directory and returns it.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module fake\n\ngo 1.26\n"
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// fakePlugin is a main package that answers --print-manifest like the SDK
// does, with body run in that case.
func fakePlugin(body string) string {
	return `package main

import (
	"fmt"
	"os"
	"slices"
	"time"
)

var (
	_ = fmt.Sprint
	_ = time.Second
)

func main() {
	if !slices.Contains(os.Args[1:], "--print-manifest") && os.Getenv("AUTHBUS_PLUGIN_PRINT_MANIFEST") != "true" {
		os.Exit(3)
	}
	` + body + `
}
`
}

func printing(manifest string) string { return "fmt.Print(`" + manifest + "`)" }

func TestLoad(t *testing.T) {
	goTool(t)
	other := strings.Replace(validManifest, `"1.0.0"`, `"1.0.1"`, 1)
	tests := []struct {
		name    string
		files   map[string]string
		timeout time.Duration
		err     string
		from    string
		built   bool
		version string
		problem string
		note    string
	}{
		{name: "built, and prints its manifest", files: map[string]string{"main.go": fakePlugin(printing(validManifest)), "plugin.json": validManifest},
			built: true, from: "--print-manifest", version: "1.0.0"},
		{name: "plugin.json differs from what the binary prints", files: map[string]string{"main.go": fakePlugin(printing(validManifest)), "plugin.json": other},
			built: true, from: "--print-manifest", version: "1.0.0", note: "plugin.json differs"},
		{name: "plugin.json formatted differently but the same", files: map[string]string{"main.go": fakePlugin(printing(validManifest)),
			"plugin.json": strings.ReplaceAll(validManifest, "\n", " ")}, built: true, from: "--print-manifest", version: "1.0.0"},
		{name: "the binary cannot print it: plugin.json instead, and a problem", files: map[string]string{
			"main.go":     fakePlugin(`fmt.Fprintln(os.Stderr, "plugin acme: hook beforeSignIn is declared but has no handler"); os.Exit(1)`),
			"plugin.json": other}, built: true, from: "plugin.json", version: "1.0.1", problem: "hook beforeSignIn is declared but has no handler"},
		{name: "the binary hangs", files: map[string]string{"main.go": fakePlugin(`time.Sleep(time.Hour)`), "plugin.json": other},
			timeout: 300 * time.Millisecond, built: true, from: "plugin.json", version: "1.0.1", problem: "did not print a manifest within 300ms"},
		{name: "the binary fails and there is no plugin.json", files: map[string]string{"main.go": fakePlugin(`os.Exit(1)`)},
			err: "and there is no plugin.json"},
		{name: "does not build", files: map[string]string{"main.go": "package main\n\nfunc main() { undefinedThing() }\n"},
			err: "undefined: undefinedThing"},
		{name: "only plugin.json", files: map[string]string{"plugin.json": validManifest, "main_test.go": "package main\n"},
			from: "plugin.json", version: "1.0.0", note: "without building"},
		{name: "nothing to check", files: map[string]string{"README.md": "hello"}, err: "neither a Go main package nor a plugin.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeModule(t, tt.files)
			l, err := Load(context.Background(), dir, LoadOptions{PrintManifestTimeout: tt.timeout})
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.built, l.Built)
			require.Contains(t, l.From, tt.from)
			m, problems := CheckManifest(l.JSON)
			require.Empty(t, problems)
			require.Equal(t, tt.version, m.Version)
			if tt.problem == "" {
				require.Empty(t, l.Problems)
			} else {
				require.Len(t, l.Problems, 1)
				require.Equal(t, "binary", l.Problems[0].Field)
				require.Contains(t, l.Problems[0].Message, tt.problem)
			}
			if tt.note == "" {
				require.Empty(t, l.Notes)
			} else {
				require.Len(t, l.Notes, 1)
				require.Contains(t, l.Notes[0], tt.note)
			}
		})
	}
	t.Run("does not build: ErrBuild", func(t *testing.T) {
		dir := writeModule(t, map[string]string{"main.go": "package main\n\nfunc main() { x }\n"})
		_, err := Load(context.Background(), dir, LoadOptions{})
		require.ErrorIs(t, err, ErrBuild)
	})
}

func TestLoadExecutable(t *testing.T) {
	goCmd := goTool(t)
	dir := writeModule(t, map[string]string{"main.go": fakePlugin(printing(validManifest))})
	bin := filepath.Join(t.TempDir(), "acme")
	build := exec.Command(goCmd, "build", "-o", bin, ".")
	build.Dir = dir
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	l, err := Load(context.Background(), bin, LoadOptions{})
	require.NoError(t, err)
	require.False(t, l.Built)
	require.Contains(t, l.From, bin)
	m, problems := CheckManifest(l.JSON)
	require.Empty(t, problems)
	require.Equal(t, "acme", m.ID)

	notExec := filepath.Join(dir, "main.go")
	_, err = Load(context.Background(), notExec, LoadOptions{})
	require.ErrorContains(t, err, "neither a directory nor an executable")
	_, err = Load(context.Background(), filepath.Join(dir, "missing"), LoadOptions{})
	require.ErrorIs(t, err, os.ErrNotExist)
}
