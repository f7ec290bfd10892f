// Package gateway serves the HTTP routes plugins declare: under
// /api/plugins/<id>/… and under a mount the operator granted (such as
// /api/auth/organization). It resolves the session, enforces the route's
// auth level, and forwards the request over NATS on plugin.<id>.http —
// small bodies inline, large ones streamed in chunks both ways — under a
// deadline.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/registry"
)

// PluginsPrefix is the path under which every plugin's routes are served.
const PluginsPrefix = "/api/plugins/"

// SessionResolver finds the caller's user and session. It returns nils
// and no error when the request carries no valid session; an error means
// the session could not be checked (a *contracts.Error is served as is).
type SessionResolver interface {
	// Resolve returns the request's user and session, if any.
	Resolve(r *http.Request) (*contracts.User, *contracts.Session, error)
}

// SessionCookies re-issues the caller's session cookie after a plugin
// changed the session (GatewayResponse.RefreshSession).
type SessionCookies interface {
	// Reissue writes fresh session cookies to w for the session of r.
	Reissue(w http.ResponseWriter, r *http.Request) error
}

// Plugins is where the gateway learns the routable plugins (the registry).
type Plugins interface {
	// View is the current snapshot of the plugins.
	View() *registry.View
}

// Defaults of Config.
const (
	// DefaultTimeout bounds the wait for a plugin's answer.
	DefaultTimeout = 30 * time.Second
	// MaxStreamDuration caps an exchange whose request body is streamed.
	MaxStreamDuration = 15 * time.Minute
	// maxReplyBytes caps the JSON of an inline answer (a 256 KiB body is
	// about 342 KiB in base64).
	maxReplyBytes = 2 << 20
)

// Config configures a Gateway.
type Config struct {
	// Conn is the core's NATS connection (required).
	Conn *nats.Conn
	// Prefix is the installation's subject prefix (default none).
	Prefix string
	// Plugins is the registry (required).
	Plugins Plugins
	// Sessions resolves sessions (nil: every request is anonymous).
	Sessions SessionResolver
	// Cookies re-issues session cookies (nil: RefreshSession is ignored).
	Cookies SessionCookies
	// Logger receives failures (default slog.Default()).
	Logger *slog.Logger
	// Timeout bounds the wait for the plugin's answer (default 30s); with a
	// streamed request body, counted from the plugin's last pull of it.
	Timeout time.Duration
	// BodyIdleTimeout bounds the wait for each chunk of a streamed body
	// (default bus.DefaultBodyIdleTimeout, 10s).
	BodyIdleTimeout time.Duration
}

// Gateway is the http.Handler of plugin routes.
type Gateway struct {
	cfg   Config
	log   *slog.Logger
	mu    sync.Mutex
	table atomic.Pointer[table]
}

// New checks cfg and returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.Conn == nil || cfg.Plugins == nil {
		return nil, errors.New("gateway: Conn and Plugins are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.BodyIdleTimeout <= 0 {
		cfg.BodyIdleTimeout = bus.DefaultBodyIdleTimeout
	}
	return &Gateway{cfg: cfg, log: cfg.Logger.With("component", "gateway")}, nil
}

// route is one declared route at its full path.
type route struct {
	plugin string
	decl   contracts.RouteDecl
	base   string // mount or /api/plugins/<id>
	full   string // base + decl.Path without the "/*"
	prefix bool
}

// table is the route table of one registry view.
type table struct {
	view     *registry.View
	exact    map[string]*route // "METHOD path"
	prefixes []*route          // longest first
	mounts   []string
}

