// Package runtime is the core's plugin host: it answers registrations and
// heartbeats, keeps the registry (in memory and in a NATS KV bucket),
// creates each plugin's durable consumer and KV bucket, publishes and
// serves the hook plan, serves the core services, the API gateway and the
// plugin admin API, and tells plugins to stop when the last core replica
// shuts down.
//
// Several core replicas: registrations and heartbeats are plain
// subscriptions, not queue subscriptions, so every replica sees every one
// and keeps the same registry (each answers; the plugin takes the first
// answer). A replica that starts loads the registry bucket so it knows the
// running instances. Core services are a queue group ("core"): any one
// replica answers. Each replica runs a NATS micro service named
// "core"(+prefix); on shutdown a replica first stops its own service, then
// pings the others ($SRV.PING.<name>): only when none answers is it the
// last replica, and only then does it tell the plugins to stop.
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/authbus/authbus/internal/buildinfo"
	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/admin"
	"github.com/authbus/authbus/services/core/internal/runtime/coresvc"
	"github.com/authbus/authbus/services/core/internal/runtime/gateway"
	"github.com/authbus/authbus/services/core/internal/runtime/natsperm"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
	"github.com/authbus/authbus/services/core/internal/runtime/registry"
)

// PlanSource gives the hook dispatcher the current hook plan without locking.
type PlanSource interface {
	// Plan returns the current plan; callers must not modify it.
	Plan() *contracts.HookPlan
}

// Defaults of RegistryOptions.
const (
	// DefaultHeartbeatInterval is how often plugin instances heartbeat.
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultPeerPingTimeout bounds the wait for another core replica's answer at shutdown.
	DefaultPeerPingTimeout = 300 * time.Millisecond
)

// RegistryOptions tune the registry.
type RegistryOptions struct {
	// Bucket is the registry KV bucket (default natsperm.RegistryBucket(prefix), "authbus-plugins").
	Bucket string
	// HeartbeatInterval is how often instances must heartbeat (default 5s).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long an instance stays live without a
	// heartbeat (default 3 × HeartbeatInterval).
	HeartbeatTimeout time.Duration
	// Replicas of the registry and plugin buckets (default 1).
	Replicas int
	// MaxDeliver of plugins' durable consumers (default bus.DefaultMaxDeliver, 5).
	MaxDeliver int
	// PeerPingTimeout bounds the wait for other core replicas at shutdown (default 300ms).
	PeerPingTimeout time.Duration
}

// Options configure a Runtime.
type Options struct {
	// Conn is the core's NATS connection, with every right (required).
	Conn *nats.Conn
	// JetStream is a JetStream handle on Conn (required).
	JetStream jetstream.JetStream
	// Prefix is the installation's subject prefix (default none).
	Prefix string
	// Stream is the events stream plugins' durables are created on (default AUTH_EVENTS);
	// the core's assembly creates it (bus.EnsureStream) before Start.
	Stream string
	// Operator is the operator's plugin configuration (default operator.None(): no plugin may run).
	Operator *operator.Config
	// CoreServices are the core's flows behind the core services (nil: those calls answer 503).
	CoreServices coresvc.CoreServices
	// Secrets are the core secrets for crypto.encrypt/decrypt: the first
	// encrypts, all decrypt (none: crypto answers 503).
	Secrets [][]byte
	// SessionResolver resolves sessions for the gateway and the admin API.
	SessionResolver gateway.SessionResolver
	// SessionCookies re-issues session cookies when a plugin asks.
	SessionCookies gateway.SessionCookies
	// OutboxBacklog feeds the admin API's outbox endpoint (store.Store has it).
	OutboxBacklog admin.OutboxBacklog
	// HookStats feeds the admin API's hook statistics (the hook dispatcher).
	HookStats admin.HookStats
	// Logger receives the runtime's log (default slog.Default()).
	Logger *slog.Logger
	// Registry tunes the registry.
	Registry RegistryOptions
	// CoreVersion is checked against manifests' coreVersion (default buildinfo.CoreVersion).
	CoreVersion string
	// GatewayTimeout bounds a plugin's answer to a gateway request (default 30s).
	GatewayTimeout time.Duration
}

