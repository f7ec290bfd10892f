package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/natsperm"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
	"github.com/authbus/authbus/services/core/internal/runtime/registry"
)

const wait = 10 * time.Second

type env struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func newEnv(t *testing.T) *env {
	t.Helper()
	_, nc := bustest.RunJetStream(t)
	js := bustest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := bus.EnsureStream(ctx, js, bus.StreamConfig{Storage: "memory"}, "")
	require.NoError(t, err)
	return &env{nc: nc, js: js}
}

func (e *env) start(t *testing.T, op *operator.Config, hbTimeout time.Duration) *Runtime {
	t.Helper()
	if op == nil {
		op = operator.Dev()
	}
	rt, err := New(Options{Conn: e.nc, JetStream: e.js, Operator: op, Logger: testLogger(t),
		Registry: RegistryOptions{HeartbeatInterval: hbTimeout / 3, HeartbeatTimeout: hbTimeout, PeerPingTimeout: 100 * time.Millisecond}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, rt.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = rt.Stop(ctx)
	})
	return rt
}

func registerOverNATS(t *testing.T, nc *nats.Conn, m contracts.Manifest, instance string) contracts.RegisterReply {
	t.Helper()
	body, err := json.Marshal(contracts.RegisterRequest{Protocol: contracts.ProtocolVersion, Manifest: m,
		Instance: contracts.InstanceInfo{ID: instance, Host: "test", StartedAt: time.Now()}})
	require.NoError(t, err)
	msg, err := nc.Request(bus.RegisterSubject("", m.ID), body, wait)
	require.NoError(t, err)
	var reply contracts.RegisterReply
	require.NoError(t, json.Unmarshal(msg.Data, &reply))
	return reply
}

func heartbeat(t *testing.T, nc *nats.Conn, id, instance, version string) contracts.HeartbeatStatus {
	t.Helper()
	body, _ := json.Marshal(contracts.Heartbeat{Instance: instance, Version: version})
	msg, err := nc.Request(bus.HeartbeatSubject("", id), body, wait)
	require.NoError(t, err)
	var reply contracts.HeartbeatReply
	require.NoError(t, json.Unmarshal(msg.Data, &reply))
	return reply.Status
}

func manifest(id, version string) contracts.Manifest {
	return contracts.Manifest{ID: id, Name: id, Version: version, CoreVersion: "^0.1.0"}
}

// kvRecord reads a plugin's record from the registry bucket.
func kvRecord(e *env, id string) (registry.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	kv, err := e.js.KeyValue(ctx, natsperm.RegistryBucket(""))
	if err != nil {
		return registry.Record{}, err
	}
	ent, err := kv.Get(ctx, id)
	if err != nil {
		return registry.Record{}, err
	}
	var rec registry.Record
	return rec, json.Unmarshal(ent.Value(), &rec)
}

func waitState(t *testing.T, e *env, id string, want registry.State) registry.Record {
	t.Helper()
	var rec registry.Record
	bustest.CheckFor(t, wait, 10*time.Millisecond, func() error {
		var err error
		rec, err = kvRecord(e, id)
		if err != nil {
			return err
		}
		if rec.State != want {
			return fmt.Errorf("state %s, want %s", rec.State, want)
		}
		return nil
	})
	return rec
}

