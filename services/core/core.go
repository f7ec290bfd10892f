// Package core is the authbus core service: users, credentials and sessions
// behind better-auth's HTTP API, every change published through a
// transactional outbox, hooks called on plugin services over NATS, and the
// plugin runtime (registration, gateway, core services, admin API).
//
// New assembles a Service from a Config (LoadConfig reads it from AUTHBUS_*
// variables); Run serves until its context ends and then shuts down in order.
// cmd/core and `authbus dev` (internal/devstack) both run it this way.
package core

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authbus/authbus/internal/buildinfo"
	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/hooks"
	"github.com/authbus/authbus/pkg/telemetry"
	"github.com/authbus/authbus/services/core/internal/api"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/mail"
	"github.com/authbus/authbus/services/core/internal/outbox"
	"github.com/authbus/authbus/services/core/internal/password"
	"github.com/authbus/authbus/services/core/internal/runtime"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/storeopen"
)

// Name is the service name in logs, metrics, traces and system events.
const Name = "core"

// ShutdownTimeout bounds the whole shutdown sequence.
const ShutdownTimeout = 30 * time.Second

// Options are what the caller of New supplies besides the Config: things a
// process shares between services (authbus dev runs several in one).
type Options struct {
	// Logger receives the service's logs. Default: JSON to stderr at Config.LogLevel.
	Logger *slog.Logger
	// Metrics is the registry the service registers its metrics with.
	// Default: a new one (telemetry.NewRegistry).
	Metrics *prometheus.Registry
	// NATSServer, when set, is an embedded server the core connects to in
	// process (authbus dev). Default: Config.NATSEmbedded or Config.NATS URL.
	NATSServer *server.Server
	// Operator is the plugin operator configuration. Default: loaded from
	// Config.PluginsFile; without one, Dev grants everything and production nothing.
	Operator *operator.Config
	// Mailer replaces the mailer Config selects (tests). Default: from Config.
	Mailer mail.Sender
	// HTTPListener and OpsListener replace listening on Config.HTTPAddr and
	// Config.OpsAddr (tests, authbus dev). Default: listen on the addresses.
	HTTPListener, OpsListener net.Listener
	// PasswordHasher replaces the scrypt pool sized by Config.PasswordWorkers
	// (tests and benchmarks that are not about hashing; scrypt's ~100 ms
	// would drown what they measure). Default: scrypt.
	PasswordHasher PasswordHasher
}

// PasswordHasher hashes and verifies passwords (Options.PasswordHasher).
type PasswordHasher = auth.PasswordHasher

// Service is an assembled core. Run it once.
type Service struct {
	cfg     Config
	log     *slog.Logger
	metrics *prometheus.Registry
	health  *telemetry.Health

	store      store.Store
	natsServer *server.Server // owned only when the core embeds it
	nc         *nats.Conn
	relayConn  *nats.Conn
	js         jetstream.JetStream

	hasher  *password.Hasher
	auth    *auth.Service
	api     *api.Handler
	hooks   *hooks.Dispatcher
	runtime *runtime.Runtime
	relay   *outbox.Relay

	httpLn, opsLn net.Listener
	handler       http.Handler

	runtimeReady chan struct{}
	closers      []func() // undo of New, in reverse order
	instance     string
}

