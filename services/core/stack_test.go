package core

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
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/telemetry/telemetrytest"
	"github.com/authbus/authbus/services/core/internal/auth/authtest"
	"github.com/authbus/authbus/services/core/internal/mail"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// wait bounds every poll of the integration tests.
const wait = 15 * time.Second

// Credentials of the core's NATS user when the server requires users.
const (
	coreNATSUser     = "core"
	coreNATSPassword = "core-password"
)

// stackOptions tune startStack.
type stackOptions struct {
	postgres bool            // store on a fresh Postgres database (default SQLite)
	tcp      bool            // core and plugins reach NATS over loopback TCP (default in-process)
	accounts []PluginAccount // when set, the server requires users: the core's and these
	mailer   mail.Sender     // default: one that keeps every message (stack.mails)
	scrypt   bool            // hash with the core's scrypt pool (default authtest.FastHasher)
	config   func(*Config)   // adjusts the core's config
	quiet    bool            // discard the core's logs (benchmarks; plugins log little)
}

// stackOption sets one of stackOptions.
type stackOption func(*stackOptions)

func onPostgres() stackOption                     { return func(o *stackOptions) { o.postgres = true } }
func overTCP() stackOption                        { return func(o *stackOptions) { o.tcp = true } }
func withAccounts(a ...PluginAccount) stackOption { return func(o *stackOptions) { o.accounts = a } }
func withMailer(m mail.Sender) stackOption        { return func(o *stackOptions) { o.mailer = m } }
func withConfig(fn func(*Config)) stackOption     { return func(o *stackOptions) { o.config = fn } }
func quietLogs() stackOption                      { return func(o *stackOptions) { o.quiet = true } }

// withScrypt makes the core hash with its real scrypt pool.
func withScrypt() stackOption { return func(o *stackOptions) { o.scrypt = true } }

// stack is a real core on a real NATS server, serving real HTTP.
type stack struct {
	t      testing.TB
	o      stackOptions
	ns     *server.Server
	svc    *Service
	origin string // e.g. http://127.0.0.1:41234
	mails  *mailbox
	logs   *telemetrytest.Logs
}

// forEachStore runs fn on SQLite and on Postgres.
func forEachStore(t *testing.T, fn func(t *testing.T, opts ...stackOption)) {
	t.Run("sqlite", func(t *testing.T) { fn(t) })
	t.Run("postgres", func(t *testing.T) { fn(t, onPostgres()) })
}

// startStack starts a NATS server with JetStream, a core on it and on a
// fresh store, and waits until the core is ready. Everything stops when the
// test ends: plugins launched afterwards first, then the core, then NATS.
func startStack(t testing.TB, opts ...stackOption) *stack {
	t.Helper()
	var o stackOptions
	for _, opt := range opts {
		opt(&o)
	}
	st := &stack{t: t, o: o, mails: &mailbox{}}

	var srvOpts []bustest.Option
	if !o.tcp {
		srvOpts = append(srvOpts, bustest.InProcess())
	}
	if len(o.accounts) > 0 {
		srvOpts = append(srvOpts, bustest.WithUsers(PluginNATSUsers("", coreNATSUser, coreNATSPassword, o.accounts)...))
	}
	st.ns = bustest.RunServer(t, srvOpts...)

	var cfg Config
	// A prefix nobody sets: the defaults of every field, whatever the environment holds.
	require.NoError(t, envconfig.Process("AUTHBUS_INTEGRATION_TEST_DEFAULTS", &cfg))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	st.origin = "http://" + ln.Addr().String()
	cfg.Dev = true
	cfg.Secret = authtest.Secret
	cfg.BaseURL = st.origin
	cfg.OpsAddr = ""
	cfg.LogLevel = "debug"
	if o.postgres {
		cfg.DatabaseURL = pgtest.URL(t)
	} else {
		cfg.DatabaseURL = filepath.Join(t.TempDir(), "core.db")
	}
	if len(o.accounts) > 0 {
		cfg.User, cfg.Password = coreNATSUser, coreNATSPassword
	}
	if o.config != nil {
		o.config(&cfg)
	}

	copts := Options{HTTPListener: ln, Operator: operator.Dev(), Mailer: o.mailer}
	if copts.Mailer == nil {
		copts.Mailer = st.mails
	}
	if !o.scrypt {
		copts.PasswordHasher = &authtest.FastHasher{}
	}
	if o.quiet {
		copts.Logger = slog.New(slog.DiscardHandler)
	} else {
		copts.Logger, st.logs = telemetrytest.NewLogger(t, slog.String("service", Name))
	}
	if o.tcp {
		cfg.URL = st.ns.ClientURL() // the core connects over TCP too
	} else {
		copts.NATSServer = st.ns
	}

	ctx, cancel := context.WithCancel(context.Background())
	st.svc, err = New(ctx, cfg, copts)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() { done <- st.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "the core stops cleanly")
		case <-time.After(ShutdownTimeout + 5*time.Second):
			t.Errorf("the core did not stop within %s", ShutdownTimeout)
		}
	})
	select {
	case <-st.svc.Ready():
	case err := <-done:
		t.Fatalf("the core stopped while starting: %v", err)
	case <-time.After(wait):
		t.Fatalf("the core was not ready within %s", wait)
	}
	return st
}