func TestRegisterAccepted(t *testing.T) {
	e := newEnv(t)
	op, err := operator.Parse([]byte(`
plugins:
  audit:
    permissions: ["user:read", "events:subscribe:user.>"]
    config: {retention: 7}
`), "plugins.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	e.start(t, op, 3*time.Second)

	m := manifest("audit", "1.0.0")
	m.Permissions = []contracts.Permission{"user:read", "events:subscribe:user.created"}
	m.Events = []string{"user.created"}
	m.ConfigSchema = json.RawMessage(`{"type":"object","properties":{"retention":{"type":"integer"},"format":{"type":"string","default":"json"}}}`)
	reply := registerOverNATS(t, e.nc, m, "inst-1")
	require.Equal(t, contracts.RegisterAccepted, reply.Status, "%v", reply.Reasons)
	require.JSONEq(t, `{"retention":7,"format":"json"}`, string(reply.Config))
	require.Equal(t, m.Permissions, reply.Granted)
	require.Equal(t, contracts.Duration(time.Second), reply.HeartbeatInterval)
	require.Equal(t, &contracts.ConsumerInfo{Stream: "AUTH_EVENTS", Durable: "plugin-audit", MaxDeliver: bus.DefaultMaxDeliver,
		DeadLetterSubject: "dlq.plugin-audit.>"}, reply.Consumer)
	require.Equal(t, "plugin-audit", reply.KVBucket)
	require.Equal(t, "0.1.0", reply.CoreVersion)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cons, err := e.js.Consumer(ctx, "AUTH_EVENTS", "plugin-audit")
	require.NoError(t, err)
	require.Equal(t, []string{"user.created"}, cons.CachedInfo().Config.FilterSubjects)
	_, err = e.js.KeyValue(ctx, "plugin-audit")
	require.NoError(t, err)

	rec := waitState(t, e, "audit", registry.StateActive)
	require.Equal(t, "1.0.0", rec.Version)
	require.Len(t, rec.Instances, 1)
	require.Equal(t, "inst-1", rec.Instances[0].ID)
	require.False(t, rec.LastHeartbeat.IsZero())
	require.Equal(t, contracts.HeartbeatOK, heartbeat(t, e.nc, "audit", "inst-1", "1.0.0"))
}

func TestRegisterRefusedWithEveryReason(t *testing.T) {
	e := newEnv(t)
	op, err := operator.Parse([]byte("plugins:\n  needy: {}\n"), "plugins.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	e.start(t, op, 3*time.Second)

	m := manifest("needy", "1.0.0")
	m.CoreVersion = "^3.0.0"
	m.Permissions = []contracts.Permission{"email:send"}
	m.Dependencies.Required = []contracts.DependencyRef{{ID: "base"}}
	reply := registerOverNATS(t, e.nc, m, "i1")
	require.Equal(t, contracts.RegisterRefused, reply.Status)
	var got []string
	for _, p := range reply.Reasons {
		got = append(got, p.Field)
	}
	require.Equal(t, []string{"permissions[0]", "coreVersion", "dependencies.required[0]"}, got)
	require.False(t, reply.Retryable, "a refusal that waiting cannot fix is not retryable")
	rec := waitState(t, e, "needy", registry.StateRefused)
	require.Len(t, rec.Reasons, 3)

	// Only a missing dependency: retryable.
	m2 := manifest("needy", "1.0.0")
	m2.Dependencies.Required = []contracts.DependencyRef{{ID: "base"}}
	reply = registerOverNATS(t, e.nc, m2, "i1")
	require.Equal(t, contracts.RegisterRefused, reply.Status)
	require.True(t, reply.Retryable)

	// The id in the subject is the identity: another id in the manifest is refused.
	body, _ := json.Marshal(contracts.RegisterRequest{Manifest: manifest("needy", "1.0.0"), Instance: contracts.InstanceInfo{ID: "x"}})
	msg, err := e.nc.Request(bus.RegisterSubject("", "impostor"), body, wait)
	require.NoError(t, err)
	var r2 contracts.RegisterReply
	require.NoError(t, json.Unmarshal(msg.Data, &r2))
	require.Equal(t, contracts.RegisterRefused, r2.Status)
	require.Contains(t, r2.Reasons[0].Message, `does not match the id "impostor"`)
}

func TestNewVersionReplacesOldWithoutRestart(t *testing.T) {
	e := newEnv(t)
	rt := e.start(t, nil, 3*time.Second)
	plans := subscribePlans(t, e.nc)

	v1 := manifest("audit", "1.0.0")
	v1.Hooks = []contracts.HookDecl{{Point: contracts.HookAfterSignIn}}
	require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, v1, "old").Status)
	require.Equal(t, contracts.HeartbeatOK, heartbeat(t, e.nc, "audit", "old", "1.0.0"), "it serves")
	plans.waitFor(t, func(p contracts.HookPlan) bool { return len(p.Points[contracts.HookAfterSignIn]) == 1 })

	v2 := manifest("audit", "1.1.0")
	v2.Hooks = []contracts.HookDecl{{Point: contracts.HookBeforeSignIn, FailurePolicy: contracts.FailOpen}}
	require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, v2, "new").Status)

	require.Equal(t, contracts.HeartbeatOK, heartbeat(t, e.nc, "audit", "old", "1.0.0"), "the old version serves until the new one does")
	require.Equal(t, contracts.HeartbeatOK, heartbeat(t, e.nc, "audit", "new", "1.1.0"))
	require.Equal(t, contracts.HeartbeatReplaced, heartbeat(t, e.nc, "audit", "old", "1.0.0"))
	bustest.CheckFor(t, wait, 10*time.Millisecond, func() error {
		rec, err := kvRecord(e, "audit")
		if err != nil {
			return err
		}
		if rec.Version != "1.1.0" || len(rec.Instances) != 1 || rec.Instances[0].ID != "new" {
			return fmt.Errorf("record %+v", rec)
		}
		return nil
	})
	p := plans.waitFor(t, func(p contracts.HookPlan) bool {
		return len(p.Points[contracts.HookBeforeSignIn]) == 1 && len(p.Points[contracts.HookAfterSignIn]) == 0
	})
	require.Equal(t, contracts.FailOpen, p.Points[contracts.HookBeforeSignIn][0].FailurePolicy)
	require.Equal(t, p.Revision, rt.Plan().Revision)

	// The plan is also served on core.<caller>.hooks.plan to a plugin allowed to call hooks.
	caller := manifest("caller", "1.0.0")
	caller.Permissions = []contracts.Permission{"hooks:call:beforeOrgCreate"}
	require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, caller, "c1").Status)
	msg, err := e.nc.Request(bus.CoreSubject("", "caller", "hooks", "plan"), []byte(`{}`), wait)
	require.NoError(t, err)
	var served contracts.HookPlan
	require.NoError(t, json.Unmarshal(msg.Data, &served))
	require.Equal(t, "audit", served.Points[contracts.HookBeforeSignIn][0].Plugin)
}

