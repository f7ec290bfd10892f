package hooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/hooks"
	"github.com/authbus/authbus/pkg/telemetry/telemetrytest"
)

// fakePlugin answers one hook point as plugin id would, with fn deciding
// each reply; a nil reply from fn answers nothing (the caller times out).
type fakePlugin struct {
	calls atomic.Int64
}

// answer is what a fake plugin replies: a decision, or raw bytes, or an error reply.
type answer struct {
	reply   *contracts.HookReply
	raw     []byte
	errCode string
}

func serveHook(t *testing.T, nc *nats.Conn, point contracts.HookPoint, id string, fn func(req contracts.HookRequest, h nats.Header) *answer) *fakePlugin {
	t.Helper()
	fp := &fakePlugin{}
	sub, err := nc.QueueSubscribe(bus.HookSubject("", point, id), id, func(m *nats.Msg) {
		fp.calls.Add(1)
		var req contracts.HookRequest
		if err := json.Unmarshal(m.Data, &req); err != nil {
			t.Errorf("hook request does not decode: %v", err)
			return
		}
		a := fn(req, m.Header)
		switch {
		case a == nil:
		case a.errCode != "":
			reply := nats.NewMsg(m.Reply)
			reply.Header.Set("Nats-Service-Error", "plugin broke")
			reply.Header.Set("Nats-Service-Error-Code", a.errCode)
			_ = m.RespondMsg(reply)
		case a.raw != nil:
			_ = m.Respond(a.raw)
		default:
			b, _ := json.Marshal(a.reply)
			_ = m.Respond(b)
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())
	return fp
}

func continueWith(patch string) *answer {
	r := &contracts.HookReply{Action: contracts.ActionContinue}
	if patch != "" {
		r.Patch = json.RawMessage(patch)
	}
	return &answer{reply: r}
}

func target(id string, timeout time.Duration, policy contracts.FailurePolicy) contracts.HookTarget {
	return contracts.HookTarget{Plugin: id, Timeout: contracts.Duration(timeout), FailurePolicy: policy}
}

// setup returns a connection for fake plugins and a dispatcher over the plan.
func setup(t *testing.T, points map[contracts.HookPoint][]contracts.HookTarget) (*nats.Conn, *hooks.Dispatcher, *telemetrytest.Logs, *prometheus.Registry) {
	t.Helper()
	srv, nc := bustest.RunJetStream(t, bustest.InProcess())
	caller := bustest.Connect(t, srv, bustest.InProcess())
	logger, logs := telemetrytest.NewLogger(t)
	reg := prometheus.NewRegistry()
	d, err := hooks.New(hooks.Config{Conn: caller, Plan: hooks.StaticPlan(&contracts.HookPlan{Revision: 1, Points: points}),
		Logger: logger, Metrics: reg})
	require.NoError(t, err)
	return nc, d, logs, reg
}

func TestBeforeCallsPluginsInOrderAndChainsPatches(t *testing.T) {
	nc, d, _, _ := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
		contracts.HookBeforeSignUp: {target("a", time.Second, ""), target("b", time.Second, ""), target("c", time.Second, "")},
	})
	var mu sync.Mutex
	var order []string
	for _, id := range []string{"a", "b", "c"} {
		serveHook(t, nc, contracts.HookBeforeSignUp, id, func(req contracts.HookRequest, _ nats.Header) *answer {
			var c contracts.SignUpContext
			require.NoError(t, json.Unmarshal(req.Context, &c))
			mu.Lock()
			order = append(order, id)
			mu.Unlock()
			p, _ := json.Marshal(map[string]string{"name": c.Name + "-" + id})
			return continueWith(string(p))
		})
	}
	c := contracts.SignUpContext{Email: "ada@example.com", Name: "Ada"}
	require.NoError(t, d.Before(context.Background(), contracts.HookBeforeSignUp, &c))
	require.Equal(t, []string{"a", "b", "c"}, order)
	require.Equal(t, "Ada-a-b-c", c.Name, "each plugin sees the patches of those before it")
	require.Equal(t, "ada@example.com", c.Email)
}

