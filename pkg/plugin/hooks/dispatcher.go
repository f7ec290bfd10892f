// Package hooks calls plugins at hook points. Its Dispatcher is the one
// implementation used by the core for its own hook points and by plugins
// that expose hook points of their own (the organizations plugin calls
// beforeOrgCreate), so both follow the same ordering, deadlines, patch
// allowlist and failure policies.
//
// Which plugins a point calls, in which order, with which timeout and
// failure policy, comes from a PlanSource: the core supplies its registry,
// a plugin supplies FollowPlan, which fetches the core's plan and follows
// its updates.
//
//	d, err := hooks.New(hooks.Config{Conn: nc, Plan: plan, Caller: "orgs"})
//	c := contracts.OrgCreateContext{Organization: fields, UserID: uid}
//	if err := d.Before(ctx, contracts.HookBeforeOrgCreate, &c); err != nil {
//		return err // a *contracts.Error to answer the client with, as is
//	}
//	// c now holds the fields the plugins patched
package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
)

// DefaultWindow is how many recent calls per (point, plugin) the latency
// percentiles of Stats are computed over.
const DefaultWindow = 1024

// maxReplyBytes caps a hook reply: a decision and a patch of a few fields.
const maxReplyBytes = 256 << 10

// tracerName names the tracer of hook call spans.
const tracerName = "github.com/authbus/authbus/pkg/plugin/hooks"

// Config configures a Dispatcher.
type Config struct {
	// Conn is the NATS connection hook requests are sent on. Required.
	Conn *nats.Conn
	// SubjectPrefix is the installation's subject prefix; default none.
	SubjectPrefix string
	// Plan says which plugins each point calls. Required.
	Plan PlanSource
	// Caller is the id of the calling service ("core" or a plugin id), sent
	// in contracts.HeaderPluginID; default "core".
	Caller string
	// Logger receives refused patches and failures; default slog.Default().
	Logger *slog.Logger
	// Metrics, if set, registers the hook metrics (authbus_hook_*); default none.
	Metrics prometheus.Registerer
	// Window is how many recent calls per (point, plugin) Stats keeps
	// (default DefaultWindow).
	Window int
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("hooks: Conn is required"))
	}
	if c.Plan == nil {
		errs = append(errs, errors.New("hooks: Plan is required"))
	}
	if err := bus.ValidateSubjectPrefix(c.SubjectPrefix); err != nil {
		errs = append(errs, fmt.Errorf("hooks: %w", err))
	}
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("hooks: window %d is negative", c.Window))
	}
	return errors.Join(errs...)
}

// Dispatcher calls the plugins of a hook point. It is safe for concurrent use.
type Dispatcher struct {
	nc     *nats.Conn
	prefix string
	plan   PlanSource
	header nats.Header
	logger *slog.Logger
	tracer trace.Tracer
	stats  *recorder
}