// Runtime is the core's plugin host.
type Runtime struct {
	o       Options
	log     *slog.Logger
	reg     *registry.Registry
	core    *coresvc.Service
	gw      *gateway.Gateway
	adm     *admin.Handler
	svcName string

	regMu   sync.Mutex // serializes registrations: check, provision, commit
	kv      jetstream.KeyValue
	svc     micro.Service
	subs    []*nats.Subscription
	cancel  context.CancelFunc
	loops   sync.WaitGroup
	planRev uint64
	started bool
	stopped bool
	mu      sync.Mutex
}

// New checks the options and builds the runtime; Start brings it up.
func New(o Options) (*Runtime, error) {
	var errs []error
	if o.Conn == nil {
		errs = append(errs, errors.New("option Conn is required"))
	}
	if o.JetStream == nil {
		errs = append(errs, errors.New("JetStream is required"))
	}
	if err := bus.ValidateSubjectPrefix(o.Prefix); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("plugin runtime: %w", err)
	}
	if o.Stream == "" {
		o.Stream = bus.DefaultStreamName
	}
	if o.Operator == nil {
		o.Operator = operator.None()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.CoreVersion == "" {
		o.CoreVersion = buildinfo.CoreVersion
	}
	ro := &o.Registry
	if ro.Bucket == "" {
		ro.Bucket = natsperm.RegistryBucket(o.Prefix)
	}
	if ro.HeartbeatInterval <= 0 {
		ro.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if ro.HeartbeatTimeout <= 0 {
		ro.HeartbeatTimeout = 3 * ro.HeartbeatInterval
	}
	if ro.Replicas <= 0 {
		ro.Replicas = 1
	}
	if ro.MaxDeliver == 0 {
		ro.MaxDeliver = bus.DefaultMaxDeliver
	}
	if ro.PeerPingTimeout <= 0 {
		ro.PeerPingTimeout = DefaultPeerPingTimeout
	}
	log := o.Logger.With("component", "plugin-runtime")
	r := &Runtime{o: o, log: log, svcName: serviceName(o.Prefix)}
	r.reg = registry.New(registry.Config{Operator: o.Operator, CoreVersion: o.CoreVersion,
		HeartbeatTimeout: ro.HeartbeatTimeout, Logger: log})

	var crypto *coresvc.Crypto
	if len(o.Secrets) > 0 {
		c, err := coresvc.NewCrypto(o.Secrets...)
		if err != nil {
			return nil, fmt.Errorf("plugin runtime: %w", err)
		}
		crypto = c
	}
	var err error
	if r.core, err = coresvc.New(coresvc.Config{Conn: o.Conn, Prefix: o.Prefix, Services: o.CoreServices, Callers: r.reg,
		Crypto: crypto, Logger: o.Logger}); err != nil {
		return nil, fmt.Errorf("plugin runtime: %w", err)
	}
	if r.gw, err = gateway.New(gateway.Config{Conn: o.Conn, Prefix: o.Prefix, Plugins: r.reg, Sessions: o.SessionResolver,
		Cookies: o.SessionCookies, Logger: o.Logger, Timeout: o.GatewayTimeout}); err != nil {
		return nil, fmt.Errorf("plugin runtime: %w", err)
	}
	if r.adm, err = admin.New(admin.Config{Registry: r.reg, Sessions: o.SessionResolver, JetStream: o.JetStream,
		Stream: o.Stream, HookStats: o.HookStats, Outbox: o.OutboxBacklog, Logger: o.Logger}); err != nil {
		return nil, fmt.Errorf("plugin runtime: %w", err)
	}
	return r, nil
}

// serviceName is the micro service every core replica runs ("core", or
// "core_<prefix>"): "core" is a reserved plugin id, so no plugin can answer for it.
func serviceName(prefix string) string {
	p := strings.TrimSuffix(natsperm.Bucket(prefix, "x"), "plugin-x")
	return "core" + strings.TrimSuffix("_"+p, "_")
}

// Plan returns the current hook plan; the runtime is the dispatcher's PlanSource.
func (r *Runtime) Plan() *contracts.HookPlan { return r.reg.Plan() }

// Registry returns the registry.
func (r *Runtime) Registry() *registry.Registry { return r.reg }

// Gateway returns the gateway handler (mount /api/plugins/ on it, and wrap
// the core's /api handler with Gateway().Wrap for granted mounts).
func (r *Runtime) Gateway() *gateway.Gateway { return r.gw }

// Admin returns the admin API handler for /api/admin/.
func (r *Runtime) Admin() http.Handler { return r.adm }

// Start opens the registry bucket and loads it, then serves registrations,
// heartbeats and core services, and starts the sweeper and the publisher.
func (r *Runtime) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("plugin runtime: already started")
	}
	kv, err := r.o.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: r.o.Registry.Bucket, Description: "authbus plugin registry", History: 1,
		Replicas: r.o.Registry.Replicas, Storage: jetstream.FileStorage})
	if err != nil {
		return fmt.Errorf("plugin runtime: registry bucket %s: %w", r.o.Registry.Bucket, err)
	}
	r.kv = kv
	recs, err := loadRecords(ctx, kv)
	if err != nil {
		return fmt.Errorf("plugin runtime: load registry: %w", err)
	}
	r.reg.Load(recs)
	r.planRev = r.reg.Plan().Revision

	svc, err := micro.AddService(r.o.Conn, micro.Config{Name: r.svcName, Version: r.o.CoreVersion,
		Description: "authbus core replica"})
	if err != nil {
		return fmt.Errorf("plugin runtime: presence service: %w", err)
	}
	r.svc = svc
	cleanup := func() {
		_ = svc.Stop()
		for _, s := range r.subs {
			_ = s.Unsubscribe()
		}
		r.subs = nil
	}
	for subj, h := range map[string]nats.MsgHandler{
		bus.RegisterSubjects(r.o.Prefix):  r.onRegister,
		bus.HeartbeatSubjects(r.o.Prefix): r.onHeartbeat,
	} {
		s, err := r.o.Conn.Subscribe(subj, h)
		if err != nil {
			cleanup()
			return fmt.Errorf("plugin runtime: subscribe %s: %w", subj, err)
		}
		r.subs = append(r.subs, s)
	}
	if err := r.core.Start(); err != nil {
		cleanup()
		return fmt.Errorf("plugin runtime: %w", err)
	}
	if err := r.o.Conn.FlushTimeout(5 * time.Second); err != nil {
		cleanup()
		return fmt.Errorf("plugin runtime: flush subscriptions: %w", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.loops.Go(func() { r.sweepLoop(lctx) })
	r.loops.Go(func() { r.publishLoop(lctx) })
	r.started = true
	r.log.Info("plugin runtime started", "registry_bucket", r.o.Registry.Bucket, "plugins_loaded", len(recs),
		"operator_config", r.o.Operator.Source, "service", r.svcName)
	return nil
}

func loadRecords(ctx context.Context, kv jetstream.KeyValue) ([]registry.Record, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	var recs []registry.Record
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", k, err)
		}
		var rec registry.Record
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			continue // written by a newer core, or damaged: it re-registers
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// Stop stops serving. When this is the last live core replica it first
// tells every plugin to stop, dependents before their dependencies, and
// marks them stopped in the registry.
func (r *Runtime) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started || r.stopped {
		return nil
	}
	r.stopped = true
	var errs []error
	if err := r.svc.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("stop presence service: %w", err))
	}
	others, err := r.otherReplicas()
	if err != nil {
		r.log.Warn("could not ask for other core replicas; plugins are not told to stop", "err", err)
	}
	if err == nil && !others {
		r.stopPlugins()
	} else if others {
		r.log.Info("other core replicas are running; plugins keep running")
	}
	for _, s := range r.subs {
		_ = s.Unsubscribe()
	}
	r.subs = nil
	if err := r.core.Stop(ctx); err != nil {
		errs = append(errs, err)
	}
	r.cancel()
	r.loops.Wait()
	r.flush(ctx)
	return errors.Join(errs...)
}

