package plugintest_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

// hookPlugin serves beforeSignIn with the given order and answers continue.
func hookPlugin(id string, order int) *plugin.Plugin[struct{}] {
	p := plugin.New[struct{}](contracts.Manifest{ID: id, Name: id, Version: "1.0.0", CoreVersion: "^0.1.0",
		Hooks: []contracts.HookDecl{{Point: contracts.HookBeforeSignIn, Order: order, Timeout: contracts.Duration(300 * time.Millisecond),
			FailurePolicy: contracts.FailOpen}}})
	plugin.OnHook(p, contracts.HookBeforeSignIn, func(context.Context, *plugin.Context[struct{}], contracts.SignInContext) plugin.Decision {
		return plugin.Continue()
	})
	return p
}

func TestHookPlanFollowsRegistrations(t *testing.T) {
	core := plugintest.Start(t, plugintest.WithSubjectPrefix("acme"))
	plans := make(chan contracts.HookPlan, 10)
	sub, err := core.Conn().Subscribe(bus.HooksPlanSubject("acme"), func(m *nats.Msg) {
		var p contracts.HookPlan
		if json.Unmarshal(m.Data, &p) == nil {
			plans <- p
		}
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, core.Conn().Flush())

	core.Run(t, hookPlugin("zeta", 0))
	core.Run(t, hookPlugin("alpha", 0))
	core.Run(t, hookPlugin("late", -5))
	var last contracts.HookPlan
	for range 3 {
		last = <-plans
	}
	want := []contracts.HookTarget{
		{Plugin: "late", Timeout: contracts.Duration(300 * time.Millisecond), FailurePolicy: contracts.FailOpen},
		{Plugin: "alpha", Timeout: contracts.Duration(300 * time.Millisecond), FailurePolicy: contracts.FailOpen},
		{Plugin: "zeta", Timeout: contracts.Duration(300 * time.Millisecond), FailurePolicy: contracts.FailOpen},
	}
	require.Equal(t, want, last.Points[contracts.HookBeforeSignIn], "order, then plugin id")
	require.Equal(t, uint64(3), last.Revision)
	require.Equal(t, last, *core.Plan())
	require.NoError(t, core.Hooks().Before(context.Background(), contracts.HookBeforeSignIn, &contracts.SignInContext{}))
	require.Len(t, core.Hooks().Stats(), 3)
}

func TestEffectiveConfig(t *testing.T) {
	manifest := func() contracts.Manifest {
		return contracts.Manifest{ID: "cfg", Name: "cfg", Version: "1.0.0", CoreVersion: "^0.1.0",
			ConfigSchema: json.RawMessage(`{"type":"object","properties":{"limit":{"type":"integer","minimum":1},
				"mode":{"enum":["fast","safe"]}},"additionalProperties":false}`),
			DefaultConfig: json.RawMessage(`{"limit":5,"mode":"safe"}`),
			Invoke:        []string{"config"}}
	}
	type cfg struct {
		Limit int    `json:"limit"`
		Mode  string `json:"mode,omitempty"`
	}
	tests := []struct {
		name     string
		operator any
		want     cfg
		refusal  string
	}{
		{name: "defaults", want: cfg{Limit: 5, Mode: "safe"}},
		{name: "operator over defaults", operator: map[string]any{"limit": 9}, want: cfg{Limit: 9, Mode: "safe"}},
		{name: "operator removes a default", operator: map[string]any{"mode": nil}, want: cfg{Limit: 5}},
		{name: "schema violation", operator: map[string]any{"limit": 0}, refusal: "minimum"},
		{name: "unknown setting", operator: map[string]any{"colour": "red"}, refusal: "additional properties 'colour' not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core := plugintest.Start(t)
			if tt.operator != nil {
				core.SetConfig("cfg", tt.operator)
			}
			p := plugin.New[cfg](manifest())
			plugin.OnInvoke(p, "config", func(_ context.Context, c *plugin.Context[cfg], _ struct{}) (cfg, error) { return c.Config, nil })
			i := core.Launch(t, p)
			if tt.refusal != "" {
				<-i.Done()
				var refused *plugin.RefusedError
				require.ErrorAs(t, i.Err(), &refused)
				require.Equal(t, "config", refused.Reasons[0].Field)
				require.Contains(t, refused.Reasons[0].Message, tt.refusal)
				return
			}
			core.WaitServing(t, i)
			var got cfg
			require.NoError(t, core.Invoke(context.Background(), "cfg", "config", struct{}{}, &got))
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCoreServicesNeedARegisteredCaller(t *testing.T) {
	core := plugintest.Start(t)
	svc, method := contracts.CoreUsersGet.Split()
	msg, err := bus.Request(context.Background(), core.Conn(), bus.CoreSubject("", "stranger", svc, method), []byte(`{"id":"u1"}`), nil)
	require.Nil(t, msg)
	var se *bus.ServiceError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 403, se.Status())

	_, err = bus.Request(context.Background(), core.Conn(), bus.CoreSubject("", "stranger", "users", "delete"), []byte(`{}`), nil)
	require.ErrorAs(t, err, &se)
	require.Equal(t, 404, se.Status(), "unknown methods are refused as such")
}

func TestPausedCoreAnswersNothing(t *testing.T) {
	core := plugintest.Start(t, plugintest.Paused())
	_, err := bus.Request(context.Background(), core.Conn(), bus.RegisterSubject("", "x"), []byte(`{}`), nil)
	require.ErrorIs(t, err, bus.ErrNoResponders)
	core.Resume()
	bustest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		_, err := bus.Request(context.Background(), core.Conn(), bus.RegisterSubject("", "x"), []byte(`{}`), nil)
		if errors.Is(err, bus.ErrNoResponders) {
			return err
		}
		return nil
	})
}
