package plugin_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

func TestHookRequestsAreServedConcurrently(t *testing.T) {
	const n = 8
	core := plugintest.Start(t)
	var inside, most atomic.Int64
	all := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(n)
	go func() { arrived.Wait(); close(all) }()
	core.Run(t, newFixture("fixture", fixture{
		beforeSignUp: func(ctx context.Context, _ *plugin.Context[testConfig], _ contracts.SignUpContext) plugin.Decision {
			now := inside.Add(1)
			defer inside.Add(-1)
			for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
			}
			arrived.Done()
			// Each handler waits until all n are inside at once: on an
			// instance handling one request at a time, the first would wait
			// until its deadline and the test would fail.
			select {
			case <-all:
				return plugin.Continue()
			case <-ctx.Done():
				return plugin.Fail(ctx.Err())
			}
		},
	}))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			r, err := callHook(t, core, "fixture", contracts.SignUpContext{Email: "a@example.com"})
			if err == nil && r.Action != contracts.ActionContinue {
				err = errors.New("not continue")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(n), most.Load(), "all requests were inside the handler at once")
}

func TestHookWorkerPoolIsBounded(t *testing.T) {
	core := plugintest.Start(t)
	settings := core.Settings()
	settings.Workers = 2
	var inside, most atomic.Int64
	release := make(chan struct{})
	core.Run(t, newFixture("fixture", fixture{
		beforeSignUp: func(context.Context, *plugin.Context[testConfig], contracts.SignUpContext) plugin.Decision {
			now := inside.Add(1)
			defer inside.Add(-1)
			for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
			}
			<-release
			return plugin.Continue()
		},
	}), plugin.WithSettings(settings))
	var wg sync.WaitGroup
	var answered atomic.Int64
	for range 5 {
		wg.Go(func() {
			if _, err := callHook(t, core, "fixture", contracts.SignUpContext{}); err == nil {
				answered.Add(1)
			}
		})
	}
	waitFor(t, func() bool { return inside.Load() == 2 })
	close(release)
	wg.Wait()
	require.Equal(t, int64(2), most.Load(), "never more handlers at once than workers")
	require.Equal(t, int64(5), answered.Load(), "queued requests were served once a worker was free")
}

