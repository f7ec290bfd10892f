package devstack_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/devstack"
	"github.com/authbus/authbus/internal/plugingen"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/telemetry/telemetrytest"
	"github.com/authbus/authbus/test/compat"
)

// helperEnv makes the test binary run a dev stack instead of the tests (see
// TestMain): its value is the plugins directory; helperDataEnv is the
// stack's data directory.
const (
	helperEnv     = "AUTHBUS_DEVSTACK_TEST_HELPER_PLUGINS"
	helperDataEnv = "AUTHBUS_DEVSTACK_TEST_HELPER_DATA"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		runHelperStack(dir, os.Getenv(helperDataEnv))
		return
	}
	code := m.Run()
	fixtures.cleanup()
	os.Exit(code)
}

// runHelperStack runs what `authbus dev --plugins-dir dir` runs, prints the
// plugins' process ids once each has been restarted and runs again, and
// blocks until it is killed.
func runHelperStack(pluginsDir, data string) {
	stack, err := devstack.Start(context.Background(), devstack.Options{
		Dir: data, HTTPAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", PluginsDir: pluginsDir})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	for range tick.C {
		var pids []string
		for _, p := range stack.Plugins(context.Background()) {
			if p.PID != 0 && p.Restarts > 0 {
				pids = append(pids, strconv.Itoa(p.PID))
			}
		}
		if len(pids) > 0 && len(pids) == len(stack.Plugins(context.Background())) {
			fmt.Println("PIDS", strings.Join(pids, " "))
			break
		}
	}
	select {}
}

// The plugins the tests run are built once per test binary: Go modules in
// a temporary directory that replace github.com/authbus/authbus with this
// checkout, completed offline from the module cache.
var fixtures = &fixtureSet{}

type fixtureSet struct {
	once    sync.Once
	err     error
	root    string
	example string // the example plugin's module
	gen     string // a plugin generated from the events template
	binary  string // the example plugin, built
	genBin  string // the generated plugin, built
}

// exampleID and generatedID are the ids of the two plugins.
const (
	exampleID   = "signup-allowlist"
	generatedID = "new-user-notice"
)

func (f *fixtureSet) get(t *testing.T) *fixtureSet {
	t.Helper()
	f.once.Do(func() { f.err = f.build() })
	require.NoError(t, f.err, "preparing the plugin fixtures (Go modules built offline from the module cache)")
	return f
}

func (f *fixtureSet) build() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	repo := plugingen.FindCheckout(wd)
	if repo == "" {
		return fmt.Errorf("%s is not inside the authbus checkout", wd)
	}
	if f.root, err = os.MkdirTemp("", "devstack-plugins-"); err != nil {
		return err
	}

	// The example, as a module of its own that uses this checkout's SDK.
	f.example = filepath.Join(f.root, "src", exampleID)
	if err := os.MkdirAll(f.example, 0o755); err != nil {
		return err
	}
	src := filepath.Join(repo, "examples", exampleID)
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), ".json")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(f.example, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	goMod := fmt.Sprintf("module example.com/%s\n\ngo 1.26\n\nrequire github.com/authbus/authbus v0.0.0-00010101000000-000000000000\n\nreplace github.com/authbus/authbus => %s\n", exampleID, repo)
	if err := os.WriteFile(filepath.Join(f.example, "go.mod"), []byte(goMod), 0o644); err != nil {
		return err
	}
	if err := goCommand(f.example, "mod", "tidy"); err != nil {
		return err
	}

	// What `authbus plugin generate --name new-user-notice --template events` writes (and tidies).
	f.gen = filepath.Join(f.root, "src", generatedID)
	req, _, err := plugingen.ResolveRequirement(f.gen, plugingen.ResolveOptions{AuthbusDir: repo})
	if err != nil {
		return err
	}
	if _, err := plugingen.Generate(f.gen, plugingen.Options{Name: generatedID, Template: plugingen.TemplateEvents, Authbus: req}); err != nil {
		return err
	}
	if err := goCommand(f.gen, "mod", "tidy"); err != nil {
		return err
	}

	f.binary = filepath.Join(f.root, "bin", exampleID)
	if err := goCommand(f.example, "build", "-o", f.binary, "."); err != nil {
		return err
	}
	f.genBin = filepath.Join(f.root, "bin", generatedID)
	return goCommand(f.gen, "build", "-o", f.genBin, ".")
}