func TestHeartbeatExpiryMarksDown(t *testing.T) {
	e := newEnv(t)
	rt := e.start(t, nil, 300*time.Millisecond)
	m := manifest("flaky", "1.0.0")
	m.Hooks = []contracts.HookDecl{{Point: contracts.HookBeforeSignIn}}
	require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, m, "i1").Status)
	require.Equal(t, contracts.HeartbeatOK, heartbeat(t, e.nc, "flaky", "i1", "1.0.0"), "it serves")
	waitState(t, e, "flaky", registry.StateActive)
	rec := waitState(t, e, "flaky", registry.StateDown)
	require.Empty(t, rec.Instances)
	require.Equal(t, "flaky", rt.Plan().Points[contracts.HookBeforeSignIn][0].Plugin, "down plugins stay in the plan")
	require.Equal(t, contracts.HeartbeatUnknown, heartbeat(t, e.nc, "flaky", "i1", "1.0.0"))
	require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, m, "i2").Status)
	waitState(t, e, "flaky", registry.StateActive)
}

func TestWaitingPluginBecomesActiveWithItsDependency(t *testing.T) {
	e := newEnv(t)
	e.start(t, nil, 300*time.Millisecond)
	base := manifest("base", "1.0.0")
	require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, base, "b1").Status)
	waitState(t, e, "base", registry.StateDown)

	user := manifest("user", "1.0.0")
	user.Dependencies.Required = []contracts.DependencyRef{{ID: "base"}}
	// Keep user alive while base is down.
	stop := keepAlive(t, e.nc, "user", "u1", "1.0.0", 50*time.Millisecond)
	defer stop()
	require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, user, "u1").Status)
	rec := waitState(t, e, "user", registry.StateWaiting)
	require.Equal(t, []string{"base"}, rec.WaitingOn)

	stopBase := keepAlive(t, e.nc, "base", "b2", "1.0.0", 50*time.Millisecond)
	defer stopBase()
	require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, base, "b2").Status)
	waitState(t, e, "base", registry.StateActive)
	waitState(t, e, "user", registry.StateActive)
}

