package devstack

// External plugins (Options.PluginsDir): what `authbus dev --plugins-dir`
// runs next to the core.
//
// Each entry of the plugins directory is one plugin:
//   - a subdirectory holding a Go main package is built with `go build` (in
//     its own module when it has a go.mod, else in the module around it)
//     into <Dir>/bin/<name>;
//   - an executable file is run as it is.
//
// Before the NATS server starts, each plugin binary is run with
// --print-manifest (falling back to plugin.json in its directory, or
// <executable>.json next to an executable); the stack grants what the
// manifest asks for, as the core's dev operator configuration does, and
// gives the plugin its own NATS user whose permissions the broker enforces.
// Once the core is ready every plugin runs as a child process with its
// connection in its environment, its output in the stack's log under its
// id, restarts with back-off when it fails, and SIGTERM (then SIGKILL) when
// the stack stops. On Linux a child also dies with the process that started
// it, even when that process is killed.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/telemetry"
	"github.com/authbus/authbus/services/core"
)

// Limits and timings of external plugins.
const (
	// pluginBuildTimeout bounds one `go build`.
	pluginBuildTimeout = 5 * time.Minute
	// printManifestTimeout bounds a binary's --print-manifest run.
	printManifestTimeout = 10 * time.Second
	// maxManifestBytes caps what a binary may print as its manifest.
	maxManifestBytes = 4 << 20
	// maxCommandOutput caps the build or --print-manifest output kept for an error.
	maxCommandOutput = 64 << 10
	// maxLogLine caps one line of a plugin's output; the rest of a longer
	// line is dropped.
	maxLogLine = 64 << 10
	// restartBackoffMin is the wait before the first restart after a failure.
	restartBackoffMin = 500 * time.Millisecond
	// restartBackoffMax caps the wait between restarts.
	restartBackoffMax = 30 * time.Second
	// restartResetAfter: a plugin that stayed up this long restarts after
	// restartBackoffMin again.
	restartResetAfter = time.Minute
	// pluginStopTimeout is how long a plugin has after SIGTERM before it is killed.
	pluginStopTimeout = 10 * time.Second
	// pipeWaitDelay bounds the wait for a plugin's output after it exited
	// (a grandchild may hold the pipes open).
	pipeWaitDelay = 2 * time.Second
	// pluginRegisterTimeout bounds how long Start waits for the plugins to
	// register before it reports the stack running anyway.
	pluginRegisterTimeout = 30 * time.Second
	// registryReadTimeout bounds one read of the core's plugin registry.
	registryReadTimeout = 2 * time.Second
)

// PluginState is what the stack is doing with an external plugin's process.
type PluginState string

// The states of an external plugin's process.
const (
	// PluginRunning: the process is running.
	PluginRunning PluginState = "running"
	// PluginRestarting: the process failed and is restarted after a back-off.
	PluginRestarting PluginState = "restarting"
	// PluginExited: the process exited with status 0 on its own (the core
	// told it to stop, or a newer version replaced it); it is not restarted.
	PluginExited PluginState = "exited"
	// PluginStopped: the stack stopped it.
	PluginStopped PluginState = "stopped"
)

// PluginStatus is one external plugin as the stack runs it.
type PluginStatus struct {
	// ID and Version are the manifest's.
	ID, Version string
	// Source is the directory the plugin was built from, or the executable.
	Source string
	// Binary is what runs.
	Binary string
	// State is what its process is doing.
	State PluginState
	// PID is the running process's id (0 when none runs).
	PID int
	// Restarts counts the restarts after a failure.
	Restarts int
	// LastExit says how the previous process ended ("exit status 1",
	// "signal: killed"); empty before one did.
	LastExit string
	// OpsAddr is where the running process serves /healthz, /readyz and
	// /metrics, as it logged it (empty until it did).
	OpsAddr string
	// Registry is the plugin's state in the core's registry, for the running
	// process (empty until that process registered).
	Registry core.PluginState
	// Reasons are the core's reasons when Registry is refused.
	Reasons []contracts.Problem
}

// registryRefused is the registry state of a refused plugin.
const registryRefused core.PluginState = "refused"

// pluginSpec is one plugin found in the plugins directory, built and with
// its manifest read.
type pluginSpec struct {
	source   string // the directory or executable found
	binary   string // what runs
	workDir  string // the process's working directory
	manifest contracts.Manifest
	password string // of its NATS user
}