// New checks cfg and returns a Dispatcher.
func New(cfg Config) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Caller == "" {
		cfg.Caller = "core"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	rec, err := newRecorder(cfg.Window, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	return &Dispatcher{
		nc:     cfg.Conn,
		prefix: cfg.SubjectPrefix,
		plan:   cfg.Plan,
		header: nats.Header{contracts.HeaderPluginID: []string{cfg.Caller}},
		logger: cfg.Logger.With("component", "hooks"),
		tracer: otel.Tracer(tracerName),
		stats:  rec,
	}, nil
}

// targets returns the plugins point calls, in order.
func (d *Dispatcher) targets(point contracts.HookPoint) []contracts.HookTarget {
	plan := d.plan.Plan()
	if plan == nil {
		return nil
	}
	return plan.Points[point]
}

// Has reports whether any plugin is called at point, so a caller can skip
// building an expensive context nobody reads.
func (d *Dispatcher) Has(point contracts.HookPoint) bool { return len(d.targets(point)) > 0 }

// Before runs a sequential hook point. c is a pointer to the point's
// context struct (contracts.SignUpContext for beforeSignUp, …). The plugins
// are called in plan order, each under its own deadline: the smaller of
// what is left of ctx's deadline and the plugin's timeout.
//
// A plugin's patch is applied to *c when the point allows every field it
// touches; otherwise the patch is refused (logged, counted) and the flow
// goes on unpatched. An abort returns the plugin's *contracts.Error, to be
// answered to the client as is. A plugin that times out, has no responders
// or answers with an error or an unusable reply is handled by its failure
// policy: closed returns contracts.CodePluginUnavailable (503), open skips
// it. The error is ctx's own when ctx is canceled.
//
// A point no plugin serves returns nil at once, touching nothing.
func (d *Dispatcher) Before(ctx context.Context, point contracts.HookPoint, c any) error {
	targets := d.targets(point)
	if len(targets) == 0 {
		return nil
	}
	return d.before(ctx, point, targets, c)
}

func (d *Dispatcher) before(ctx context.Context, point contracts.HookPoint, targets []contracts.HookTarget, c any) error {
	spec, ok := contracts.LookupHook(point)
	if !ok {
		return fmt.Errorf("hooks: unknown hook point %q", point)
	}
	if spec.Mode != contracts.Sequential {
		return fmt.Errorf("hooks: %s runs in parallel: call After", point)
	}
	target := reflect.ValueOf(c)
	if target.Kind() != reflect.Pointer || target.IsNil() {
		return fmt.Errorf("hooks: %s: context must be a non-nil pointer, got %T", point, c)
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("hooks: %s: encode context: %w", point, err)
	}
	for _, t := range targets {
		reply, err := d.call(ctx, point, t, doc)
		if err != nil {
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("hooks: %s: %w", point, ctx.Err())
			}
			if policy(t) == contracts.FailClosed {
				return contracts.CodePluginUnavailable.Err()
			}
			continue
		}
		if reply.Action == contracts.ActionAbort {
			e := *reply.Error
			return &e
		}
		if len(reply.Patch) == 0 {
			continue
		}
		patched, err := patch(doc, reply.Patch, target.Type().Elem())
		if err != nil {
			d.stats.refused(point, t.Plugin)
			d.logger.WarnContext(ctx, "hook patch refused", "point", point, "plugin", t.Plugin, "error", err)
			continue
		}
		target.Elem().Set(patched.value)
		doc = patched.doc
	}
	return nil
}

// patched is a context after a patch: as a value of the context type and re-encoded.
type patched struct {
	value reflect.Value
	doc   []byte
}

// patch applies a validated merge patch to doc and decodes the result into
// a fresh value of typ, so that fields the patch removes end up zero. A
// patch whose result does not fit the type (a string where a number goes)
// is refused.
func patch(doc, p []byte, typ reflect.Type) (patched, error) {
	merged, err := contracts.ApplyPatch(doc, p)
	if err != nil {
		return patched{}, err
	}
	fresh := reflect.New(typ)
	if err := json.Unmarshal(merged, fresh.Interface()); err != nil {
		return patched{}, fmt.Errorf("patched context does not decode: %w", err)
	}
	out, err := json.Marshal(fresh.Interface())
	if err != nil {
		return patched{}, fmt.Errorf("patched context does not encode: %w", err)
	}
	return patched{value: fresh.Elem(), doc: out}, nil
}

// After runs a parallel hook point: every plugin is called at once with c
// (a pointer to, or a value of, the point's context struct), and After
// returns when all answered or their deadlines passed. It never fails:
// failures are logged and counted. A point no plugin serves returns at once.
func (d *Dispatcher) After(ctx context.Context, point contracts.HookPoint, c any) {
	targets := d.targets(point)
	if len(targets) == 0 {
		return
	}
	d.after(ctx, point, targets, c)
}

