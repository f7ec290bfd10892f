package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/services/core/internal/runtime"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
)

func hookPlugin(id, coreRange string) *plugin.Plugin[struct{}] {
	p := plugin.New[struct{}](contracts.Manifest{ID: id, Name: id, Version: "1.0.0", CoreVersion: coreRange,
		Hooks: []contracts.HookDecl{{Point: contracts.HookBeforeSignIn}}})
	plugin.OnHook(p, contracts.HookBeforeSignIn, func(context.Context, *plugin.Context[struct{}], contracts.SignInContext) plugin.Decision {
		return plugin.Continue()
	})
	return p
}

// TestReadPluginRegistryReadsWhatTheRuntimeWrites runs the core's real
// plugin runtime and real SDK plugins, and reads the registry bucket back
// as `authbus plugin list` does.
func TestReadPluginRegistryReadsWhatTheRuntimeWrites(t *testing.T) {
	srv, nc := bustest.RunJetStream(t, bustest.InProcess())
	js := bustest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt, err := runtime.New(runtime.Options{Conn: nc, JetStream: js, Operator: operator.Dev(), Logger: slog.New(slog.DiscardHandler),
		Registry: runtime.RegistryOptions{HeartbeatInterval: 100 * time.Millisecond, PeerPingTimeout: 100 * time.Millisecond}})
	require.NoError(t, err)
	require.NoError(t, rt.Start(ctx))
	t.Cleanup(func() { _ = rt.Stop(context.Background()) })

	// run starts p and returns a function waiting for Run's error.
	run := func(p *plugin.Plugin[struct{}]) func() error {
		pc := bustest.Connect(t, srv, bustest.InProcess(), bustest.ConnectOptions(nats.CustomInboxPrefix("_INBOX_"+p.ID())))
		done := make(chan struct{})
		var runErr error
		pctx, stop := context.WithCancel(context.Background())
		go func() {
			defer close(done)
			runErr = p.Run(pctx, plugin.WithConn(pc), plugin.WithLogger(slog.New(slog.DiscardHandler)),
				plugin.WithSettings(plugin.Settings{Bus: bus.Config{RequestTimeout: 5 * time.Second}, RegisterBackoffMax: 100 * time.Millisecond}))
		}()
		t.Cleanup(func() {
			stop()
			<-done
		})
		return func() error {
			<-done
			return runErr
		}
	}
	run(hookPlugin("greeter", "^0.1.0"))
	refused := run(hookPlugin("from-the-future", "^9.0.0"))
	var re *plugin.RefusedError
	require.ErrorAs(t, refused(), &re)

	kv, err := js.KeyValue(ctx, PluginRegistryBucket(""))
	require.NoError(t, err)
	var recs []PluginRecord
	bustest.CheckFor(t, 15*time.Second, 10*time.Millisecond, func() error {
		if recs, err = ReadPluginRegistry(ctx, kv); err != nil {
			return err
		}
		if len(recs) != 2 || recs[1].State != "active" || len(recs[1].Instances) != 1 {
			return fmt.Errorf("registry: %+v", recs)
		}
		return nil
	})
	require.Equal(t, "from-the-future", recs[0].ID, "sorted by id")
	require.Equal(t, PluginState("refused"), recs[0].State)
	require.Len(t, recs[0].Reasons, 1)
	require.Equal(t, "coreVersion", recs[0].Reasons[0].Field)
	greeter := recs[1]
	require.Equal(t, "greeter", greeter.ID)
	require.Equal(t, "1.0.0", greeter.Version)
	require.Equal(t, plugin.SDKVersion, greeter.Instances[0].SDK)
	require.WithinDuration(t, time.Now(), greeter.LastHeartbeat, 10*time.Second)

	// A record this core cannot read is shown, not hidden.
	_, err = kv.Put(ctx, "mangled", []byte("{not json"))
	require.NoError(t, err)
	recs, err = ReadPluginRegistry(ctx, kv)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	require.Equal(t, "mangled", recs[2].ID)
	require.Contains(t, recs[2].Reasons[0].Message, "does not decode")
}

func TestAdmitPlugin(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plugins.yaml")
	require.NoError(t, os.WriteFile(file, []byte("plugins:\n  notes: {permissions: [user:read]}\n"), 0o600))
	notes := contracts.Manifest{ID: "notes", Name: "Notes", Version: "1.0.0", CoreVersion: "^0.1.0",
		Permissions:  []contracts.Permission{"user:read", "email:send"},
		Dependencies: contracts.Dependencies{Required: []contracts.DependencyRef{{ID: "audit", Version: "^1.0.0"}}}}
	audit := contracts.Manifest{ID: "audit", Name: "Audit", Version: "1.4.0", CoreVersion: "^0.1.0"}
	oldAudit := audit
	oldAudit.Version = "0.9.0"

	tests := []struct {
		name    string
		opts    PluginAdmitOptions
		source  string
		fields  []string
		granted []contracts.Permission
	}{
		{name: "dev defaults, dependency present", opts: PluginAdmitOptions{Peers: []contracts.Manifest{audit}},
			source: "authbus dev defaults", granted: []contracts.Permission{"user:read", "email:send"}},
		{name: "dependency missing", opts: PluginAdmitOptions{}, fields: []string{"dependencies.required[0]"}},
		{name: "dependency too old", opts: PluginAdmitOptions{Peers: []contracts.Manifest{oldAudit}}, fields: []string{"dependencies.required[0]"}},
		{name: "another core", opts: PluginAdmitOptions{CoreVersion: "1.0.0", Peers: []contracts.Manifest{audit}}, fields: []string{"coreVersion"}},
		{name: "operator file", opts: PluginAdmitOptions{PluginsFile: file, Peers: []contracts.Manifest{audit}}, source: file,
			fields: []string{"permissions[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adm, source, err := AdmitPlugin(notes, tt.opts)
			require.NoError(t, err)
			require.Contains(t, source, tt.source)
			fields := []string{}
			for _, p := range adm.Problems {
				fields = append(fields, p.Field)
			}
			require.ElementsMatch(t, tt.fields, fields, "%v", adm.Problems)
			if len(tt.fields) == 0 {
				require.Equal(t, tt.granted, adm.Granted)
			}
		})
	}
	_, _, err := AdmitPlugin(notes, PluginAdmitOptions{PluginsFile: filepath.Join(dir, "missing.yaml")})
	require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
}
