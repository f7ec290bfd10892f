package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/hooks"
	"github.com/authbus/authbus/pkg/plugin/internal/wire"
	"github.com/authbus/authbus/pkg/telemetry"
)

// ErrReplaced is returned by Run when the core answered a heartbeat with
// "replaced": a newer version of the plugin took over, and this instance
// drained and stopped.
var ErrReplaced = errors.New("plugin: a newer version of the plugin replaced this instance")

// RefusedError is returned by Run when the core refuses the registration
// for a reason that will not resolve itself; Reasons lists every one.
type RefusedError struct {
	// Plugin is the plugin id.
	Plugin string
	// Reasons are the core's reasons, each a sentence a person can act on.
	Reasons []contracts.Problem
}

// Error lists every reason.
func (e *RefusedError) Error() string {
	parts := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		parts[i] = r.String()
	}
	return fmt.Sprintf("plugin %s: the core refused the registration: %s", e.Plugin, strings.Join(parts, "; "))
}

// firstRegisterBackoff is the wait after the first failed registration attempt.
const firstRegisterBackoff = 100 * time.Millisecond

// Run runs the plugin until ctx is canceled, the core sends stop, or a
// heartbeat learns the instance was replaced (ErrReplaced). It connects to
// NATS (Settings.Bus from the environment unless WithConn or WithSettings),
// registers with the core and waits for acceptance — retrying with
// back-off while the core is absent or asks to retry, failing with a
// *RefusedError when it refuses for good —, decodes and validates the
// effective config, runs Init, serves every hook, route and invoke handler
// in the plugin's queue group on a bounded pool of workers, binds the
// durable event consumer, heartbeats, serves /healthz, /readyz and /metrics
// on Settings.OpsAddr, and runs Start. The first heartbeat goes out only once
// every endpoint is subscribed: it tells the core the instance serves, and
// the core calls a plugin's hooks only from then on.
//
// Stopping drains: the instance reports not ready, stops taking requests
// and events, lets in-flight ones finish (up to Settings.DrainTimeout),
// then runs Stop. Run returns nil after a clean stop.
func (p *Plugin[Cfg]) Run(ctx context.Context, opts ...Option) error {
	var o options
	for _, opt := range append(append([]Option(nil), p.opts...), opts...) {
		opt(&o)
	}
	var s Settings
	if o.settings != nil {
		s = *o.settings
		if err := s.Validate(); err != nil {
			return err
		}
	} else {
		var err error
		if s, err = LoadSettings(); err != nil {
			return err
		}
	}
	s = s.WithDefaults()
	m, err := p.Manifest()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.running = true
	p.mu.Unlock()
	logger := o.logger
	if logger == nil {
		level, _ := telemetry.ParseLevel(s.LogLevel)
		logger = telemetry.NewLogger(os.Stderr, level, telemetry.ServiceAttrs(m.ID, m.Version)...)
	}
	r := &runner[Cfg]{p: p, m: m, s: s, o: o, logger: logger.With("plugin", m.ID),
		stop: make(chan struct{}), fatal: make(chan error, 1)}
	return r.run(ctx)
}

// runner is the state of one Run.
type runner[Cfg any] struct {
	p      *Plugin[Cfg]
	m      contracts.Manifest
	s      Settings
	o      options
	logger *slog.Logger

	nc       *nats.Conn
	js       jetstream.JetStream
	metrics  *metrics
	health   *telemetry.Health
	instance contracts.InstanceInfo
	reply    contracts.RegisterReply
	pc       *Context[Cfg]
	inflight atomic.Int64
	ready    atomic.Bool

	stopOnce sync.Once
	stop     chan struct{} // closed by a Control stop
	fatal    chan error    // ErrReplaced, a refusal on re-registration, the event consumer dying
}

