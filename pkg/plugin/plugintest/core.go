// Package plugintest tests a plugin with nothing installed: Start runs an
// in-process NATS server with JetStream and a fake core that accepts
// registrations as the real one does (it creates the plugin's durable
// consumer and key-value bucket, checks the config against the manifest's
// schema, builds the hook plan) and serves fake core services. A test then
// calls hooks, publishes events and waits until they were acked, calls
// routes through a fake gateway, and invokes methods:
//
//	core := plugintest.Start(t)
//	core.Run(t, newPlugin())
//	reply, err := core.CallHook(ctx, "allowlist", contracts.HookBeforeSignUp,
//		contracts.SignUpContext{Email: "eve@evil.test"})
//	ev := core.Publish(t, contracts.EventUserCreated, contracts.UserCreated{User: user})
//	core.WaitEvent(t, "allowlist", ev, plugintest.Acked)
//
// Conformance runs the checks every plugin must pass.
package plugintest

import (
	"bytes"
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

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/hooks"
	"github.com/authbus/authbus/pkg/plugin/internal/wire"
	"github.com/authbus/authbus/pkg/telemetry/telemetrytest"
)

// Defaults of the fake core.
const (
	// DefaultCoreVersion is the version the fake core reports and checks coreVersion ranges against.
	DefaultCoreVersion = "0.1.0"
	// DefaultMaxDeliver is the MaxDeliver of the durables the fake core creates.
	DefaultMaxDeliver = 3
	// DefaultAckWait is the AckWait of the durables the fake core creates.
	DefaultAckWait = 5 * time.Second
	// DefaultHeartbeatInterval is the interval the fake core asks for.
	DefaultHeartbeatInterval = 100 * time.Millisecond
	// WaitTimeout bounds every Wait… helper.
	WaitTimeout = 15 * time.Second
)

// Option adjusts Start.
type Option func(*coreOptions)

type coreOptions struct {
	coreVersion string
	maxDeliver  int
	ackWait     time.Duration
	heartbeat   time.Duration
	prefix      string
	paused      bool
	tcp         bool
}

// WithCoreVersion makes the fake core report v (default DefaultCoreVersion).
func WithCoreVersion(v string) Option { return func(o *coreOptions) { o.coreVersion = v } }

// WithMaxDeliver sets the durables' MaxDeliver (default DefaultMaxDeliver).
func WithMaxDeliver(n int) Option { return func(o *coreOptions) { o.maxDeliver = n } }

// WithAckWait sets the durables' AckWait (default DefaultAckWait).
func WithAckWait(d time.Duration) Option { return func(o *coreOptions) { o.ackWait = d } }

// WithHeartbeatInterval sets the heartbeat interval plugins are told (default DefaultHeartbeatInterval).
func WithHeartbeatInterval(d time.Duration) Option { return func(o *coreOptions) { o.heartbeat = d } }

// WithSubjectPrefix runs the installation under a subject prefix.
func WithSubjectPrefix(p string) Option { return func(o *coreOptions) { o.prefix = p } }

// Paused starts the server and streams but not the core: registrations get
// no responders until Resume, as when a plugin starts before the core.
func Paused() Option { return func(o *coreOptions) { o.paused = true } }

// OverTCP connects plugins over loopback TCP instead of in-process pipes.
func OverTCP() Option { return func(o *coreOptions) { o.tcp = true } }

// ServiceFunc answers one core service call for the plugin caller; req is
// the request body. Return a *contracts.Error to answer with it.
type ServiceFunc func(ctx context.Context, caller string, req json.RawMessage) (any, error)

// Refusal is how the fake core answers a plugin's registrations (Refuse).
type Refusal struct {
	// Retryable refusals make the plugin retry; others make Run fail.
	Retryable bool
	// Reasons are sent to the plugin.
	Reasons []contracts.Problem
}

// Core is a fake authbus core on an in-process JetStream server. Its
// methods are safe for concurrent use.
type Core struct {
	t      testing.TB
	o      coreOptions
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	logger *slog.Logger
	events *eventTracker
	hooks  *hooks.Dispatcher

	mu         sync.Mutex
	plugins    map[string]*registration
	configs    map[string]json.RawMessage
	refusals   map[string]Refusal
	users      map[string]contracts.User
	sessions   map[string]contracts.Session
	emails     []contracts.Email
	overrides  map[contracts.CoreService]ServiceFunc
	plan       contracts.HookPlan
	serving    map[string]chan struct{} // per plugin: a value per instance at its first heartbeat
	subs       []*nats.Subscription
	resumeOnce sync.Once
}

