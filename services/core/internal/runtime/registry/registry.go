// Package registry keeps the core's view of the plugins: who registered,
// with which manifest, configuration and permissions, which instances are
// alive, each plugin's state, the order plugins start and stop in, and the
// hook plan derived from all of it. It decides; the runtime package does the
// NATS work around it (replies, consumers, buckets, the KV registry).
package registry

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
)

// State is a plugin's state in the registry.
type State string

// Plugin states.
const (
	// StateActive: at least one live instance and every required dependency up.
	// Its hooks are called once an instance of it has served (see Instance.Serving).
	StateActive State = "active"
	// StateDegraded: was active, but a required dependency is no longer up.
	StateDegraded State = "degraded"
	// StateWaiting: admitted with live instances, waiting for a required dependency to become active.
	StateWaiting State = "waiting"
	// StateDown: no live instance; still in the hook plan, where its failure policy decides.
	StateDown State = "down"
	// StateRefused: the last registration was refused; Reasons say why.
	StateRefused State = "refused"
	// StateStopped: told to stop at core shutdown; back when it registers again.
	StateStopped State = "stopped"
)

// Instance is one running process of a plugin.
type Instance struct {
	// ID is unique per process start.
	ID string `json:"id"`
	// Host is the host or pod name.
	Host string `json:"host,omitempty"`
	// PID is the process id.
	PID int `json:"pid,omitempty"`
	// StartedAt is when the process started.
	StartedAt time.Time `json:"startedAt,omitzero"`
	// SDK names the SDK and its version.
	SDK string `json:"sdk,omitempty"`
	// Version is the plugin version the instance runs.
	Version string `json:"version"`
	// LastHeartbeat is when the core last heard from it (registration counts).
	LastHeartbeat time.Time `json:"lastHeartbeat"`
	// InFlight is the work in progress it reported.
	InFlight int `json:"inFlight"`
	// Serving is set by the instance's first heartbeat: an instance
	// heartbeats once it has subscribed its endpoints and is ready (the
	// SDK does so after Init), not when it registers.
	Serving bool `json:"serving,omitempty"`
}

// Record is what the registry bucket holds for one plugin, and what the
// admin API shows.
type Record struct {
	// ID is the plugin id.
	ID string `json:"id"`
	// Name is the manifest's name.
	Name string `json:"name,omitempty"`
	// Version is the registered version.
	Version string `json:"version"`
	// State is the plugin's state.
	State State `json:"state"`
	// Reasons explain a refusal.
	Reasons []contracts.Problem `json:"reasons,omitempty"`
	// Retryable is set on a refusal that may resolve itself.
	Retryable bool `json:"retryable,omitempty"`
	// WaitingOn lists required dependencies not yet up.
	WaitingOn []string `json:"waitingOn,omitempty"`
	// Instances are the live instances.
	Instances []Instance `json:"instances"`
	// LastHeartbeat is the latest heartbeat of any instance.
	LastHeartbeat time.Time `json:"lastHeartbeat,omitzero"`
	// RegisteredAt is when this version first registered.
	RegisteredAt time.Time `json:"registeredAt,omitzero"`
	// UpdatedAt is when the record last changed.
	UpdatedAt time.Time `json:"updatedAt"`
	// Granted lists the permissions granted.
	Granted []contracts.Permission `json:"granted,omitempty"`
	// Manifest is the registered manifest (nil for a refusal of an unparsable one).
	Manifest *contracts.Manifest `json:"manifest,omitempty"`
}

// Plugin is an immutable snapshot of one plugin for readers (gateway,
// core services, admin).
type Plugin struct {
	// ID is the plugin id.
	ID string
	// State is the plugin's state.
	State State
	// Manifest is the registered manifest.
	Manifest contracts.Manifest
	// Granted lists the permissions granted.
	Granted []contracts.Permission
}

// Accepted reports whether the plugin was admitted and not stopped: such a
// plugin may call core services.
func (p *Plugin) Accepted() bool { return present(p.State) }

// Routable reports whether the gateway forwards to the plugin.
func (p *Plugin) Routable() bool {
	return p.State == StateActive || p.State == StateDegraded || p.State == StateDown
}

// Has reports whether a granted permission covers want.
func (p *Plugin) Has(want contracts.Permission) bool {
	for _, g := range p.Granted {
		if g.Covers(want) {
			return true
		}
	}
	return false
}