// otherReplicas pings the core micro service; this replica's own service
// is already stopped, so any answer is another replica.
func (r *Runtime) otherReplicas() (bool, error) {
	subj, err := micro.ControlSubject(micro.PingVerb, r.svcName, "")
	if err != nil {
		return false, err
	}
	inbox := r.o.Conn.NewInbox()
	sub, err := r.o.Conn.SubscribeSync(inbox)
	if err != nil {
		return false, err
	}
	defer sub.Unsubscribe() //nolint:errcheck
	if err := r.o.Conn.PublishRequest(subj, inbox, nil); err != nil {
		return false, err
	}
	msg, err := sub.NextMsg(r.o.Registry.PeerPingTimeout)
	switch {
	case err == nil && len(msg.Data) == 0 && msg.Header.Get("Status") == "503":
		return false, nil // the server's no-responders notice
	case err == nil:
		return true, nil
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders):
		return false, nil
	}
	return false, err
}

// stopPlugins publishes Control{stop} to each plugin in reverse dependency order.
func (r *Runtime) stopPlugins() {
	body, _ := json.Marshal(contracts.Control{Action: contracts.ControlStop, Reason: "core shutdown"})
	for _, id := range r.reg.StopOrder() {
		if err := r.o.Conn.Publish(bus.ControlSubject(r.o.Prefix, id), body); err != nil {
			r.log.Warn("tell plugin to stop", "plugin", id, "err", err)
			continue
		}
		// Flush each one so the messages leave in order even if the connection is slow.
		_ = r.o.Conn.FlushTimeout(time.Second)
		r.reg.MarkStopped(id)
		r.log.Info("plugin told to stop", "plugin", id)
	}
}