func TestBeforeAbortIsPassedThroughAndStopsTheChain(t *testing.T) {
	nc, d, _, _ := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
		contracts.HookBeforeSignIn: {target("a", time.Second, ""), target("limiter", time.Second, ""), target("c", time.Second, "")},
	})
	serveHook(t, nc, contracts.HookBeforeSignIn, "a", func(contracts.HookRequest, nats.Header) *answer { return continueWith("") })
	serveHook(t, nc, contracts.HookBeforeSignIn, "limiter", func(contracts.HookRequest, nats.Header) *answer {
		return &answer{reply: &contracts.HookReply{Action: contracts.ActionAbort,
			Error: &contracts.Error{Status: 429, Code: contracts.CodeRateLimited, Message: "slow down"}}}
	})
	last := serveHook(t, nc, contracts.HookBeforeSignIn, "c", func(contracts.HookRequest, nats.Header) *answer { return continueWith("") })

	err := d.Before(context.Background(), contracts.HookBeforeSignIn, &contracts.SignInContext{Email: "ada@example.com"})
	var ce *contracts.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, contracts.Error{Status: 429, Code: contracts.CodeRateLimited, Message: "slow down"}, *ce)
	require.Zero(t, last.calls.Load(), "plugins after an abort are not called")
	stats := d.Stats()
	require.Len(t, stats, 2)
	require.Equal(t, uint64(1), stats[1].Aborts)
}

func TestBeforePatches(t *testing.T) {
	img := "https://example.com/a.png"
	tests := []struct {
		name     string
		patch    string
		want     contracts.SignUpContext
		refused  bool
		logEntry string
	}{
		{name: "allowed field", patch: `{"name":"Grace"}`,
			want: contracts.SignUpContext{Email: "ada@example.com", Name: "Grace", Image: &img}},
		{name: "null deletes", patch: `{"image":null}`,
			want: contracts.SignUpContext{Email: "ada@example.com", Name: "Ada"}},
		{name: "field outside the allowlist", patch: `{"name":"Grace","email":"eve@evil.test"}`, refused: true,
			want: contracts.SignUpContext{Email: "ada@example.com", Name: "Ada", Image: &img}},
		{name: "value of the wrong type", patch: `{"name":5}`, refused: true,
			want: contracts.SignUpContext{Email: "ada@example.com", Name: "Ada", Image: &img}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, d, logs, reg := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
				contracts.HookBeforeSignUp: {target("p", time.Second, contracts.FailClosed), target("next", time.Second, "")},
			})
			serveHook(t, nc, contracts.HookBeforeSignUp, "p", func(contracts.HookRequest, nats.Header) *answer { return continueWith(tt.patch) })
			next := serveHook(t, nc, contracts.HookBeforeSignUp, "next", func(contracts.HookRequest, nats.Header) *answer { return continueWith("") })
			c := contracts.SignUpContext{Email: "ada@example.com", Name: "Ada", Image: &img}
			require.NoError(t, d.Before(context.Background(), contracts.HookBeforeSignUp, &c), "a refused patch never fails the flow")
			require.Equal(t, tt.want, c)
			require.Equal(t, int64(1), next.calls.Load(), "the flow goes on")
			refusals := sumMetric(t, reg, "authbus_hook_patches_refused_total")
			if tt.refused {
				require.Equal(t, 1.0, refusals)
				require.NotEmpty(t, logs.WithMessage(t, "hook patch refused"))
				stats := d.Stats()
				require.Equal(t, "p", stats[1].Plugin, "sorted by point, then plugin")
				require.Equal(t, uint64(1), stats[1].PatchesRefused)
			} else {
				require.Zero(t, refusals)
			}
		})
	}
}

