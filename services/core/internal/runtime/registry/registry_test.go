package registry

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestRegistry(t *testing.T, op *operator.Config) (*Registry, *clock) {
	t.Helper()
	if op == nil {
		op = operator.Dev()
	}
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(Config{Operator: op, CoreVersion: "0.1.0", HeartbeatTimeout: 15 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Now: c.Now}), c
}

// register runs Check and Commit (or Refuse) as the runtime does, then the
// instance's first heartbeat: it serves.
func register(t *testing.T, r *Registry, m contracts.Manifest, instance string) *Decision {
	t.Helper()
	d := registerOnly(t, r, m, instance)
	if d.Accepted() {
		require.Equal(t, contracts.HeartbeatOK, r.Heartbeat(m.ID, contracts.Heartbeat{Instance: instance, Version: m.Version}))
	}
	return d
}

// registerOnly registers an instance that does not serve yet (no heartbeat).
func registerOnly(t *testing.T, r *Registry, m contracts.Manifest, instance string) *Decision {
	t.Helper()
	d := r.Check(m.ID, contracts.RegisterRequest{Protocol: contracts.ProtocolVersion, Manifest: m,
		Instance: contracts.InstanceInfo{ID: instance}})
	if d.Accepted() {
		r.Commit(d)
	} else {
		r.Refuse(d)
	}
	return d
}

func requires(m contracts.Manifest, ids ...string) contracts.Manifest {
	for _, id := range ids {
		m.Dependencies.Required = append(m.Dependencies.Required, contracts.DependencyRef{ID: id})
	}
	return m
}

func optional(m contracts.Manifest, ids ...string) contracts.Manifest {
	for _, id := range ids {
		m.Dependencies.Optional = append(m.Dependencies.Optional, contracts.DependencyRef{ID: id})
	}
	return m
}

func hook(m contracts.Manifest, p contracts.HookPoint, order int) contracts.Manifest {
	m.Hooks = append(m.Hooks, contracts.HookDecl{Point: p, Order: order})
	return m
}

func planIDs(plan *contracts.HookPlan, p contracts.HookPoint) []string {
	var out []string
	for _, t := range plan.Points[p] {
		out = append(out, t.Plugin)
	}
	return out
}

func state(r *Registry, id string) State { return r.View().Get(id).State }

func TestPlanOrderDependencyThenOrderThenID(t *testing.T) {
	r, _ := newTestRegistry(t, nil)
	// zeta has the lowest order but depends (through mid, which does not
	// hook this point) on base, so base runs first anyway.
	register(t, r, hook(manifest("base"), contracts.HookBeforeSignIn, 100), "i1")
	register(t, r, requires(manifest("mid"), "base"), "i2")
	register(t, r, hook(requires(manifest("zeta"), "mid"), contracts.HookBeforeSignIn, -100), "i3")
	register(t, r, hook(manifest("alpha"), contracts.HookBeforeSignIn, 5), "i4")
	register(t, r, hook(manifest("beta"), contracts.HookBeforeSignIn, 5), "i5")
	register(t, r, hook(manifest("gamma"), contracts.HookBeforeSignIn, -50), "i6")
	// An optional dependency orders only when present: opt-user names an absent plugin.
	register(t, r, hook(optional(manifest("opt-user"), "absent", "alpha"), contracts.HookBeforeSignIn, -200), "i7")

	// opt-user becomes ready once alpha (its present optional dependency)
	// ran, and its order -200 then beats beta's 5.
	require.Equal(t, []string{"gamma", "alpha", "opt-user", "beta", "base", "zeta"}, planIDs(r.Plan(), contracts.HookBeforeSignIn))
	for _, id := range []string{"base", "mid", "zeta", "alpha", "beta", "gamma", "opt-user"} {
		require.Equal(t, StateActive, state(r, id), id)
	}
	targets := r.Plan().Points[contracts.HookBeforeSignIn]
	require.Equal(t, contracts.Duration(contracts.DefaultHookTimeout), targets[0].Timeout)
	require.Equal(t, contracts.FailClosed, targets[0].FailurePolicy)
	require.Empty(t, r.Plan().Points[contracts.HookAfterSignIn])
}