// connect opens a connection for plugin id: its own inbox prefix, its own
// NATS user when the server requires users; extra options are added.
func (st *stack) connect(t testing.TB, id string, extra ...nats.Option) *nats.Conn {
	t.Helper()
	connOpts := append([]nats.Option{nats.CustomInboxPrefix(PluginInboxPrefix(id))}, extra...)
	if len(st.o.accounts) > 0 {
		user, pw := id, ""
		for _, a := range st.o.accounts {
			if a.PluginID == id {
				user, pw = a.PluginID, a.Password
				if a.User != "" {
					user = a.User
				}
			}
		}
		connOpts = append(connOpts, nats.UserInfo(user, pw))
	}
	opts := []bustest.Option{bustest.ConnectOptions(connOpts...)}
	if !st.o.tcp {
		opts = append(opts, bustest.InProcess())
	}
	return bustest.Connect(t, st.ns, opts...)
}

// settings are plugin settings suited to tests.
func (st *stack) settings() plugin.Settings {
	s := plugin.Settings{
		Bus:                bus.Config{RequestTimeout: 5 * time.Second},
		Workers:            16,
		NakBackoff:         []time.Duration{20 * time.Millisecond},
		DrainTimeout:       10 * time.Second,
		RegisterBackoffMax: 100 * time.Millisecond,
	}.WithDefaults()
	return s
}

// runnable is every *plugin.Plugin[Cfg].
type runnable interface {
	ID() string
	Run(ctx context.Context, opts ...plugin.Option) error
}

// pluginRun is one plugin instance running in the test process.
type pluginRun struct {
	id     string
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	logs   *telemetrytest.Logs
}

// launch runs p in a goroutine on its own connection (see connect) and
// returns at once. It is stopped when the test ends; an error it stops
// with then fails the test.
func (st *stack) launch(t testing.TB, p runnable, opts ...plugin.Option) *pluginRun {
	t.Helper()
	return st.launchOn(t, p, st.connect(t, p.ID()), opts...)
}

// launchOn is launch on a given connection.
func (st *stack) launchOn(t testing.TB, p runnable, nc *nats.Conn, opts ...plugin.Option) *pluginRun {
	t.Helper()
	run := &pluginRun{id: p.ID(), nc: nc, done: make(chan struct{})}
	var logger *slog.Logger
	logger, run.logs = telemetrytest.NewLogger(t, slog.String("service", p.ID()))
	all := append([]plugin.Option{plugin.WithConn(nc), plugin.WithSettings(st.settings()), plugin.WithLogger(logger)}, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	run.cancel = cancel
	go func() {
		defer close(run.done)
		run.err = p.Run(ctx, all...)
	}()
	t.Cleanup(func() {
		select {
		case <-run.done:
			return // it ended during the test, which looked at how
		default:
		}
		if err := run.stop(); err != nil {
			t.Errorf("plugin %s stopped with an error: %v", run.id, err)
		}
	})
	return run
}

// serve launches p and waits until it serves (registered, Init done,
// heartbeating).
func (st *stack) serve(t testing.TB, p runnable, opts ...plugin.Option) *pluginRun {
	t.Helper()
	run := st.launch(t, p, opts...)
	run.waitServing(t)
	return run
}

// waitServing waits until the instance logged "serving": registered, Init
// done, subscribed, heartbeating.
func (r *pluginRun) waitServing(t testing.TB) {
	t.Helper()
	bustest.CheckFor(t, wait, 5*time.Millisecond, func() error {
		select {
		case <-r.done:
			t.Fatalf("plugin %s stopped before serving: %v", r.id, r.err)
		default:
		}
		if len(r.logs.WithMessage(t, "serving")) == 0 {
			return fmt.Errorf("plugin %s is not serving yet", r.id)
		}
		return nil
	})
}

// stop cancels the instance (as SIGTERM does) and returns Run's error.
func (r *pluginRun) stop() error {
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(time.Minute):
		return fmt.Errorf("plugin %s did not stop within a minute", r.id)
	}
}

// waitDone waits up to d until Run returned and returns its error.
func (r *pluginRun) waitDone(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(d):
		t.Fatalf("plugin %s still runs after %s", r.id, d)
		return nil
	}
}

// waitPlan waits until the core's hook plan at point lists exactly ids, in order.
func (st *stack) waitPlan(t testing.TB, point contracts.HookPoint, ids ...string) {
	t.Helper()
	bustest.CheckFor(t, wait, 5*time.Millisecond, func() error {
		var got []string
		for _, tg := range st.svc.plan().Points[point] {
			got = append(got, tg.Plugin)
		}
		if strings.Join(got, ",") != strings.Join(ids, ",") {
			return fmt.Errorf("plan of %s is %v, want %v", point, got, ids)
		}
		return nil
	})
}