func (f *fixtureSet) cleanup() {
	if f.root != "" {
		_ = os.RemoveAll(f.root)
	}
}

// goCommand runs go in dir without the network: everything comes from the
// module cache this checkout's tests already use.
func goCommand(dir string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, out)
	}
	return nil
}

// copyDir copies the files of src (not its subdirectories) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dst, 0o755))
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
}

// copyExecutable copies the file src to dst, executable.
func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o755))
}

// startWithPlugins starts a stack running the plugins of pluginsDir.
func startWithPlugins(t *testing.T, pluginsDir string) (*devstack.Stack, *telemetrytest.Logs) {
	t.Helper()
	logger, logs := telemetrytest.NewLogger(t)
	stack, err := devstack.Start(context.Background(), devstack.Options{
		Dir: t.TempDir(), HTTPAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", PluginsDir: pluginsDir, Logger: logger,
	})
	require.NoError(t, err)
	t.Cleanup(stack.Stop)
	return stack, logs
}

// pluginByID returns the status of plugin id.
func pluginByID(t *testing.T, stack *devstack.Stack, id string) devstack.PluginStatus {
	t.Helper()
	for _, p := range stack.Plugins(context.Background()) {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("the stack runs no plugin %q", id)
	return devstack.PluginStatus{}
}

// mails returns the messages the log mailer printed to address to.
func mails(t *testing.T, logs *telemetrytest.Logs, to string) []map[string]any {
	t.Helper()
	var found []map[string]any
	for _, e := range logs.WithMessage(t, "mail not delivered (log mailer)") {
		if e["to"] == to {
			found = append(found, e)
		}
	}
	return found
}

// processGone reports whether pid no longer runs (it does not exist, or is
// a zombie nobody reaped yet).
func processGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == syscall.ESRCH
	}
	// "pid (comm) S …": the state follows the last ')'.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	fields := strings.Fields(string(rest))
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

// TestExternalPluginsChangeABetterAuthSignUp is issue 5's proof: the example
// plugin and a freshly generated one, built from source and run by the dev
// stack (authbus dev --plugins-dir), change what a sign-up made with the
// real better-auth client does.
func TestExternalPluginsChangeABetterAuthSignUp(t *testing.T) {
	f := fixtures.get(t)
	plugins := t.TempDir()
	copyDir(t, f.example, filepath.Join(plugins, exampleID))
	copyDir(t, f.gen, filepath.Join(plugins, generatedID))
	require.NoError(t, os.WriteFile(filepath.Join(plugins, "README.md"), []byte("not a plugin\n"), 0o644))
	stack, logs := startWithPlugins(t, plugins)

	// Start returned once both had registered.
	sts := stack.Plugins(context.Background())
	require.Len(t, sts, 2)
	for _, st := range sts {
		require.Equal(t, devstack.PluginRunning, st.State, st.ID)
		require.NotZero(t, st.PID, st.ID)
		require.Equal(t, "active", string(st.Registry), "%s: %v", st.ID, st.Reasons)
		require.Equal(t, "0.1.0", st.Version)
		require.FileExists(t, st.Binary)
		require.Equal(t, filepath.Join(stack.Dir(), "bin", st.ID), st.Binary, "built into the stack's bin directory")
	}
	var describe bytes.Buffer
	stack.Describe(&describe)
	t.Logf("Describe:\n%s", describe.String())
	for _, id := range []string{exampleID, generatedID} {
		require.Regexp(t, id+` +0\.1\.0 +running \(pid \d+\); core: active; ops http://127\.0\.0\.1:\d+`, describe.String())
	}

	// Each plugin serves its own ops endpoints, on a port of its own.
	for _, st := range sts {
		require.NotEmpty(t, st.OpsAddr, st.ID)
		resp, err := http.Get("http://" + st.OpsAddr + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, st.ID)
	}

	const password = "correct-horse-battery"
	refused := compat.SignUp(t, stack.APIURL(), "mallory@elsewhere.org", password, "Mallory")
	require.NotNil(t, refused.Error, "the allowlist refuses a domain it does not list")
	require.Equal(t, http.StatusForbidden, refused.Error.Status)
	require.Equal(t, "EMAIL_DOMAIN_NOT_ALLOWED", refused.Error.Code)
	require.Equal(t, "Sign-ups are open to example.com addresses only", refused.Error.Message)

	accepted := compat.SignUp(t, stack.APIURL(), "ada@example.com", password, "Ada")
	require.Nil(t, accepted.Error)
	require.Equal(t, "ada@example.com", accepted.Data.User.Email)

	// user.created reaches both plugins: the example welcomes the user, the
	// generated plugin tells the team, both through the core's mailer.
	bustest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if len(mails(t, logs, "ada@example.com")) == 0 {
			return fmt.Errorf("no welcome email to ada@example.com yet")
		}
		if len(mails(t, logs, "team@example.com")) == 0 {
			return fmt.Errorf("no new-user email to team@example.com yet")
		}
		return nil
	})
	welcome := mails(t, logs, "ada@example.com")
	require.Len(t, welcome, 1)
	require.Equal(t, "Welcome!", welcome[0]["subject"])
	require.Equal(t, accepted.Data.User.ID, welcome[0]["userId"])
	notice := mails(t, logs, "team@example.com")
	require.Len(t, notice, 1)
	require.Equal(t, "New user: ada@example.com", notice[0]["subject"])
	require.Empty(t, mails(t, logs, "mallory@elsewhere.org"), "a refused sign-up creates no user")

	// The plugins' own logs are in the stack's log under their ids.
	for _, id := range []string{exampleID, generatedID} {
		found := false
		for _, e := range logs.WithMessage(t, "ops server listening") {
			found = found || e["plugin"] == id
		}
		require.True(t, found, "the stack's log holds %s's records", id)
	}
}