func (g *Gateway) routes() *table {
	v := g.cfg.Plugins.View()
	if t := g.table.Load(); t != nil && t.view == v {
		return t
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := g.table.Load(); t != nil && t.view == v {
		return t
	}
	t := &table{view: v, exact: map[string]*route{}}
	ids := make([]string, 0, len(v.Plugins))
	for id := range v.Plugins {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p := v.Plugins[id]
		if !p.Routable() {
			continue
		}
		bases := []string{PluginsPrefix + id}
		if m := p.Manifest.Mount; m != "" && p.Has(contracts.Permission(contracts.PermHTTPMount+m)) {
			bases = append(bases, m)
			t.mounts = append(t.mounts, m)
		}
		for _, base := range bases {
			for _, d := range p.Manifest.Routes {
				rt := &route{plugin: id, decl: d, base: base}
				if rest, ok := strings.CutSuffix(d.Path, "/*"); ok {
					rt.full, rt.prefix = base+rest, true
					t.prefixes = append(t.prefixes, rt)
					continue
				}
				rt.full = base + d.Path
				t.exact[d.Method+" "+rt.full] = rt
			}
		}
	}
	sort.SliceStable(t.prefixes, func(i, j int) bool { return len(t.prefixes[i].full) > len(t.prefixes[j].full) })
	g.table.Store(t)
	return t
}

// match finds the route for method and path.
func (t *table) match(method, path string) *route {
	if rt, ok := t.exact[method+" "+path]; ok {
		return rt
	}
	for _, rt := range t.prefixes {
		if rt.decl.Method == method && (path == rt.full || strings.HasPrefix(path, rt.full+"/")) {
			return rt
		}
	}
	return nil
}

// Handles reports whether the gateway serves r: a path under
// /api/plugins/, or a route under a granted mount.
func (g *Gateway) Handles(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, PluginsPrefix) {
		return true
	}
	t := g.routes()
	for _, m := range t.mounts {
		if r.URL.Path == m || strings.HasPrefix(r.URL.Path, m+"/") {
			return t.match(r.Method, r.URL.Path) != nil
		}
	}
	return false
}

