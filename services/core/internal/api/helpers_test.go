package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/api"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/auth/authtest"
	"github.com/authbus/authbus/services/core/internal/mail/mailtest"
	"github.com/authbus/authbus/services/core/internal/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is the API served over a real listener on one store.
type env struct {
	t      testing.TB
	st     store.Store
	svc    *auth.Service
	h      *api.Handler
	srv    *httptest.Server
	clock  *authtest.Clock
	hooks  *authtest.Hooks
	hasher *authtest.FastHasher
	smtp   *mailtest.Server
	origin string // the server's origin, e.g. http://127.0.0.1:41234
	base   string // origin + /api/auth
}

// config tunes newEnv.
type config struct {
	auth      auth.Options
	api       api.Options
	hasher    auth.PasswordHasher // default: the env's FastHasher
	noMail    bool
	wrapStore func(store.Store) store.Store
}

// t0 is the clock's start: a fixed instant with sub-millisecond digits.
var t0 = time.Date(2026, 11, 22, 2, 31, 40, 858_123_456, time.UTC)

func newEnv(t testing.TB, b authtest.Backend, opts ...func(*config)) *env {
	t.Helper()
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	e := &env{t: t, clock: authtest.NewClock(t0), hooks: &authtest.Hooks{}, hasher: &authtest.FastHasher{}}
	e.st = b.Open(t)
	st := e.st
	if cfg.wrapStore != nil {
		st = cfg.wrapStore(st)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.origin = "http://" + ln.Addr().String()
	e.base = e.origin + "/api/auth"

	ao := cfg.auth
	ao.BaseURL, ao.Secret = e.base, authtest.Secret
	ao.Now, ao.Hooks = e.clock.Now, e.hooks
	if ao.Logger == nil {
		ao.Logger = quiet
	}
	if !cfg.noMail {
		e.smtp = mailtest.Start(t, mailtest.Options{})
		ao.Mailer = e.smtp.Sender(t)
	}
	hasher := cfg.hasher
	if hasher == nil {
		hasher = e.hasher
	}
	e.svc, err = auth.New(st, hasher, ao)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, e.svc.Close(ctx))
	})

	po := cfg.api
	po.BaseURL, po.Secret = e.origin, authtest.Secret
	if po.Logger == nil {
		po.Logger = quiet
	}
	e.h, err = api.New(e.svc, po)
	require.NoError(t, err)
	// Not a ServeMux: it would redirect paths with "//" before the API sees them.
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/__peer/outbox" {
			e.peerOutbox(w, r)
			return
		}
		e.h.ServeHTTP(w, r)
	}))
	e.srv.Listener.Close()
	e.srv.Listener = ln
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// forEachBackend runs fn on SQLite and on Postgres.
func forEachBackend(t *testing.T, fn func(t *testing.T, b authtest.Backend)) {
	for _, b := range authtest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

// response is an answer as the tests look at it.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r response) JSON(t testing.TB) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(r.Body, &v), "body %q", r.Body)
	return v
}

// Obj decodes the body as an object.
func (r response) Obj(t testing.TB) map[string]any {
	t.Helper()
	m, ok := r.JSON(t).(map[string]any)
	require.True(t, ok, "body is not an object: %s", r.Body)
	return m
}

// Cookies are the Set-Cookie values.
func (r response) Cookies() []string { return r.Header.Values("Set-Cookie") }

// requireError checks an error answer's status, code and (when not empty) message.
func (r response) requireError(t testing.TB, status int, code contracts.Code, message string) {
	t.Helper()
	require.Equal(t, status, r.Status, "body %s", r.Body)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	m := r.Obj(t)
	if code != "" {
		require.Equal(t, string(code), m["code"], "body %s", r.Body)
	} else {
		require.NotContains(t, m, "code")
	}
	if message != "" {
		require.Equal(t, message, m["message"])
	}
}

// client is a browser-like client: a cookie jar and an Origin on every request.
type client struct {
	e       *env
	cookies map[string]string
	order   []string
	origin  string // "" sends none
	bearer  string
	header  http.Header
}

func (e *env) client() *client {
	return &client{e: e, cookies: map[string]string{}, origin: e.origin, header: http.Header{}}
}

