package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
)

// ConformanceOption adjusts Conformance.
type ConformanceOption func(*conformance)

type conformance struct {
	hookContexts map[contracts.HookPoint]any
	eventData    map[contracts.EventType]any
	setup        []func(*Core)
	coreOpts     []Option
	pluginOpts   []plugin.Option
}

// WithHookContext is the context sent to point (default: the zero value of
// the point's context type). Give one the plugin decides on like real traffic.
func WithHookContext(point contracts.HookPoint, v any) ConformanceOption {
	return func(c *conformance) { c.hookContexts[point] = v }
}

// WithEventData is the data of the events of type t that are published
// (default: the zero value of the type's data).
func WithEventData(t contracts.EventType, data any) ConformanceOption {
	return func(c *conformance) { c.eventData[t] = data }
}

// WithSetup prepares each fake core (users, sessions, config) before the
// plugin starts.
func WithSetup(fn func(*Core)) ConformanceOption {
	return func(c *conformance) { c.setup = append(c.setup, fn) }
}

// WithCoreOptions starts each fake core with opts.
func WithCoreOptions(opts ...Option) ConformanceOption {
	return func(c *conformance) { c.coreOpts = append(c.coreOpts, opts...) }
}

// WithPluginOptions runs each plugin instance with opts.
func WithPluginOptions(opts ...plugin.Option) ConformanceOption {
	return func(c *conformance) { c.pluginOpts = append(c.pluginOpts, opts...) }
}

// Conformance checks what every plugin must do, each check on a fresh fake
// core and a fresh plugin from newPlugin:
//
//   - manifest: the manifest is valid, agrees with the handlers, and
//     survives plugin.json's strict parsing;
//   - registers: the core accepts it (defaultConfig passes configSchema,
//     coreVersion fits) and it starts serving;
//   - hooks: each declared hook point is answered within the declared
//     timeout with a decision valid for the point;
//   - events: each catalog event its patterns deliver is acked;
//   - nacks: a failed delivery is naked and redelivered, then acked — the
//     failure is injected by a plugin.Middleware in front of the handler,
//     exactly where a handler error reaches the SDK;
//   - stops while busy: with a hook (else an event, a route, an invoke
//     call) in flight, stopping waits for it, takes no new work meanwhile,
//     answers it, and Run returns nil.
func Conformance(t *testing.T, newPlugin func() Runnable, opts ...ConformanceOption) {
	t.Helper()
	c := &conformance{hookContexts: map[contracts.HookPoint]any{}, eventData: map[contracts.EventType]any{}}
	for _, opt := range opts {
		opt(c)
	}
	m, err := newPlugin().Manifest()
	if err != nil {
		t.Fatalf("plugintest: conformance: %v", err)
	}
	t.Run("manifest", func(t *testing.T) { c.manifest(t, newPlugin) })
	t.Run("registers", func(t *testing.T) {
		core, _ := c.start(t, newPlugin)
		if n := core.Registrations(m.ID); n != 1 {
			t.Fatalf("%d registrations accepted, want 1", n)
		}
	})
	if len(m.Hooks) > 0 {
		t.Run("hooks", func(t *testing.T) { c.hooks(t, newPlugin, m) })
	}
	if len(m.Events) > 0 {
		t.Run("events", func(t *testing.T) { c.events(t, newPlugin, m) })
		t.Run("nacks", func(t *testing.T) { c.nacks(t, newPlugin, m) })
	}
	t.Run("stops while busy", func(t *testing.T) { c.stopsWhileBusy(t, newPlugin, m) })
}

// start runs a fresh core and plugin.
func (c *conformance) start(t *testing.T, newPlugin func() Runnable, opts ...plugin.Option) (*Core, *Instance) {
	t.Helper()
	core := Start(t, c.coreOpts...)
	for _, fn := range c.setup {
		fn(core)
	}
	return core, core.Run(t, newPlugin(), append(append([]plugin.Option(nil), c.pluginOpts...), opts...)...)
}

func (c *conformance) manifest(t *testing.T, newPlugin func() Runnable) {
	m, err := newPlugin().Manifest()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := contracts.ParseManifest(b)
	if err != nil {
		t.Fatalf("the manifest does not read back as plugin.json: %v", err)
	}
	if err := back.Validate(); err != nil {
		t.Fatalf("the manifest read back from JSON is invalid: %v", err)
	}
}

// hookContext is the context sent to point.
func (c *conformance) hookContext(point contracts.HookPoint) any {
	if v, ok := c.hookContexts[point]; ok {
		return v
	}
	spec, _ := contracts.LookupHook(point)
	return reflect.New(reflect.TypeOf(spec.Context)).Elem().Interface()
}

// eventDataFor is the data published for t.
func (c *conformance) eventDataFor(t contracts.EventType) any {
	if v, ok := c.eventData[t]; ok {
		return v
	}
	spec, _ := contracts.LookupEvent(t)
	return reflect.New(reflect.TypeOf(spec.Data)).Elem().Interface()
}

func (c *conformance) hooks(t *testing.T, newPlugin func() Runnable, m contracts.Manifest) {
	core, _ := c.start(t, newPlugin)
	for _, h := range m.Hooks {
		t.Run(string(h.Point), func(t *testing.T) {
			start := time.Now()
			reply, err := core.CallHook(context.Background(), m.ID, h.Point, c.hookContext(h.Point))
			if err != nil {
				t.Fatalf("%s was not answered with a decision within %s: %v", h.Point, h.EffectiveTimeout(), err)
			}
			if err := reply.Validate(h.Point); err != nil {
				t.Fatalf("%s: %v", h.Point, err)
			}
			t.Logf("%s answered %s in %s", h.Point, reply.Action, time.Since(start).Round(time.Microsecond))
		})
	}
}

