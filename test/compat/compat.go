// Package compat runs the real better-auth client (client.mjs) and the raw
// HTTP probe (probe.mjs) of this directory against a server, installing their
// node packages on first use. See README.md.
package compat

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the node processes.
const (
	// InstallTimeout bounds npm ci.
	InstallTimeout = 10 * time.Minute
	// RunTimeout bounds one run of client.mjs or probe.mjs.
	RunTimeout = 3 * time.Minute
)

// stampFile records the hash of the package-lock.json node_modules was installed from.
const stampFile = ".authbus-lock.sha256"

// Dir is this package's directory (package.json, client.mjs, probe.mjs).
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("compat: cannot locate the package directory")
	}
	return filepath.Dir(file)
}

// Step is one step client.mjs reported.
type Step struct {
	// Name is the step's name, e.g. "sign-in (POST /sign-in/email)".
	Name string
	// Passed is true for PASS.
	Passed bool
	// Detail is what follows the name: the PASS note or the FAIL reason.
	Detail string
}

// String renders the step like client.mjs does.
func (s Step) String() string {
	status := "FAIL"
	if s.Passed {
		status = "PASS"
	}
	return status + "  " + s.Name + "  " + s.Detail
}

// Install makes sure node_modules matches package-lock.json, running npm ci
// (quietly; its output is shown only when it fails) when it does not. It
// fails the test when node or npm is missing.
func Install(t testing.TB) {
	t.Helper()
	if err := install(Dir()); err != nil {
		t.Fatalf("compat: %v", err)
	}
}

func install(dir string) error {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not on PATH: the better-auth compatibility tests run the real better-auth client and need Node.js >= 20 with npm "+
				"(e.g. `apt-get install nodejs npm`, or https://nodejs.org); install it and run the tests again", tool)
		}
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return fmt.Errorf("read package-lock.json: %w", err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])

	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	stamp := filepath.Join(dir, "node_modules", stampFile)
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "better-auth", "package.json")); err == nil {
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), InstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("npm ci in %s failed (it needs the npm registry, https://registry.npmjs.org): %w\n%s", dir, err, out)
	}
	if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", stamp, err)
	}
	return nil
}

// lockDir serialises installs of several test binaries.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".npm-install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		// A read-only checkout: install without the lock.
		return func() {}, nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// run runs a script of this directory with node.
func run(t testing.TB, script string, args, env []string) (string, int) {
	t.Helper()
	Install(t)
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("compat: node %s: %v\n%s%s", script, err, stdout.String(), stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("compat: node %s did not finish within %s\n%s%s", script, RunTimeout, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("compat: node %s stderr:\n%s", script, stderr.String())
	}
	return stdout.String(), code
}

// RunClient runs client.mjs (the real better-auth client) against baseURL
// (e.g. "http://127.0.0.1:8080/api/auth") with extra environment variables
// such as "SKIP_ORG=1", logs its output and returns its steps. It fails the
// test when the client reports no step at all.
func RunClient(t testing.TB, baseURL string, env ...string) []Step {
	t.Helper()
	out, code := run(t, "client.mjs", []string{baseURL}, env)
	t.Logf("client.mjs %s (exit %d):\n%s", baseURL, code, out)
	steps := ParseSteps(out)
	if len(steps) == 0 {
		t.Fatalf("compat: client.mjs reported no step (exit %d):\n%s", code, out)
	}
	failed := 0
	for _, s := range steps {
		if !s.Passed {
			failed++
		}
	}
	if failed != code {
		t.Errorf("compat: client.mjs exit code %d but %d failed steps", code, failed)
	}
	return steps
}

// ParseSteps reads client.mjs's "PASS  <name>  (<detail>)" and
// "FAIL  <name>  -> <reason>" lines.
func ParseSteps(out string) []Step {
	var steps []Step
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var s Step
		switch {
		case strings.HasPrefix(line, "PASS  "):
			s.Passed = true
			s.Name, s.Detail, _ = strings.Cut(line[len("PASS  "):], "  (")
			s.Detail = strings.TrimSuffix(s.Detail, ")")
		case strings.HasPrefix(line, "FAIL  "):
			s.Name, s.Detail, _ = strings.Cut(line[len("FAIL  "):], "  -> ")
		default:
			continue
		}
		steps = append(steps, s)
	}
	return steps
}

// Probe runs probe.mjs against baseURL and returns its transcript. Set
// "PEER_OUTBOX_URL=" in env for a server without the peer's mail box.
func Probe(t testing.TB, baseURL string, env ...string) string {
	t.Helper()
	out, code := run(t, "probe.mjs", nil, append([]string{"AUTH_BASE_URL=" + baseURL}, env...))
	if code != 0 {
		t.Fatalf("compat: probe.mjs exited %d:\n%s", code, out)
	}
	return out
}
