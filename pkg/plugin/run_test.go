package plugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

func TestRegistrationRetriesUntilTheCoreAppears(t *testing.T) {
	core := plugintest.Start(t, plugintest.Paused())
	i := core.Launch(t, newFixture("fixture", fixture{}))
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if len(i.Logs().WithMessage(t, "waiting for the core to accept the registration")) == 0 {
			return errors.New("no registration attempt yet")
		}
		return nil
	})
	require.Zero(t, core.Registrations("fixture"))
	core.Resume()
	core.WaitServing(t, i)
	require.Equal(t, 1, core.Registrations("fixture"))
	_, err := callHook(t, core, "fixture", contracts.SignUpContext{})
	require.NoError(t, err)
}

func TestPermanentRefusalListsEveryReason(t *testing.T) {
	core := plugintest.Start(t)
	reasons := []contracts.Problem{
		{Field: "permissions[1]", Message: `"email:send" is not granted by the operator`},
		{Field: "dependencies.required[0]", Message: `plugin "billing" is not installed`},
	}
	core.Refuse("fixture", plugintest.Refusal{Reasons: reasons})
	i := core.Launch(t, newFixture("fixture", fixture{}))
	<-i.Done()
	var refused *plugin.RefusedError
	require.ErrorAs(t, i.Err(), &refused)
	require.Equal(t, reasons, refused.Reasons)
	for _, r := range reasons {
		require.ErrorContains(t, i.Err(), r.String())
	}
}