// deliveredTypes lists the catalog events the manifest's patterns deliver.
func deliveredTypes(m contracts.Manifest) []contracts.EventType {
	seen := map[contracts.EventType]bool{}
	var out []contracts.EventType
	for _, p := range m.Events {
		for _, et := range contracts.EventsMatching(p) {
			if !seen[et] {
				seen[et] = true
				out = append(out, et)
			}
		}
	}
	return out
}

func (c *conformance) events(t *testing.T, newPlugin func() Runnable, m contracts.Manifest) {
	core, _ := c.start(t, newPlugin)
	for _, et := range deliveredTypes(m) {
		ev := core.Publish(t, et, c.eventDataFor(et))
		st := core.WaitEvent(t, m.ID, ev, func(s EventStatus) bool { return s.Acked || s.DeadLetter != nil })
		if !st.Acked {
			t.Errorf("%s was not acked but dead-lettered: %s: %s (give conforming data with WithEventData)",
				et, st.DeadLetter.Reason, st.DeadLetter.Error)
		}
	}
}

func (c *conformance) nacks(t *testing.T, newPlugin func() Runnable, m contracts.Manifest) {
	var failed, handled sync.Map // event id → true
	fault := func(ctx context.Context, call plugin.Call, next func(context.Context) error) error {
		if call.Kind != plugin.CallEvent {
			return next(ctx)
		}
		if _, done := failed.LoadOrStore(call.ID, true); !done {
			return errors.New("plugintest: injected failure of the first delivery")
		}
		err := next(ctx)
		if err == nil {
			handled.Store(call.ID, call.Delivery)
		}
		return err
	}
	core, _ := c.start(t, newPlugin, plugin.WithMiddleware(fault))
	et := deliveredTypes(m)[0]
	ev := core.Publish(t, et, c.eventDataFor(et))
	st := core.WaitEvent(t, m.ID, ev, func(s EventStatus) bool { return s.Acked || s.DeadLetter != nil })
	if st.Naks < 1 || !st.Acked {
		t.Fatalf("%s after a failed first delivery: %+v, want naked then acked", et, st)
	}
	if d, ok := handled.Load(ev.Envelope.ID); !ok || d.(int) < 2 {
		t.Fatalf("%s was not handled on a redelivery (handled at delivery %v)", et, d)
	}
}

func (c *conformance) stopsWhileBusy(t *testing.T, newPlugin func() Runnable, m contracts.Manifest) {
	inside := make(chan plugin.Call, 1)
	release := make(chan struct{})
	var once sync.Once
	block := func(ctx context.Context, call plugin.Call, next func(context.Context) error) error {
		first := false
		once.Do(func() { first = true })
		if first {
			inside <- call
			<-release
		}
		return next(ctx)
	}
	core, inst := c.start(t, newPlugin, plugin.WithMiddleware(block))

	answered := make(chan error, 1)
	var probe func() error // a new call, which must find nobody while draining
	switch {
	case len(m.Hooks) > 0:
		h := m.Hooks[0]
		go func() {
			_, err := core.CallHook(context.Background(), m.ID, h.Point, c.hookContext(h.Point))
			answered <- err
		}()
		probe = func() error {
			_, err := core.CallHook(context.Background(), m.ID, h.Point, c.hookContext(h.Point))
			return err
		}
	case len(m.Events) > 0:
		et := deliveredTypes(m)[0]
		ev := core.Publish(t, et, c.eventDataFor(et))
		go func() {
			st, err := core.waitEvent(m.ID, ev, func(s EventStatus) bool { return s.Acked || s.Naks > 0 || s.DeadLetter != nil })
			if err == nil && !st.Acked {
				err = fmt.Errorf("the event in flight was not acked: %+v", st)
			}
			answered <- err
		}()
	case len(m.Routes) > 0:
		r := m.Routes[0]
		path := strings.TrimSuffix(r.Path, "*") + strings.Repeat("x", strings.Count(r.Path, "*"))
		gw := core.Gateway(m.ID)
		gw.User = &contracts.User{ID: "conformance-user", Email: "conformance@example.com", Role: "admin"}
		gw.Session = &contracts.Session{ID: "conformance-session", UserID: "conformance-user"}
		go func() {
			rec := httptest.NewRecorder()
			gw.ServeHTTP(rec, httptest.NewRequest(r.Method, path, nil))
			if rec.Code == http.StatusBadGateway {
				answered <- fmt.Errorf("route %s %s was not answered: %s", r.Method, path, rec.Body.String())
				return
			}
			answered <- nil
		}()
	case len(m.Invoke) > 0:
		go func() {
			err := core.Invoke(context.Background(), m.ID, m.Invoke[0], struct{}{}, nil)
			var ce *contracts.Error
			if errors.As(err, &ce) {
				err = nil // an answer, even an error one
			}
			answered <- err
		}()
	default:
		t.Logf("%s serves nothing to be busy with; checking a clean stop only", m.ID)
		close(release)
		if err := inst.Stop(); err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
		return
	}
	call := <-inside
	stopped := make(chan error, 1)
	go func() { stopped <- inst.Stop() }()
	if probe != nil {
		bustest.CheckFor(t, WaitTimeout, 5*time.Millisecond, func() error {
			if err := probe(); !errors.Is(err, bus.ErrNoResponders) {
				return fmt.Errorf("still taking new %s calls while draining: %v", call.Kind, err)
			}
			return nil
		})
	}
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a %s call was still in flight", err, call.Kind)
	default:
	}
	close(release)
	if err := <-answered; err != nil {
		t.Fatalf("the %s call in flight at shutdown: %v", call.Kind, err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run returned %v after a stop, want nil", err)
	}
}