// registration is what the fake core knows of one plugin.
type registration struct {
	manifest      contracts.Manifest
	registrations int
	instances     map[string]*instance
	consumer      []string // the filter subjects the durable was created with
	forgotten     bool
	replaced      bool
	served        bool // an instance heartbeated: from then on the plan names the plugin, as the real core's does
}

// instance is one registered process.
type instance struct {
	info       contracts.InstanceInfo
	heartbeats int
}

// Start runs a JetStream server, creates the event and dead-letter
// streams, and starts the fake core (unless Paused). Everything stops when
// the test ends.
func Start(t testing.TB, opts ...Option) *Core {
	t.Helper()
	o := coreOptions{coreVersion: DefaultCoreVersion, maxDeliver: DefaultMaxDeliver, ackWait: DefaultAckWait,
		heartbeat: DefaultHeartbeatInterval}
	for _, opt := range opts {
		opt(&o)
	}
	var srvOpts []bustest.Option
	if !o.tcp {
		srvOpts = append(srvOpts, bustest.InProcess())
	}
	logger, _ := telemetrytest.NewLogger(t, slog.String("component", "plugintest-core"))
	srv, nc := bustest.RunJetStream(t, srvOpts...)
	js := bustest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := bus.EnsureStream(ctx, js, bus.StreamConfig{Storage: "memory"}, o.prefix); err != nil {
		t.Fatalf("plugintest: create streams: %v", err)
	}
	c := &Core{t: t, o: o, srv: srv, nc: nc, js: js, logger: logger,
		plugins: map[string]*registration{}, configs: map[string]json.RawMessage{}, refusals: map[string]Refusal{},
		users: map[string]contracts.User{}, sessions: map[string]contracts.Session{},
		overrides: map[contracts.CoreService]ServiceFunc{}, serving: map[string]chan struct{}{}}
	c.plan.Points = map[contracts.HookPoint][]contracts.HookTarget{}
	c.events = newEventTracker(t, nc, bus.DefaultStreamName, o.prefix)
	d, err := hooks.New(hooks.Config{Conn: nc, SubjectPrefix: o.prefix, Plan: hooks.PlanFunc(c.Plan), Logger: logger})
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	c.hooks = d
	if !o.paused {
		c.Resume()
	}
	return c
}

// Resume starts serving registrations, heartbeats and core services (see Paused).
func (c *Core) Resume() {
	c.resumeOnce.Do(func() {
		for subject, h := range map[string]nats.MsgHandler{
			bus.RegisterSubjects(c.o.prefix):  c.register,
			bus.HeartbeatSubjects(c.o.prefix): c.heartbeat,
			bus.CoreSubjects(c.o.prefix):      c.service,
		} {
			sub, err := c.nc.Subscribe(subject, h)
			if err != nil {
				c.t.Fatalf("plugintest: subscribe %s: %v", subject, err)
			}
			c.mu.Lock()
			c.subs = append(c.subs, sub)
			c.mu.Unlock()
		}
		if err := c.nc.Flush(); err != nil {
			c.t.Fatalf("plugintest: %v", err)
		}
	})
}

// Server is the NATS server.
func (c *Core) Server() *server.Server { return c.srv }

// Conn is the core's own connection.
func (c *Core) Conn() *nats.Conn { return c.nc }

// JetStream is a JetStream handle on the core's connection.
func (c *Core) JetStream() jetstream.JetStream { return c.js }

// Hooks is a hook dispatcher following the fake core's plan, the same code
// the real core calls hook points with: Before applies patches to the
// context and returns aborts and failure-policy errors.
func (c *Core) Hooks() *hooks.Dispatcher { return c.hooks }

// Connect opens a connection for plugin pluginID, with the inbox prefix
// "_INBOX_<id>" its NATS permissions would require; closed when the test ends.
func (c *Core) Connect(t testing.TB, pluginID string) *nats.Conn {
	t.Helper()
	opts := []bustest.Option{bustest.ConnectOptions(nats.CustomInboxPrefix("_INBOX_" + pluginID))}
	if !c.o.tcp {
		opts = append(opts, bustest.InProcess())
	}
	return bustest.Connect(t, c.srv, opts...)
}