// New assembles the core: it opens (and migrates) the store, connects to
// NATS (or starts an embedded server), and builds the auth flows, the HTTP
// API, the hook dispatcher, the plugin runtime and the outbox relay. It
// listens but serves nothing until Run. On error everything already opened
// is closed again.
func New(ctx context.Context, cfg Config, opts Options) (s *Service, err error) {
	if cfg.Dev && cfg.Secret == "" {
		cfg.Secret = randomSecret()
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("core config: %w", err)
	}
	s = &Service{cfg: cfg, metrics: opts.Metrics, runtimeReady: make(chan struct{}), instance: instanceName()}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.log = opts.Logger
	if s.log == nil {
		level, lerr := telemetry.ParseLevel(cfg.LogLevel)
		if lerr != nil {
			return nil, fmt.Errorf("%s_LOG_LEVEL: %w", EnvPrefix, lerr)
		}
		s.log = telemetry.NewLogger(os.Stderr, level, telemetry.ServiceAttrs(Name, buildinfo.Version())...)
	}
	if s.metrics == nil {
		s.metrics = telemetry.NewRegistry()
	}
	s.health = telemetry.NewHealth(telemetry.DefaultCheckTimeout)

	if s.store, err = storeopen.Open(ctx, cfg.DatabaseURL, storeopen.Options{}); err != nil {
		return nil, fmt.Errorf("core: open store: %w", err)
	}
	s.closers = append(s.closers, func() { _ = s.store.Close() })
	s.health.AddCheck("database", func(ctx context.Context) error {
		_, err := s.store.UserByID(ctx, "readiness-probe")
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})

	if err := s.connectNATS(ctx, opts.NATSServer); err != nil {
		return nil, err
	}

	hasher := opts.PasswordHasher
	if hasher == nil {
		s.hasher = password.NewHasher(cfg.PasswordWorkers)
		s.closers = append(s.closers, func() { _ = s.hasher.Close() })
		hasher = s.hasher
	}

	mailer := opts.Mailer
	if mailer == nil {
		if mailer, err = s.newMailer(); err != nil {
			return nil, err
		}
	}

	if s.relay, err = outbox.New(s.store, s.relayConn, cfg.Outbox, outbox.Options{
		Prefix: cfg.SubjectPrefix,
		Stream: cfg.StreamConfig.WithDefaults().Name,
		EnsureStream: func(ctx context.Context) error {
			_, err := bus.EnsureStream(ctx, s.js, cfg.StreamConfig, cfg.SubjectPrefix)
			return err
		},
		Logger: s.log.With("component", "outbox"),
	}); err != nil {
		return nil, fmt.Errorf("core: outbox relay: %w", err)
	}
	if err := s.metrics.Register(s.relay); err != nil {
		return nil, fmt.Errorf("core: outbox metrics: %w", err)
	}

	// The dispatcher reads the plan from the runtime, and the runtime reads
	// hook statistics from the dispatcher: the runtime is made last and the
	// plan read through s.runtime once it exists.
	if s.hooks, err = hooks.New(hooks.Config{
		Conn:          s.nc,
		SubjectPrefix: cfg.SubjectPrefix,
		Plan:          hooks.PlanFunc(s.plan),
		Caller:        Name,
		Logger:        s.log.With("component", "hooks"),
		Metrics:       s.metrics,
	}); err != nil {
		return nil, fmt.Errorf("core: hook dispatcher: %w", err)
	}

	baseURL := strings.TrimRight(cfg.BaseURL, "/")
	if s.auth, err = auth.New(s.store, hasher, auth.Options{
		BaseURL:                        baseURL + api.DefaultBasePath,
		Secret:                         cfg.Secret,
		ExpiresIn:                      cfg.Session.ExpiresIn,
		UpdateAge:                      cfg.Session.UpdateAge,
		FreshAge:                       freshAge(cfg.Session.FreshAge),
		DisableSessionRefresh:          cfg.Session.DisableRefresh,
		DisableSignUp:                  !cfg.Features.SignUp,
		DisableAutoSignIn:              !cfg.Features.AutoSignIn,
		RequireEmailVerification:       cfg.Features.RequireEmailVerification,
		AutoSignInAfterVerification:    cfg.Features.AutoSignInAfterVerification,
		RevokeSessionsOnPasswordReset:  cfg.Features.RevokeSessionsOnPasswordReset,
		ChangeEmail:                    cfg.Features.ChangeEmail,
		UpdateEmailWithoutVerification: cfg.Features.ChangeEmailWithoutVerification,
		DeleteUser:                     cfg.Features.DeleteUser,
		SendDeleteAccountVerification:  cfg.Features.DeleteUserVerification,
		Hooks:                          s.hooks,
		Mailer:                         mailer,
		Composer:                       mail.Composer{AppName: cfg.AppName},
		Notify:                         s.relay.Notify,
		Logger:                         s.log.With("component", "auth"),
	}); err != nil {
		return nil, fmt.Errorf("core: auth: %w", err)
	}

	proxies, err := api.ParseCIDRs(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("%s_TRUSTED_PROXIES: %w", EnvPrefix, err)
	}
	instr, err := telemetry.NewHTTPInstrumentation(s.metrics)
	if err != nil {
		return nil, fmt.Errorf("core: http metrics: %w", err)
	}
	if s.api, err = api.New(s.auth, api.Options{
		BaseURL:                baseURL,
		Secret:                 cfg.Secret,
		TrustedOrigins:         cfg.TrustedOrigins,
		CookiePrefix:           cfg.Session.CookiePrefix,
		CookieDomain:           cfg.Session.CookieDomain,
		CookieCache:            cfg.Session.CookieCache,
		CookieCacheMaxAge:      cfg.Session.CookieCacheMaxAge,
		RequireBearerSignature: cfg.Session.BearerRequireSignature,
		TrustedProxies:         proxies,
		MaxBodyBytes:           cfg.MaxBodyBytes,
		Instrumentation:        instr,
		Logger:                 s.log.With("component", "api"),
	}); err != nil {
		return nil, fmt.Errorf("core: api: %w", err)
	}

	op := opts.Operator
	if op == nil {
		if op, err = loadOperator(cfg); err != nil {
			return nil, err
		}
	}
	if s.runtime, err = runtime.New(runtime.Options{
		Conn:            s.nc,
		JetStream:       s.js,
		Prefix:          cfg.SubjectPrefix,
		Stream:          cfg.StreamConfig.WithDefaults().Name,
		Operator:        op,
		CoreServices:    pluginServices{s.auth},
		Secrets:         [][]byte{[]byte(cfg.Secret)},
		SessionResolver: sessionResolver{s.api},
		SessionCookies:  sessionCookies{s.api},
		OutboxBacklog:   s.store,
		HookStats:       s.hooks,
		Logger:          s.log,
	}); err != nil {
		return nil, fmt.Errorf("core: plugin runtime: %w", err)
	}
	s.health.AddCheck("plugin-registry", func(context.Context) error {
		select {
		case <-s.runtimeReady:
			return nil
		default:
			return errors.New("the plugin registry is not loaded yet (waiting for NATS)")
		}
	})

	s.handler = s.routes()
	if err := s.listen(opts); err != nil {
		return nil, err
	}
	return s, nil
}