func (r *Runtime) sweepLoop(ctx context.Context) {
	every := r.o.Registry.HeartbeatTimeout / 4
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.reg.Sweep()
		}
	}
}

func (r *Runtime) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.reg.Changed():
			r.flush(ctx)
		}
	}
}

// flush writes changed records to the registry bucket and publishes the
// hook plan when it changed.
func (r *Runtime) flush(ctx context.Context) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, rec := range r.reg.TakeDirty() {
		b, err := json.Marshal(rec)
		if err != nil {
			continue
		}
		if _, err := r.kv.Put(wctx, rec.ID, b); err != nil {
			r.log.Warn("write registry record", "plugin", rec.ID, "err", err)
		}
	}
	plan := r.reg.Plan()
	if plan.Revision == r.planRev {
		return
	}
	b, err := json.Marshal(plan)
	if err != nil {
		return
	}
	if err := r.o.Conn.Publish(bus.HooksPlanSubject(r.o.Prefix), b); err != nil {
		r.log.Warn("publish hook plan", "err", err)
		return
	}
	r.planRev = plan.Revision
}

// subjectID returns the <id> of "<prefix>plugin.<id>.<verb>".
func subjectID(subject string) string {
	toks := strings.Split(subject, ".")
	if len(toks) < 3 {
		return ""
	}
	return toks[len(toks)-2]
}