func (r *runner[Cfg]) run(ctx context.Context) (err error) {
	reg := telemetry.NewRegistry()
	if r.metrics, err = newMetrics(reg); err != nil {
		return err
	}
	r.health = telemetry.NewHealth(0)
	stopOps, err := r.serveOps(reg)
	if err != nil {
		return err
	}
	defer stopOps()

	if err := r.connect(ctx); err != nil {
		return err
	}
	if r.o.conn == nil {
		defer func() {
			if r.nc.IsConnected() {
				if ferr := r.nc.FlushTimeout(time.Second); ferr != nil {
					r.logger.Debug("flush before close", "error", ferr)
				}
			}
			r.nc.Close()
		}()
	}
	r.health.AddCheck("nats", func(context.Context) error {
		if !r.nc.IsConnected() {
			return fmt.Errorf("nats connection is %s", r.nc.Status())
		}
		return nil
	})
	r.health.AddCheck("registered", func(context.Context) error {
		if !r.ready.Load() {
			return errors.New("not yet registered with the core and serving")
		}
		return nil
	})

	host, _ := os.Hostname()
	r.instance = contracts.InstanceInfo{ID: contracts.NewUUIDv7(), Host: host, PID: os.Getpid(),
		StartedAt: time.Now().UTC(), SDK: SDKVersion}
	r.logger = r.logger.With("instance", r.instance.ID)
	reply, err := r.register(ctx)
	if err != nil {
		if ctx.Err() != nil {
			r.logger.Info("stopped before the core accepted the registration")
			return nil
		}
		return err
	}
	r.reply = reply
	r.logger.Info("registered with the core", "core_version", reply.CoreVersion, "version", r.m.Version)
	if reply.SubjectPrefix != r.prefix() {
		r.logger.Warn("the core uses another subject prefix; set AUTHBUS_SUBJECT_PREFIX to match it",
			"core_prefix", reply.SubjectPrefix, "prefix", r.prefix())
	}

	cfg, err := decodeConfig[Cfg](reply.Config)
	if err != nil {
		return fmt.Errorf("plugin %s: effective config: %w", r.m.ID, err)
	}
	plan, err := r.newContext(ctx, cfg, reg)
	if err != nil {
		return err
	}
	if plan != nil {
		defer plan.Stop()
	}

	// From here on Stop runs however the run ends.
	var runErr error
	defer func() { err = errors.Join(runErr, r.stopLifecycle()) }()
	if init, ok := r.o.lifecycle.(Initializer[Cfg]); ok {
		if err := init.Init(ctx, r.pc); err != nil {
			runErr = fmt.Errorf("plugin %s: init: %w", r.m.ID, err)
			return nil
		}
	}

	srv := newServer(r.nc, r.s.Workers, r.logger, r.metrics, &r.inflight)
	var events *eventConsumer
	drain := func() {
		r.health.Drain()
		r.ready.Store(false)
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := srv.drain(r.s.DrainTimeout); err != nil {
				r.logger.Warn("drain requests", "error", err)
			}
		})
		if events != nil {
			wg.Go(func() {
				if err := events.close(); err != nil {
					r.logger.Warn("drain events", "error", err)
				}
			})
		}
		wg.Wait()
	}
	if err := r.serve(srv); err != nil {
		drain()
		runErr = err
		return nil
	}
	if len(r.m.Events) > 0 {
		if reply.Consumer == nil {
			drain()
			runErr = fmt.Errorf("plugin %s: the manifest declares events but the core named no durable consumer", r.m.ID)
			return nil
		}
		d := &eventDispatch[Cfg]{prefix: r.prefix(), routes: r.p.events, context: func() *Context[Cfg] { return r.pc },
			mw: r.o.middleware, metrics: r.metrics, logger: r.logger, inflight: &r.inflight}
		if events, err = startEvents(r.js, *reply.Consumer, r.s, d); err != nil {
			drain()
			runErr = fmt.Errorf("plugin %s: %w", r.m.ID, err)
			return nil
		}
	}

	hbCtx, stopHeartbeats := context.WithCancel(context.WithoutCancel(ctx))
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); r.heartbeats(hbCtx) }()
	defer func() { stopHeartbeats(); <-hbDone }()
	r.ready.Store(true)
	r.logger.Info("serving", "hooks", len(r.m.Hooks), "routes", len(r.m.Routes), "invoke", len(r.m.Invoke),
		"events", r.m.Events, "workers", r.s.Workers, "event_workers", r.s.EventWorkers)

	startCtx, cancelStart := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStart()
	if st, ok := r.o.lifecycle.(Starter[Cfg]); ok {
		if err := st.Start(startCtx, r.pc); err != nil {
			cancelStart()
			drain()
			runErr = fmt.Errorf("plugin %s: start: %w", r.m.ID, err)
			return nil
		}
	}

	var eventsDone <-chan error
	if events != nil {
		eventsDone = events.done
	}
	select {
	case <-ctx.Done():
		r.logger.Info("stopping: context canceled", "cause", context.Cause(ctx))
	case <-r.stop:
		r.logger.Info("stopping: the core asked every instance to stop")
	case runErr = <-r.fatal:
		r.logger.Warn("stopping", "reason", runErr)
	case err := <-eventsDone:
		// The durable vanished or the connection closed: handing it back to
		// a supervisor beats serving hooks without events.
		events = nil
		runErr = fmt.Errorf("plugin %s: event consumption stopped: %w", r.m.ID, errors.Join(err, errors.New("durable consumer unavailable")))
		r.logger.Error("stopping", "reason", runErr)
	}
	cancelStart()
	drain()
	r.logger.Info("drained", "inflight", r.inflight.Load())
	return nil
}