// plan is the dispatcher's plan source: the runtime's, once it exists.
func (s *Service) plan() *contracts.HookPlan {
	if s.runtime == nil {
		return nil
	}
	return s.runtime.Plan()
}

// connectNATS connects the core (and, separately, its relay) to NATS: in
// process to a given or embedded server, or over the network.
func (s *Service) connectNATS(ctx context.Context, given *server.Server) error {
	cfg := s.cfg
	ns := given
	if ns == nil && cfg.NATSEmbedded {
		host, port, err := splitListen(cfg.NATSListen)
		if err != nil {
			return fmt.Errorf("%s_NATS_LISTEN: %w", EnvPrefix, err)
		}
		if ns, err = bus.RunServer(bus.ServerConfig{
			Name: "authbus-core", StoreDir: cfg.NATSStoreDir,
			Host: host, Port: port, DontListen: cfg.NATSListen == "",
			Logger: s.log,
		}); err != nil {
			return fmt.Errorf("core: embedded NATS: %w", err)
		}
		s.natsServer = ns
		s.closers = append(s.closers, func() { ns.Shutdown(); ns.WaitForShutdown() })
	}
	natsCfg := cfg.Config
	if natsCfg.ClientName == "" {
		natsCfg.ClientName = "authbus-core"
	}
	connect := func(name string, extra ...nats.Option) (*nats.Conn, error) {
		c := natsCfg
		c.ClientName = natsCfg.ClientName + name
		if ns != nil {
			return bus.ConnectInProcess(ctx, ns, c, s.log, extra...)
		}
		return bus.Connect(ctx, c, s.log, extra...)
	}
	var err error
	if s.nc, err = connect(""); err != nil {
		return fmt.Errorf("core: nats: %w", err)
	}
	s.closers = append(s.closers, func() { s.nc.Close() })
	if s.relayConn, err = connect("-relay", outbox.ConnectOption()); err != nil {
		return fmt.Errorf("core: nats (relay): %w", err)
	}
	s.closers = append(s.closers, func() { s.relayConn.Close() })
	if s.js, err = jetstream.New(s.nc); err != nil {
		return fmt.Errorf("core: jetstream: %w", err)
	}
	return nil
}

