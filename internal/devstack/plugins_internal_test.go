package devstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/telemetry/telemetrytest"
)

func TestRestartBackoff(t *testing.T) {
	const (
		short = time.Second      // a run that failed quickly
		long  = 10 * time.Minute // a run that lasted past resetAfter
	)
	tests := []struct {
		name string
		runs []time.Duration
		want []time.Duration
	}{
		{name: "doubles up to the cap", runs: []time.Duration{short, short, short, short, short, short},
			want: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}},
		{name: "a long run starts over", runs: []time.Duration{short, short, short, long, short},
			want: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "the first failure waits the minimum even after a long run", runs: []time.Duration{long},
			want: []time.Duration{100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := restartBackoff{min: 100 * time.Millisecond, max: time.Second, resetAfter: time.Minute}
			var got []time.Duration
			for _, ran := range tt.runs {
				got = append(got, b.delay(ran))
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLineWriter(t *testing.T) {
	long := strings.Repeat("x", maxLogLine+10)
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{name: "lines", writes: []string{"a\nb\n"}, want: []string{"a", "b"}},
		{name: "a line over several writes", writes: []string{"he", "llo", " world\nnext"}, want: []string{"hello world", "next"}},
		{name: "an empty line", writes: []string{"\n"}, want: []string{""}},
		{name: "a last line without newline is flushed", writes: []string{"tail"}, want: []string{"tail"}},
		{name: "a long line is cut, its rest dropped", writes: []string{long[:100], long[100:] + "\nafter\n"},
			want: []string{long[:maxLogLine] + " …(line cut)", "after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := &lineWriter{emit: func(b []byte) { got = append(got, string(b)) }}
			for _, s := range tt.writes {
				n, err := w.Write([]byte(s))
				require.NoError(t, err)
				require.Equal(t, len(s), n)
			}
			w.Flush()
			require.Equal(t, tt.want, got)
		})
	}
}

func TestEmitKeepsTheRecordAndNamesThePlugin(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		stream string
		want   map[string]any
		absent []string
	}{
		{name: "an SDK record keeps its level, message and attributes",
			line:   `{"time":"2026-01-01T00:00:00Z","level":"ERROR","msg":"handler failed","service":"acme","version":"1.0.0","plugin":"acme","event":"e1","n":3,"nested":{"a":true}}`,
			stream: "stderr",
			want:   map[string]any{"level": "ERROR", "msg": "handler failed", "plugin": "acme", "event": "e1", "n": float64(3), "nested": map[string]any{"a": true}},
			absent: []string{"service", "version", "stream"}},
		{name: "a record with a level offset", line: `{"level":"INFO+2","msg":"m"}`, stream: "stderr",
			want: map[string]any{"level": "INFO+2", "msg": "m", "plugin": "acme"}},
		{name: "a plain stdout line", line: "hello from a script", stream: "stdout",
			want: map[string]any{"level": "INFO", "msg": "hello from a script", "plugin": "acme", "stream": "stdout"}},
		{name: "a plain stderr line is a warning", line: "panic: boom", stream: "stderr",
			want: map[string]any{"level": "WARN", "msg": "panic: boom", "plugin": "acme", "stream": "stderr"}},
		{name: "JSON that is not a record", line: `{"no message": true}`, stream: "stdout",
			want: map[string]any{"level": "INFO", "msg": `{"no message": true}`, "stream": "stdout"}},
		{name: "broken JSON", line: `{"msg": "x"`, stream: "stdout",
			want: map[string]any{"msg": `{"msg": "x"`, "stream": "stdout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs := telemetrytest.NewLogger(t)
			p := newPluginProc(pluginSpec{}, nil, logger.With("plugin", "acme"))
			p.emit([]byte(tt.line+"\r"), tt.stream)
			entries := logs.Entries(t)
			require.Len(t, entries, 1)
			for k, v := range tt.want {
				require.Equal(t, v, entries[0][k], k)
			}
			for _, k := range tt.absent {
				require.NotContains(t, entries[0], k)
			}
		})
	}
}

func TestEmitRecordsTheOpsAddress(t *testing.T) {
	logger, _ := telemetrytest.NewLogger(t)
	p := newPluginProc(pluginSpec{}, nil, logger)
	p.emit([]byte(`{"level":"INFO","msg":"ops server listening","addr":"127.0.0.1:40123"}`), "stderr")
	st, _ := p.status()
	require.Equal(t, "127.0.0.1:40123", st.OpsAddr)
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755))
}