// serveOps starts the ops HTTP server, if an address is set.
func (r *runner[Cfg]) serveOps(reg prometheus.Gatherer) (func(), error) {
	if r.s.OpsAddr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", r.s.OpsAddr)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: ops server: %w", r.m.ID, err)
	}
	mux := http.NewServeMux()
	telemetry.Mount(mux, r.health, reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := telemetry.Serve(ctx, ln, mux); err != nil {
			r.logger.Error("ops server", "error", err)
		}
	}()
	r.logger.Info("ops server listening", "addr", ln.Addr().String())
	return func() { cancel(); <-done }, nil
}

// connect opens the NATS connection, unless one was given.
func (r *runner[Cfg]) connect(ctx context.Context) error {
	if r.o.conn != nil {
		r.nc = r.o.conn
	} else {
		cfg := r.s.Bus
		if cfg.InboxPrefix == "" {
			cfg.InboxPrefix = "_INBOX_" + r.m.ID
		}
		if cfg.ClientName == "" {
			cfg.ClientName = r.m.ID
		}
		nc, err := bus.Connect(ctx, cfg, r.logger)
		if err != nil {
			return fmt.Errorf("plugin %s: %w", r.m.ID, err)
		}
		r.nc = nc
	}
	js, err := jetstream.New(r.nc)
	if err != nil {
		return fmt.Errorf("plugin %s: jetstream: %w", r.m.ID, err)
	}
	r.js = js
	return nil
}

// prefix is the installation's subject prefix.
func (r *runner[Cfg]) prefix() string { return r.s.Bus.SubjectPrefix }

// register registers until the core accepts, refuses for good, or ctx ends.
func (r *runner[Cfg]) register(ctx context.Context) (contracts.RegisterReply, error) {
	wait := firstRegisterBackoff
	var lastReasons string
	for attempt := 1; ; attempt++ {
		reply, err := r.registerOnce(ctx)
		var refused *RefusedError
		switch {
		case err == nil && reply.Status == contracts.RegisterAccepted:
			return reply, nil
		case errors.As(err, &refused):
			return contracts.RegisterReply{}, err
		case ctx.Err() != nil:
			return contracts.RegisterReply{}, ctx.Err()
		case err != nil:
			level := slog.LevelDebug
			if attempt%20 == 1 { // the first attempt, then about once a minute at the longest back-off
				level = slog.LevelInfo
			}
			r.logger.Log(ctx, level, "waiting for the core to accept the registration", "attempt", attempt, "error", err)
		default: // a retryable refusal
			if reasons := (&RefusedError{Plugin: r.m.ID, Reasons: reply.Reasons}).Error(); reasons != lastReasons {
				r.logger.Warn("the core asks to retry the registration later", "reasons", reply.Reasons)
				lastReasons = reasons
			}
		}
		// Jitter, so that many replicas starting together do not register in step.
		delay := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return contracts.RegisterReply{}, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, r.s.RegisterBackoffMax)
	}
}