// View is an immutable snapshot of every known plugin.
type View struct {
	// Plugins maps an id to its snapshot.
	Plugins map[string]*Plugin
}

// Get returns the snapshot of id, or nil.
func (v *View) Get(id string) *Plugin {
	if v == nil {
		return nil
	}
	return v.Plugins[id]
}

// Config configures a Registry.
type Config struct {
	// Operator is the operator's plugin configuration (default operator.None()).
	Operator *operator.Config
	// CoreVersion is checked against manifests' coreVersion (required).
	CoreVersion string
	// HeartbeatTimeout is how long an instance stays live without a heartbeat (required).
	HeartbeatTimeout time.Duration
	// Logger receives state changes (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Registry is the in-memory registry. It is safe for concurrent use.
type Registry struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	plugins  map[string]*entry
	replaced map[string]time.Time // instance id → when its version was replaced
	retiring map[string]retiring  // instance id → old-version instance serving until the new version does
	dirty    map[string]bool
	planRev  uint64

	view    atomic.Pointer[View]
	plan    atomic.Pointer[contracts.HookPlan]
	changed chan struct{}
}

type entry struct {
	rec        Record
	manifest   contracts.Manifest
	granted    []contracts.Permission
	config     json.RawMessage
	instances  map[string]*Instance
	everActive bool
	refused    bool
	stopped    bool
	waitingOn  []string
	// served is set once an instance of the plugin (of any version) served:
	// only then is it in the hook plan. Registering is not serving: the core
	// accepts before the instance has run Init and subscribed, and calling
	// it in that gap would find no responders.
	served bool
}

// retiring is an instance of a replaced version that keeps serving until an
// instance of the new version serves, so that a rollout leaves no gap.
type retiring struct {
	plugin   string
	lastSeen time.Time
}

// New returns an empty registry.
func New(cfg Config) *Registry {
	if cfg.Operator == nil {
		cfg.Operator = operator.None()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Registry{cfg: cfg, log: cfg.Logger, plugins: map[string]*entry{}, replaced: map[string]time.Time{}, retiring: map[string]retiring{},
		dirty: map[string]bool{}, changed: make(chan struct{}, 1)}
	r.view.Store(&View{Plugins: map[string]*Plugin{}})
	r.plan.Store(&contracts.HookPlan{Points: map[contracts.HookPoint][]contracts.HookTarget{}})
	return r
}

// Plan returns the current hook plan. It never blocks.
func (r *Registry) Plan() *contracts.HookPlan { return r.plan.Load() }

// View returns the current snapshot of every plugin. It never blocks.
func (r *Registry) View() *View { return r.view.Load() }

// Changed is signalled (coalesced) whenever records, the view or the plan change.
func (r *Registry) Changed() <-chan struct{} { return r.changed }

// Decision is a checked registration, to be committed once the consumer
// and bucket it needs exist.
type Decision struct {
	// ID is the plugin id.
	ID string
	// Request is the registration.
	Request contracts.RegisterRequest
	// Admission is the outcome of the checks.
	Admission Admission
	// Replaces is the version being replaced, if any.
	Replaces string
}

// Accepted reports whether the registration passed every check.
func (d *Decision) Accepted() bool { return len(d.Admission.Problems) == 0 }

// Check decides a registration received on plugin.<subjectID>.register.
// It changes nothing.
func (r *Registry) Check(subjectID string, req contracts.RegisterRequest) *Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := req.Manifest
	d := &Decision{ID: subjectID, Request: req}
	peers := make(map[string]Peer, len(r.plugins))
	for id, e := range r.plugins {
		peers[id] = Peer{Manifest: e.manifest, State: e.rec.State}
	}
	d.Admission = Admit(m, r.cfg.Operator, peers, r.cfg.CoreVersion)
	var pre []contracts.Problem
	if req.Protocol != "" && req.Protocol != contracts.ProtocolVersion {
		pre = append(pre, contracts.Problem{Field: "protocol", Message: fmt.Sprintf("protocol %q is not supported; this core speaks %q", req.Protocol, contracts.ProtocolVersion)})
	}
	if m.ID != subjectID {
		pre = append(pre, contracts.Problem{Field: "id", Message: fmt.Sprintf("manifest id %q does not match the id %q in the registration subject (the NATS user's id)", m.ID, subjectID)})
	}
	if req.Instance.ID == "" {
		pre = append(pre, contracts.Problem{Field: "instance.id", Message: "is required: a unique id per process start"})
	}
	if e, ok := r.plugins[subjectID]; ok && present(e.rec.State) && e.manifest.Version != m.Version {
		d.Replaces = e.manifest.Version
		oldV, err1 := contracts.ParseVersion(e.manifest.Version)
		newV, err2 := contracts.ParseVersion(m.Version)
		if err1 == nil && err2 == nil && newV.Compare(oldV) < 0 && len(e.instances) > 0 {
			pre = append(pre, contracts.Problem{Field: "version", Message: fmt.Sprintf(
				"version %s is older than the running %s, which has live instances; stop them first to roll back", m.Version, e.manifest.Version)})
		}
	}
	if len(pre) > 0 {
		d.Admission.Problems = append(pre, d.Admission.Problems...)
		d.Admission.Retryable = false
		d.Admission.Config, d.Admission.Granted = nil, nil
	}
	return d
}