// newMailer returns the SMTP or log mailer Config selects.
func (s *Service) newMailer() (mail.Sender, error) {
	if s.cfg.mailMode() == "log" {
		return mail.NewLogSender(s.log.With("component", "mail")), nil
	}
	m, err := mail.NewSMTPSender(s.cfg.SMTP)
	if err != nil {
		return nil, fmt.Errorf("%s_SMTP_*: %w", EnvPrefix, err)
	}
	return m, nil
}

// loadOperator reads the operator's plugin configuration.
func loadOperator(cfg Config) (*operator.Config, error) {
	switch {
	case cfg.PluginsFile != "":
		op, err := operator.Load(cfg.PluginsFile)
		if err != nil {
			return nil, fmt.Errorf("%s_PLUGINS_FILE: %w", EnvPrefix, err)
		}
		return op, nil
	case cfg.Dev:
		return operator.Dev(), nil
	default:
		return operator.None(), nil
	}
}

// routes is the HTTP surface: plugin mounts first (the gateway), then the
// better-auth API, plugin routes and the admin API. No ServeMux: it would
// redirect paths holding "//", which better-auth answers with 404.
func (s *Service) routes() http.Handler {
	authAPI, gw, admin := s.api, s.runtime.Gateway(), s.runtime.Admin()
	core := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == api.DefaultBasePath || strings.HasPrefix(p, api.DefaultBasePath+"/"):
			authAPI.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/api/plugins/"):
			gw.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/api/admin/"):
			admin.ServeHTTP(w, r)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	h := gw.Wrap(core)
	if s.cfg.OpsAddr == "" {
		mux := http.NewServeMux()
		telemetry.Mount(mux, s.health, s.metrics)
		mux.Handle("/", h)
		return mux
	}
	return h
}

// listen opens the API and ops listeners so their addresses are known
// before Run (authbus dev prints them).
func (s *Service) listen(opts Options) error {
	s.httpLn = opts.HTTPListener
	if s.httpLn == nil {
		ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("%s_HTTP_ADDR: listen on %s: %w", EnvPrefix, s.cfg.HTTPAddr, err)
		}
		s.httpLn = ln
	}
	s.closers = append(s.closers, func() { _ = s.httpLn.Close() })
	if s.cfg.OpsAddr == "" {
		return nil
	}
	s.opsLn = opts.OpsListener
	if s.opsLn == nil {
		ln, err := net.Listen("tcp", s.cfg.OpsAddr)
		if err != nil {
			return fmt.Errorf("%s_OPS_ADDR: listen on %s: %w", EnvPrefix, s.cfg.OpsAddr, err)
		}
		s.opsLn = ln
	}
	s.closers = append(s.closers, func() { _ = s.opsLn.Close() })
	return nil
}

// HTTPAddr is the address the API listens on.
func (s *Service) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// OpsAddr is the address /healthz, /readyz and /metrics listen on (the API's
// when Config.OpsAddr is empty).
func (s *Service) OpsAddr() net.Addr {
	if s.opsLn == nil {
		return s.httpLn.Addr()
	}
	return s.opsLn.Addr()
}

// NATSServer is the NATS server the core embeds, or nil.
func (s *Service) NATSServer() *server.Server { return s.natsServer }

// Handler is the core's HTTP handler (API, gateway, admin).
func (s *Service) Handler() http.Handler { return s.handler }

// Ready is closed once the plugin registry is loaded and the core reports ready.
func (s *Service) Ready() <-chan struct{} { return s.runtimeReady }

