// Package devstack boots what `authbus dev` runs: an embedded NATS server
// with JetStream, the core on an embedded SQLite store, and the plugins, in
// one process, with all data under one directory. End-to-end tests start
// exactly this stack, so they test what a developer runs.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/authbus/authbus/internal/buildinfo"
	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/telemetry"
	"github.com/authbus/authbus/services/core"
)

// Defaults of Options.
const (
	DefaultDir      = ".authbus"
	DefaultHTTPAddr = "127.0.0.1:8080"
	DefaultNATSAddr = "127.0.0.1:4222"
)

// coreUser is the core's NATS user on the dev server; cliUser is what
// connections without credentials become (authbus events tail, plugin list).
const (
	coreUser = "core"
	cliUser  = "cli"
)

// Options configure the stack. The zero value runs with the defaults.
type Options struct {
	// Dir holds everything the stack keeps: the SQLite database, JetStream
	// data, the secret. Default ".authbus".
	Dir string
	// HTTPAddr is where the core's API listens ("127.0.0.1:0" picks a port).
	// Default 127.0.0.1:8080.
	HTTPAddr string
	// NATSAddr is where the embedded NATS server accepts plugins and tools
	// ("127.0.0.1:0" picks a port). Default 127.0.0.1:4222.
	NATSAddr string
	// PluginsDir holds external plugins to build and run (see plugins.go). Default none.
	PluginsDir string
	// Logger receives every service's logs. Default: JSON to stderr at info.
	Logger *slog.Logger
}

// Stack is a running dev stack.
type Stack struct {
	opts    Options
	log     *slog.Logger
	nats    *server.Server
	core    *core.Service
	plugins *pluginSet
	stop    func()
	done    chan struct{}
	err     error
	mu      sync.Mutex
}

// Start boots the stack and returns once the core serves and is ready and
// the external plugins have registered (or failed to); it keeps running
// until ctx ends or Stop is called. Wait returns when everything has shut
// down: the plugins first, then the core, then NATS.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = DefaultHTTPAddr
	}
	if o.NATSAddr == "" {
		o.NATSAddr = DefaultNATSAddr
	}
	log := o.Logger
	if log == nil {
		log = telemetry.NewLogger(os.Stderr, slog.LevelInfo, slog.String("version", buildinfo.Version()))
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("devstack: create %s: %w", o.Dir, err)
	}
	secret, err := persistentSecret(filepath.Join(o.Dir, "secret"))
	if err != nil {
		return nil, err
	}
	corePassword := randomString()

	host, port, err := splitAddr(o.NATSAddr)
	if err != nil {
		return nil, fmt.Errorf("devstack: NATS address %q: %w", o.NATSAddr, err)
	}
	// Plugins are built and their manifests read before the NATS server
	// starts: each one's user and permissions are part of its configuration.
	var specs []pluginSpec
	if o.PluginsDir != "" {
		if specs, err = preparePlugins(ctx, o, log); err != nil {
			return nil, err
		}
	}

	httpLn, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("devstack: listen on %s: %w", o.HTTPAddr, err)
	}
	cfg, err := coreConfig(o, secret, "http://"+httpLn.Addr().String())
	if err != nil {
		_ = httpLn.Close()
		return nil, err
	}
	cfg.User, cfg.Password = coreUser, corePassword

	accounts := make([]core.PluginAccount, len(specs))
	for i, spec := range specs {
		accounts[i] = spec.account()
	}
	users := core.PluginNATSUsers(cfg.SubjectPrefix, coreUser, corePassword, accounts)
	users = append(users, &server.User{Username: cliUser, Password: randomString(), Permissions: cliPermissions()})
	ns, err := bus.RunServer(bus.ServerConfig{
		Name: "authbus-dev", Host: host, Port: port,
		StoreDir: filepath.Join(o.Dir, "nats"), Users: users, NoAuthUser: cliUser,
	})
	if err != nil {
		_ = httpLn.Close()
		return nil, fmt.Errorf("devstack: NATS: %w", err)
	}

	// The core outlives ctx by as long as the plugins take to stop: they
	// drain through it.
	coreCtx, cancelCore := context.WithCancel(context.WithoutCancel(ctx))
	svc, err := core.New(coreCtx, cfg, core.Options{Logger: log.With("service", core.Name), NATSServer: ns, HTTPListener: httpLn})
	if err != nil {
		cancelCore()
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	stopReq := make(chan struct{})
	var stopOnce sync.Once
	s := &Stack{opts: o, log: log, nats: ns, core: svc, done: make(chan struct{}),
		stop: func() { stopOnce.Do(func() { close(stopReq) }) }}
	if o.PluginsDir != "" {
		s.plugins = newPluginSet(specs, log)
	}
	coreDone := make(chan error, 1)
	go func() { coreDone <- svc.Run(coreCtx) }()
	go func() {
		var err error
		coreStopped := false
		select {
		case <-ctx.Done():
		case <-stopReq:
		case err = <-coreDone:
			coreStopped = true
		}
		s.plugins.stop()
		cancelCore()
		if !coreStopped {
			err = <-coreDone
		}
		ns.Shutdown()
		ns.WaitForShutdown()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	}()

	select {
	case <-svc.Ready():
	case <-s.done:
		return nil, fmt.Errorf("devstack: the core stopped while starting: %w", s.Wait())
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	}
	if s.plugins == nil {
		return s, nil
	}
	if err := s.launchPlugins(ctx, cfg.SubjectPrefix, corePassword); err != nil {
		s.Stop()
		return nil, err
	}
	s.plugins.waitRegistered(ctx, pluginRegisterTimeout, log)
	return s, nil
}