// mailbox is a mail.Sender that keeps every message.
type mailbox struct {
	mu   sync.Mutex
	sent []contracts.Email
}

// Send keeps m.
func (b *mailbox) Send(_ context.Context, m contracts.Email) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, m)
	return nil
}

// waitFor returns the first message to addr, waiting for it.
func (b *mailbox) waitFor(t testing.TB, addr string) contracts.Email {
	t.Helper()
	var found contracts.Email
	bustest.CheckFor(t, wait, 5*time.Millisecond, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.sent {
			if m.To == addr {
				found = m
				return nil
			}
		}
		return fmt.Errorf("no message to %s yet", addr)
	})
	return found
}

// client is a browser-like HTTP client of the stack: a cookie jar and the
// core's Origin on every request.
type client struct {
	st   *stack
	http *http.Client
}

func (st *stack) client(t testing.TB) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{st: st, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// response is an answer as the tests look at it.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// tryResult is what try returns, for a request sent from another goroutine.
type tryResult struct {
	r   response
	err error
}

// try sends a request to path (relative to the core's origin) with body as
// JSON (unless nil); it does not fail the test, so it may run in any goroutine.
func (c *client) try(method, path string, body any) tryResult {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return tryResult{err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.st.origin+path, rd)
	if err != nil {
		return tryResult{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Origin", c.st.origin)
	res, err := c.http.Do(req)
	if err != nil {
		return tryResult{err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return tryResult{r: response{Status: res.StatusCode, Header: res.Header, Body: raw}, err: err}
}

// do is try that fails the test on a transport error.
func (c *client) do(t testing.TB, method, path string, body any) response {
	t.Helper()
	res := c.try(method, path, body)
	require.NoError(t, res.err)
	return res.r
}

func (c *client) post(t testing.TB, path string, body any) response {
	t.Helper()
	return c.do(t, http.MethodPost, path, body)
}

func (c *client) get(t testing.TB, path string) response {
	t.Helper()
	return c.do(t, http.MethodGet, path, nil)
}

// signUp signs up email with a fixed password and name.
func (c *client) signUp(t testing.TB, email, name string) response {
	t.Helper()
	return c.post(t, "/api/auth/sign-up/email", map[string]any{"email": email, "password": testPassword, "name": name})
}

// signIn signs email in with the fixed password.
func (c *client) signIn(t testing.TB, email string) response {
	t.Helper()
	return c.post(t, "/api/auth/sign-in/email", map[string]any{"email": email, "password": testPassword})
}

// testPassword is every test user's password.
const testPassword = "correct horse battery staple"

// obj decodes the body as a JSON object.
func (r response) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body %q", r.Body)
	return m
}

// requireOK checks a 200 answer.
func (r response) requireOK(t testing.TB) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Body)
}

// requireError checks an error answer's status, code and message.
func (r response) requireError(t testing.TB, status int, code contracts.Code, message string) {
	t.Helper()
	require.Equal(t, status, r.Status, "body %s", r.Body)
	m := r.obj(t)
	require.Equal(t, string(code), m["code"], "body %s", r.Body)
	if message != "" {
		require.Equal(t, message, m["message"], "body %s", r.Body)
	}
}

// published returns every event in the events stream, in stream order:
// what the outbox relay has published so far.
func (st *stack) published(t testing.TB) []contracts.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := st.svc.js.Stream(ctx, st.svc.cfg.StreamConfig.WithDefaults().Name)
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	var out []contracts.Envelope
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(t, err)
		var env contracts.Envelope
		require.NoError(t, json.Unmarshal(msg.Data, &env), "stream message %d", seq)
		out = append(out, env)
	}
	return out
}

// waitPublished waits until the relay published an event of type typ
// whose data mentions text, and returns it.
func (st *stack) waitPublished(t testing.TB, typ contracts.EventType, text string) contracts.Envelope {
	t.Helper()
	var found contracts.Envelope
	bustest.CheckFor(t, wait, 10*time.Millisecond, func() error {
		for _, env := range st.published(t) {
			if env.Type == typ && strings.Contains(string(env.Data), text) {
				found = env
				return nil
			}
		}
		return fmt.Errorf("no %s event mentioning %q published yet", typ, text)
	})
	return found
}

// eventsMentioning returns the types of the events, published or still in
// the outbox, whose data mentions text.
func (st *stack) eventsMentioning(t testing.TB, text string) []contracts.EventType {
	t.Helper()
	var out []contracts.EventType
	for _, env := range append(st.published(t), authtest.Outbox(t, st.svc.store)...) {
		if strings.Contains(string(env.Data), text) {
			out = append(out, env.Type)
		}
	}
	return out
}