const minimalManifest = `{"id": "%s", "name": "X", "version": "1.0.0", "coreVersion": "^0.1.0"}`

// printsManifest is a script body that prints the manifest of id.
func printsManifest(id string) string {
	return "if [ \"$1\" = --print-manifest ]; then echo '" + fmt.Sprintf(minimalManifest, id) + "'; exit 0; fi\nexec sleep 600\n"
}

func TestPreparePlugins(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantIDs []string
		wantErr []string
	}{
		{name: "executables that print their manifests; other entries skipped",
			setup: func(t *testing.T, dir string) {
				writeScript(t, filepath.Join(dir, "b-plugin"), printsManifest("bravo"))
				writeScript(t, filepath.Join(dir, "a-plugin"), printsManifest("alpha"))
				writeScript(t, filepath.Join(dir, ".hidden"), "exit 1\n")
				writeScript(t, filepath.Join(dir, "_draft"), "exit 1\n")
				require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("x"), 0o644))
				require.NoError(t, os.Mkdir(filepath.Join(dir, "docs"), 0o755))
				require.NoError(t, os.Mkdir(filepath.Join(dir, "lib"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "lib", "lib.go"), []byte("package lib\n"), 0o644))
			},
			wantIDs: []string{"alpha", "bravo"}},
		{name: "an executable falls back to the manifest file next to it",
			setup: func(t *testing.T, dir string) {
				writeScript(t, filepath.Join(dir, "tool"), "echo not a manifest\n")
				require.NoError(t, os.WriteFile(filepath.Join(dir, "tool.json"), []byte(fmt.Sprintf(minimalManifest, "tool")), 0o644))
			},
			wantIDs: []string{"tool"}},
		{name: "every problem at once",
			setup: func(t *testing.T, dir string) {
				writeScript(t, filepath.Join(dir, "no-manifest"), "exit 2\n")
				writeScript(t, filepath.Join(dir, "bad-manifest"), "echo '{\"id\": \"Bad_ID\"}'\n")
				writeScript(t, filepath.Join(dir, "one"), printsManifest("twin"))
				writeScript(t, filepath.Join(dir, "two"), printsManifest("twin"))
				writeScript(t, filepath.Join(dir, "reserved"), printsManifest("core"))
				writeScript(t, filepath.Join(dir, "cli"), printsManifest("cli"))
				require.NoError(t, os.Mkdir(filepath.Join(dir, "broken"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "broken", "main.go"),
					[]byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "broken", "go.mod"), []byte("module broken\n\ngo 1.26\n"), 0o644))
			},
			wantErr: []string{
				"no-manifest: no manifest: --print-manifest: exit status 2",
				"no-manifest.json: no such file",
				"bad-manifest: the manifest from",
				"id \"twin\" is already the id of",
				"plugin id \"core\" is reserved",
				"id \"cli\" is the name of a NATS user",
				"no-manifest: no manifest: --print-manifest: exit status 2, and",
				"broken: go build failed",
				"undefined: undefinedThing", // the compiler's output
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			logger, _ := telemetrytest.NewLogger(t)
			specs, err := preparePlugins(context.Background(), Options{Dir: t.TempDir(), PluginsDir: dir}, logger)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					require.ErrorContains(t, err, w)
				}
				return
			}
			require.NoError(t, err)
			var ids []string
			for _, s := range specs {
				ids = append(ids, s.manifest.ID)
				require.Len(t, s.password, 64)
				require.Equal(t, []contracts.Permission(nil), s.account().Granted)
			}
			require.Equal(t, tt.wantIDs, ids)
		})
	}
}

func TestPreparePluginsNeedsADirectory(t *testing.T) {
	logger, _ := telemetrytest.NewLogger(t)
	_, err := preparePlugins(context.Background(), Options{Dir: t.TempDir(), PluginsDir: filepath.Join(t.TempDir(), "missing")}, logger)
	require.ErrorContains(t, err, "plugins directory")
	require.ErrorContains(t, err, "no such file or directory")
}