// launchPlugins starts the external plugins' processes, once the core is ready.
func (s *Stack) launchPlugins(ctx context.Context, prefix, corePassword string) error {
	nc, err := nats.Connect("", nats.InProcessServer(s.nats), nats.UserInfo(coreUser, corePassword), nats.Name("authbus-dev"))
	if err != nil {
		return fmt.Errorf("devstack: connect to NATS: %w", err)
	}
	kv, err := registryKV(ctx, nc, prefix)
	if err != nil {
		nc.Close()
		return fmt.Errorf("devstack: the core's plugin registry: %w", err)
	}
	level := "info"
	if s.log.Enabled(ctx, slog.LevelDebug) {
		level = "debug"
	}
	return s.plugins.launch(pluginEnv{natsURL: s.NATSURL(), prefix: prefix, logLevel: level}, nc, kv)
}

// coreConfig is the core's configuration in dev: AUTHBUS_* variables the
// developer set win; otherwise the dev values below, then the core's defaults.
func coreConfig(o Options, secret, baseURL string) (core.Config, error) {
	var cfg core.Config
	if err := envconfig.Process(core.EnvPrefix, &cfg); err != nil {
		return core.Config{}, fmt.Errorf("devstack: %w", err)
	}
	unset := func(name string) bool {
		_, ok := os.LookupEnv(core.EnvPrefix + "_" + name)
		return !ok
	}
	cfg.Dev = true
	if unset("SECRET") {
		cfg.Secret = secret
	}
	if unset("BASE_URL") {
		cfg.BaseURL = baseURL
	}
	if unset("DATABASE_URL") {
		cfg.DatabaseURL = filepath.Join(o.Dir, "core.db")
	}
	if unset("OPS_ADDR") {
		cfg.OpsAddr = "" // /healthz, /readyz, /metrics on the API's port
	}
	if unset("MAIL_MODE") {
		cfg.MailMode = "log"
	}
	return cfg, nil
}

// APIURL is the better-auth base URL of the core, e.g. http://127.0.0.1:8080/api/auth.
func (s *Stack) APIURL() string { return "http://" + s.core.HTTPAddr().String() + "/api/auth" }

// BaseURL is the core's origin, e.g. http://127.0.0.1:8080.
func (s *Stack) BaseURL() string { return "http://" + s.core.HTTPAddr().String() }

// NATSURL is where plugins and tools connect to NATS.
func (s *Stack) NATSURL() string { return s.nats.ClientURL() }

// Dir is the directory holding the stack's data.
func (s *Stack) Dir() string { return s.opts.Dir }

// Stop shuts the stack down and waits until it has.
func (s *Stack) Stop() {
	s.stop()
	<-s.done
}

// Plugins returns the external plugins (Options.PluginsDir) and what each
// is doing, in the order they were found; nil without a plugins directory.
func (s *Stack) Plugins(ctx context.Context) []PluginStatus { return s.plugins.status(ctx) }

// Wait blocks until the stack has shut down and returns why it stopped
// (nil after a clean stop).
func (s *Stack) Wait() error {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Describe writes where everything listens, for a person.
func (s *Stack) Describe(w io.Writer) {
	fmt.Fprintf(w, "authbus dev is running (%s)\n", buildinfo.Version())
	fmt.Fprintf(w, "  auth API     %s   (better-auth clients: baseURL %s)\n", s.APIURL(), s.BaseURL())
	fmt.Fprintf(w, "  health       %s/healthz  %s/readyz  %s/metrics\n", s.BaseURL(), s.BaseURL(), s.BaseURL())
	fmt.Fprintf(w, "  admin API    %s/api/admin/plugins   (needs an admin: authbus user promote <email>)\n", s.BaseURL())
	fmt.Fprintf(w, "  NATS         %s   (JetStream; stream AUTH_EVENTS)\n", s.NATSURL())
	fmt.Fprintf(w, "  data         %s   (SQLite core.db, JetStream, secret)\n", s.opts.Dir)
	fmt.Fprintf(w, "  emails       printed to the log\n")
	if s.opts.PluginsDir != "" {
		ctx, cancel := context.WithTimeout(context.Background(), registryReadTimeout)
		describePlugins(w, s.opts.PluginsDir, s.Plugins(ctx))
		cancel()
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}

// cliPermissions lets tools without credentials read the event stream and
// the plugin registry (authbus events tail, authbus plugin list), and
// nothing else: they cannot publish events or reach plugins.
func cliPermissions() *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			"$JS.API.INFO",
			"$JS.API.STREAM.NAMES",
			"$JS.API.STREAM.LIST",
			"$JS.API.STREAM.INFO.>",
			"$JS.API.STREAM.MSG.GET.>",
			"$JS.API.DIRECT.GET.>",
			"$JS.API.CONSUMER.CREATE.>",
			"$JS.API.CONSUMER.INFO.>",
			"$JS.API.CONSUMER.DELETE.>",
			"$JS.API.CONSUMER.MSG.NEXT.>",
			"$JS.FC.>",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
}

// persistentSecret reads the stack's secret, creating it on first start, so
// sessions survive a restart of authbus dev.
func persistentSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(strings.TrimSpace(string(b))) >= core.MinSecretBytes:
		return strings.TrimSpace(string(b)), nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("devstack: read secret %s: %w", path, err)
	}
	secret := randomString()
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("devstack: write secret %s: %w", path, err)
	}
	return secret, nil
}

// randomString is 64 URL-safe characters from 48 random bytes.
func randomString() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// splitAddr turns host:port into the embedded server's host and port
// (port 0 becomes -1: a free port).
func splitAddr(addr string) (string, int, error) {
	if u, err := url.Parse(addr); err == nil && u.Scheme == "nats" {
		addr = u.Host
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	if port == 0 {
		port = -1
	}
	return host, port, nil
}