func respondJSON(msg *nats.Msg, v any) {
	if msg.Reply == "" {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	_ = msg.Respond(b)
}

func (r *Runtime) onHeartbeat(msg *nats.Msg) {
	var hb contracts.Heartbeat
	if err := json.Unmarshal(msg.Data, &hb); err != nil || hb.Instance == "" {
		respondJSON(msg, contracts.HeartbeatReply{Status: contracts.HeartbeatUnknown})
		return
	}
	respondJSON(msg, contracts.HeartbeatReply{Status: r.reg.Heartbeat(subjectID(msg.Subject), hb)})
}

func (r *Runtime) onRegister(msg *nats.Msg) {
	id := subjectID(msg.Subject)
	var req contracts.RegisterRequest
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		respondJSON(msg, contracts.RegisterReply{Status: contracts.RegisterRefused, CoreVersion: r.o.CoreVersion,
			Reasons: []contracts.Problem{{Field: "request", Message: "is not a valid registration: " + err.Error()}}})
		return
	}
	r.regMu.Lock()
	defer r.regMu.Unlock()
	d := r.reg.Check(id, req)
	if !d.Accepted() {
		r.reg.Refuse(d)
		respondJSON(msg, r.refusal(d.Admission.Problems, d.Admission.Retryable))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	consumer, err := r.provision(ctx, req.Manifest)
	if err != nil {
		r.log.Error("provision plugin resources", "plugin", id, "err", err)
		respondJSON(msg, r.refusal([]contracts.Problem{{Field: "core",
			Message: "the core could not create the plugin's consumer or bucket; retry later (" + err.Error() + ")"}}, true))
		return
	}
	state := r.reg.Commit(d)
	r.log.Info("plugin registered", "plugin", id, "version", req.Manifest.Version, "instance", req.Instance.ID,
		"state", string(state), "replaces", d.Replaces)
	respondJSON(msg, contracts.RegisterReply{
		Status:            contracts.RegisterAccepted,
		Config:            d.Admission.Config,
		Granted:           d.Admission.Granted,
		HeartbeatInterval: contracts.Duration(r.o.Registry.HeartbeatInterval),
		Consumer:          consumer,
		KVBucket:          natsperm.Bucket(r.o.Prefix, id),
		CoreVersion:       r.o.CoreVersion,
		SubjectPrefix:     r.o.Prefix,
	})
}

func (r *Runtime) refusal(ps []contracts.Problem, retryable bool) contracts.RegisterReply {
	return contracts.RegisterReply{Status: contracts.RegisterRefused, Reasons: ps, Retryable: retryable,
		CoreVersion: r.o.CoreVersion, SubjectPrefix: r.o.Prefix}
}

// provision creates (or updates) the plugin's durable consumer, when it
// consumes events, and its KV bucket.
func (r *Runtime) provision(ctx context.Context, m contracts.Manifest) (*contracts.ConsumerInfo, error) {
	if _, err := r.o.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: natsperm.Bucket(r.o.Prefix, m.ID), Description: "plugin " + m.ID, History: 1,
		Replicas: r.o.Registry.Replicas, Storage: jetstream.FileStorage}); err != nil {
		return nil, fmt.Errorf("bucket: %w", err)
	}
	durable := natsperm.Durable(m.ID)
	if len(m.Events) == 0 {
		err := r.o.JetStream.DeleteConsumer(ctx, r.o.Stream, durable)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
			r.log.Warn("delete consumer of a plugin that consumes no events any more", "plugin", m.ID, "err", err)
		}
		return nil, nil
	}
	if _, err := bus.EnsureConsumer(ctx, r.o.JetStream, r.o.Prefix, bus.ConsumerConfig{
		Stream: r.o.Stream, Durable: durable, Description: "plugin " + m.ID + " " + m.Version,
		FilterSubjects: m.Events, MaxDeliver: r.o.Registry.MaxDeliver,
	}); err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	return &contracts.ConsumerInfo{Stream: r.o.Stream, Durable: durable, MaxDeliver: r.o.Registry.MaxDeliver,
		DeadLetterSubject: bus.DeadLetterSubjects(r.o.Prefix, durable)}, nil
}

var _ PlanSource = (*Runtime)(nil)