// account is the plugin's NATS user on the embedded server.
func (s pluginSpec) account() core.PluginAccount {
	return core.PluginAccount{PluginID: s.manifest.ID, Password: s.password, Granted: core.DevGrants(s.manifest)}
}

// preparePlugins finds, builds and reads the manifest of every plugin in
// o.PluginsDir. It reports every plugin's problem at once.
func preparePlugins(ctx context.Context, o Options, log *slog.Logger) ([]pluginSpec, error) {
	dir, err := filepath.Abs(o.PluginsDir)
	if err != nil {
		return nil, fmt.Errorf("devstack: plugins directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("devstack: plugins directory: %w", err)
	}
	binDir, err := filepath.Abs(filepath.Join(o.Dir, "bin"))
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	var specs []pluginSpec
	var errs []error
	seen := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" {
			continue // the go command's convention for what is not part of a build
		}
		path := filepath.Join(dir, name)
		st, err := os.Stat(path) // follows symbolic links
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin %s: %w", path, err))
			continue
		}
		var spec pluginSpec
		switch {
		case st.IsDir():
			pkg, err := build.ImportDir(path, 0)
			var noGo *build.NoGoError
			switch {
			case errors.As(err, &noGo):
				log.Info("plugins: skipped, holds no Go files", "path", path)
				continue
			case err != nil:
				errs = append(errs, fmt.Errorf("plugin %s: %w", path, err))
				continue
			case pkg.Name != "main":
				log.Info("plugins: skipped, not a main package", "path", path, "package", pkg.Name)
				continue
			}
			bin := filepath.Join(binDir, name)
			log.Info("plugins: building", "path", path, "binary", bin)
			if err := buildPlugin(ctx, path, bin); err != nil {
				errs = append(errs, err)
				continue
			}
			spec = pluginSpec{source: path, binary: bin, workDir: path}
		case st.Mode().IsRegular() && st.Mode()&0o111 != 0:
			spec = pluginSpec{source: path, binary: path, workDir: dir}
		default:
			continue // plugin.json of an executable, a README, …
		}
		m, err := readManifest(ctx, spec, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := seen[m.ID]; dup {
			errs = append(errs, fmt.Errorf("plugin %s: id %q is already the id of %s: each plugin needs its own id", path, m.ID, other))
			continue
		}
		if m.ID == coreUser || m.ID == cliUser {
			errs = append(errs, fmt.Errorf("plugin %s: id %q is the name of a NATS user of authbus dev: choose another id", path, m.ID))
			continue
		}
		seen[m.ID] = path
		spec.manifest = m
		spec.password = randomString()
		specs = append(specs, spec)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("devstack: plugins in %s:\n%w", dir, err)
	}
	if len(specs) == 0 {
		log.Warn("plugins: the plugins directory holds no plugin (a subdirectory with a Go main package, or an executable)", "dir", dir)
	}
	return specs, nil
}