// Settings returns plugin settings suited to tests: no ops server, a short
// redelivery back-off, the core's subject prefix.
func (c *Core) Settings() plugin.Settings {
	return plugin.Settings{
		Bus:                bus.Config{SubjectPrefix: c.o.prefix, RequestTimeout: 5 * time.Second},
		Workers:            16,
		EventWorkers:       4,
		EventTimeout:       10 * time.Second,
		NakBackoff:         []time.Duration{20 * time.Millisecond},
		DrainTimeout:       10 * time.Second,
		RegisterBackoffMax: 100 * time.Millisecond,
	}.WithDefaults()
}

// SetConfig sets the operator's config of a plugin (merged over the
// manifest's defaultConfig at its next registration).
func (c *Core) SetConfig(pluginID string, config any) {
	b, err := json.Marshal(config)
	if err != nil {
		c.t.Fatalf("plugintest: SetConfig: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.configs[pluginID] = b
}

// Refuse makes the core refuse the plugin's next registrations with r;
// Accept undoes it.
func (c *Core) Refuse(pluginID string, r Refusal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refusals[pluginID] = r
}

// Accept stops refusing the plugin.
func (c *Core) Accept(pluginID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.refusals, pluginID)
}

// Forget makes the core answer the plugin's heartbeats with "unknown" until
// it registers again, as after a core restart.
func (c *Core) Forget(pluginID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.plugins[pluginID]; r != nil {
		r.forgotten = true
	}
}

// Replace makes the core answer the plugin's heartbeats with "replaced".
func (c *Core) Replace(pluginID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.plugins[pluginID]; r != nil {
		r.replaced = true
	}
}

// SendStop publishes Control{stop} to every instance of the plugin, as the
// core does on shutdown.
func (c *Core) SendStop(pluginID, reason string) {
	b, _ := json.Marshal(contracts.Control{Action: contracts.ControlStop, Reason: reason})
	if err := c.nc.Publish(bus.ControlSubject(c.o.prefix, pluginID), b); err != nil {
		c.t.Errorf("plugintest: send stop: %v", err)
	}
}

// Registrations is how many registrations of the plugin the core accepted.
func (c *Core) Registrations(pluginID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.plugins[pluginID]; r != nil {
		return r.registrations
	}
	return 0
}

// Heartbeats is how many heartbeats the core answered "ok" for the plugin.
func (c *Core) Heartbeats(pluginID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	if r := c.plugins[pluginID]; r != nil {
		for _, i := range r.instances {
			n += i.heartbeats
		}
	}
	return n
}

// Plan returns the current hook plan.
func (c *Core) Plan() *contracts.HookPlan {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := contracts.HookPlan{Revision: c.plan.Revision, Points: make(map[contracts.HookPoint][]contracts.HookTarget, len(c.plan.Points))}
	for k, v := range c.plan.Points {
		p.Points[k] = slices.Clone(v)
	}
	return &p
}

// register answers plugin.<id>.register.
func (c *Core) register(m *nats.Msg) {
	id := subjectToken(m.Subject, c.o.prefix, 1)
	var req contracts.RegisterRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		_ = wire.RespondError(m, contracts.CodeBadRequest.Errorf("registration does not decode: %v", err))
		return
	}
	reply := c.accept(id, req)
	if err := wire.RespondJSON(m, reply); err != nil {
		c.logger.Error("registration reply", "error", err)
	}
}