func TestPlanOperatorOverrides(t *testing.T) {
	op, err := operator.Parse([]byte(`
plugins:
  first: {hooks: {beforeSignUp: {order: 50, timeout: 80ms, failurePolicy: open}}}
  second: {}
`), "t.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	r, _ := newTestRegistry(t, op)
	register(t, r, hook(manifest("first"), contracts.HookBeforeSignUp, 0), "i1")
	register(t, r, hook(manifest("second"), contracts.HookBeforeSignUp, 10), "i2")
	targets := r.Plan().Points[contracts.HookBeforeSignUp]
	require.Equal(t, []contracts.HookTarget{
		{Plugin: "second", Timeout: contracts.Duration(contracts.DefaultHookTimeout), FailurePolicy: contracts.FailClosed},
		{Plugin: "first", Timeout: contracts.Duration(80 * time.Millisecond), FailurePolicy: contracts.FailOpen},
	}, targets)
}

func TestNewVersionReplacesOld(t *testing.T) {
	r, _ := newTestRegistry(t, nil)
	v1 := hook(manifest("audit"), contracts.HookAfterSignIn, 0)
	register(t, r, v1, "old-1")
	register(t, r, v1, "old-2")
	rev := r.Plan().Revision

	v2 := hook(manifest("audit"), contracts.HookBeforeSignIn, 0)
	v2.Version = "1.1.0"
	d := register(t, r, v2, "new-1")
	require.True(t, d.Accepted())
	require.Equal(t, "1.0.0", d.Replaces)

	require.Equal(t, contracts.HeartbeatReplaced, r.Heartbeat("audit", contracts.Heartbeat{Instance: "old-1", Version: "1.0.0"}))
	require.Equal(t, contracts.HeartbeatReplaced, r.Heartbeat("audit", contracts.Heartbeat{Instance: "old-2", Version: "1.0.0"}))
	require.Equal(t, contracts.HeartbeatOK, r.Heartbeat("audit", contracts.Heartbeat{Instance: "new-1", Version: "1.1.0"}))
	require.Equal(t, contracts.HeartbeatUnknown, r.Heartbeat("audit", contracts.Heartbeat{Instance: "stranger", Version: "1.1.0"}))

	recs := r.Records()
	require.Len(t, recs, 1)
	require.Equal(t, "1.1.0", recs[0].Version)
	require.Len(t, recs[0].Instances, 1)
	require.Equal(t, []string{"audit"}, planIDs(r.Plan(), contracts.HookBeforeSignIn))
	require.Empty(t, planIDs(r.Plan(), contracts.HookAfterSignIn))
	require.Greater(t, r.Plan().Revision, rev)

	// An older version may not take over while the newer one runs.
	d = register(t, r, v1, "old-3")
	require.False(t, d.Accepted())
	require.Equal(t, []string{"version"}, fields(d.Admission.Problems))
	require.Equal(t, "1.1.0", r.Records()[0].Version, "a refused version leaves the running one alone")
}

func TestHeartbeatExpiryMarksDownAndDependentsDegraded(t *testing.T) {
	r, clk := newTestRegistry(t, nil)
	register(t, r, hook(manifest("base"), contracts.HookBeforeSignIn, 0), "b1")
	register(t, r, requires(manifest("user"), "base"), "u1")
	require.Equal(t, StateActive, state(r, "user"))

	clk.Add(10 * time.Second)
	require.Equal(t, contracts.HeartbeatOK, r.Heartbeat("user", contracts.Heartbeat{Instance: "u1", Version: "1.0.0"}))
	clk.Add(10 * time.Second) // base's last sign of life is now 20s old
	r.Sweep()
	require.Equal(t, StateDown, state(r, "base"))
	require.Equal(t, StateDegraded, state(r, "user"))
	require.Equal(t, []string{"base"}, planIDs(r.Plan(), contracts.HookBeforeSignIn), "a down plugin stays in the plan")
	require.Equal(t, contracts.HeartbeatUnknown, r.Heartbeat("base", contracts.Heartbeat{Instance: "b1", Version: "1.0.0"}))

	register(t, r, hook(manifest("base"), contracts.HookBeforeSignIn, 0), "b2")
	require.Equal(t, StateActive, state(r, "base"))
	require.Equal(t, StateActive, state(r, "user"))
}

func TestWaitingBecomesActiveInDependencyOrder(t *testing.T) {
	r, clk := newTestRegistry(t, nil)
	register(t, r, manifest("base"), "b1")
	clk.Add(20 * time.Second)
	r.Sweep()
	require.Equal(t, StateDown, state(r, "base"))

	d := register(t, r, requires(manifest("mid"), "base"), "m1")
	require.True(t, d.Accepted())
	require.Equal(t, []string{"base"}, d.Admission.WaitingOn)
	register(t, r, requires(manifest("top"), "mid"), "t1")
	require.Equal(t, StateWaiting, state(r, "mid"))
	require.Equal(t, StateWaiting, state(r, "top"))
	require.Equal(t, []string{"base"}, r.Records()[1].WaitingOn)

	register(t, r, manifest("base"), "b2")
	for _, id := range []string{"base", "mid", "top"} {
		require.Equal(t, StateActive, state(r, id), id)
	}
}

func TestStopOrderIsReverseDependencyOrder(t *testing.T) {
	r, _ := newTestRegistry(t, nil)
	register(t, r, manifest("base"), "1")
	register(t, r, requires(manifest("mid"), "base"), "2")
	register(t, r, optional(requires(manifest("top"), "mid"), "extra"), "3")
	register(t, r, manifest("extra"), "4")
	register(t, r, manifest("Bad"), "5") // refused: not stopped
	require.Equal(t, []string{"top", "mid", "extra", "base"}, r.StopOrder())

	r.MarkStopped(r.StopOrder()...)
	for _, id := range []string{"base", "mid", "top", "extra"} {
		require.Equal(t, StateStopped, state(r, id))
	}
	require.Empty(t, r.StopOrder())
	require.Empty(t, r.Plan().Points)
}

func TestRefusedRegistrationIsRecorded(t *testing.T) {
	r, _ := newTestRegistry(t, nil)
	m := manifest("needy")
	m.CoreVersion = "^9.0.0"
	d := register(t, r, m, "1")
	require.False(t, d.Accepted())
	recs := r.Records()
	require.Len(t, recs, 1)
	require.Equal(t, StateRefused, recs[0].State)
	require.Equal(t, []string{"coreVersion"}, fields(recs[0].Reasons))
	require.Equal(t, contracts.HeartbeatUnknown, r.Heartbeat("needy", contracts.Heartbeat{Instance: "1"}))
	require.False(t, r.View().Get("needy").Accepted())
}

func TestSubjectIDMustMatchManifest(t *testing.T) {
	r, _ := newTestRegistry(t, nil)
	d := r.Check("other", contracts.RegisterRequest{Manifest: manifest("audit"), Instance: contracts.InstanceInfo{ID: "i"}})
	require.False(t, d.Accepted())
	require.Equal(t, []string{"id"}, fields(d.Admission.Problems))
}

func TestLoadRechecksOperatorConfig(t *testing.T) {
	op, err := operator.Parse([]byte("plugins:\n  audit: {permissions: [user:read]}\n"), "t.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	r, clk := newTestRegistry(t, op)
	keep := manifest("audit")
	keep.Permissions = []contracts.Permission{"user:read"}
	gone := manifest("gone")
	r.Load([]Record{
		{ID: "audit", Version: "1.0.0", State: StateActive, Manifest: &keep, Instances: []Instance{{ID: "i1", Version: "1.0.0", LastHeartbeat: clk.Now()}}},
		{ID: "gone", Version: "1.0.0", State: StateActive, Manifest: &gone, Instances: []Instance{{ID: "i2", Version: "1.0.0", LastHeartbeat: clk.Now()}}},
	})
	require.Equal(t, StateActive, state(r, "audit"))
	require.Equal(t, []contracts.Permission{"user:read"}, r.View().Get("audit").Granted)
	require.Equal(t, StateRefused, state(r, "gone"))
	require.Equal(t, contracts.HeartbeatOK, r.Heartbeat("audit", contracts.Heartbeat{Instance: "i1", Version: "1.0.0"}))
}

func TestPluginJoinsThePlanWhenAnInstanceServes(t *testing.T) {
	r, _ := newTestRegistry(t, nil)
	m := hook(manifest("allowlist"), contracts.HookBeforeSignUp, 0)
	require.True(t, registerOnly(t, r, m, "i1").Accepted())
	require.Equal(t, StateActive, state(r, "allowlist"))
	require.Empty(t, planIDs(r.Plan(), contracts.HookBeforeSignUp),
		"accepted is not serving: the instance has not run Init nor subscribed yet")
	rev := r.Plan().Revision

	require.Equal(t, contracts.HeartbeatOK, r.Heartbeat("allowlist", contracts.Heartbeat{Instance: "i1", Version: "1.0.0"}))
	require.Equal(t, []string{"allowlist"}, planIDs(r.Plan(), contracts.HookBeforeSignUp))
	require.Greater(t, r.Plan().Revision, rev)
	require.True(t, r.Records()[0].Instances[0].Serving)

	// A second replica does not change the plan; a plugin left without
	// instances stays in it (its failure policy decides), and one that
	// registers again is called at once.
	require.True(t, registerOnly(t, r, m, "i2").Accepted())
	require.Equal(t, []string{"allowlist"}, planIDs(r.Plan(), contracts.HookBeforeSignUp))
}

func TestOldVersionServesUntilTheNewOneDoes(t *testing.T) {
	r, _ := newTestRegistry(t, nil)
	v1 := hook(manifest("stamp"), contracts.HookBeforeSignUp, 0)
	register(t, r, v1, "old")
	v2 := v1
	v2.Version = "1.1.0"
	require.True(t, registerOnly(t, r, v2, "new").Accepted())

	require.Equal(t, []string{"stamp"}, planIDs(r.Plan(), contracts.HookBeforeSignUp), "the plugin stays in the plan during the rollout")
	require.Equal(t, contracts.HeartbeatOK, r.Heartbeat("stamp", contracts.Heartbeat{Instance: "old", Version: "1.0.0"}),
		"the old instance keeps serving while the new one starts")

	require.Equal(t, contracts.HeartbeatOK, r.Heartbeat("stamp", contracts.Heartbeat{Instance: "new", Version: "1.1.0"}))
	require.Equal(t, contracts.HeartbeatReplaced, r.Heartbeat("stamp", contracts.Heartbeat{Instance: "old", Version: "1.0.0"}),
		"once the new version serves, the old one is told it was replaced")
	require.Equal(t, []string{"stamp"}, planIDs(r.Plan(), contracts.HookBeforeSignUp))
}

func TestOldVersionThatNeverServedIsReplacedAtOnce(t *testing.T) {
	r, _ := newTestRegistry(t, nil)
	v1 := hook(manifest("stamp"), contracts.HookBeforeSignUp, 0)
	registerOnly(t, r, v1, "old")
	v2 := v1
	v2.Version = "1.1.0"
	require.True(t, registerOnly(t, r, v2, "new").Accepted())
	require.Equal(t, contracts.HeartbeatReplaced, r.Heartbeat("stamp", contracts.Heartbeat{Instance: "old", Version: "1.0.0"}))
	require.Empty(t, planIDs(r.Plan(), contracts.HookBeforeSignUp), "neither version served yet")
}

func TestLoadedPluginsThatServedStayInThePlan(t *testing.T) {
	r, clk := newTestRegistry(t, nil)
	m := hook(manifest("audit"), contracts.HookAfterSignIn, 0)
	r.Load([]Record{{ID: "audit", Version: "1.0.0", State: StateDown, Manifest: &m,
		Instances: []Instance{{ID: "i1", Version: "1.0.0", LastHeartbeat: clk.Now(), Serving: true}}}})
	require.Equal(t, []string{"audit"}, planIDs(r.Plan(), contracts.HookAfterSignIn),
		"a plugin that was called before the core restarted is called again at once")
}