// sumMetric adds up a counter family's values, or counts a histogram family's observations.
func sumMetric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				sum += float64(h.GetSampleCount())
				continue
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// series counts the series of a metric family.
func series(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

func TestBeforeFailurePolicies(t *testing.T) {
	silent := func(contracts.HookRequest, nats.Header) *answer { return nil }
	tests := []struct {
		name    string
		serve   func(contracts.HookRequest, nats.Header) *answer // nil: nobody serves the point
		policy  contracts.FailurePolicy
		outcome func(s hooks.TargetStats) uint64
	}{
		{name: "timeout, closed", serve: silent, policy: contracts.FailClosed, outcome: func(s hooks.TargetStats) uint64 { return s.Timeouts }},
		{name: "timeout, open", serve: silent, policy: contracts.FailOpen, outcome: func(s hooks.TargetStats) uint64 { return s.Timeouts }},
		{name: "no responders, closed", policy: contracts.FailClosed, outcome: func(s hooks.TargetStats) uint64 { return s.NoResponders }},
		{name: "no responders, open", policy: contracts.FailOpen, outcome: func(s hooks.TargetStats) uint64 { return s.NoResponders }},
		{name: "error reply, closed", policy: contracts.FailClosed,
			serve:   func(contracts.HookRequest, nats.Header) *answer { return &answer{errCode: "500"} },
			outcome: func(s hooks.TargetStats) uint64 { return s.Errors }},
		{name: "error reply, open", policy: contracts.FailOpen,
			serve:   func(contracts.HookRequest, nats.Header) *answer { return &answer{errCode: "500"} },
			outcome: func(s hooks.TargetStats) uint64 { return s.Errors }},
		{name: "abort without an error, closed", policy: contracts.FailClosed,
			serve: func(contracts.HookRequest, nats.Header) *answer {
				return &answer{reply: &contracts.HookReply{Action: contracts.ActionAbort}}
			},
			outcome: func(s hooks.TargetStats) uint64 { return s.Errors }},
		{name: "garbage reply, open", policy: contracts.FailOpen,
			serve:   func(contracts.HookRequest, nats.Header) *answer { return &answer{raw: []byte("not json")} },
			outcome: func(s hooks.TargetStats) uint64 { return s.Errors }},
		{name: "default policy is closed", policy: "",
			outcome: func(s hooks.TargetStats) uint64 { return s.NoResponders }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, d, _, _ := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
				contracts.HookBeforeSignUp: {target("flaky", 50*time.Millisecond, tt.policy), target("next", time.Second, "")},
			})
			if tt.serve != nil {
				serveHook(t, nc, contracts.HookBeforeSignUp, "flaky", tt.serve)
			}
			next := serveHook(t, nc, contracts.HookBeforeSignUp, "next", func(contracts.HookRequest, nats.Header) *answer {
				return continueWith(`{"name":"patched"}`)
			})
			c := contracts.SignUpContext{Email: "ada@example.com", Name: "Ada"}
			err := d.Before(context.Background(), contracts.HookBeforeSignUp, &c)
			if tt.policy == contracts.FailOpen {
				require.NoError(t, err)
				require.Equal(t, int64(1), next.calls.Load(), "open: the failing plugin is skipped")
				require.Equal(t, "patched", c.Name)
			} else {
				var ce *contracts.Error
				require.ErrorAs(t, err, &ce)
				require.Equal(t, http.StatusServiceUnavailable, ce.Status)
				require.Equal(t, contracts.CodePluginUnavailable, ce.Code)
				require.Zero(t, next.calls.Load(), "closed: the flow stops")
				require.Equal(t, "Ada", c.Name)
			}
			stats := d.Stats()
			require.Equal(t, "flaky", stats[0].Plugin)
			require.Equal(t, uint64(1), tt.outcome(stats[0]))
			require.Equal(t, uint64(1), stats[0].Failures())
		})
	}
}

func TestBeforeDeadlineIsTheSmallerOfBudgetAndTimeout(t *testing.T) {
	tests := []struct {
		name    string
		budget  time.Duration
		timeout time.Duration
	}{
		{name: "timeout smaller", budget: 10 * time.Second, timeout: 300 * time.Millisecond},
		{name: "budget smaller", budget: 300 * time.Millisecond, timeout: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, d, _, _ := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
				contracts.HookBeforeSignIn: {target("p", tt.timeout, "")},
			})
			var got time.Time
			serveHook(t, nc, contracts.HookBeforeSignIn, "p", func(_ contracts.HookRequest, h nats.Header) *answer {
				got, _ = contracts.ParseDeadline(h.Get(contracts.HeaderDeadline))
				require.Equal(t, "core", h.Get(contracts.HeaderPluginID))
				return continueWith("")
			})
			ctx, cancel := context.WithTimeout(context.Background(), tt.budget)
			defer cancel()
			start := time.Now()
			require.NoError(t, d.Before(ctx, contracts.HookBeforeSignIn, &contracts.SignInContext{}))
			want := start.Add(min(tt.budget, tt.timeout))
			require.WithinDuration(t, want, got, 100*time.Millisecond)
			require.False(t, got.After(want.Add(5*time.Millisecond)), "never later than the smaller of the two")
		})
	}
}