func (d *Dispatcher) after(ctx context.Context, point contracts.HookPoint, targets []contracts.HookTarget, c any) {
	doc, err := json.Marshal(c)
	if err != nil {
		d.logger.ErrorContext(ctx, "hook context does not encode", "point", point, "error", err)
		return
	}
	if len(targets) == 1 {
		_, _ = d.call(ctx, point, targets[0], doc)
		return
	}
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() { _, _ = d.call(ctx, point, t, doc) })
	}
	wg.Wait()
}

// policy is a target's failure policy, closed unless it says open.
func policy(t contracts.HookTarget) contracts.FailurePolicy {
	if t.FailurePolicy == contracts.FailOpen {
		return contracts.FailOpen
	}
	return contracts.FailClosed
}

// timeout is a target's deadline per call.
func timeout(t contracts.HookTarget) time.Duration {
	if t.Timeout <= 0 {
		return contracts.DefaultHookTimeout
	}
	return time.Duration(t.Timeout)
}

// call sends one hook request and returns a reply that is valid for point
// (a refused patch already removed), or an error after recording and
// logging the failure.
func (d *Dispatcher) call(ctx context.Context, point contracts.HookPoint, t contracts.HookTarget, doc json.RawMessage) (contracts.HookReply, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout(t))
	defer cancel()
	ctx, span := d.tracer.Start(ctx, "hook "+string(point)+" "+t.Plugin, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("authbus.hook.point", string(point)), attribute.String("authbus.plugin", t.Plugin))
	}

	start := time.Now()
	reply, outcome, err := d.exchange(ctx, point, t, doc)
	elapsed := time.Since(start)
	d.stats.record(point, t.Plugin, outcome, elapsed)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		level := slog.LevelWarn
		if policy(t) == contracts.FailOpen {
			level = slog.LevelInfo
		}
		d.logger.Log(ctx, level, "hook call failed", "point", point, "plugin", t.Plugin,
			"outcome", outcome, "policy", policy(t), "elapsed", elapsed, "error", err)
		return contracts.HookReply{}, err
	}
	return reply, nil
}

// exchange does the request/reply and classifies its outcome.
func (d *Dispatcher) exchange(ctx context.Context, point contracts.HookPoint, t contracts.HookTarget, doc json.RawMessage) (contracts.HookReply, outcome, error) {
	body, err := json.Marshal(contracts.HookRequest{Hook: point, ID: contracts.NewUUIDv7(), Context: doc})
	if err != nil {
		return contracts.HookReply{}, outcomeError, fmt.Errorf("encode request: %w", err)
	}
	msg, err := bus.Request(ctx, d.nc, bus.HookSubject(d.prefix, point, t.Plugin), body, d.header,
		bus.WithMaxReplyBytes(maxReplyBytes))
	var se *bus.ServiceError
	switch {
	case err == nil:
	case errors.Is(err, bus.ErrNoResponders):
		return contracts.HookReply{}, outcomeNoResponders, err
	case errors.Is(err, bus.ErrTimeout):
		return contracts.HookReply{}, outcomeTimeout, err
	case errors.As(err, &se):
		return contracts.HookReply{}, outcomeError, fmt.Errorf("plugin answered with an error: %s %s", se.Code, se.Description)
	default:
		return contracts.HookReply{}, outcomeError, err
	}
	var reply contracts.HookReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return contracts.HookReply{}, outcomeError, fmt.Errorf("reply is not a hook reply: %w", err)
	}
	err = reply.Validate(point)
	if errors.Is(err, contracts.ErrPatchNotAllowed) {
		d.stats.refused(point, t.Plugin)
		d.logger.WarnContext(ctx, "hook patch refused", "point", point, "plugin", t.Plugin, "error", err)
		reply.Patch = nil
		err = reply.Validate(point)
	}
	if err != nil {
		return contracts.HookReply{}, outcomeError, err
	}
	switch {
	case reply.Action == contracts.ActionAbort:
		return reply, outcomeAbort, nil
	case len(reply.Patch) > 0 && string(reply.Patch) != "null":
		return reply, outcomePatch, nil
	default:
		reply.Patch = nil
		return reply, outcomeContinue, nil
	}
}