// buildPlugin builds the Go main package in dir into bin.
func buildPlugin(ctx context.Context, dir, bin string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("plugin %s: building it needs the go command, which is not on PATH: install Go, or put a built executable in the plugins directory instead", dir)
	}
	ctx, cancel := context.WithTimeout(ctx, pluginBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, ".")
	cmd.Dir = dir
	out := &cappedBuffer{max: maxCommandOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = pipeWaitDelay
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (gave up after %s)", err, pluginBuildTimeout)
		}
		return fmt.Errorf("plugin %s: go build failed: %w\n%s", dir, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// readManifest gets the plugin's manifest: the binary's --print-manifest
// output, else the manifest file next to it. The manifest must be valid.
func readManifest(ctx context.Context, spec pluginSpec, log *slog.Logger) (contracts.Manifest, error) {
	doc, printErr := printManifest(ctx, spec.binary)
	from := spec.binary + " " + printManifestFlag
	if printErr != nil {
		file := filepath.Join(spec.source, "plugin.json")
		if spec.source == spec.binary {
			file = spec.binary + ".json"
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return contracts.Manifest{}, fmt.Errorf("plugin %s: no manifest: %w, and %w", spec.source, printErr, err)
		}
		log.Warn("plugins: the binary did not print its manifest; using the manifest file", "path", spec.source, "file", file, "error", printErr)
		doc, from = b, file
	}
	m, err := contracts.ParseManifest(doc)
	if err == nil {
		err = m.Validate()
	}
	if err != nil {
		return contracts.Manifest{}, fmt.Errorf("plugin %s: the manifest from %s: %w", spec.source, from, err)
	}
	return m, nil
}

// printManifestFlag is the SDK's flag (plugin.PrintManifestFlag); devstack
// does not link the SDK for one constant.
const printManifestFlag = "--print-manifest"

// printManifest runs bin --print-manifest and returns what it printed.
func printManifest(ctx context.Context, bin string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, printManifestTimeout)
	defer cancel()
	runtime.LockOSThread() // see runOnce
	defer runtime.UnlockOSThread()
	cmd := exec.CommandContext(ctx, bin, printManifestFlag)
	cmd.Dir = filepath.Dir(bin)
	stdout := &cappedBuffer{max: maxManifestBytes}
	stderr := &cappedBuffer{max: maxCommandOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = childProcAttr()
	cmd.Cancel = func() error { return signalGroup(cmd.Process.Pid, sigKill) }
	cmd.WaitDelay = pipeWaitDelay
	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
		// A program that is not a plugin may have started something: it goes too.
		_ = signalGroup(cmd.Process.Pid, sigKill)
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s did not finish within %s", printManifestFlag, printManifestTimeout)
	case err != nil:
		if msg := bytes.TrimSpace(stderr.Bytes()); len(msg) > 0 {
			return nil, fmt.Errorf("%s: %w: %s", printManifestFlag, err, msg)
		}
		return nil, fmt.Errorf("%s: %w", printManifestFlag, err)
	case stdout.truncated:
		return nil, fmt.Errorf("%s printed more than %d bytes", printManifestFlag, maxManifestBytes)
	case !json.Valid(stdout.Bytes()):
		return nil, fmt.Errorf("%s printed no JSON document", printManifestFlag)
	}
	return stdout.Bytes(), nil
}

// cappedBuffer keeps the first max bytes written to it.
type cappedBuffer struct {
	max       int
	buf       bytes.Buffer
	truncated bool
}

// Write keeps what fits and drops the rest; it never fails, so a chatty
// command is not killed by a broken pipe.
func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.buf.Len()
	if len(p) > room {
		b.truncated = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}

// Bytes returns what was kept.
func (b *cappedBuffer) Bytes() []byte { return b.buf.Bytes() }

// pluginEnv is what a plugin process is told, on top of the stack's own
// environment (later entries win).
type pluginEnv struct {
	natsURL  string
	prefix   string
	logLevel string
}

// environ returns the process environment of spec.
func (e pluginEnv) environ(spec pluginSpec) []string {
	id := spec.manifest.ID
	return append(os.Environ(),
		"AUTHBUS_NATS_URL="+e.natsURL,
		"AUTHBUS_NATS_USER="+id,
		"AUTHBUS_NATS_PASSWORD="+spec.password,
		"AUTHBUS_NATS_CREDENTIALS=",
		"AUTHBUS_NATS_INBOX_PREFIX="+core.PluginInboxPrefix(id),
		"AUTHBUS_NATS_CLIENT_NAME="+id,
		"AUTHBUS_SUBJECT_PREFIX="+e.prefix,
		"AUTHBUS_OPS_ADDR=127.0.0.1:0", // a free port each: several plugins share the host
		"AUTHBUS_LOG_LEVEL="+e.logLevel,
		"AUTHBUS_PLUGIN_PRINT_MANIFEST=false",
	)
}

// pluginProc supervises one plugin's process.
type pluginProc struct {
	spec        pluginSpec
	env         []string
	log         *slog.Logger
	stopTimeout time.Duration // SIGTERM to SIGKILL
	backoff     restartBackoff
	done        chan struct{} // closed when supervise returns

	mu       sync.Mutex
	state    PluginState
	pid      int
	started  time.Time
	restarts int
	lastExit string
	opsAddr  string
}

