package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/internal/wire"
	"github.com/authbus/authbus/pkg/telemetry/telemetrytest"
)

// Runnable is a plugin the harness can run: every *plugin.Plugin[Cfg].
type Runnable interface {
	// ID is the plugin id.
	ID() string
	// Manifest returns the checked manifest.
	Manifest() (contracts.Manifest, error)
	// Run runs the plugin until ctx ends.
	Run(ctx context.Context, opts ...plugin.Option) error
}

// Instance is one running plugin process, in a goroutine.
type Instance struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	logs   *telemetrytest.Logs
	once   sync.Once
}

// Launch runs p in the background on its own connection with the core's
// test Settings (opts come after those and may override them) and returns
// at once. An instance still running when the test ends is stopped then,
// and an error it stops with fails the test; its logs are printed if the
// test fails.
func (c *Core) Launch(t testing.TB, p Runnable, opts ...plugin.Option) *Instance {
	t.Helper()
	logger, logs := telemetrytest.NewLogger(t, slog.String("service", p.ID()))
	base := []plugin.Option{plugin.WithConn(c.Connect(t, p.ID())), plugin.WithSettings(c.Settings()), plugin.WithLogger(logger)}
	ctx, cancel := context.WithCancel(context.Background())
	i := &Instance{id: p.ID(), cancel: cancel, done: make(chan struct{}), logs: logs}
	go func() {
		defer close(i.done)
		i.err = p.Run(ctx, append(base, opts...)...)
	}()
	t.Cleanup(func() {
		select {
		case <-i.done:
			return // ended during the test, which saw how
		default:
		}
		if err := i.Stop(); err != nil {
			t.Errorf("plugintest: %s stopped with an error: %v", i.id, err)
		}
	})
	return i
}

// Run launches p and waits until it serves: registered, subscribed, and
// its first heartbeat reached the core. It fails the test if Run ends first.
func (c *Core) Run(t testing.TB, p Runnable, opts ...plugin.Option) *Instance {
	t.Helper()
	i := c.Launch(t, p, opts...)
	c.WaitServing(t, i)
	return i
}

// WaitServing waits until an instance of i's plugin sent its first
// heartbeat (it serves once it does), failing the test if i stops first.
func (c *Core) WaitServing(t testing.TB, i *Instance) {
	t.Helper()
	timeout := time.NewTimer(WaitTimeout)
	defer timeout.Stop()
	select {
	case <-c.servingOf(i.id):
	case <-i.done:
		t.Fatalf("plugintest: %s stopped before serving: %v", i.id, i.err)
	case <-timeout.C:
		t.Fatalf("plugintest: %s did not start serving within %s", i.id, WaitTimeout)
	}
}

// Stop cancels the instance's context (as SIGTERM does) and returns Run's
// error once it returned.
func (i *Instance) Stop() error {
	i.once.Do(i.cancel)
	select {
	case <-i.done:
		return i.err
	case <-time.After(time.Minute):
		return fmt.Errorf("plugintest: %s did not stop within a minute", i.id)
	}
}

// Done is closed when Run returned.
func (i *Instance) Done() <-chan struct{} { return i.done }

// Err is Run's error, once Done is closed.
func (i *Instance) Err() error {
	select {
	case <-i.done:
		return i.err
	default:
		return nil
	}
}

// Logs is what the instance logged.
func (i *Instance) Logs() *telemetrytest.Logs { return i.logs }

// manifest returns the registered manifest of pluginID.
func (c *Core) manifest(pluginID string) (contracts.Manifest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.plugins[pluginID]
	if r == nil || r.registrations == 0 {
		return contracts.Manifest{}, fmt.Errorf("%w: %s", errNotRunning, pluginID)
	}
	return r.manifest, nil
}