// Commit applies an accepted decision: the plugin (or its new version) is
// registered with the instance, and states and the plan are recomputed. A
// new version's instance is not called until it serves (its first
// heartbeat); old-version instances that served keep serving until then and
// are told "replaced" from then on (others at once). It returns the
// plugin's state after the commit.
func (r *Registry) Commit(d *Decision) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	m := d.Request.Manifest
	e, ok := r.plugins[d.ID]
	if !ok || e.manifest.Version != m.Version || !present(e.rec.State) {
		served := false
		if ok && present(e.rec.State) && e.manifest.Version != m.Version {
			// The plugin stays in the plan; its old instances keep serving
			// until one of the new version does, and are then told "replaced".
			served = e.served
			for iid, in := range e.instances {
				if in.Serving {
					r.retiring[iid] = retiring{plugin: d.ID, lastSeen: in.LastHeartbeat}
				} else {
					r.replaced[iid] = now
				}
			}
			r.log.Info("plugin replaced by a new version", "plugin", d.ID, "old_version", e.manifest.Version, "new_version", m.Version)
		}
		e = &entry{instances: map[string]*Instance{}, served: served}
		e.rec.RegisteredAt = now
		r.plugins[d.ID] = e
	}
	mc := m
	e.manifest = mc
	e.granted = d.Admission.Granted
	e.config = d.Admission.Config
	e.refused, e.stopped = false, false
	e.rec.Reasons, e.rec.Retryable = nil, false
	delete(r.replaced, d.Request.Instance.ID)
	delete(r.retiring, d.Request.Instance.ID)
	info := d.Request.Instance
	e.instances[info.ID] = &Instance{ID: info.ID, Host: info.Host, PID: info.PID, StartedAt: info.StartedAt,
		SDK: info.SDK, Version: m.Version, LastHeartbeat: now}
	r.dirty[d.ID] = true
	r.recomputeLocked()
	return e.rec.State
}

// Refuse records a refused registration. A plugin that is running keeps
// its record (a bad new version does not take down the old one); the
// refusal is only logged then.
func (r *Registry) Refuse(d *Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log.Warn("plugin registration refused", "plugin", d.ID, "version", d.Request.Manifest.Version,
		"reasons", problemsText(d.Admission.Problems), "retryable", d.Admission.Retryable)
	if contracts.ValidatePluginID(d.ID) != nil {
		return
	}
	if e, ok := r.plugins[d.ID]; ok && present(e.rec.State) {
		return
	}
	m := d.Request.Manifest
	e := &entry{instances: map[string]*Instance{}, manifest: m, refused: true}
	e.rec.Reasons = d.Admission.Problems
	e.rec.Retryable = d.Admission.Retryable
	e.rec.RegisteredAt = r.cfg.Now()
	r.plugins[d.ID] = e
	r.dirty[d.ID] = true
	r.recomputeLocked()
}