func TestRefusalByTheCoresChecks(t *testing.T) {
	tests := []struct {
		name   string
		config any
		opts   []plugintest.Option
		reason string
	}{
		{name: "config against the schema", config: map[string]any{"greeting": ""}, reason: "config: does not match configSchema"},
		{name: "config with an unknown field", config: map[string]any{"colour": "red"}, reason: "config: does not match configSchema"},
		{name: "core version outside coreVersion", opts: []plugintest.Option{plugintest.WithCoreVersion("1.0.0")},
			reason: `coreVersion: core 1.0.0 is outside "^0.1.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core := plugintest.Start(t, tt.opts...)
			if tt.config != nil {
				core.SetConfig("fixture", tt.config)
			}
			i := core.Launch(t, newFixture("fixture", fixture{}))
			<-i.Done()
			var refused *plugin.RefusedError
			require.ErrorAs(t, i.Err(), &refused)
			require.ErrorContains(t, i.Err(), tt.reason)
		})
	}
}

func TestRetryableRefusalIsRetried(t *testing.T) {
	core := plugintest.Start(t)
	core.Refuse("fixture", plugintest.Refusal{Retryable: true,
		Reasons: []contracts.Problem{{Field: "dependencies.required[0]", Message: `"billing" is not active yet`}}})
	i := core.Launch(t, newFixture("fixture", fixture{}))
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if len(i.Logs().WithMessage(t, "the core asks to retry the registration later")) == 0 {
			return errors.New("not refused yet")
		}
		return nil
	})
	core.Accept("fixture")
	core.WaitServing(t, i)
}

func TestConfigIsDecodedAndValidated(t *testing.T) {
	core := plugintest.Start(t)
	got := make(chan string, 1)
	core.SetConfig("fixture", map[string]string{"greeting": "Welcome"})
	core.Run(t, newFixture("fixture", fixture{
		greet: func(_ context.Context, c *plugin.Context[testConfig], _ greetRequest) (greetReply, error) {
			got <- c.Config.Greeting
			return greetReply{}, nil
		},
	}))
	require.NoError(t, core.Invoke(context.Background(), "fixture", "greet", greetRequest{}, nil))
	require.Equal(t, "Welcome", <-got, "operator config over the manifest's default")

	// Cfg.Validate runs too: a config the schema lets through but the plugin refuses.
	loose := fixtureManifest("loose")
	loose.ConfigSchema = nil
	p := plugin.New[testConfig](loose)
	register(p)
	core.SetConfig("loose", map[string]string{"greeting": "   "})
	i := core.Launch(t, p)
	<-i.Done()
	require.ErrorContains(t, i.Err(), "effective config: validate: greeting must not be blank")

	// A config field the plugin's type lacks is an error, not silently dropped.
	strict := fixtureManifest("strict")
	strict.ConfigSchema = nil
	q := plugin.New[testConfig](strict)
	register(q)
	core.SetConfig("strict", map[string]string{"greting": "typo"})
	j := core.Launch(t, q)
	<-j.Done()
	require.ErrorContains(t, j.Err(), `unknown field "greting"`)
}

// register adds the fixture's handlers (defaults) to p.
func register(p *plugin.Plugin[testConfig]) {
	plugin.OnHook(p, contracts.HookBeforeSignUp, func(context.Context, *plugin.Context[testConfig], contracts.SignUpContext) plugin.Decision {
		return plugin.Continue()
	})
	plugin.OnHook(p, contracts.HookAfterSignUp, func(context.Context, *plugin.Context[testConfig], contracts.SessionEventContext) plugin.Decision {
		return plugin.Continue()
	})
	plugin.OnEvent(p, "user.*", func(context.Context, *plugin.Context[testConfig], plugin.Event[json.RawMessage]) error { return nil })
	plugin.OnInvoke(p, "greet", func(context.Context, *plugin.Context[testConfig], greetRequest) (greetReply, error) {
		return greetReply{}, nil
	})
	for _, r := range fixtureManifest(p.ID()).Routes {
		p.Route(r.Method, r.Path, http.NotFoundHandler())
	}
}

func TestHeartbeatUnknownRegistersAgain(t *testing.T) {
	core := plugintest.Start(t)
	core.Run(t, newFixture("fixture", fixture{}))
	require.Equal(t, 1, core.Registrations("fixture"))
	core.Forget("fixture")
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := core.Registrations("fixture"); n != 2 {
			return fmt.Errorf("%d registrations", n)
		}
		return nil
	})
	before := core.Heartbeats("fixture")
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if core.Heartbeats("fixture") <= before {
			return errors.New("no heartbeat answered ok since registering again")
		}
		return nil
	})
	_, err := callHook(t, core, "fixture", contracts.SignUpContext{})
	require.NoError(t, err, "still serving")
}

func TestControlStopEndsRunCleanly(t *testing.T) {
	core := plugintest.Start(t)
	i := core.Run(t, newFixture("fixture", fixture{}))
	core.SendStop("fixture", "core shutting down")
	select {
	case <-i.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Control stop")
	}
	require.NoError(t, i.Err())
	require.NotEmpty(t, i.Logs().WithMessage(t, "stopping: the core asked every instance to stop"))
}

func TestReplacedInstanceStops(t *testing.T) {
	core := plugintest.Start(t)
	i := core.Run(t, newFixture("fixture", fixture{}))
	core.Replace("fixture")
	<-i.Done()
	require.ErrorIs(t, i.Err(), plugin.ErrReplaced)
}

// lifecycle records its calls and fails where told.
type lifecycle struct {
	calls            seen
	initErr, startEr error
	config           string
}

func (l *lifecycle) Init(_ context.Context, c *plugin.Context[testConfig]) error {
	l.calls.add("init")
	l.config = c.Config.Greeting
	return l.initErr
}

func (l *lifecycle) Start(ctx context.Context, _ *plugin.Context[testConfig]) error {
	l.calls.add("start")
	go func() { <-ctx.Done(); l.calls.add("start ctx canceled") }()
	return l.startEr
}

func (l *lifecycle) Stop(context.Context) error {
	l.calls.add("stop")
	return nil
}

var (
	_ plugin.Initializer[testConfig] = (*lifecycle)(nil)
	_ plugin.Starter[testConfig]     = (*lifecycle)(nil)
	_ plugin.Stopper                 = (*lifecycle)(nil)
)

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name  string
		l     *lifecycle
		err   string
		calls []string
	}{
		{name: "init, start, stop", l: &lifecycle{}, calls: []string{"init", "start", "start ctx canceled", "stop"}},
		{name: "stop runs when start failed", l: &lifecycle{startEr: errors.New("no disk")}, err: "start: no disk",
			calls: []string{"init", "start", "start ctx canceled", "stop"}},
		{name: "stop runs when init failed", l: &lifecycle{initErr: errors.New("no database")}, err: "init: no database",
			calls: []string{"init", "stop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core := plugintest.Start(t)
			i := core.Launch(t, newFixture("fixture", fixture{}, plugin.WithLifecycle(tt.l)))
			if tt.err == "" {
				core.WaitServing(t, i)
				require.NoError(t, i.Stop())
			} else {
				<-i.Done()
				require.ErrorContains(t, i.Err(), tt.err)
			}
			bustest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
				if len(tt.l.calls.list()) < len(tt.calls) {
					return fmt.Errorf("calls: %v", tt.l.calls.list())
				}
				return nil
			})
			require.Equal(t, tt.calls, tt.l.calls.list())
			require.Equal(t, "hello", tt.l.config, "Init sees the effective config")
		})
	}
}

func TestOpsServer(t *testing.T) {
	core := plugintest.Start(t)
	settings := core.Settings()
	settings.OpsAddr = "127.0.0.1:0"
	i := core.Run(t, newFixture("fixture", fixture{}), plugin.WithSettings(settings))
	entries := i.Logs().WithMessage(t, "ops server listening")
	require.Len(t, entries, 1)
	base := "http://" + entries[0]["addr"].(string)
	_, err := callHook(t, core, "fixture", contracts.SignUpContext{})
	require.NoError(t, err)

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get("/healthz")
	require.Equal(t, http.StatusOK, code, body)
	code, body = get("/readyz")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"registered"`)
	code, body = get("/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `authbus_plugin_requests_total{kind="hook",name="beforeSignUp",outcome="ok"} 1`)
	require.Contains(t, body, "authbus_plugin_inflight 0")
}

func TestManifestChecks(t *testing.T) {
	tests := []struct {
		name  string
		build func() *plugin.Plugin[testConfig]
		errs  []string
	}{
		{name: "consistent", build: func() *plugin.Plugin[testConfig] { return newFixture("fixture", fixture{}) }},
		{name: "invalid manifest", build: func() *plugin.Plugin[testConfig] {
			m := fixtureManifest("Bad_ID")
			m.Version = "one"
			p := plugin.New[testConfig](m)
			register(p)
			return p
		}, errs: []string{`plugin id "Bad_ID"`, "version"}},
		{name: "declared but not handled", build: func() *plugin.Plugin[testConfig] {
			return plugin.New[testConfig](fixtureManifest("fixture"))
		}, errs: []string{
			`hook beforeSignUp is declared but has no handler`,
			`route GET /hello is declared but has no handler`,
			`invoke method "greet" is declared but has no handler`,
			`events "user.*" delivers user.created, which no event handler matches`,
		}},
		{name: "handled but not declared", build: func() *plugin.Plugin[testConfig] {
			m := fixtureManifest("fixture")
			m.Hooks, m.Routes, m.Invoke = nil, nil, nil
			m.Events = []string{"user.created"}
			p := plugin.New[testConfig](m)
			register(p)
			plugin.OnEvent(p, "auth.>", func(context.Context, *plugin.Context[testConfig], plugin.Event[json.RawMessage]) error { return nil })
			return p
		}, errs: []string{
			`hook beforeSignUp has a handler but is not declared`,
			`route POST /echo has a handler but is not declared`,
			`invoke method "greet" has a handler but is not declared`,
			`event handler "auth.>" receives nothing`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.build()
			_, err := p.Manifest()
			if len(tt.errs) == 0 {
				require.NoError(t, err)
				return
			}
			for _, want := range tt.errs {
				require.ErrorContains(t, err, want)
			}
			require.ErrorContains(t, p.Run(context.Background(), plugin.WithSettings(plugin.Settings{})), tt.errs[0],
				"Run refuses to start with the same errors")
		})
	}
}

func TestRegisteringHandlersAfterRunPanics(t *testing.T) {
	core := plugintest.Start(t)
	p := newFixture("fixture", fixture{})
	core.Run(t, p)
	require.Panics(t, func() {
		plugin.OnInvoke(p, "late", func(context.Context, *plugin.Context[testConfig], struct{}) (struct{}, error) {
			return struct{}{}, nil
		})
	})
	require.Panics(t, func() {
		plugin.OnHook(newFixture("x", fixture{}), "beforeLunch", func(context.Context, *plugin.Context[testConfig], struct{}) plugin.Decision { return plugin.Continue() })
	})
	require.Panics(t, func() { newFixture("x", fixture{}).Route("TRACE", "/x", http.NotFoundHandler()) })
}

func TestMainPrintsManifest(t *testing.T) {
	p := newFixture("fixture", fixture{})
	want, err := p.ManifestJSON()
	require.NoError(t, err)
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{name: "flag", args: []string{"--print-manifest"}},
		{name: "environment", env: map[string]string{"AUTHBUS_PLUGIN_PRINT_MANIFEST": "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := plugin.MainCode(context.Background(), p, tt.args, func(k string) string { return tt.env[k] }, &stdout, &stderr)
			require.Equal(t, 0, code, stderr.String())
			require.Equal(t, string(want), stdout.String())
			m, err := contracts.ParseManifest(stdout.Bytes())
			require.NoError(t, err)
			require.Equal(t, "fixture", m.ID)
		})
	}
	var stdout, stderr bytes.Buffer
	bad := plugin.New[testConfig](fixtureManifest("fixture"))
	require.Equal(t, 1, plugin.MainCode(context.Background(), bad, []string{"--print-manifest"}, func(string) string { return "" }, &stdout, &stderr))
	require.Contains(t, stderr.String(), "has no handler")
}

func TestSettingsFromEnvironment(t *testing.T) {
	t.Setenv("AUTHBUS_NATS_URL", "nats://nats.internal:4222")
	t.Setenv("AUTHBUS_SUBJECT_PREFIX", "acme")
	t.Setenv("AUTHBUS_PLUGIN_WORKERS", "7")
	t.Setenv("AUTHBUS_PLUGIN_NAK_BACKOFF", "10ms,1s")
	s, err := plugin.LoadSettings()
	require.NoError(t, err)
	require.Equal(t, "nats://nats.internal:4222", s.Bus.URL)
	require.Equal(t, "acme", s.Bus.SubjectPrefix)
	require.Equal(t, 7, s.Workers)
	require.Equal(t, []time.Duration{10 * time.Millisecond, time.Second}, s.NakBackoff)
	require.Equal(t, ":9090", s.OpsAddr)
	require.Equal(t, plugin.DefaultDrainTimeout, s.DrainTimeout)

	t.Setenv("AUTHBUS_PLUGIN_WORKERS", "-1")
	t.Setenv("AUTHBUS_LOG_LEVEL", "loud")
	_, err = plugin.LoadSettings()
	require.ErrorContains(t, err, "PLUGIN_WORKERS -1 is negative")
	require.ErrorContains(t, err, `log level "loud"`)
	require.True(t, strings.Contains(err.Error(), "\n"), "every problem at once")
}