// newPluginProc returns the supervisor of spec, with the default timings.
func newPluginProc(spec pluginSpec, env []string, log *slog.Logger) *pluginProc {
	return &pluginProc{spec: spec, env: env, log: log, stopTimeout: pluginStopTimeout, state: PluginRunning,
		backoff: restartBackoff{min: restartBackoffMin, max: restartBackoffMax, resetAfter: restartResetAfter},
		done:    make(chan struct{})}
}

// supervise runs the plugin until ctx ends, restarting it after a failure
// with capped exponential back-off.
func (p *pluginProc) supervise(ctx context.Context) {
	defer close(p.done)
	for {
		started := time.Now()
		err := p.runOnce(ctx)
		ran := time.Since(started)
		if ctx.Err() != nil {
			p.setState(PluginStopped)
			return
		}
		if err == nil {
			p.log.Info("plugin exited with status 0 on its own; it is not restarted (restart authbus dev to run it again)")
			p.setState(PluginExited)
			return
		}
		wait := p.backoff.delay(ran)
		p.log.Warn("plugin failed; restarting it", "error", err, "ran", ran.Round(time.Millisecond), "restart_in", wait)
		p.mu.Lock()
		p.state = PluginRestarting
		p.restarts++
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			p.setState(PluginStopped)
			return
		case <-t.C:
		}
	}
}

// runOnce starts the plugin and waits until it exits; when ctx ends first
// it stops it (SIGTERM, then SIGKILL after pluginStopTimeout). It returns
// how the process ended (nil: exit status 0).
func (p *pluginProc) runOnce(ctx context.Context) error {
	// The parent-death signal is tied to the thread that forks the child,
	// not to the process: keep this goroutine on its thread for as long as
	// the child lives, so the runtime never retires that thread under it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	cmd := exec.Command(p.spec.binary)
	cmd.Dir = p.spec.workDir
	cmd.Env = p.env
	stdout := &lineWriter{emit: func(line []byte) { p.emit(line, "stdout") }}
	stderr := &lineWriter{emit: func(line []byte) { p.emit(line, "stderr") }}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = childProcAttr()
	cmd.WaitDelay = pipeWaitDelay
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.spec.binary, err)
	}
	pid := cmd.Process.Pid
	p.mu.Lock()
	p.state, p.pid, p.started, p.opsAddr = PluginRunning, pid, time.Now(), ""
	p.mu.Unlock()
	p.log.Info("plugin started", "pid", pid, "binary", p.spec.binary)

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = signalGroup(pid, sigTerm)
		t := time.NewTimer(p.stopTimeout)
		select {
		case err = <-waited:
			t.Stop()
		case <-t.C:
			p.log.Warn("plugin did not stop in time; killing it", "pid", pid, "timeout", p.stopTimeout)
			_ = signalGroup(pid, sigKill)
			err = <-waited
		}
	}
	// Whatever the plugin started and left behind goes with it (its
	// process group outlives it while a member runs).
	_ = signalGroup(pid, sigKill)
	stdout.Flush()
	stderr.Flush()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // it exited 0; only its output pipes stayed open
	}
	exit := "exit status 0"
	if err != nil {
		exit = err.Error()
	}
	p.mu.Lock()
	p.pid, p.lastExit = 0, exit
	p.mu.Unlock()
	return err
}

func (p *pluginProc) setState(s PluginState) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

// status returns the process's part of the plugin's status, and when the
// running process started.
func (p *pluginProc) status() (PluginStatus, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PluginStatus{ID: p.spec.manifest.ID, Version: p.spec.manifest.Version, Source: p.spec.source,
		Binary: p.spec.binary, State: p.state, PID: p.pid, Restarts: p.restarts, LastExit: p.lastExit, OpsAddr: p.opsAddr}, p.started
}

// opsListeningMsg is what the SDK logs when its ops server listens.
const opsListeningMsg = "ops server listening"

// emit writes one line of the plugin's output to the stack's log. A JSON
// log record (what the SDK writes) keeps its level, message and
// attributes; any other line is logged as it is.
func (p *pluginProc) emit(line []byte, stream string) {
	line = bytes.TrimRight(line, "\r")
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	if rec, ok := parseRecord(line); ok {
		if rec.msg == opsListeningMsg {
			for _, a := range rec.attrs {
				if addr, isString := a.Value.Any().(string); a.Key == "addr" && isString {
					p.mu.Lock()
					p.opsAddr = addr
					p.mu.Unlock()
				}
			}
		}
		p.log.LogAttrs(context.Background(), rec.level, rec.msg, rec.attrs...)
		return
	}
	level := slog.LevelInfo
	if stream == "stderr" {
		level = slog.LevelWarn // panics and fatal errors end up here
	}
	p.log.LogAttrs(context.Background(), level, string(line), slog.String("stream", stream))
}

