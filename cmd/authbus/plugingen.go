package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authbus/authbus/internal/buildinfo"
	"github.com/authbus/authbus/internal/plugingen"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core"
)

func init() {
	pluginSubcommands["generate"] = command{"write a new plugin (main, manifest, handlers, tests, README, go.mod) from a template", runPluginGenerate}
	pluginSubcommands["validate"] = command{"check a plugin.json against the manifest schema and rules", runPluginValidate}
	pluginSubcommands["check"] = command{"build a plugin and report what the core would refuse it for", runPluginCheck}
	pluginSubcommands["test"] = command{"run a plugin's tests (go test -race ./...) and summarize them", runPluginTest}
}

// errProblems is returned after problems were printed (exit code 1).
var errProblems = errors.New("problems found")

func runPluginGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin generate", "plugin generate --name my-plugin [--template hook|events|routes] [flags]", stderr)
	name := fs.String("name", "", "the plugin id (lowercase letters, digits, hyphens) and the name of the directory written")
	tmpl := fs.String("template", string(plugingen.TemplateHook), "what the plugin starts as: hook (a beforeSignIn check), events (a user.created handler), routes (GET/POST routes with session auth)")
	dir := fs.String("dir", ".", "where the plugin's directory is created")
	module := fs.String("module", "", "the Go module path of the plugin (default: the name)")
	authbusDir := fs.String("authbus-dir", "", "a checkout of github.com/authbus/authbus to build against (default: the checkout --dir lies in, or the one this binary was built from)")
	authbusVersion := fs.String("authbus-version", "", "a published version of github.com/authbus/authbus to require instead of a checkout")
	tidy := fs.Bool("tidy", true, "run go mod tidy in the new plugin, so that it builds as written")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "authbus plugin generate: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *name == "" {
		fmt.Fprintln(stderr, "authbus plugin generate: --name is required")
		fs.Usage()
		return errUsage
	}
	if err := contracts.ValidatePluginID(*name); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	target := filepath.Join(*dir, *name)
	req, why, err := plugingen.ResolveRequirement(target, plugingen.ResolveOptions{AuthbusDir: *authbusDir, AuthbusVersion: *authbusVersion})
	if err != nil {
		return err
	}
	files, err := plugingen.Generate(target, plugingen.Options{Name: *name, Template: plugingen.Template(*tmpl), Module: *module, Authbus: req})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s from the %s template; %s\n", target, *tmpl, why)
	for _, f := range files {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	if *tidy {
		if err := goModTidy(ctx, target, stdout); err != nil {
			return fmt.Errorf("the plugin was written, but %w", err)
		}
	}
	fmt.Fprintln(stdout, "\nnext:")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  authbus plugin test %s\t# its tests, on an in-process NATS and a fake core\n", target)
	fmt.Fprintf(tw, "  authbus plugin check %s\t# build it: would the core accept it?\n", target)
	fmt.Fprintf(tw, "  authbus dev --plugins-dir %s\t# run it with a core\n", filepath.Dir(target))
	_ = tw.Flush()
	return nil
}

// goModTidy completes the new plugin's go.mod and go.sum.
func goModTidy(ctx context.Context, dir string, stdout io.Writer) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintf(stdout, "go is not on PATH: run `go mod tidy` in %s before building it\n", dir)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "mod", "tidy")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("`go mod tidy` in %s failed (%w):\n%s", dir, err, bytes.TrimSpace(out))
	}
	fmt.Fprintln(stdout, "go mod tidy: go.mod and go.sum are complete")
	return nil
}

func runPluginValidate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin validate", "plugin validate <plugin.json | plugin directory>", stderr)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	path := fs.Arg(0)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "plugin.json")
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	m, problems := plugingen.CheckManifest(doc)
	if len(problems) == 0 {
		fmt.Fprintf(stdout, "%s: ok: plugin %s %s\n", path, m.ID, m.Version)
		return nil
	}
	fmt.Fprintf(stdout, "%s: %d problem(s):\n", path, len(problems))
	printProblems(stdout, problems)
	return fmt.Errorf("%s: %w", path, errProblems)
}