// registerOnce sends one registration. A permanent refusal is a
// *RefusedError; a retryable one is returned as a reply without error.
func (r *runner[Cfg]) registerOnce(ctx context.Context) (contracts.RegisterReply, error) {
	req := contracts.RegisterRequest{Protocol: contracts.ProtocolVersion, Manifest: r.m, Instance: r.instance}
	var reply contracts.RegisterReply
	if err := wire.Call(ctx, r.nc, bus.RegisterSubject(r.s.Bus.SubjectPrefix, r.m.ID), nil, r.s.Bus.RequestTimeout, req, &reply); err != nil {
		return contracts.RegisterReply{}, fmt.Errorf("register: %w", err)
	}
	switch reply.Status {
	case contracts.RegisterAccepted:
		return reply, nil
	case contracts.RegisterRefused:
		if !reply.Retryable {
			return reply, &RefusedError{Plugin: r.m.ID, Reasons: reply.Reasons}
		}
		return reply, nil
	}
	return contracts.RegisterReply{}, fmt.Errorf("register: unknown status %q in the core's reply", reply.Status)
}

// decodeConfig decodes the effective config strictly (a field Cfg does not
// have is an error) and runs its Validate method, if any.
func decodeConfig[Cfg any](raw json.RawMessage) (Cfg, error) {
	var cfg Cfg
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("decode into %T: %w", cfg, err)
		}
	}
	if v, ok := any(&cfg).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return cfg, fmt.Errorf("validate: %w", err)
		}
	}
	return cfg, nil
}

// newContext builds the handlers' Context; it returns the plan follower
// when the plugin exposes hook points.
func (r *runner[Cfg]) newContext(ctx context.Context, cfg Cfg, reg prometheus.Registerer) (*hooks.RemotePlan, error) {
	calls := newCaller(r.nc, r.prefix(), r.m.ID, r.s.Bus.RequestTimeout)
	pc := &Context[Cfg]{
		Config: cfg,
		Logger: r.logger,
		Env: Env{PluginID: r.m.ID, Version: r.m.Version, InstanceID: r.instance.ID,
			CoreVersion: r.reply.CoreVersion, SubjectPrefix: r.prefix()},
		Users: Users{calls}, Sessions: Sessions{calls}, Email: Email{calls}, Crypto: Crypto{calls},
		calls: calls, js: r.js, stream: bus.DefaultStreamName,
	}
	if r.reply.Consumer != nil && r.reply.Consumer.Stream != "" {
		pc.stream = r.reply.Consumer.Stream
	}
	if r.reply.KVBucket != "" {
		kctx, cancel := context.WithTimeout(ctx, r.s.Bus.RequestTimeout)
		kv, err := r.js.KeyValue(kctx, r.reply.KVBucket)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("plugin %s: bind key-value bucket %s: %w", r.m.ID, r.reply.KVBucket, err)
		}
		pc.KV = kv
	}
	var plan *hooks.RemotePlan
	if r.exposesHooks() {
		pctx, cancel := context.WithTimeout(ctx, r.s.Bus.RequestTimeout)
		var err error
		plan, err = hooks.FollowPlan(pctx, r.nc, r.prefix(), r.m.ID, r.logger)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", r.m.ID, err)
		}
		d, err := hooks.New(hooks.Config{Conn: r.nc, SubjectPrefix: r.prefix(), Plan: plan, Caller: r.m.ID,
			Logger: r.logger, Metrics: reg})
		if err != nil {
			plan.Stop()
			return nil, fmt.Errorf("plugin %s: %w", r.m.ID, err)
		}
		pc.Hooks = d
	}
	r.pc = pc
	return plan, nil
}

// exposesHooks reports whether the manifest asks to call hook points.
func (r *runner[Cfg]) exposesHooks() bool {
	for _, p := range r.m.Permissions {
		if prefix, _, ok := p.Scope(); ok && prefix == contracts.PermHooksCall {
			return true
		}
	}
	return false
}