func TestBeforeCanceledContext(t *testing.T) {
	nc, d, _, _ := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
		contracts.HookBeforeSignIn: {target("p", 5*time.Second, contracts.FailOpen)},
	})
	ctx, cancel := context.WithCancel(context.Background())
	serveHook(t, nc, contracts.HookBeforeSignIn, "p", func(contracts.HookRequest, nats.Header) *answer {
		cancel() // the client went away while the plugin worked
		return nil
	})
	err := d.Before(ctx, contracts.HookBeforeSignIn, &contracts.SignInContext{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestBeforeRefusesMisuse(t *testing.T) {
	_, d, _, _ := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
		contracts.HookAfterSignIn:  {target("p", time.Second, "")},
		contracts.HookBeforeSignIn: {target("p", time.Second, "")},
		"beforeLunch":              {target("p", time.Second, "")},
	})
	require.ErrorContains(t, d.Before(context.Background(), contracts.HookAfterSignIn, &contracts.SessionEventContext{}), "call After")
	require.ErrorContains(t, d.Before(context.Background(), contracts.HookBeforeSignIn, contracts.SignInContext{}), "non-nil pointer")
	require.ErrorContains(t, d.Before(context.Background(), "beforeLunch", &contracts.SignInContext{}), "unknown hook point")
}

func TestPointWithoutPluginsIsFree(t *testing.T) {
	nc, d, _, _ := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
		contracts.HookBeforeSignUp: {target("p", time.Second, "")},
	})
	// A context that cannot even be encoded: nothing may touch it.
	unencodable := make(chan int)
	ctx := context.Background()
	require.NoError(t, d.Before(ctx, contracts.HookBeforeSignIn, &unencodable))
	d.After(ctx, contracts.HookAfterSignIn, &unencodable)
	require.False(t, d.Has(contracts.HookBeforeSignIn))
	require.True(t, d.Has(contracts.HookBeforeSignUp))

	c := &contracts.SignInContext{Email: "ada@example.com"}
	allocs := testing.AllocsPerRun(100, func() {
		_ = d.Before(ctx, contracts.HookBeforeSignIn, c)
		d.After(ctx, contracts.HookAfterSignIn, c)
	})
	require.Zero(t, allocs)
	require.Empty(t, d.Stats())

	nilPlan, err := hooks.New(hooks.Config{Conn: nc, Plan: hooks.StaticPlan(nil)})
	require.NoError(t, err)
	require.NoError(t, nilPlan.Before(ctx, contracts.HookBeforeSignIn, c))
}

func TestAfterFansOutAndNeverFails(t *testing.T) {
	nc, d, logs, _ := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
		contracts.HookAfterSignUp: {target("a", time.Second, ""), target("b", time.Second, ""),
			target("silent", 50*time.Millisecond, contracts.FailClosed), target("absent", time.Second, contracts.FailClosed)},
	})
	// a and b each wait until the other was called: only a parallel fan-out lets both answer.
	var wg sync.WaitGroup
	wg.Add(2)
	both := make(chan struct{})
	go func() { wg.Wait(); close(both) }()
	for _, id := range []string{"a", "b"} {
		serveHook(t, nc, contracts.HookAfterSignUp, id, func(contracts.HookRequest, nats.Header) *answer {
			wg.Done()
			select {
			case <-both:
				return continueWith("")
			case <-time.After(5 * time.Second):
				return nil
			}
		})
	}
	serveHook(t, nc, contracts.HookAfterSignUp, "silent", func(contracts.HookRequest, nats.Header) *answer { return nil })
	d.After(context.Background(), contracts.HookAfterSignUp, contracts.SessionEventContext{User: contracts.User{ID: "u1"}})

	byPlugin := map[string]hooks.TargetStats{}
	for _, s := range d.Stats() {
		byPlugin[s.Plugin] = s
	}
	require.Equal(t, uint64(0), byPlugin["a"].Failures(), "a answered while b was being called")
	require.Equal(t, uint64(0), byPlugin["b"].Failures())
	require.Equal(t, uint64(1), byPlugin["silent"].Timeouts)
	require.Equal(t, uint64(1), byPlugin["absent"].NoResponders)
	require.Len(t, logs.WithMessage(t, "hook call failed"), 2)
}