func problemsText(ps []contracts.Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// Heartbeat records a heartbeat from an instance of plugin id.
func (r *Registry) Heartbeat(id string, hb contracts.Heartbeat) contracts.HeartbeatStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.replaced[hb.Instance]; ok {
		return contracts.HeartbeatReplaced
	}
	if old, ok := r.retiring[hb.Instance]; ok && old.plugin == id {
		old.lastSeen = r.cfg.Now()
		r.retiring[hb.Instance] = old
		return contracts.HeartbeatOK // the new version does not serve yet
	}
	e, ok := r.plugins[id]
	if !ok || !present(e.rec.State) {
		return contracts.HeartbeatUnknown
	}
	in, ok := e.instances[hb.Instance]
	if !ok {
		return contracts.HeartbeatUnknown
	}
	if hb.Version != "" && hb.Version != e.manifest.Version {
		return contracts.HeartbeatReplaced
	}
	now := r.cfg.Now()
	in.LastHeartbeat = now
	in.InFlight = hb.InFlight
	r.dirty[id] = true
	if !in.Serving {
		in.Serving = true
		// Old-version instances may stop now: this version serves.
		for iid, old := range r.retiring {
			if old.plugin == id {
				delete(r.retiring, iid)
				r.replaced[iid] = now
			}
		}
		if !e.served {
			e.served = true
			r.log.Info("plugin serving: its hooks are called from now on", "plugin", id, "version", e.manifest.Version)
			r.recomputeLocked()
			return contracts.HeartbeatOK
		}
	}
	r.signal()
	return contracts.HeartbeatOK
}

// Sweep drops instances whose last heartbeat is older than the heartbeat
// timeout; a plugin left without instances goes down. It also forgets
// replaced instances after ten timeouts.
func (r *Registry) Sweep() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	changed := false
	for id, e := range r.plugins {
		for iid, in := range e.instances {
			if now.Sub(in.LastHeartbeat) > r.cfg.HeartbeatTimeout {
				delete(e.instances, iid)
				r.dirty[id] = true
				changed = true
				r.log.Info("plugin instance expired", "plugin", id, "instance", iid, "last_heartbeat", in.LastHeartbeat)
			}
		}
	}
	for iid, at := range r.replaced {
		if now.Sub(at) > 10*r.cfg.HeartbeatTimeout {
			delete(r.replaced, iid)
		}
	}
	for iid, old := range r.retiring {
		if now.Sub(old.lastSeen) > r.cfg.HeartbeatTimeout {
			delete(r.retiring, iid)
		}
	}
	if changed {
		r.recomputeLocked()
	}
}

// StopOrder lists the plugins to tell to stop, dependents before their
// dependencies (reverse dependency order).
func (r *Registry) StopOrder() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	order := r.topoLocked()
	slices.Reverse(order)
	return order
}

// MarkStopped sets the plugins' state to stopped and forgets their instances.
func (r *Registry) MarkStopped(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if e, ok := r.plugins[id]; ok && present(e.rec.State) {
			e.stopped = true
			clear(e.instances)
			r.dirty[id] = true
		}
	}
	r.recomputeLocked()
}

// Config returns the effective configuration of an admitted plugin.
func (r *Registry) Config(id string) (json.RawMessage, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.plugins[id]
	if !ok || e.config == nil {
		return nil, false
	}
	return e.config, true
}

// Records returns every plugin's current record, sorted by id.
func (r *Registry) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Record, 0, len(r.plugins))
	for _, id := range slices.Sorted(maps.Keys(r.plugins)) {
		out = append(out, r.recordLocked(id))
	}
	return out
}

// TakeDirty returns the records changed since the last call.
func (r *Registry) TakeDirty() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Record, 0, len(r.dirty))
	for _, id := range slices.Sorted(maps.Keys(r.dirty)) {
		if _, ok := r.plugins[id]; ok {
			out = append(out, r.recordLocked(id))
		}
	}
	clear(r.dirty)
	return out
}