// serve subscribes to control messages and every request subject, and
// flushes so the server knows the subscriptions before the plugin reports ready.
func (r *runner[Cfg]) serve(srv *server) error {
	prefix, id := r.prefix(), r.m.ID
	if err := srv.subscribe(bus.ControlSubject(prefix, id), r.control); err != nil {
		return fmt.Errorf("plugin %s: subscribe to control: %w", id, err)
	}
	for point, h := range r.p.hooks {
		if err := srv.serve(bus.HookSubject(prefix, point, id), id, CallHook, string(point), r.hookRequest(point, h)); err != nil {
			return err
		}
	}
	if len(r.p.routes) > 0 {
		if err := srv.serve(bus.PluginHTTPSubject(prefix, id), id, CallRoute, "unmatched", r.routeRequest()); err != nil {
			return err
		}
	}
	for method, h := range r.p.invokes {
		if err := srv.serve(bus.InvokeSubject(prefix, id, method), id, CallInvoke, method, r.invokeRequest(method, h)); err != nil {
			return err
		}
	}
	if err := r.nc.FlushTimeout(r.s.Bus.RequestTimeout); err != nil {
		return fmt.Errorf("plugin %s: subscribe: %w", id, err)
	}
	return nil
}

// control handles a message on plugin.<id>.control.
func (r *runner[Cfg]) control(m *nats.Msg) {
	var c contracts.Control
	if err := json.Unmarshal(m.Data, &c); err != nil {
		r.logger.Warn("control message does not decode", "error", err)
		return
	}
	switch c.Action {
	case contracts.ControlStop:
		r.logger.Info("the core sent stop", "reason", c.Reason)
		r.stopOnce.Do(func() { close(r.stop) })
	default:
		r.logger.Warn("unknown control action", "action", c.Action)
	}
}

// heartbeats sends a heartbeat at once and then every interval the core
// asked for, re-registering when the core no longer knows the instance.
func (r *runner[Cfg]) heartbeats(ctx context.Context) {
	interval := time.Duration(r.reply.HeartbeatInterval)
	if interval <= 0 {
		interval = DefaultHeartbeatInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	failing := false
	for {
		status, err := r.heartbeat(ctx, interval)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				r.logger.Warn("heartbeat failed; still serving", "error", err)
			}
			failing = true
		default:
			if failing {
				r.logger.Info("heartbeats answered again")
			}
			failing = false
			switch status {
			case contracts.HeartbeatUnknown:
				r.reregister(ctx)
			case contracts.HeartbeatReplaced:
				r.fail(ErrReplaced)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// heartbeat sends one heartbeat.
func (r *runner[Cfg]) heartbeat(ctx context.Context, timeout time.Duration) (contracts.HeartbeatStatus, error) {
	hb := contracts.Heartbeat{Instance: r.instance.ID, Version: r.m.Version, InFlight: int(r.inflight.Load())}
	var reply contracts.HeartbeatReply
	err := wire.Call(ctx, r.nc, bus.HeartbeatSubject(r.prefix(), r.m.ID), nil, min(timeout, r.s.Bus.RequestTimeout), hb, &reply)
	return reply.Status, err
}

// reregister registers again after the core forgot the instance (it
// restarted, or missed heartbeats). The running config stays: a changed
// effective config is logged and applies at the next start.
func (r *runner[Cfg]) reregister(ctx context.Context) {
	r.logger.Info("the core does not know this instance; registering again")
	reply, err := r.registerOnce(ctx)
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		r.fail(err)
	case err != nil:
		r.logger.Warn("registering again failed; will retry at the next heartbeat", "error", err)
	case reply.Status != contracts.RegisterAccepted:
		r.logger.Warn("the core asks to retry the registration later", "reasons", reply.Reasons)
	default:
		if !jsonEqual(reply.Config, r.reply.Config) {
			r.logger.Warn("the effective config changed; restart the plugin to apply it")
		}
		r.logger.Info("registered again with the core")
	}
}

// fail stops the run with err (the first one wins).
func (r *runner[Cfg]) fail(err error) {
	select {
	case r.fatal <- err:
	default:
	}
}

// stopLifecycle runs Stop, if the lifecycle value has it.
func (r *runner[Cfg]) stopLifecycle() error {
	st, ok := r.o.lifecycle.(Stopper)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.s.DrainTimeout)
	defer cancel()
	if err := st.Stop(ctx); err != nil {
		return fmt.Errorf("plugin %s: stop: %w", r.m.ID, err)
	}
	return nil
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
	}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return bytes.Equal(ax, by)
}