func TestHookHandlerGetsTheCallersDeadline(t *testing.T) {
	core := plugintest.Start(t)
	deadlines := make(chan time.Time, 1)
	core.Run(t, newFixture("fixture", fixture{
		beforeSignUp: func(ctx context.Context, _ *plugin.Context[testConfig], _ contracts.SignUpContext) plugin.Decision {
			dl, _ := ctx.Deadline()
			deadlines <- dl
			return plugin.Continue()
		},
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	want, _ := ctx.Deadline()
	_, err := core.CallHook(ctx, "fixture", contracts.HookBeforeSignUp, contracts.SignUpContext{})
	require.NoError(t, err)
	require.WithinDuration(t, want, <-deadlines, time.Millisecond)
}

func TestHookDecisions(t *testing.T) {
	img := "https://example.com/a.png"
	tests := []struct {
		name   string
		point  contracts.HookPoint
		decide func(in contracts.SignUpContext) plugin.Decision
		want   contracts.HookReply
		err    string // the error reply's message, for decisions the point does not allow
	}{
		{name: "continue", decide: func(contracts.SignUpContext) plugin.Decision { return plugin.Continue() },
			want: contracts.HookReply{Action: contracts.ActionContinue}},
		{name: "zero decision continues", decide: func(contracts.SignUpContext) plugin.Decision { return plugin.Decision{} },
			want: contracts.HookReply{Action: contracts.ActionContinue}},
		{name: "patch computed from the changed input", decide: func(in contracts.SignUpContext) plugin.Decision {
			in.Name = "Grace"
			in.Image = nil
			return plugin.Patch(in)
		}, want: contracts.HookReply{Action: contracts.ActionContinue, Patch: []byte(`{"image":null,"name":"Grace"}`)}},
		{name: "patch from a pointer to the changed input", decide: func(in contracts.SignUpContext) plugin.Decision {
			in.Name = "Grace"
			return plugin.Patch(&in)
		}, want: contracts.HookReply{Action: contracts.ActionContinue, Patch: []byte(`{"name":"Grace"}`)}},
		{name: "unchanged input is no patch", decide: func(in contracts.SignUpContext) plugin.Decision { return plugin.Patch(in) },
			want: contracts.HookReply{Action: contracts.ActionContinue}},
		{name: "patch document as a map", decide: func(contracts.SignUpContext) plugin.Decision {
			return plugin.Patch(map[string]any{"name": "Grace"})
		}, want: contracts.HookReply{Action: contracts.ActionContinue, Patch: []byte(`{"name":"Grace"}`)}},
		{name: "abort", decide: func(contracts.SignUpContext) plugin.Decision {
			return plugin.Abort(http.StatusForbidden, "DOMAIN_NOT_ALLOWED", "Sign-ups from this domain are closed")
		}, want: contracts.HookReply{Action: contracts.ActionAbort,
			Error: &contracts.Error{Status: 403, Code: "DOMAIN_NOT_ALLOWED", Message: "Sign-ups from this domain are closed"}}},
		{name: "patch of a field the point does not allow", decide: func(in contracts.SignUpContext) plugin.Decision {
			in.Email = "eve@evil.test"
			return plugin.Patch(in)
		}, err: "beforeSignUp may not patch email"},
		{name: "patch that is not an object", decide: func(contracts.SignUpContext) plugin.Decision { return plugin.Patch([]string{"name"}) },
			err: "patch must be a JSON object"},
		{name: "abort with a 2xx status", decide: func(contracts.SignUpContext) plugin.Decision { return plugin.Abort(200, "OK", "fine") },
			err: "abort status 200 is not 4xx or 5xx"},
		{name: "abort on a parallel point", point: contracts.HookAfterSignUp,
			decide: func(contracts.SignUpContext) plugin.Decision { return plugin.Abort(403, "NO", "no") },
			err:    "afterSignUp runs in parallel and cannot abort"},
		{name: "fail", decide: func(contracts.SignUpContext) plugin.Decision { return plugin.Fail(errors.New("db down")) },
			err: "db down"},
		{name: "panic", decide: func(contracts.SignUpContext) plugin.Decision { panic("boom") },
			err: "panicked: boom"},
	}
	core := plugintest.Start(t)
	var decide atomic.Pointer[func(contracts.SignUpContext) plugin.Decision]
	run := func(_ context.Context, _ *plugin.Context[testConfig], in contracts.SignUpContext) plugin.Decision {
		return (*decide.Load())(in)
	}
	core.Run(t, newFixture("fixture", fixture{
		beforeSignUp: run,
		afterSignUp: func(ctx context.Context, c *plugin.Context[testConfig], in contracts.SessionEventContext) plugin.Decision {
			return run(ctx, c, contracts.SignUpContext{})
		},
	}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decide.Store(&tt.decide)
			point := tt.point
			if point == "" {
				point = contracts.HookBeforeSignUp
			}
			reply, err := core.CallHook(context.Background(), "fixture", point,
				contracts.SignUpContext{Email: "ada@example.com", Name: "Ada", Image: &img})
			if tt.err != "" {
				var ce *contracts.Error
				require.ErrorAs(t, err, &ce)
				require.Equal(t, contracts.CodePluginError, ce.Code)
				require.Contains(t, ce.Message, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want.Action, reply.Action)
			require.Equal(t, tt.want.Error, reply.Error)
			if tt.want.Patch == nil {
				require.Empty(t, reply.Patch)
			} else {
				require.JSONEq(t, string(tt.want.Patch), string(reply.Patch))
			}
		})
	}
}

func TestHookPatchAppliedByTheCoresDispatcher(t *testing.T) {
	core := plugintest.Start(t)
	core.SetConfig("fixture", map[string]string{"greeting": "Dr."})
	core.Run(t, newFixture("fixture", fixture{
		beforeSignUp: func(_ context.Context, c *plugin.Context[testConfig], in contracts.SignUpContext) plugin.Decision {
			in.Name = c.Config.Greeting + " " + in.Name
			return plugin.Patch(in)
		},
	}))
	in := contracts.SignUpContext{Email: "ada@example.com", Name: "Ada"}
	require.NoError(t, core.Hooks().Before(context.Background(), contracts.HookBeforeSignUp, &in))
	require.Equal(t, "Dr. Ada", in.Name)
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	bustest.CheckFor(t, 10*time.Second, 2*time.Millisecond, func() error {
		if !cond() {
			return errors.New("condition not met")
		}
		return nil
	})
}