// Load restores records read from the registry bucket at start: admitted
// plugins come back with their instances (which expire unless they
// heartbeat) and are checked again against the current operator
// configuration; refused and stopped ones keep their state.
func (r *Registry) Load(records []Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range records {
		if rec.Manifest == nil || contracts.ValidatePluginID(rec.ID) != nil {
			continue
		}
		e := &entry{rec: rec, manifest: *rec.Manifest, granted: rec.Granted, instances: map[string]*Instance{}}
		e.rec.Instances = nil
		switch rec.State {
		case StateRefused:
			e.refused = true
		case StateStopped:
			e.stopped = true
		default:
			a := Admit(*rec.Manifest, r.cfg.Operator, nil, r.cfg.CoreVersion)
			var problems []contracts.Problem
			for _, p := range a.Problems {
				if !strings.HasPrefix(p.Field, "dependencies.required") {
					problems = append(problems, p)
				}
			}
			if len(problems) > 0 {
				e.refused = true
				e.rec.Reasons = problems
				r.log.Warn("registered plugin no longer admitted by the operator configuration", "plugin", rec.ID,
					"reasons", problemsText(problems))
			} else {
				e.granted, e.config = a.Granted, a.Config
				e.everActive = rec.State == StateActive || rec.State == StateDegraded
				e.served = inPlan(rec.State)
				for _, in := range rec.Instances {
					e.instances[in.ID] = &in
				}
			}
		}
		r.plugins[rec.ID] = e
		r.dirty[rec.ID] = true
	}
	r.recomputeLocked()
}

func (r *Registry) recordLocked(id string) Record {
	e := r.plugins[id]
	rec := e.rec
	rec.ID = id
	rec.Name = e.manifest.Name
	rec.Version = e.manifest.Version
	rec.Granted = slices.Clone(e.granted)
	rec.WaitingOn = slices.Clone(e.waitingOn)
	rec.Reasons = slices.Clone(e.rec.Reasons)
	m := e.manifest
	rec.Manifest = &m
	rec.Instances = make([]Instance, 0, len(e.instances))
	rec.LastHeartbeat = time.Time{}
	for _, iid := range slices.Sorted(maps.Keys(e.instances)) {
		in := *e.instances[iid]
		rec.Instances = append(rec.Instances, in)
		if in.LastHeartbeat.After(rec.LastHeartbeat) {
			rec.LastHeartbeat = in.LastHeartbeat
		}
	}
	return rec
}

// topoLocked orders the present plugins so that each comes after the
// plugins it depends on (required, and optional when present); ties by id.
func (r *Registry) topoLocked() []string {
	nodes := map[string]contracts.Manifest{}
	for id, e := range r.plugins {
		if present(e.rec.State) || (!e.refused && !e.stopped) {
			nodes[id] = e.manifest
		}
	}
	return topoOrder(dependencyEdges(nodes), func(a, b string) int { return cmp.Compare(a, b) })
}

// topoOrder is Kahn's algorithm over edges (id → its dependencies): a
// node comes after all of its dependencies; among nodes that are ready,
// less decides. Nodes on a cycle (never admitted) are appended at the end.
func topoOrder(edges map[string][]string, less func(a, b string) int) []string {
	pending := make(map[string]int, len(edges))
	dependents := map[string][]string{}
	for id, deps := range edges {
		pending[id] += 0
		for _, d := range deps {
			if _, ok := edges[d]; ok {
				pending[id]++
				dependents[d] = append(dependents[d], id)
			}
		}
	}
	var ready, out []string
	for id, n := range pending {
		if n == 0 {
			ready = append(ready, id)
		}
	}
	for len(ready) > 0 {
		slices.SortFunc(ready, less)
		id := ready[0]
		ready = ready[1:]
		out = append(out, id)
		for _, dep := range dependents[id] {
			pending[dep]--
			if pending[dep] == 0 {
				ready = append(ready, dep)
			}
		}
		delete(pending, id)
	}
	if len(pending) > 0 {
		rest := slices.Collect(maps.Keys(pending))
		sort.Strings(rest)
		out = append(out, rest...)
	}
	return out
}