// accept checks a registration as the real core does (what it can without
// an operator config file) and prepares the plugin's resources.
func (c *Core) accept(id string, req contracts.RegisterRequest) contracts.RegisterReply {
	refuse := func(retryable bool, reasons ...contracts.Problem) contracts.RegisterReply {
		return contracts.RegisterReply{Status: contracts.RegisterRefused, Retryable: retryable, Reasons: reasons, CoreVersion: c.o.coreVersion}
	}
	c.mu.Lock()
	refusal, refused := c.refusals[id]
	operator := c.configs[id]
	c.mu.Unlock()
	if refused {
		return refuse(refusal.Retryable, refusal.Reasons...)
	}
	m := req.Manifest
	var problems []contracts.Problem
	if req.Protocol != contracts.ProtocolVersion {
		problems = append(problems, contracts.Problem{Field: "protocol", Message: fmt.Sprintf("protocol %q is not %q", req.Protocol, contracts.ProtocolVersion)})
	}
	if m.ID != id {
		problems = append(problems, contracts.Problem{Field: "id", Message: fmt.Sprintf("manifest id %q registered on the subject of %q", m.ID, id)})
	}
	var me *contracts.ManifestError
	if err := m.Validate(); errors.As(err, &me) {
		problems = append(problems, me.Problems...)
	}
	if rng, err := contracts.ParseRange(m.CoreVersion); err == nil {
		if v, err := contracts.ParseVersion(c.o.coreVersion); err == nil && !rng.Satisfies(v) {
			problems = append(problems, contracts.Problem{Field: "coreVersion",
				Message: fmt.Sprintf("core %s is outside %q", c.o.coreVersion, m.CoreVersion)})
		}
	}
	config, configProblems := effectiveConfig(m, operator)
	problems = append(problems, configProblems...)
	if len(problems) > 0 {
		return refuse(false, problems...)
	}
	reply := contracts.RegisterReply{Status: contracts.RegisterAccepted, Config: config, Granted: m.Permissions,
		HeartbeatInterval: contracts.Duration(c.o.heartbeat), CoreVersion: c.o.coreVersion, SubjectPrefix: c.o.prefix}
	ci, kv, err := c.resources(m)
	if err != nil {
		c.logger.Error("plugin resources", "plugin", id, "error", err)
		return refuse(true, contracts.Problem{Field: "events", Message: "the core could not prepare the plugin's consumer or bucket: " + err.Error()})
	}
	reply.Consumer, reply.KVBucket = ci, kv

	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.plugins[id]
	if r == nil {
		r = &registration{instances: map[string]*instance{}}
		c.plugins[id] = r
	}
	r.manifest = m
	r.registrations++
	r.forgotten, r.replaced = false, false
	if _, ok := r.instances[req.Instance.ID]; !ok {
		r.instances[req.Instance.ID] = &instance{info: req.Instance}
	}
	c.rebuildPlanLocked()
	return reply
}

// configSchemaURL names a manifest's config schema while it is compiled.
const configSchemaURL = "file:///plugin/configSchema.json"

// effectiveConfig merges the operator's config over the defaults and checks
// it against the manifest's schema.
func effectiveConfig(m contracts.Manifest, operator json.RawMessage) (json.RawMessage, []contracts.Problem) {
	config := m.DefaultConfig
	if len(bytes.TrimSpace(config)) == 0 {
		config = json.RawMessage("{}")
	}
	if len(operator) > 0 {
		merged, err := contracts.ApplyPatch(config, operator)
		if err != nil {
			return nil, []contracts.Problem{{Field: "config", Message: err.Error()}}
		}
		config = merged
	}
	if len(m.ConfigSchema) == 0 {
		return config, nil
	}
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.ConfigSchema))
	if err != nil {
		return nil, []contracts.Problem{{Field: "configSchema", Message: err.Error()}}
	}
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource(configSchemaURL, schemaDoc); err != nil {
		return nil, []contracts.Problem{{Field: "configSchema", Message: err.Error()}}
	}
	schema, err := comp.Compile(configSchemaURL)
	if err != nil {
		return nil, []contracts.Problem{{Field: "configSchema", Message: err.Error()}}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(config))
	if err != nil {
		return nil, []contracts.Problem{{Field: "config", Message: err.Error()}}
	}
	if err := schema.Validate(doc); err != nil {
		return nil, []contracts.Problem{{Field: "config", Message: "does not match configSchema: " + err.Error()}}
	}
	return config, nil
}