// Wrap serves plugin routes and passes every other request to next: mount
// the result in place of the core's /api handler so mounted routes (e.g.
// /api/auth/organization/*) reach their plugin.
func (g *Gateway) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Handles(r) {
			g.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath reports whether p is already clean (no "..", "." or empty segments).
func cleanPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(p[1:], "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// ServeHTTP forwards a request to the plugin route it matches; nothing
// matching is a 404 with an empty body, as better-auth answers unknown paths.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if !cleanPath(path) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	t := g.routes()
	rt := t.match(r.Method, path)
	if rt == nil && strings.HasSuffix(path, "/") {
		rt = t.match(r.Method, strings.TrimSuffix(path, "/"))
	}
	if rt == nil {
		// A route "/" answers at its base path without the slash too.
		rt = t.match(r.Method, path+"/")
	}
	if rt == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	rel := strings.TrimPrefix(path, rt.base)
	if rel == "" {
		rel = "/"
	}

	var user *contracts.User
	var session *contracts.Session
	if g.cfg.Sessions != nil {
		u, s, err := g.cfg.Sessions.Resolve(r)
		if err != nil {
			g.log.Warn("resolve session", "err", err, "path", path)
			WriteError(w, contracts.AsError(err))
			return
		}
		if u != nil && s != nil {
			user, session = u, s
		}
	}
	switch rt.decl.EffectiveAuth() {
	case contracts.AuthSession:
		if user == nil {
			WriteError(w, contracts.CodeUnauthorized.Err())
			return
		}
	case contracts.AuthAdmin:
		if user == nil {
			WriteError(w, contracts.CodeUnauthorized.Err())
			return
		}
		if user.Role != "admin" {
			WriteError(w, contracts.CodeForbidden.Err())
			return
		}
	}
	g.forward(w, r, rt, rel, user, session)
}

// errTooLarge marks a body that passed its route's limit while streaming.
var errTooLarge = errors.New("request body exceeds the route's limit")

// limitedReader fails with errTooLarge once more than n bytes were read,
// and remembers when it was last read.
type limitedReader struct {
	r        io.Reader
	n        int64
	exceeded atomic.Bool
	lastRead atomic.Int64 // unix nanoseconds
}

func (l *limitedReader) Read(p []byte) (int, error) {
	l.lastRead.Store(time.Now().UnixNano())
	if l.n < 0 {
		l.exceeded.Store(true)
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		l.exceeded.Store(true)
		return 0, errTooLarge
	}
	return n, err
}

func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, rt *route, rel string, user *contracts.User, session *contracts.Session) {
	maxBody := rt.decl.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = contracts.DefaultRouteMaxBodyBytes
	}
	if r.ContentLength > maxBody {
		WriteError(w, contracts.CodePayloadTooLarge.Errorf("request body is %d bytes; this route accepts at most %d", r.ContentLength, maxBody))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	reqID := contracts.NewUUIDv7()
	greq := contracts.GatewayRequest{
		ID: reqID, Method: r.Method, Path: rel, Query: r.URL.RawQuery, Header: forwardHeader(r.Header),
		RemoteAddr: remoteHost(r.RemoteAddr), User: user, Session: session, ContentLength: r.ContentLength,
	}
	if r.ContentLength < 0 {
		greq.ContentLength = -1
	}

	var limited *limitedReader
	if r.Body != nil && r.Body != http.NoBody {
		limited = &limitedReader{r: r.Body, n: maxBody}
		head := make([]byte, contracts.GatewayInlineBodyLimit+1)
		n, err := io.ReadFull(limited, head)
		switch {
		case errors.Is(err, errTooLarge):
			WriteError(w, contracts.CodePayloadTooLarge.Errorf("request body exceeds %d bytes, this route's limit", maxBody))
			return
		case err == nil:
			// More than the inline limit: stream it.
			subject := bus.GatewayBodySubject(g.cfg.Prefix, rt.plugin, reqID, "req")
			sender, serr := bus.NewBodySender(g.cfg.Conn, subject, io.MultiReader(bytes.NewReader(head[:n]), limited), 0, g.cfg.BodyIdleTimeout)
			if serr != nil {
				g.log.Error("serve request body", "plugin", rt.plugin, "err", serr)
				WriteError(w, contracts.CodeServiceUnavailable.Err())
				return
			}
			greq.BodyStream = subject
			go func() {
				if err := sender.Serve(ctx); err != nil && ctx.Err() == nil {
					g.log.Info("request body stream ended early", "plugin", rt.plugin, "err", err)
				}
			}()
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			greq.Body = head[:n]
		default:
			g.log.Info("read request body", "plugin", rt.plugin, "err", err)
			WriteError(w, contracts.CodeBadRequest.Errorf("could not read the request body"))
			return
		}
	}

	data, err := json.Marshal(greq)
	if err != nil {
		WriteError(w, contracts.CodeInternalServerError.Err())
		return
	}
	var msg *nats.Msg
	var idleOut bool
	if greq.BodyStream == "" {
		rctx, rcancel := context.WithTimeout(ctx, g.cfg.Timeout)
		msg, err = bus.Request(rctx, g.cfg.Conn, bus.PluginHTTPSubject(g.cfg.Prefix, rt.plugin), data, nil, bus.WithMaxReplyBytes(maxReplyBytes))
		rcancel()
	} else {
		msg, idleOut, err = g.requestStreaming(ctx, rt.plugin, data, limited)
	}
	if limited != nil && limited.exceeded.Load() {
		WriteError(w, contracts.CodePayloadTooLarge.Errorf("request body exceeds %d bytes, this route's limit", maxBody))
		return
	}
	if idleOut {
		err = bus.ErrTimeout
	}
	if err != nil {
		g.writeRequestError(w, rt.plugin, err)
		return
	}
	var resp contracts.GatewayResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil || resp.Status < 100 || resp.Status > 599 {
		g.log.Warn("plugin answered an invalid gateway response", "plugin", rt.plugin, "err", err, "status", resp.Status)
		WriteError(w, contracts.CodePluginError.Err())
		return
	}
	wantStream := bus.GatewayBodySubject(g.cfg.Prefix, rt.plugin, reqID, "res")
	if resp.BodyStream != "" && resp.BodyStream != wantStream {
		g.log.Warn("plugin named a foreign body stream", "plugin", rt.plugin, "stream", resp.BodyStream)
		WriteError(w, contracts.CodePluginError.Err())
		return
	}
	if resp.RefreshSession && g.cfg.Cookies != nil && session != nil {
		if err := g.cfg.Cookies.Reissue(w, r); err != nil {
			g.log.Warn("reissue session cookie", "plugin", rt.plugin, "err", err)
		}
	}
	h := w.Header()
	for k, vs := range responseHeader(resp.Header) {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if resp.BodyStream == "" {
		h.Set("Content-Length", fmt.Sprint(len(resp.Body)))
		w.WriteHeader(resp.Status)
		_, _ = w.Write(resp.Body)
		return
	}
	body := bus.NewBodyReader(ctx, g.cfg.Conn, resp.BodyStream, g.cfg.BodyIdleTimeout)
	defer body.Close()
	w.WriteHeader(resp.Status)
	buf := make([]byte, 32<<10)
	if _, err := io.CopyBuffer(w, body, buf); err != nil {
		g.log.Warn("stream response body", "plugin", rt.plugin, "err", err)
		// The status is out: only aborting the connection tells the client the body is cut.
		panic(http.ErrAbortHandler)
	}
}

// requestStreaming sends a request whose body is streamed: the plugin must
// keep pulling the body, and answer within Timeout of its last pull, so a
// large body is not cut by the answer deadline. MaxStreamDuration caps the
// whole exchange. idleOut reports that the plugin went quiet.
func (g *Gateway) requestStreaming(ctx context.Context, plugin string, data []byte, body *limitedReader) (msg *nats.Msg, idleOut bool, err error) {
	body.lastRead.Store(time.Now().UnixNano())
	rctx, rcancel := context.WithTimeout(ctx, MaxStreamDuration)
	defer rcancel()
	var quiet atomic.Bool
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTimer(g.cfg.Timeout)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				idle := time.Since(time.Unix(0, body.lastRead.Load()))
				if idle >= g.cfg.Timeout {
					quiet.Store(true)
					rcancel()
					return
				}
				t.Reset(g.cfg.Timeout - idle)
			}
		}
	}()
	msg, err = bus.Request(rctx, g.cfg.Conn, bus.PluginHTTPSubject(g.cfg.Prefix, plugin), data, nil, bus.WithMaxReplyBytes(maxReplyBytes))
	return msg, quiet.Load(), err
}