// CallHook calls one plugin at a hook point with the context in, under the
// deadline the plugin declared (or ctx's, if sooner), and returns its
// reply. An error reply — such as a decision the point does not allow — is
// returned as a *contracts.Error.
func (c *Core) CallHook(ctx context.Context, pluginID string, point contracts.HookPoint, in any) (contracts.HookReply, error) {
	m, err := c.manifest(pluginID)
	if err != nil {
		return contracts.HookReply{}, err
	}
	timeout := contracts.DefaultHookTimeout
	for _, h := range m.Hooks {
		if h.Point == point {
			timeout = h.EffectiveTimeout()
		}
	}
	doc, err := json.Marshal(in)
	if err != nil {
		return contracts.HookReply{}, fmt.Errorf("plugintest: encode %s context: %w", point, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var reply contracts.HookReply
	err = wire.Call(ctx, c.nc, bus.HookSubject(c.o.prefix, point, pluginID), nil, timeout,
		contracts.HookRequest{Hook: point, ID: contracts.NewUUIDv7(), Context: doc}, &reply)
	return reply, err
}

// Invoke calls method on pluginID as another plugin would.
func (c *Core) Invoke(ctx context.Context, pluginID, method string, req, resp any) error {
	return wire.Call(ctx, c.nc, bus.InvokeSubject(c.o.prefix, pluginID, method), nil, 5*time.Second, req, resp)
}

// HeaderRefreshSession is set to "true" on responses of Gateway when the
// route asked the core to re-issue the session cookie.
const HeaderRefreshSession = "Plugintest-Refresh-Session"

// Gateway is an http.Handler that forwards requests to a plugin's routes
// as the core's gateway does: request bodies above
// contracts.GatewayInlineBodyLimit are streamed, as are large responses.
type Gateway struct {
	// User is the signed-in user the route sees, if any.
	User *contracts.User
	// Session is the caller's session the route sees, if any.
	Session *contracts.Session
	// Timeout bounds the exchange (default 30s).
	Timeout time.Duration

	core   *Core
	plugin string
}

// Gateway returns a gateway to pluginID's routes; the request path is the
// path relative to the plugin's mount.
func (c *Core) Gateway(pluginID string) *Gateway { return &Gateway{core: c, plugin: pluginID} }

// ServeHTTP forwards r and writes the plugin's response.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	c := g.core
	req := contracts.GatewayRequest{ID: contracts.NewUUIDv7(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), RemoteAddr: r.RemoteAddr, User: g.User, Session: g.Session, ContentLength: r.ContentLength}
	req.Header.Del("Cookie")
	req.Header.Del("Authorization")
	head, err := io.ReadAll(io.LimitReader(r.Body, contracts.GatewayInlineBodyLimit+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(head) <= contracts.GatewayInlineBodyLimit {
		req.Body = head
	} else {
		req.BodyStream = bus.GatewayBodySubject(c.o.prefix, g.plugin, req.ID, "req")
		sender, err := bus.NewBodySender(c.nc, req.BodyStream, io.MultiReader(bytes.NewReader(head), r.Body), 0, 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Ends when the plugin read the body, or with ctx when it did not.
		go func() { _ = sender.Serve(ctx) }()
	}
	var resp contracts.GatewayResponse
	err = wire.Call(ctx, c.nc, bus.PluginHTTPSubject(c.o.prefix, g.plugin), nil, timeout, req, &resp)
	var ce *contracts.Error
	switch {
	case errors.As(err, &ce):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ce.Status)
		_ = json.NewEncoder(w).Encode(ce)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	if resp.RefreshSession {
		w.Header().Set(HeaderRefreshSession, "true")
	}
	w.WriteHeader(resp.Status)
	if resp.BodyStream == "" {
		_, _ = w.Write(resp.Body)
	} else if _, err := io.Copy(w, bus.NewBodyReader(ctx, c.nc, resp.BodyStream, 0)); err != nil {
		c.logger.Warn("gateway: streamed response ended early", "plugin", g.plugin, "error", err)
	}
}