// resources creates the plugin's durable consumer (once; again when its
// events change) and key-value bucket.
func (c *Core) resources(m contracts.Manifest) (*contracts.ConsumerInfo, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bucket := "plugin-" + m.ID
	if _, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, History: 1,
		Storage: jetstream.MemoryStorage}); err != nil {
		return nil, "", fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	if len(m.Events) == 0 {
		return nil, bucket, nil
	}
	durable := "plugin-" + m.ID
	c.mu.Lock()
	r := c.plugins[m.ID]
	current := r != nil && slices.Equal(r.consumer, m.Events)
	c.mu.Unlock()
	if !current {
		cons, err := bus.EnsureConsumer(ctx, c.js, c.o.prefix, bus.ConsumerConfig{Durable: durable,
			Description: "events of plugin " + m.ID, FilterSubjects: m.Events, AckWait: c.o.ackWait,
			MaxDeliver: c.o.maxDeliver})
		if err != nil {
			return nil, "", err
		}
		// Sample every ack, so tests can wait for the ack of one event.
		cfg := cons.CachedInfo().Config
		cfg.SampleFrequency = "100%"
		if _, err := c.js.UpdateConsumer(ctx, bus.DefaultStreamName, cfg); err != nil {
			return nil, "", fmt.Errorf("sample acks of %s: %w", durable, err)
		}
		c.mu.Lock()
		if r := c.plugins[m.ID]; r != nil {
			r.consumer = slices.Clone(m.Events)
		} else {
			c.plugins[m.ID] = &registration{instances: map[string]*instance{}, consumer: slices.Clone(m.Events)}
		}
		c.mu.Unlock()
	}
	return &contracts.ConsumerInfo{Stream: bus.DefaultStreamName, Durable: durable, MaxDeliver: c.o.maxDeliver,
		DeadLetterSubject: bus.DeadLetterSubjects(c.o.prefix, durable)}, bucket, nil
}

// rebuildPlanLocked derives the hook plan from the manifests of the plugins
// that serve (order, then plugin id) and announces it when it changed.
func (c *Core) rebuildPlanLocked() {
	points := map[contracts.HookPoint][]contracts.HookTarget{}
	type entry struct {
		order  int
		target contracts.HookTarget
	}
	byPoint := map[contracts.HookPoint][]entry{}
	for id, r := range c.plugins {
		if !r.served {
			continue
		}
		for _, h := range r.manifest.Hooks {
			byPoint[h.Point] = append(byPoint[h.Point], entry{h.Order, contracts.HookTarget{Plugin: id,
				Timeout: contracts.Duration(h.EffectiveTimeout()), FailurePolicy: h.EffectivePolicy()}})
		}
	}
	for p, es := range byPoint {
		slices.SortFunc(es, func(a, b entry) int {
			if a.order != b.order {
				return a.order - b.order
			}
			return strings.Compare(a.target.Plugin, b.target.Plugin)
		})
		for _, e := range es {
			points[p] = append(points[p], e.target)
		}
	}
	same := len(points) == len(c.plan.Points)
	for p, ts := range points {
		same = same && slices.Equal(ts, c.plan.Points[p])
	}
	if same {
		return
	}
	c.plan = contracts.HookPlan{Revision: c.plan.Revision + 1, Points: points}
	b, _ := json.Marshal(c.plan)
	if err := c.nc.Publish(bus.HooksPlanSubject(c.o.prefix), b); err != nil {
		c.logger.Error("announce hook plan", "error", err)
	}
}

// heartbeat answers plugin.<id>.heartbeat.
func (c *Core) heartbeat(m *nats.Msg) {
	id := subjectToken(m.Subject, c.o.prefix, 1)
	var hb contracts.Heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil {
		_ = wire.RespondError(m, contracts.CodeBadRequest.Errorf("heartbeat does not decode: %v", err))
		return
	}
	status := contracts.HeartbeatOK
	first := false
	c.mu.Lock()
	r := c.plugins[id]
	switch {
	case r == nil || r.forgotten || r.instances[hb.Instance] == nil:
		status = contracts.HeartbeatUnknown
	case r.replaced:
		status = contracts.HeartbeatReplaced
	default:
		i := r.instances[hb.Instance]
		i.heartbeats++
		first = i.heartbeats == 1
		if !r.served {
			r.served = true
			c.rebuildPlanLocked()
		}
	}
	c.mu.Unlock()
	if first {
		select {
		case c.servingOf(id) <- struct{}{}:
		default:
			c.logger.Warn("serving notifications overflow", "plugin", id)
		}
	}
	_ = wire.RespondJSON(m, contracts.HeartbeatReply{Status: status})
}

// servingOf is the channel announcing the plugin's instances that started serving.
func (c *Core) servingOf(pluginID string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.serving[pluginID]
	if ch == nil {
		ch = make(chan struct{}, 64)
		c.serving[pluginID] = ch
	}
	return ch
}

// subjectToken returns token i of subject after the prefix ("plugin.<id>.register": 1 is the id).
func subjectToken(subject, prefix string, i int) string {
	if prefix != "" {
		subject = strings.TrimPrefix(subject, strings.TrimSuffix(prefix, ".")+".")
	}
	toks := strings.Split(subject, ".")
	if i < len(toks) {
		return toks[i]
	}
	return ""
}