// Run serves until ctx ends, then shuts down in order: stop taking
// requests, tell plugins to stop (when this is the last core), finish
// sending email, record system.shutdown and give the relay a moment to
// publish it, then close NATS and the store. It returns the first error
// that stopped the service early, or nil after a clean shutdown.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)

	var wg sync.WaitGroup
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.relay.Run(relayCtx); err != nil {
			errc <- fmt.Errorf("outbox relay: %w", err)
		}
	}()
	go s.startRuntime(runCtx)

	api := &http.Server{Handler: s.handler, ReadHeaderTimeout: telemetry.ReadHeaderTimeout, IdleTimeout: telemetry.IdleTimeout, MaxHeaderBytes: telemetry.MaxHeaderBytes}
	go func() {
		if err := api.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("api server: %w", err)
		}
	}()
	var ops *http.Server
	if s.opsLn != nil {
		mux := http.NewServeMux()
		telemetry.Mount(mux, s.health, s.metrics)
		ops = &http.Server{Handler: mux, ReadHeaderTimeout: telemetry.ReadHeaderTimeout}
		go func() {
			if err := ops.Serve(s.opsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("ops server: %w", err)
			}
		}()
	}
	s.systemEvent(ctx, contracts.EventSystemStartup, contracts.SystemStartup{Service: Name, Version: buildinfo.Version(), Instance: s.instance})
	s.log.Info("core started", "api", s.HTTPAddr().String(), "ops", s.OpsAddr().String())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		s.log.Error("core stopping after an error", "err", runErr)
	}
	cancel()

	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer done()
	began := time.Now()
	step := func(name string) { s.log.Debug("shutdown step done", "step", name, "elapsed", time.Since(began)) }
	s.health.Drain()
	if err := api.Shutdown(shutdownCtx); err != nil {
		s.log.Warn("api server did not drain in time", "err", err)
	}
	step("http")
	if ops != nil {
		_ = ops.Shutdown(shutdownCtx)
	}
	if err := s.runtime.Stop(shutdownCtx); err != nil {
		s.log.Warn("plugin runtime stop", "err", err)
	}
	step("runtime")
	if err := s.auth.Close(shutdownCtx); err != nil {
		s.log.Warn("emails still being sent at shutdown", "err", err)
	}
	step("email")
	reason := "signal"
	if runErr != nil {
		reason = "error"
	}
	s.systemEvent(shutdownCtx, contracts.EventSystemShutdown, contracts.SystemShutdown{Service: Name, Version: buildinfo.Version(), Instance: s.instance, Reason: reason})
	s.flushOutbox(shutdownCtx, 5*time.Second)
	step("outbox")
	stopRelay()
	wg.Wait()
	step("relay")
	if err := s.nc.Drain(); err != nil {
		s.log.Warn("nats drain", "err", err)
	}
	s.log.Info("core stopped")
	return runErr
}

// startRuntime starts the plugin runtime, retrying while NATS is away; the
// core reports ready once it has started.
func (s *Service) startRuntime(ctx context.Context) {
	for attempt := 1; ; attempt++ {
		wait := bus.Backoff(attempt, 250*time.Millisecond, 5*time.Second)
		if _, err := bus.EnsureStream(ctx, s.js, s.cfg.StreamConfig, s.cfg.SubjectPrefix); err != nil {
			s.log.Warn("events stream not ready; retrying", "err", err, "in", wait)
		} else if err := s.runtime.Start(ctx); err != nil {
			s.log.Warn("plugin runtime did not start; retrying", "err", err, "in", wait)
		} else {
			close(s.runtimeReady)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// systemEvent records a system.* event through the outbox.
func (s *Service) systemEvent(ctx context.Context, t contracts.EventType, data any) {
	env, err := contracts.NewEnvelope(auth.EventSource, t, s.instance, data)
	if err == nil {
		err = s.store.InTx(ctx, func(tx store.Tx) error { return tx.AppendOutbox(ctx, env) })
	}
	if err != nil {
		s.log.Error("record system event", "type", t, "err", err)
		return
	}
	s.relay.Notify()
}

// flushOutbox waits up to max for the relay to publish what is pending (it
// stays in the outbox for the next start when NATS is away).
func (s *Service) flushOutbox(ctx context.Context, max time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, max)
	defer cancel()
	for {
		lag, err := s.relay.Lag(ctx)
		if err == nil && lag.Backlog == 0 {
			return
		}
		select {
		case <-ctx.Done():
			if err == nil {
				s.log.Warn("events left in the outbox for the next start", "backlog", lag.Backlog)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// close undoes New in reverse order.
func (s *Service) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// freshAge maps the config's "0 disables" to auth's "negative disables".
func freshAge(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// splitListen turns host:port into the embedded server's host and port.
func splitListen(addr string) (string, int, error) {
	if addr == "" {
		return "", 0, nil
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := net.LookupPort("tcp", portStr)
	if err != nil {
		return "", 0, err
	}
	if port == 0 {
		port = -1 // a random port
	}
	return host, port, nil
}

// instanceName identifies this process in system events.
func instanceName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// randomSecret is the secret of a dev core started without one: sessions do
// not survive a restart (authbus dev keeps a persistent one).
func randomSecret() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