// keepAlive heartbeats until the returned function is called.
func keepAlive(t *testing.T, nc *nats.Conn, id, instance, version string, every time.Duration) func() {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(every)
		defer tk.Stop()
		body, _ := json.Marshal(contracts.Heartbeat{Instance: instance, Version: version})
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				_, _ = nc.Request(bus.HeartbeatSubject("", id), body, time.Second)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func TestStopTellsPluginsInReverseDependencyOrder(t *testing.T) {
	e := newEnv(t)
	rt := e.start(t, nil, 3*time.Second)
	base := manifest("base", "1.0.0")
	mid := manifest("mid", "1.0.0")
	mid.Dependencies.Required = []contracts.DependencyRef{{ID: "base"}}
	top := manifest("top", "1.0.0")
	top.Dependencies.Required = []contracts.DependencyRef{{ID: "mid"}}
	for _, m := range []contracts.Manifest{base, mid, top} {
		require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, m, m.ID+"-1").Status)
	}
	var mu sync.Mutex
	var order []string
	sub, err := e.nc.Subscribe(bus.ControlSubject("", "*"), func(m *nats.Msg) {
		var c contracts.Control
		if json.Unmarshal(m.Data, &c) == nil && c.Action == contracts.ControlStop {
			mu.Lock()
			order = append(order, subjectID(m.Subject))
			mu.Unlock()
		}
	})
	require.NoError(t, err)
	defer sub.Unsubscribe() //nolint:errcheck
	require.NoError(t, e.nc.Flush())

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, rt.Stop(ctx))
	bustest.CheckFor(t, wait, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(order, []string{"top", "mid", "base"}) {
			return fmt.Errorf("stop order %v", order)
		}
		return nil
	})
	for _, id := range []string{"base", "mid", "top"} {
		waitState(t, e, id, registry.StateStopped)
	}
}

func TestStopLeavesPluginsRunningWhileAnotherReplicaLives(t *testing.T) {
	e := newEnv(t)
	first := e.start(t, nil, 3*time.Second)
	second := e.start(t, nil, 3*time.Second)
	require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, manifest("audit", "1.0.0"), "a1").Status)
	// Both replicas saw the registration.
	bustest.CheckFor(t, wait, 10*time.Millisecond, func() error {
		for _, rt := range []*Runtime{first, second} {
			if p := rt.Registry().View().Get("audit"); p == nil || p.State != registry.StateActive {
				return errors.New("a replica does not know audit yet")
			}
		}
		return nil
	})
	var mu sync.Mutex
	stops := 0
	sub, err := e.nc.Subscribe(bus.ControlSubject("", "audit"), func(*nats.Msg) { mu.Lock(); stops++; mu.Unlock() })
	require.NoError(t, err)
	defer sub.Unsubscribe() //nolint:errcheck
	require.NoError(t, e.nc.Flush())

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, first.Stop(ctx))
	require.NoError(t, e.nc.Flush())
	mu.Lock()
	require.Zero(t, stops, "another replica runs: plugins keep running")
	mu.Unlock()
	require.Equal(t, contracts.HeartbeatOK, heartbeat(t, e.nc, "audit", "a1", "1.0.0"), "the remaining replica answers")

	require.NoError(t, second.Stop(ctx))
	bustest.CheckFor(t, wait, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if stops != 1 {
			return fmt.Errorf("%d stop messages", stops)
		}
		return nil
	})
}

func TestRestartedCoreKnowsRunningInstances(t *testing.T) {
	e := newEnv(t)
	rt := e.start(t, nil, 3*time.Second)
	require.Equal(t, contracts.RegisterAccepted, registerOverNATS(t, e.nc, manifest("audit", "1.0.0"), "a1").Status)
	waitState(t, e, "audit", registry.StateActive)
	// Simulate another replica taking over: a fresh runtime loads the bucket.
	second := e.start(t, nil, 3*time.Second)
	require.Equal(t, registry.StateActive, second.Registry().View().Get("audit").State)
	_ = rt
}

// planWatcher collects hook plans published on hooks.plan.
type planWatcher struct {
	mu    sync.Mutex
	plans []contracts.HookPlan
}

func subscribePlans(t *testing.T, nc *nats.Conn) *planWatcher {
	t.Helper()
	w := &planWatcher{}
	sub, err := nc.Subscribe(bus.HooksPlanSubject(""), func(m *nats.Msg) {
		var p contracts.HookPlan
		if json.Unmarshal(m.Data, &p) == nil {
			w.mu.Lock()
			w.plans = append(w.plans, p)
			w.mu.Unlock()
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())
	return w
}

func (w *planWatcher) waitFor(t *testing.T, ok func(contracts.HookPlan) bool) contracts.HookPlan {
	t.Helper()
	var found contracts.HookPlan
	bustest.CheckFor(t, wait, 10*time.Millisecond, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.plans) > 0 && ok(w.plans[len(w.plans)-1]) {
			found = w.plans[len(w.plans)-1]
			return nil
		}
		return fmt.Errorf("%d plans published, last does not match", len(w.plans))
	})
	return found
}

func TestServiceName(t *testing.T) {
	require.Equal(t, "core", serviceName(""))
	require.Equal(t, "core_acme_eu", serviceName("acme.eu."))
	require.True(t, strings.HasPrefix(serviceName("x"), "core_"))
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