var httpClient = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// cookieHeader is the jar as a Cookie header.
func (c *client) cookieHeader() string {
	var parts []string
	for _, k := range c.order {
		if v, ok := c.cookies[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, "; ")
}

// store keeps the Set-Cookies of an answer like client.mjs's jar does.
func (c *client) store(h http.Header) {
	for _, sc := range h.Values("Set-Cookie") {
		pair, attrs, _ := strings.Cut(sc, ";")
		name, value, _ := strings.Cut(pair, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		expired := value == "" || strings.Contains(strings.ToLower(attrs), "max-age=0")
		if expired {
			delete(c.cookies, name)
			continue
		}
		if _, ok := c.cookies[name]; !ok {
			c.order = append(c.order, name)
		}
		c.cookies[name] = value
	}
}

// do sends a request; body is JSON-encoded unless it is a string (sent raw
// with the given content type in c.header) or nil.
func (c *client) do(method, path string, body any) response {
	c.e.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(c.e.t, err)
		rd, ctype = bytes.NewReader(raw), "application/json"
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.e.base + path
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(c.e.t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if ch := c.cookieHeader(); ch != "" {
		req.Header.Set("Cookie", ch)
	}
	if c.origin != "" && method != http.MethodGet {
		req.Header.Set("Origin", c.origin)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := httpClient.Do(req)
	require.NoError(c.e.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(c.e.t, err)
	c.store(res.Header)
	return response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

func (c *client) post(path string, body any) response { return c.do(http.MethodPost, path, body) }
func (c *client) get(path string) response            { return c.do(http.MethodGet, path, nil) }

// signUp creates an account and keeps its session.
func (c *client) signUp(email, password string) map[string]any {
	c.e.t.Helper()
	r := c.post("/sign-up/email", map[string]any{"name": "Test User", "email": email, "password": password})
	require.Equal(c.e.t, http.StatusOK, r.Status, "sign-up: %s", r.Body)
	return r.Obj(c.e.t)
}

// signIn signs in and keeps the session; it returns the body.
func (c *client) signIn(email, password string) map[string]any {
	c.e.t.Helper()
	r := c.post("/sign-in/email", map[string]any{"email": email, "password": password})
	require.Equal(c.e.t, http.StatusOK, r.Status, "sign-in: %s", r.Body)
	return r.Obj(c.e.t)
}

// sessionCookieName is the (non-secure) session cookie's name.
const sessionCookieName = "better-auth.session_token"

// events returns the outbox's events.
func (e *env) events() []contracts.Envelope { return authtest.Outbox(e.t, e.st) }

// peerOutbox serves the reference peer's test mail box (GET /__peer/outbox,
// what probe.mjs reads) from the test SMTP server, once the emails being
// sent in the background are out.
func (e *env) peerOutbox(w http.ResponseWriter, r *http.Request) {
	type entry struct {
		Kind  string `json:"kind"`
		To    string `json:"to"`
		URL   string `json:"url"`
		Token string `json:"token"`
	}
	out := []entry{}
	if e.smtp != nil {
		if err := e.svc.Idle(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		for _, m := range e.smtp.Messages() {
			link := m.Link()
			u, err := url.Parse(link)
			if err != nil || len(m.To) == 0 {
				continue
			}
			switch {
			case strings.HasSuffix(u.Path, "/verify-email"):
				out = append(out, entry{"verify-email", m.To[0], link, u.Query().Get("token")})
			case strings.Contains(u.Path, "/reset-password/"):
				out = append(out, entry{"reset-password", m.To[0], link, path.Base(u.Path)})
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

var apiParseCIDRs = api.ParseCIDRs

// headerRecorder is a ResponseWriter that keeps only headers.
type headerRecorder struct{ h http.Header }

func newHeaderRecorder() *headerRecorder            { return &headerRecorder{h: http.Header{}} }
func (r *headerRecorder) Header() http.Header       { return r.h }
func (r *headerRecorder) Write([]byte) (int, error) { return 0, nil }
func (r *headerRecorder) WriteHeader(int)           {}

// quiet drops the logs of expected failures (recovered panics, refused mail).
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// discardMail accepts every message.
type discardMail struct{}

func (discardMail) Send(context.Context, contracts.Email) error { return nil }
