// Package bustest starts real, in-process NATS servers with JetStream for
// tests, and polls for conditions instead of sleeping.
package bustest

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authbus/authbus/pkg/bus"
)

// options collects what Option values set.
type options struct {
	inProcess bool
	storeDir  string
	port      int
	users     []*server.User
	logger    *slog.Logger
	connOpts  []nats.Option
}

// Option adjusts RunJetStream.
type Option func(*options)

// InProcess runs the server without a TCP listener and connects through an
// in-memory pipe (fastest; nothing outside the test process can connect).
func InProcess() Option { return func(o *options) { o.inProcess = true } }

// WithStoreDir keeps JetStream data in dir instead of a fresh t.TempDir().
func WithStoreDir(dir string) Option { return func(o *options) { o.storeDir = dir } }

// WithPort listens on port instead of a random one (-1).
func WithPort(port int) Option { return func(o *options) { o.port = port } }

// WithUsers makes the server accept only these users; the returned
// connection is then opened with ConnectOptions (e.g. nats.UserInfo).
func WithUsers(users ...*server.User) Option { return func(o *options) { o.users = users } }

// WithLogger sends server and connection logs to logger (default: discarded).
func WithLogger(logger *slog.Logger) Option { return func(o *options) { o.logger = logger } }

// ConnectOptions are added to the returned connection's options.
func ConnectOptions(opts ...nats.Option) Option {
	return func(o *options) { o.connOpts = append(o.connOpts, opts...) }
}

// started remembers how each server was started, for Restart.
var started sync.Map // *server.Server -> bus.ServerConfig

// RunServer starts a JetStream server (random port, StoreDir t.TempDir()
// unless set) that is shut down when the test ends.
func RunServer(t testing.TB, opts ...Option) *server.Server {
	t.Helper()
	o := collect(opts)
	cfg := bus.ServerConfig{
		Name:       "bustest",
		Port:       o.port,
		DontListen: o.inProcess,
		StoreDir:   o.storeDir,
		Users:      o.users,
		Logger:     o.logger,
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	return runServer(t, cfg)
}

func runServer(t testing.TB, cfg bus.ServerConfig) *server.Server {
	t.Helper()
	s, err := bus.RunServer(cfg)
	if err != nil {
		t.Fatalf("bustest: start nats-server with JetStream: %v", err)
	}
	started.Store(s, cfg)
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
		started.Delete(s)
	})
	return s
}

// RunJetStream starts a JetStream server as RunServer does and returns it
// with a connection to it (TCP, or in-process with InProcess). The
// connection reconnects quickly and forever, and is closed before the
// server shuts down.
func RunJetStream(t testing.TB, opts ...Option) (*server.Server, *nats.Conn) {
	t.Helper()
	s := RunServer(t, opts...)
	return s, Connect(t, s, opts...)
}

// Connect opens another connection to s (in-process if InProcess is among
// opts), closed when the test ends.
func Connect(t testing.TB, s *server.Server, opts ...Option) *nats.Conn {
	t.Helper()
	o := collect(opts)
	cfg := bus.Config{ClientName: t.Name(), ReconnectWaitMax: 100 * time.Millisecond}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	connOpts := append([]nats.Option{nats.ReconnectJitter(0, 0)}, o.connOpts...)
	var (
		nc  *nats.Conn
		err error
	)
	if o.inProcess {
		nc, err = bus.ConnectInProcess(context.Background(), s, cfg, logger, connOpts...)
	} else {
		cfg.URL = s.ClientURL()
		nc, err = bus.Connect(context.Background(), cfg, logger, connOpts...)
	}
	if err != nil {
		t.Fatalf("bustest: connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !nc.IsConnected() {
			return nats.ErrDisconnected
		}
		return nil
	})
	return nc
}

// JetStream returns a JetStream handle on nc.
func JetStream(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("bustest: jetstream: %v", err)
	}
	return js
}

// Restart shuts s down and starts a new server with the same StoreDir and
// client port, so clients reconnect and find their streams and consumers
// (on file storage). Only servers started by this package can be restarted.
func Restart(t testing.TB, s *server.Server) *server.Server {
	t.Helper()
	v, ok := started.Load(s)
	if !ok {
		t.Fatalf("bustest: Restart: server was not started by bustest")
	}
	cfg := v.(bus.ServerConfig)
	if !cfg.DontListen {
		if addr, ok := s.Addr().(*net.TCPAddr); ok {
			cfg.Port = addr.Port
		}
	}
	s.Shutdown()
	s.WaitForShutdown()
	return runServer(t, cfg)
}

// CheckFor calls fn every `every` until it returns nil, and fails the test
// with fn's last error if that does not happen within total.
func CheckFor(t testing.TB, total, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bustest: condition not met within %s: %v", total, err)
		}
		<-ticker.C
	}
}

func collect(opts []Option) options {
	o := options{port: -1}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