// TestCrashedPluginIsRestarted: a plugin killed from outside comes back,
// registers again and serves its hook; one that keeps failing is restarted
// with back-off, its output in the stack's log.
func TestCrashedPluginIsRestarted(t *testing.T) {
	f := fixtures.get(t)
	plugins := t.TempDir()
	copyExecutable(t, f.binary, filepath.Join(plugins, exampleID))
	// A plugin that is not written in Go and fails at once: its manifest
	// comes from the file next to it, since it cannot print one.
	require.NoError(t, os.WriteFile(filepath.Join(plugins, "crasher"),
		[]byte("#!/bin/sh\necho \"crasher: giving up\" >&2\nexit 3\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(plugins, "crasher.json"), []byte(`{
		"id": "crasher", "name": "Crasher", "version": "1.2.3", "coreVersion": "^0.1.0"}`), 0o644))
	stack, logs := startWithPlugins(t, plugins)

	before := pluginByID(t, stack, exampleID)
	require.Equal(t, "active", string(before.Registry))
	require.Zero(t, before.Restarts)
	require.NoError(t, syscall.Kill(before.PID, syscall.SIGKILL))

	var after devstack.PluginStatus
	bustest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		after = pluginByID(t, stack, exampleID)
		if after.Restarts != 1 || after.PID == 0 || after.PID == before.PID || after.Registry != "active" {
			return fmt.Errorf("not restarted and registered yet: %+v", after)
		}
		return nil
	})
	require.Equal(t, "signal: killed", after.LastExit)
	refused := compat.SignUp(t, stack.APIURL(), "eve@elsewhere.org", "correct-horse-battery", "Eve")
	require.NotNil(t, refused.Error, "the restarted plugin serves beforeSignUp")
	require.Equal(t, "EMAIL_DOMAIN_NOT_ALLOWED", refused.Error.Code)

	bustest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if c := pluginByID(t, stack, "crasher"); c.Restarts < 2 {
			return fmt.Errorf("crasher restarted %d times", c.Restarts)
		}
		return nil
	})
	crasher := pluginByID(t, stack, "crasher")
	require.Equal(t, "1.2.3", crasher.Version)
	require.Equal(t, "exit status 3", crasher.LastExit)
	require.Empty(t, string(crasher.Registry))
	lines := 0
	for _, e := range logs.WithMessage(t, "crasher: giving up") {
		if e["plugin"] == "crasher" && e["stream"] == "stderr" && e["level"] == "WARN" {
			lines++
		}
	}
	require.GreaterOrEqual(t, lines, 2, "each run's output is in the stack's log under the plugin's id")
	require.NotEmpty(t, logs.WithMessage(t, "plugin failed; restarting it"))
}

// TestStopStopsEveryPlugin: after Stop no plugin process is left, nor
// what a plugin started itself.
func TestStopStopsEveryPlugin(t *testing.T) {
	f := fixtures.get(t)
	plugins := t.TempDir()
	copyExecutable(t, f.genBin, filepath.Join(plugins, generatedID))
	// The example, started by a script that leaves a process of its own behind.
	require.NoError(t, os.WriteFile(filepath.Join(plugins, "wrapped"), []byte(`#!/bin/sh
if [ "$1" != --print-manifest ]; then
  sleep 600 &
  echo "grandchild $!"
fi
exec `+f.binary+` "$@"
`), 0o755))
	stack, logs := startWithPlugins(t, plugins)

	var pids []int
	for _, p := range stack.Plugins(context.Background()) {
		require.Equal(t, devstack.PluginRunning, p.State, p.ID)
		require.Equal(t, "active", string(p.Registry), p.ID)
		pids = append(pids, p.PID)
	}
	require.Len(t, pids, 2)
	var grandchild int
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, e := range logs.Entries(t) {
			if msg, _ := e["msg"].(string); e["plugin"] == exampleID && strings.HasPrefix(msg, "grandchild ") {
				grandchild, _ = strconv.Atoi(strings.TrimPrefix(msg, "grandchild "))
				return nil
			}
		}
		return fmt.Errorf("the wrapper's line is not in the log yet")
	})
	require.NotZero(t, grandchild)
	pids = append(pids, grandchild)
	for _, pid := range pids {
		require.False(t, processGone(pid), "process %d runs", pid)
	}

	stack.Stop()
	require.NoError(t, stack.Wait())
	for _, pid := range pids {
		bustest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			if !processGone(pid) {
				return fmt.Errorf("process %d still runs", pid)
			}
			return nil
		})
	}
	for _, p := range stack.Plugins(context.Background()) {
		require.Equal(t, devstack.PluginStopped, p.State, p.ID)
		require.Zero(t, p.PID, p.ID)
	}
	require.NotEmpty(t, logs.WithMessage(t, "drained"), "the plugins stopped cleanly, on SIGTERM")
}

// TestPluginsDieWithAKilledStack: when authbus dev is killed (SIGKILL, no
// chance to clean up), the kernel kills its plugins. The plugin here writes
// nothing, so it cannot die of a broken pipe instead; it fails once, so the
// process that must die was started by a restart.
func TestPluginsDieWithAKilledStack(t *testing.T) {
	plugins := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(plugins, "sleeper"), []byte(`#!/bin/sh
if [ "$1" = --print-manifest ]; then
  echo '{"id": "sleeper", "name": "Sleeper", "version": "0.0.1", "coreVersion": "^0.1.0"}'
  exit 0
fi
marker="$(dirname "$0")/sleeper.ran"
if [ ! -e "$marker" ]; then
  : > "$marker"
  exit 1
fi
exec sleep 600
`), 0o755))

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+plugins, helperDataEnv+"="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("helper stack's log:\n%s", stderr.String())
		}
	})

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "PIDS ") || strings.HasPrefix(sc.Text(), "ERROR ") {
				lines <- sc.Text()
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(2 * time.Minute):
		t.Fatal("the helper stack did not report its plugins within 2 minutes")
	}
	require.True(t, strings.HasPrefix(line, "PIDS "), line)
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "PIDS "))
	require.NoError(t, err, line)
	require.False(t, processGone(pid))

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !processGone(pid) {
			return fmt.Errorf("plugin process %d outlived the killed stack", pid)
		}
		return nil
	})
}