// hookRequest answers hook requests for point with h.
func (r *runner[Cfg]) hookRequest(point contracts.HookPoint, h hookHandler[Cfg]) requestFunc {
	return func(ctx context.Context, m *nats.Msg) (string, string) {
		var req contracts.HookRequest
		if err := json.Unmarshal(m.Data, &req); err != nil || req.Hook != point {
			_ = wire.RespondError(m, contracts.CodeBadRequest.Errorf("not a %s hook request", point))
			return "", "error"
		}
		ctx = withContext(ctx, r.pc)
		var reply contracts.HookReply
		err := chain(r.o.middleware, ctx, Call{Kind: CallHook, Name: string(point), ID: req.ID}, func(ctx context.Context) error {
			return r.recovered(ctx, "hook "+string(point), func() (err error) {
				reply, err = h(ctx, r.pc, req.Context)
				return err
			})
		})
		if err != nil {
			var ce *contracts.Error
			switch {
			case errors.Is(err, errBadDecision):
				r.logger.ErrorContext(ctx, "hook handler returned a decision its hook point does not allow", "point", point, "error", err)
				ce = contracts.CodePluginError.Errorf("%v", err)
			case errors.As(err, &ce):
			default:
				r.logger.WarnContext(ctx, "hook handler failed", "point", point, "error", err)
				ce = contracts.CodePluginError.Errorf("%s handler failed: %v", point, err)
			}
			_ = wire.RespondError(m, ce)
			return "", "error"
		}
		if err := wire.RespondJSON(m, reply); err != nil {
			r.logger.WarnContext(ctx, "hook reply not sent", "point", point, "error", err)
			return "", "error"
		}
		if reply.Action == contracts.ActionAbort {
			return "", "abort"
		}
		return "", "ok"
	}
}

// invokeRequest answers invoke requests for method with h.
func (r *runner[Cfg]) invokeRequest(method string, h invokeHandler[Cfg]) requestFunc {
	return func(ctx context.Context, m *nats.Msg) (string, string) {
		ctx = withContext(ctx, r.pc)
		var resp any
		err := chain(r.o.middleware, ctx, Call{Kind: CallInvoke, Name: method}, func(ctx context.Context) error {
			return r.recovered(ctx, "invoke "+method, func() (err error) {
				resp, err = h(ctx, r.pc, m.Data)
				return err
			})
		})
		if err != nil {
			var ce *contracts.Error
			if !errors.As(err, &ce) {
				r.logger.WarnContext(ctx, "invoke handler failed", "method", method, "caller", m.Header.Get(contracts.HeaderPluginID), "error", err)
			}
			_ = wire.RespondError(m, contracts.AsError(err))
			return "", "error"
		}
		if err := wire.RespondJSON(m, resp); err != nil {
			return "", "error"
		}
		return "", "ok"
	}
}

// routeRequest answers gateway requests with the route mux.
func (r *runner[Cfg]) routeRequest() requestFunc {
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := withContext(req.Context(), r.pc)
		st, _ := ctx.Value(keyRoute).(*routeState)
		call := Call{Kind: CallRoute, Name: req.Method + " " + req.URL.Path}
		if st != nil {
			call.ID = st.id
		}
		err := chain(r.o.middleware, ctx, call, func(ctx context.Context) error {
			r.p.routeMux.ServeHTTP(w, req.WithContext(ctx))
			return nil
		})
		if err == nil {
			return
		}
		r.logger.WarnContext(ctx, "route middleware failed", "route", call.Name, "error", err)
		if gw, ok := w.(*gatewayWriter); ok && gw.status == 0 {
			writeError(w, contracts.AsError(err))
		}
	})
	return func(ctx context.Context, m *nats.Msg) (string, string) {
		route, status, err := serveGateway(ctx, r.nc, r.prefix(), r.m.ID, h, m)
		if err != nil {
			r.logger.WarnContext(ctx, "route failed", "route", route, "error", err)
			return route, "error"
		}
		if status >= 500 {
			return route, "error"
		}
		return route, "ok"
	}
}

// writeError writes e as the JSON body of an error response.
func writeError(w http.ResponseWriter, e *contracts.Error) {
	body, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// recovered runs fn, turning a panic into an error logged with its stack.
func (r *runner[Cfg]) recovered(ctx context.Context, what string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.logger.ErrorContext(ctx, "handler panicked", "handler", what, "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("%s panicked: %v", what, v)
		}
	}()
	return fn()
}