// runScript supervises a script as a plugin until the test stops it.
func runScript(t *testing.T, body string, configure func(*pluginProc)) (*pluginProc, *telemetrytest.Logs, context.CancelFunc) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plugin")
	writeScript(t, path, body)
	logger, logs := telemetrytest.NewLogger(t)
	p := newPluginProc(pluginSpec{source: path, binary: path, workDir: filepath.Dir(path),
		manifest: contracts.Manifest{ID: "script", Version: "1.0.0"}}, os.Environ(), logger.With("plugin", "script"))
	configure(p)
	ctx, cancel := context.WithCancel(context.Background())
	go p.supervise(ctx)
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p, logs, cancel
}

func TestSupervisorKillsAPluginThatIgnoresSIGTERM(t *testing.T) {
	p, logs, cancel := runScript(t, "trap '' TERM\necho up\nwhile :; do sleep 0.05; done\n", func(p *pluginProc) { p.stopTimeout = 200 * time.Millisecond })
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if len(logs.WithMessage(t, "up")) == 0 {
			return fmt.Errorf("the script has not started yet")
		}
		return nil
	})
	cancel()
	<-p.done
	st, _ := p.status()
	require.Equal(t, PluginStopped, st.State)
	require.Equal(t, "signal: killed", st.LastExit)
	require.Zero(t, st.PID)
	require.NotEmpty(t, logs.WithMessage(t, "plugin did not stop in time; killing it"))
}

func TestSupervisorDoesNotRestartACleanExit(t *testing.T) {
	p, logs, _ := runScript(t, "echo bye\nexit 0\n", func(*pluginProc) {})
	<-p.done // supervise returned on its own
	st, _ := p.status()
	require.Equal(t, PluginExited, st.State)
	require.Equal(t, "exit status 0", st.LastExit)
	require.Zero(t, st.Restarts)
	require.Len(t, logs.WithMessage(t, "bye"), 1)
}

func TestSupervisorRestartsAFailure(t *testing.T) {
	p, logs, cancel := runScript(t, "echo run\nexit 7\n", func(p *pluginProc) {
		p.backoff = restartBackoff{min: time.Millisecond, max: 5 * time.Millisecond, resetAfter: time.Minute}
	})
	var st PluginStatus
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if st, _ = p.status(); st.Restarts < 3 {
			return fmt.Errorf("%d restarts", st.Restarts)
		}
		return nil
	})
	require.Equal(t, "exit status 7", st.LastExit)
	cancel()
	<-p.done
	st, _ = p.status()
	require.Equal(t, PluginStopped, st.State)
	require.GreaterOrEqual(t, len(logs.WithMessage(t, "run")), 3)
	require.GreaterOrEqual(t, len(logs.WithMessage(t, "plugin failed; restarting it")), 3)
}

func TestPluginEnvironment(t *testing.T) {
	t.Setenv("AUTHBUS_NATS_CREDENTIALS", "/somewhere/core.creds")
	t.Setenv("AUTHBUS_OPS_ADDR", ":9090")
	spec := pluginSpec{manifest: contracts.Manifest{ID: "acme"}, password: "pw"}
	env := pluginEnv{natsURL: "nats://127.0.0.1:4222", prefix: "dev.", logLevel: "debug"}.environ(spec)
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v // the last one wins, as for exec.Cmd
	}
	want := map[string]string{
		"AUTHBUS_NATS_URL":              "nats://127.0.0.1:4222",
		"AUTHBUS_NATS_USER":             "acme",
		"AUTHBUS_NATS_PASSWORD":         "pw",
		"AUTHBUS_NATS_CREDENTIALS":      "",
		"AUTHBUS_NATS_INBOX_PREFIX":     "_INBOX_acme",
		"AUTHBUS_NATS_CLIENT_NAME":      "acme",
		"AUTHBUS_SUBJECT_PREFIX":        "dev.",
		"AUTHBUS_OPS_ADDR":              "127.0.0.1:0",
		"AUTHBUS_LOG_LEVEL":             "debug",
		"AUTHBUS_PLUGIN_PRINT_MANIFEST": "false",
	}
	for k, v := range want {
		require.Equal(t, v, got[k], k)
	}
	require.Equal(t, os.Getenv("PATH"), got["PATH"], "the rest of the environment is passed on")
}