// record is a decoded JSON log line.
type record struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
}

// droppedKeys are the keys of a plugin's record the stack's logger writes
// itself (the time, the plugin's id) or that repeat what it says.
var droppedKeys = []string{slog.TimeKey, slog.LevelKey, slog.MessageKey, "plugin", "service", "version"}

// parseRecord decodes a JSON log record, keeping its keys in order.
func parseRecord(line []byte) (record, bool) {
	if len(line) == 0 || line[0] != '{' {
		return record{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return record{}, false
	}
	rec := record{level: slog.LevelInfo}
	hasMsg := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return record{}, false
		}
		key, _ := t.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return record{}, false
		}
		switch key {
		case slog.LevelKey:
			if s, ok := v.(string); ok {
				if l, err := telemetry.ParseLevel(s); err == nil {
					rec.level = l
				}
			}
		case slog.MessageKey:
			rec.msg, hasMsg = fmt.Sprint(v), true
		}
		if !slices.Contains(droppedKeys, key) {
			rec.attrs = append(rec.attrs, slog.Any(key, v))
		}
	}
	if _, err := dec.Token(); err != nil || !hasMsg {
		return record{}, false
	}
	return rec, true
}

// lineWriter splits what is written to it into lines and hands each to
// emit; a line longer than maxLogLine is cut there. Writes come from one
// goroutine (os/exec copies each stream in its own).
type lineWriter struct {
	emit     func([]byte)
	buf      []byte
	skipping bool // dropping the rest of a line that was too long
}

// Write never fails: a plugin must not block on, or die of, its own logging.
func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !w.skipping {
			room := maxLogLine - len(w.buf)
			if len(chunk) > room {
				w.buf = append(w.buf, chunk[:room]...)
				w.buf = append(w.buf, " …(line cut)"...)
				w.emit(w.buf)
				w.buf, w.skipping = w.buf[:0], true
			} else {
				w.buf = append(w.buf, chunk...)
			}
		}
		if i < 0 {
			break
		}
		if !w.skipping {
			w.emit(w.buf)
		}
		w.buf, w.skipping = w.buf[:0], false
		p = p[i+1:]
	}
	return n, nil
}

// Flush emits a last line that had no newline.
func (w *lineWriter) Flush() {
	if len(w.buf) > 0 && !w.skipping {
		w.emit(w.buf)
	}
	w.buf, w.skipping = w.buf[:0], false
}

// restartBackoff is the wait before each restart: restartBackoffMin,
// doubling up to max, and back to min after a run that lasted resetAfter.
type restartBackoff struct {
	min, max, resetAfter time.Duration
	next                 time.Duration
}

// delay returns the wait before restarting a process that ran for ran.
func (b *restartBackoff) delay(ran time.Duration) time.Duration {
	if b.next == 0 || ran >= b.resetAfter {
		b.next = b.min
	}
	d := b.next
	b.next = min(b.next*2, b.max)
	return d
}

// pluginSet runs the stack's external plugins.
type pluginSet struct {
	specs  []pluginSpec
	log    *slog.Logger
	ctx    context.Context // ends when the set stops
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	procs   []*pluginProc
	nc      *nats.Conn // the core's user, in process: reads the plugin registry
	kv      jetstream.KeyValue
}

// newPluginSet returns the set of specs, not running yet.
func newPluginSet(specs []pluginSpec, log *slog.Logger) *pluginSet {
	ctx, cancel := context.WithCancel(context.Background())
	return &pluginSet{specs: specs, log: log, ctx: ctx, cancel: cancel}
}

// errPluginsStopped is returned by launch after stop.
var errPluginsStopped = errors.New("devstack: the stack is stopping")