func (g *Gateway) writeRequestError(w http.ResponseWriter, plugin string, err error) {
	var se *bus.ServiceError
	switch {
	case errors.Is(err, bus.ErrNoResponders):
		WriteError(w, contracts.CodePluginUnavailable.Errorf("plugin %q has no running instance", plugin))
	case errors.Is(err, bus.ErrTimeout):
		WriteError(w, contracts.CodePluginTimeout.Errorf("plugin %q did not answer in time", plugin))
	case errors.As(err, &se):
		var ce contracts.Error
		if json.Unmarshal(se.Data, &ce) == nil && ce.Status >= 400 && ce.Status <= 599 && ce.Message != "" {
			WriteError(w, &ce)
			return
		}
		g.log.Warn("plugin answered with a service error", "plugin", plugin, "err", err)
		WriteError(w, contracts.CodePluginError.Err())
	default:
		g.log.Warn("gateway request failed", "plugin", plugin, "err", err)
		WriteError(w, contracts.CodePluginUnavailable.Errorf("plugin %q is unreachable", plugin))
	}
}

// hopByHop are headers that belong to one connection (RFC 9110 §7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// stripHopByHop deletes hop-by-hop headers and those Connection names.
func stripHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
}

// forwardHeader copies the request headers a plugin may see: never
// credentials (cookies, authorization) nor hop-by-hop headers.
func forwardHeader(in http.Header) http.Header {
	h := in.Clone()
	stripHopByHop(h)
	for _, k := range []string{"Cookie", "Authorization", "Proxy-Authorization"} {
		h.Del(k)
	}
	return h
}

// responseHeader copies the headers of a plugin's answer the client may
// see: no hop-by-hop headers, no cookies (a plugin does not set the core's
// cookies; it asks for RefreshSession), no Content-Length (the core sets it).
func responseHeader(in http.Header) http.Header {
	h := in.Clone()
	if h == nil {
		return http.Header{}
	}
	stripHopByHop(h)
	h.Del("Set-Cookie")
	h.Del("Content-Length")
	return h
}

func remoteHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// WriteError writes a contracts.Error as JSON {"code","message"} with its status.
func WriteError(w http.ResponseWriter, e *contracts.Error) {
	body := struct {
		Code    contracts.Code `json:"code,omitempty"`
		Message string         `json:"message"`
	}{e.Code, e.Message}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}