func printProblems(w io.Writer, problems []contracts.Problem) {
	for _, p := range problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

func runPluginCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin check", "plugin check [flags] <plugin directory | executable>", stderr)
	coreVersion := fs.String("core-version", buildinfo.CoreVersion, "the core version to check coreVersion against")
	pluginsFile := fs.String("plugins-file", "", "the operator's plugin `file` to check permissions and config against (default: the dev configuration, which grants everything asked for)")
	manifests := fs.String("manifests", "", "a directory of other plugins' manifests (*.json), taken as registered, for dependencies and conflicts")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up building after this long")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	if _, err := contracts.ParseVersion(*coreVersion); err != nil {
		return fmt.Errorf("--core-version: %w", err)
	}
	var peers []contracts.Manifest
	if *manifests != "" {
		var err error
		if peers, err = core.LoadPluginManifests(*manifests); err != nil {
			return err
		}
	}
	target := fs.Arg(0)
	bctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	loaded, err := plugingen.Load(bctx, target, plugingen.LoadOptions{})
	if err != nil {
		return err
	}
	if loaded.Built {
		fmt.Fprintf(stdout, "built %s; manifest from %s\n", target, loaded.From)
	} else {
		fmt.Fprintf(stdout, "manifest from %s\n", loaded.From)
	}
	for _, n := range loaded.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	m, problems := plugingen.CheckManifest(loaded.JSON)
	problems = append(loaded.Problems, problems...)
	if m.ID == "" {
		fmt.Fprintf(stdout, "REFUSED: the manifest is not usable:\n")
		printProblems(stdout, problems)
		return fmt.Errorf("%s: %w", target, errProblems)
	}
	adm, source, err := core.AdmitPlugin(m, core.PluginAdmitOptions{PluginsFile: *pluginsFile, CoreVersion: *coreVersion, Peers: peers})
	if err != nil {
		return err
	}
	problems = mergeProblems(problems, adm.Problems)
	fmt.Fprintf(stdout, "plugin %s %s (coreVersion %s) against core %s and %s\n", m.ID, m.Version, m.CoreVersion, *coreVersion, source)
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "REFUSED: the core would refuse %s %s with %d reason(s):\n", m.ID, m.Version, len(problems))
		printProblems(stdout, problems)
		if adm.Retryable && len(loaded.Problems) == 0 && len(problems) == len(adm.Problems) {
			fmt.Fprintln(stdout, "(the plugin would keep retrying: it is accepted once its required plugins register)")
		}
		return fmt.Errorf("%s: %w", target, errProblems)
	}
	fmt.Fprintf(stdout, "ok: the core would accept %s %s\n", m.ID, m.Version)
	if len(adm.Granted) > 0 {
		granted := make([]string, len(adm.Granted))
		for i, p := range adm.Granted {
			granted[i] = string(p)
		}
		fmt.Fprintf(stdout, "  granted: %s\n", strings.Join(granted, ", "))
	}
	fmt.Fprintf(stdout, "  effective config: %s\n", adm.Config)
	if len(adm.WaitingOn) > 0 {
		fmt.Fprintf(stdout, "  it will wait for %s (required) to become active\n", strings.Join(adm.WaitingOn, ", "))
	}
	return nil
}

// mergeProblems appends the problems of b not already in a.
func mergeProblems(a, b []contracts.Problem) []contracts.Problem {
	seen := map[contracts.Problem]bool{}
	for _, p := range a {
		seen[p] = true
	}
	for _, p := range b {
		if !seen[p] {
			seen[p] = true
			a = append(a, p)
		}
	}
	return a
}

func runPluginTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin test", "plugin test [flags] <plugin directory> [-- go test flags such as -run X -count 1]", stderr)
	race := fs.Bool("race", true, "run with the race detector (needs cgo)")
	verbose := fs.Bool("v", false, "print every test's output, not only the failures'")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return errUsage
	}
	dir, flags := fs.Arg(0), fs.Args()[1:]
	if len(flags) > 0 && flags[0] == "--" {
		flags = flags[1:]
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a plugin directory", dir)
	}
	sum, err := plugingen.RunTests(ctx, dir, plugingen.TestOptions{Race: *race, Flags: flags, Verbose: *verbose,
		Out: stdout, Stderr: stderr})
	if sum.Packages > 0 {
		fmt.Fprintf(stdout, "\nplugin test %s: %s (%s)\n", dir, sum, sum.Elapsed.Round(time.Millisecond))
		for _, f := range sum.Failures {
			fmt.Fprintf(stdout, "  FAIL %s\n", f)
		}
	}
	return err
}