// recomputeLocked derives every state in dependency order, then the view
// and the plan, and signals a change.
func (r *Registry) recomputeLocked() {
	now := r.cfg.Now()
	for _, id := range r.topoLocked() {
		e := r.plugins[id]
		old := e.rec.State
		var next State
		e.waitingOn = nil
		switch {
		case e.refused:
			next = StateRefused
		case e.stopped:
			next = StateStopped
		case len(e.instances) == 0:
			next = StateDown
		default:
			for _, ref := range e.manifest.Dependencies.Required {
				dep, ok := r.plugins[ref.ID]
				if !ok || !up(dep.rec.State) {
					e.waitingOn = append(e.waitingOn, ref.ID)
				}
			}
			switch {
			case len(e.waitingOn) == 0:
				next = StateActive
				e.everActive = true
			case e.everActive:
				next = StateDegraded
			default:
				next = StateWaiting
			}
		}
		if next != old {
			e.rec.State = next
			e.rec.UpdatedAt = now
			r.dirty[id] = true
			r.log.Info("plugin state", "plugin", id, "version", e.manifest.Version, "from", string(old), "to", string(next),
				"waiting_on", e.waitingOn)
		}
	}
	for id, e := range r.plugins {
		if e.refused && e.rec.State != StateRefused {
			e.rec.State = StateRefused
			e.rec.UpdatedAt = now
			r.dirty[id] = true
		}
		if r.dirty[id] {
			e.rec.UpdatedAt = now
		}
	}
	r.buildViewLocked()
	r.buildPlanLocked()
	r.signal()
}

func (r *Registry) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *Registry) buildViewLocked() {
	v := &View{Plugins: make(map[string]*Plugin, len(r.plugins))}
	for id, e := range r.plugins {
		v.Plugins[id] = &Plugin{ID: id, State: e.rec.State, Manifest: e.manifest, Granted: slices.Clone(e.granted)}
	}
	r.view.Store(v)
}

// inPlan reports whether a plugin in state s is called at its hook points
// (once it has served).
func inPlan(s State) bool { return s == StateActive || s == StateDegraded || s == StateDown }

// buildPlanLocked derives the hook plan: per point, the plugins in the plan
// that declare it, each after every plugin it depends on (directly or
// through others), then by order, then by id. Operator overrides apply.
func (r *Registry) buildPlanLocked() {
	nodes := map[string]contracts.Manifest{}
	for id, e := range r.plugins {
		if present(e.rec.State) {
			nodes[id] = e.manifest
		}
	}
	edges := dependencyEdges(nodes)
	reach := map[string]map[string]bool{}
	var reachOf func(id string) map[string]bool
	reachOf = func(id string) map[string]bool {
		if s, ok := reach[id]; ok {
			return s
		}
		s := map[string]bool{}
		reach[id] = s // a cycle (never admitted) stops here
		for _, d := range edges[id] {
			s[d] = true
			for x := range reachOf(d) {
				s[x] = true
			}
		}
		return s
	}
	points := map[contracts.HookPoint][]contracts.HookTarget{}
	orders := map[contracts.HookPoint]map[string]int{}
	members := map[contracts.HookPoint][]string{}
	for id, e := range r.plugins {
		if !inPlan(e.rec.State) || !e.served {
			continue
		}
		entry, _, _ := r.cfg.Operator.Entry(id)
		for _, h := range e.manifest.Hooks {
			if ov, ok := entry.Hooks[h.Point]; ok {
				if ov.Order != nil {
					h.Order = *ov.Order
				}
				if ov.Timeout > 0 {
					h.Timeout = contracts.Duration(ov.Timeout)
				}
				if ov.FailurePolicy != "" {
					h.FailurePolicy = ov.FailurePolicy
				}
			}
			if orders[h.Point] == nil {
				orders[h.Point] = map[string]int{}
			}
			orders[h.Point][id] = h.Order
			members[h.Point] = append(members[h.Point], id)
			points[h.Point] = append(points[h.Point], contracts.HookTarget{Plugin: id,
				Timeout: contracts.Duration(h.EffectiveTimeout()), FailurePolicy: h.EffectivePolicy()})
		}
	}
	for p, ids := range members {
		sub := make(map[string][]string, len(ids))
		for _, a := range ids {
			sub[a] = nil
			for _, b := range ids {
				if a != b && reachOf(a)[b] {
					sub[a] = append(sub[a], b)
				}
			}
		}
		ord := orders[p]
		order := topoOrder(sub, func(a, b string) int {
			if c := cmp.Compare(ord[a], ord[b]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		byID := map[string]contracts.HookTarget{}
		for _, t := range points[p] {
			byID[t.Plugin] = t
		}
		targets := make([]contracts.HookTarget, len(order))
		for i, id := range order {
			targets[i] = byID[id]
		}
		points[p] = targets
	}
	old := r.plan.Load()
	if reflect.DeepEqual(old.Points, points) {
		return
	}
	r.planRev++
	r.plan.Store(&contracts.HookPlan{Revision: r.planRev, Points: points})
}