func TestAfterRefusesAbortAndPatch(t *testing.T) {
	nc, d, _, _ := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
		contracts.HookAfterSignUp: {target("a", time.Second, "")},
	})
	serveHook(t, nc, contracts.HookAfterSignUp, "a", func(contracts.HookRequest, nats.Header) *answer {
		return &answer{reply: &contracts.HookReply{Action: contracts.ActionAbort, Error: &contracts.Error{Status: 403, Message: "no"}}}
	})
	d.After(context.Background(), contracts.HookAfterSignUp, &contracts.SessionEventContext{})
	require.Equal(t, uint64(1), d.Stats()[0].Errors, "an abort at a parallel point is an invalid reply")
}

func TestStatsAndMetrics(t *testing.T) {
	nc, d, _, reg := setup(t, map[contracts.HookPoint][]contracts.HookTarget{
		contracts.HookBeforeSignIn: {target("p", time.Second, "")},
	})
	serveHook(t, nc, contracts.HookBeforeSignIn, "p", func(contracts.HookRequest, nats.Header) *answer { return continueWith("") })
	for range 20 {
		require.NoError(t, d.Before(context.Background(), contracts.HookBeforeSignIn, &contracts.SignInContext{}))
	}
	s := d.Stats()
	require.Len(t, s, 1)
	require.Equal(t, uint64(20), s[0].Calls)
	require.Equal(t, 20, s[0].Samples)
	require.Positive(t, s[0].P50)
	require.LessOrEqual(t, s[0].P50, s[0].P95)
	require.LessOrEqual(t, s[0].P95, s[0].P99)
	require.Equal(t, 1, series(t, reg, "authbus_hook_call_duration_seconds"), "one series: point=beforeSignIn, plugin=p, outcome=continue")
	require.Equal(t, 20.0, sumMetric(t, reg, "authbus_hook_call_duration_seconds"))

	b, err := json.Marshal(s[0])
	require.NoError(t, err)
	require.Contains(t, string(b), `"point":"beforeSignIn"`)
}

func TestStatsWindowKeepsRecentCalls(t *testing.T) {
	srv, nc := bustest.RunJetStream(t, bustest.InProcess())
	d, err := hooks.New(hooks.Config{Conn: bustest.Connect(t, srv, bustest.InProcess()), Window: 4, Logger: slog.New(slog.DiscardHandler),
		Plan: hooks.StaticPlan(&contracts.HookPlan{Points: map[contracts.HookPoint][]contracts.HookTarget{
			contracts.HookBeforeSignIn: {target("p", time.Second, "")}}})})
	require.NoError(t, err)
	serveHook(t, nc, contracts.HookBeforeSignIn, "p", func(contracts.HookRequest, nats.Header) *answer { return continueWith("") })
	for range 10 {
		require.NoError(t, d.Before(context.Background(), contracts.HookBeforeSignIn, &contracts.SignInContext{}))
	}
	s := d.Stats()[0]
	require.Equal(t, uint64(10), s.Calls)
	require.Equal(t, 4, s.Samples)
}

func TestConfigValidate(t *testing.T) {
	_, err := hooks.New(hooks.Config{SubjectPrefix: "a.*", Window: -1})
	require.Error(t, err)
	for _, want := range []string{"Conn is required", "Plan is required", "wildcards", "window -1"} {
		require.ErrorContains(t, err, want)
	}
	require.False(t, errors.Is(err, context.Canceled))
}
