package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/authbus/authbus/pkg/contracts"
)

// SDKVersion is reported to the core in every registration.
const SDKVersion = "authbus-go/0.1.0"

// Plugin is one plugin service: its manifest, its handlers and how it runs.
// Cfg is the type its effective configuration is decoded into (use
// struct{} for a plugin without configuration). Register handlers with
// OnHook, OnEvent, OnInvoke and Route before calling Run.
type Plugin[Cfg any] struct {
	manifest contracts.Manifest
	opts     []Option

	mu       sync.Mutex
	running  bool
	hooks    map[contracts.HookPoint]hookHandler[Cfg]
	events   []eventRoute[Cfg]
	invokes  map[string]invokeHandler[Cfg]
	routes   []routeDecl
	routeMux *http.ServeMux
}

// New returns a plugin described by m. Options given here apply to every
// Run; options given to Run come after them.
func New[Cfg any](m contracts.Manifest, opts ...Option) *Plugin[Cfg] {
	return &Plugin[Cfg]{
		manifest: m,
		opts:     opts,
		hooks:    map[contracts.HookPoint]hookHandler[Cfg]{},
		invokes:  map[string]invokeHandler[Cfg]{},
		routeMux: http.NewServeMux(),
	}
}

// LoadManifest reads and parses a plugin.json file (it does not validate:
// Plugin.Manifest does).
func LoadManifest(path string) (contracts.Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return contracts.Manifest{}, fmt.Errorf("load manifest: %w", err)
	}
	m, err := contracts.ParseManifest(b)
	if err != nil {
		return contracts.Manifest{}, fmt.Errorf("load manifest %s: %w", path, err)
	}
	return m, nil
}

// ID is the plugin's id, from its manifest.
func (p *Plugin[Cfg]) ID() string { return p.manifest.ID }

// Manifest returns the manifest after checking it (contracts.Manifest.Validate)
// and checking that it and the registered handlers agree: each declared
// hook, route and invoke method has a handler and each handler is declared;
// each event the declared patterns deliver is matched by some OnEvent
// pattern. Every problem is reported at once.
func (p *Plugin[Cfg]) Manifest() (contracts.Manifest, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.manifest
	var errs []error
	if err := m.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, h := range m.Hooks {
		if _, ok := p.hooks[h.Point]; !ok && h.Point.Known() {
			errs = append(errs, fmt.Errorf("hook %s is declared but has no handler: add plugin.OnHook(p, %q, …)", h.Point, h.Point))
		}
	}
	for point := range p.hooks {
		if !slices.ContainsFunc(m.Hooks, func(h contracts.HookDecl) bool { return h.Point == point }) {
			errs = append(errs, fmt.Errorf("hook %s has a handler but is not declared: add {\"point\": %q} to the manifest's hooks", point, point))
		}
	}
	for _, r := range p.routes {
		if !slices.ContainsFunc(m.Routes, func(d contracts.RouteDecl) bool { return d.Method == r.method && d.Path == r.path }) {
			errs = append(errs, fmt.Errorf("route %s %s has a handler but is not declared in the manifest's routes", r.method, r.path))
		}
	}
	for _, d := range m.Routes {
		if !slices.ContainsFunc(p.routes, func(r routeDecl) bool { return d.Method == r.method && d.Path == r.path }) {
			errs = append(errs, fmt.Errorf("route %s %s is declared but has no handler: add p.Route(%q, %q, …)", d.Method, d.Path, d.Method, d.Path))
		}
	}
	for _, name := range m.Invoke {
		if _, ok := p.invokes[name]; !ok {
			errs = append(errs, fmt.Errorf("invoke method %q is declared but has no handler: add plugin.OnInvoke(p, %q, …)", name, name))
		}
	}
	for name := range p.invokes {
		if !slices.Contains(m.Invoke, name) {
			errs = append(errs, fmt.Errorf("invoke method %q has a handler but is not declared in the manifest's invoke list", name))
		}
	}
	for _, r := range p.events {
		if len(contracts.EventsMatching(r.pattern)) == 0 {
			errs = append(errs, fmt.Errorf("event handler %q matches no event of the catalog", r.pattern))
			continue
		}
		if !slices.ContainsFunc(m.Events, func(d string) bool { return patternsOverlap(d, r.pattern) }) {
			errs = append(errs, fmt.Errorf("event handler %q receives nothing: no pattern of the manifest's events delivers its events", r.pattern))
		}
	}
	for _, d := range m.Events {
		for _, t := range contracts.EventsMatching(d) {
			if !slices.ContainsFunc(p.events, func(r eventRoute[Cfg]) bool { return contracts.SubjectMatches(r.pattern, string(t)) }) {
				errs = append(errs, fmt.Errorf("events %q delivers %s, which no event handler matches: add plugin.OnEvent(p, …) or narrow the pattern", d, t))
			}
		}
	}
	if len(errs) > 0 {
		return m, fmt.Errorf("plugin %s: %w", m.ID, errors.Join(errs...))
	}
	return m, nil
}