// launch starts a supervisor per plugin; nc and kv (the core's plugin
// registry) become the set's, closed by stop.
func (ps *pluginSet) launch(env pluginEnv, nc *nats.Conn, kv jetstream.KeyValue) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.stopped {
		nc.Close()
		return errPluginsStopped
	}
	ps.nc, ps.kv = nc, kv
	for _, spec := range ps.specs {
		p := newPluginProc(spec, env.environ(spec), ps.log.With("plugin", spec.manifest.ID))
		ps.procs = append(ps.procs, p)
		ps.wg.Add(1)
		go func() {
			defer ps.wg.Done()
			p.supervise(ps.ctx)
		}()
	}
	return nil
}

// stop stops every plugin (SIGTERM, then SIGKILL after pluginStopTimeout)
// and waits until all have exited. Later launches fail.
func (ps *pluginSet) stop() {
	if ps == nil {
		return
	}
	ps.mu.Lock()
	ps.stopped = true
	ps.mu.Unlock()
	ps.cancel()
	ps.wg.Wait()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.nc != nil {
		ps.nc.Close()
		ps.nc, ps.kv = nil, nil
	}
}

// status returns every plugin's status, with its state in the core's
// registry where the running process registered.
func (ps *pluginSet) status(ctx context.Context) []PluginStatus {
	if ps == nil {
		return nil
	}
	ps.mu.Lock()
	procs, kv := slices.Clone(ps.procs), ps.kv
	ps.mu.Unlock()
	records := map[string]core.PluginRecord{}
	if kv != nil {
		rctx, cancel := context.WithTimeout(ctx, registryReadTimeout)
		recs, err := core.ReadPluginRegistry(rctx, kv)
		cancel()
		if err == nil {
			for _, r := range recs {
				records[r.ID] = r
			}
		}
	}
	out := make([]PluginStatus, 0, len(procs))
	for _, p := range procs {
		st, started := p.status()
		if rec, ok := records[st.ID]; ok && st.PID != 0 {
			mine := slices.ContainsFunc(rec.Instances, func(i core.PluginInstance) bool { return i.PID == st.PID })
			// A refusal names no instance; one written since this process started is about it.
			if mine || (rec.State == registryRefused && !rec.UpdatedAt.Before(started)) {
				st.Registry, st.Reasons = rec.State, rec.Reasons
			}
		}
		out = append(out, st)
	}
	return out
}

// waitRegistered waits until every plugin's process registered with the
// core (or was refused, or failed), at most timeout.
func (ps *pluginSet) waitRegistered(ctx context.Context, timeout time.Duration, log *slog.Logger) {
	if ps == nil || len(ps.specs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var pending []string
		for _, st := range ps.status(ctx) {
			if st.Registry == "" && st.State == PluginRunning && st.Restarts == 0 {
				pending = append(pending, st.ID)
			}
		}
		if len(pending) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			log.Warn("plugins: not registered with the core yet; the stack runs without waiting for them", "plugins", pending, "waited", timeout)
			return
		case <-tick.C:
		}
	}
}

// registryKV opens the core's plugin registry bucket through nc.
func registryKV(ctx context.Context, nc *nats.Conn, prefix string) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, registryReadTimeout)
	defer cancel()
	return js.KeyValue(ctx, core.PluginRegistryBucket(prefix))
}

// describePlugins writes the plugins table of Describe.
func describePlugins(w io.Writer, dir string, sts []PluginStatus) {
	fmt.Fprintf(w, "  plugins      %s\n", dir)
	if len(sts) == 0 {
		fmt.Fprintf(w, "    (none found: a plugin is a subdirectory with a Go main package, or an executable)\n")
	}
	for _, st := range sts {
		state := string(st.State)
		if st.PID != 0 {
			state += fmt.Sprintf(" (pid %d)", st.PID)
		}
		if st.Restarts > 0 {
			state += fmt.Sprintf(", %d restarts, last: %s", st.Restarts, st.LastExit)
		}
		reg := string(st.Registry)
		if reg == "" {
			reg = "not registered yet"
		}
		fmt.Fprintf(w, "    %-24s %-10s %s; core: %s", st.ID, st.Version, state, reg)
		if st.OpsAddr != "" {
			fmt.Fprintf(w, "; ops http://%s", st.OpsAddr)
		}
		fmt.Fprintln(w)
		for _, r := range st.Reasons {
			fmt.Fprintf(w, "      refused: %s\n", r)
		}
	}
}