// patternsOverlap reports whether some catalog event matches both patterns.
func patternsOverlap(a, b string) bool {
	for _, t := range contracts.EventsMatching(a) {
		if contracts.SubjectMatches(b, string(t)) {
			return true
		}
	}
	return false
}

// ManifestJSON returns the checked manifest as indented JSON, as
// --print-manifest prints it and plugin.json holds it.
func (p *Plugin[Cfg]) ManifestJSON() ([]byte, error) {
	m, err := p.Manifest()
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("plugin %s: encode manifest: %w", m.ID, err)
	}
	return append(b, '\n'), nil
}

// register adds a handler under the lock, refusing once Run started.
func (p *Plugin[Cfg]) register(what string, add func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		panic(fmt.Sprintf("plugin %s: %s registered after Run started", p.manifest.ID, what))
	}
	add()
}

// Option adjusts how a plugin runs.
type Option func(*options)

// options collects what Option values set.
type options struct {
	settings   *Settings
	conn       *nats.Conn
	logger     *slog.Logger
	lifecycle  any
	middleware []Middleware
}

// WithSettings runs with s instead of the settings read from the environment.
func WithSettings(s Settings) Option { return func(o *options) { o.settings = &s } }

// WithConn runs on an existing NATS connection, which Run does not close;
// Settings.Bus is then unused. The connection's inbox prefix must be one the
// plugin's NATS user may subscribe to ("_INBOX_<id>" under the permissions
// the core derives).
func WithConn(nc *nats.Conn) Option { return func(o *options) { o.conn = nc } }

// WithLogger logs to l instead of a JSON logger on stderr at Settings.LogLevel.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithLifecycle attaches v, which may implement Initializer, Starter and
// Stopper: Init runs once the effective config is known and before any
// handler is served, Start once everything is served, and Stop at shutdown
// after in-flight work drained — also when Init or Start failed.
func WithLifecycle(v any) Option { return func(o *options) { o.lifecycle = v } }

// WithMiddleware wraps every hook, event, route and invoke call in mw, the
// first given outermost.
func WithMiddleware(mw ...Middleware) Option {
	return func(o *options) { o.middleware = append(o.middleware, mw...) }
}

// Initializer is implemented by a lifecycle value (WithLifecycle) that
// prepares itself from the effective config, e.g. opens its database.
type Initializer[Cfg any] interface {
	Init(ctx context.Context, c *Context[Cfg]) error
}

// Starter is implemented by a lifecycle value that starts background work
// once the plugin serves; ctx is canceled when shutdown begins.
type Starter[Cfg any] interface {
	Start(ctx context.Context, c *Context[Cfg]) error
}

// Stopper is implemented by a lifecycle value that releases what Init and
// Start acquired; ctx carries the drain deadline.
type Stopper interface {
	Stop(ctx context.Context) error
}

// CallKind names what a Call is.
type CallKind string

// Kinds of calls.
const (
	// CallHook is a hook request; Call.Name is the hook point.
	CallHook CallKind = "hook"
	// CallEvent is an event delivery; Call.Name is the event type.
	CallEvent CallKind = "event"
	// CallRoute is a gateway request; Call.Name is "METHOD path".
	CallRoute CallKind = "route"
	// CallInvoke is a plugin-to-plugin call; Call.Name is the method.
	CallInvoke CallKind = "invoke"
)

// Call describes one unit of work a Middleware wraps.
type Call struct {
	// Kind is what is being handled.
	Kind CallKind
	// Name is the hook point, event type, route or invoke method.
	Name string
	// ID is the hook call id, event id or gateway request id (empty for invoke).
	ID string
	// Delivery is the event's delivery count, 1 on the first (0 for other kinds).
	Delivery int
}

// Middleware wraps each call. It calls next to run the handler; returning
// an error (with or without calling next) fails the call: a hook answers
// with an error (the caller's failure policy applies), an event is
// redelivered (or dead-lettered if the error is Permanent), a route that
// wrote nothing answers 500, an invoke answers the error.
type Middleware func(ctx context.Context, call Call, next func(context.Context) error) error

// chain runs fn inside the middleware, first outermost.
func chain(mw []Middleware, ctx context.Context, call Call, fn func(context.Context) error) error {
	if len(mw) == 0 {
		return fn(ctx)
	}
	return mw[0](ctx, call, func(ctx context.Context) error { return chain(mw[1:], ctx, call, fn) })
}

// validName reports whether s is usable as one subject token.
func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}
