package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// DefaultReadyTimeout is how long RunServer waits for the server to accept connections.
const DefaultReadyTimeout = 10 * time.Second

// ServerConfig configures an embedded nats-server with JetStream (authbus
// dev, tests, single-node installs).
type ServerConfig struct {
	// Name is the server name (default "authbus").
	Name string
	// Host is the client listen address (default 127.0.0.1).
	Host string
	// Port is the client port: 0 means 4222, -1 a random free port
	// (read it back with Server.ClientURL).
	Port int
	// DontListen runs without a client listener: connect in-process only
	// (ConnectInProcess / nats.InProcessServer). Default false.
	DontListen bool
	// StoreDir is where JetStream keeps its data. Required: the server's own
	// default is a directory shared by every process on the machine.
	StoreDir string
	// WebsocketPort enables a WebSocket listener without TLS (browsers,
	// dev only): -1 picks a random port; 0 (default) disables it.
	WebsocketPort int
	// WebsocketHost is the WebSocket listen address (default Host).
	WebsocketHost string
	// Users, if any, are the only accepted client identities, each with its
	// permissions (e.g. one user per plugin). Default: no authentication.
	Users []*server.User
	// NoAuthUser is the user that connections without credentials become;
	// it must be one of Users. Default none.
	NoAuthUser string
	// MaxMemory caps JetStream memory storage in bytes (default: server's, 75% of RAM).
	MaxMemory int64
	// MaxStore caps JetStream file storage in bytes (default: server's, up to 1 TB).
	MaxStore int64
	// MaxPayload caps a message in bytes (default 1 MiB, the server's).
	MaxPayload int32
	// Logger receives the server's log, or nothing when nil (default nil).
	Logger *slog.Logger
	// Debug also forwards the server's debug log (default false).
	Debug bool
	// ReadyTimeout bounds the wait for the server to accept connections (default 10s).
	ReadyTimeout time.Duration
}

// Validate reports every problem of c at once.
func (c ServerConfig) Validate() error {
	var errs []error
	if c.StoreDir == "" {
		errs = append(errs, errors.New("StoreDir is required"))
	}
	if c.Port < -1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range (-1 random, 0 default 4222)", c.Port))
	}
	if c.WebsocketPort < -1 || c.WebsocketPort > 65535 {
		errs = append(errs, fmt.Errorf("websocket port %d out of range (-1 random, 0 off)", c.WebsocketPort))
	}
	if c.NoAuthUser != "" {
		found := false
		for _, u := range c.Users {
			found = found || (u != nil && u.Username == c.NoAuthUser)
		}
		if !found {
			errs = append(errs, fmt.Errorf("no-auth user %q is not among Users", c.NoAuthUser))
		}
	}
	for i, u := range c.Users {
		if u == nil || u.Username == "" {
			errs = append(errs, fmt.Errorf("users[%d] has no user name", i))
		}
	}
	if c.MaxMemory < 0 || c.MaxStore < 0 || c.MaxPayload < 0 {
		errs = append(errs, errors.New("memory, store and payload limits must not be negative"))
	}
	if c.ReadyTimeout < 0 {
		errs = append(errs, fmt.Errorf("ready timeout %s is negative", c.ReadyTimeout))
	}
	return errors.Join(errs...)
}

// options translates c into nats-server options.
func (c ServerConfig) options() *server.Options {
	host := c.Host
	if host == "" {
		host = "127.0.0.1"
	}
	name := c.Name
	if name == "" {
		name = "authbus"
	}
	o := &server.Options{
		ServerName:         name,
		Host:               host,
		Port:               c.Port,
		DontListen:         c.DontListen,
		JetStream:          true,
		StoreDir:           c.StoreDir,
		JetStreamMaxMemory: c.MaxMemory,
		JetStreamMaxStore:  c.MaxStore,
		MaxPayload:         c.MaxPayload,
		Users:              c.Users,
		NoAuthUser:         c.NoAuthUser,
		NoSigs:             true,
		NoLog:              c.Logger == nil,
		Debug:              c.Debug,
	}
	if c.WebsocketPort != 0 {
		wsHost := c.WebsocketHost
		if wsHost == "" {
			wsHost = host
		}
		o.Websocket = server.WebsocketOpts{Host: wsHost, Port: c.WebsocketPort, NoTLS: true, NoAuthUser: c.NoAuthUser}
	}
	return o
}

// RunServer starts an embedded nats-server with JetStream and waits until it
// accepts connections. Stop it with Shutdown and WaitForShutdown.
func RunServer(cfg ServerConfig) (*server.Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	s, err := server.NewServer(cfg.options())
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if cfg.Logger != nil {
		s.SetLoggerV2(serverLogger{cfg.Logger.With("component", "nats-server")}, cfg.Debug, false, false)
	}
	go s.Start()
	ready := cfg.ReadyTimeout
	if ready == 0 {
		ready = DefaultReadyTimeout
	}
	if !s.ReadyForConnections(ready) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats: not ready for connections after %s", ready)
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats: jetstream did not start (store dir %s)", cfg.StoreDir)
	}
	return s, nil
}

// ConnectInProcess connects to an embedded server through an in-memory pipe
// (no TCP; works with DontListen), with the logging and options of Connect.
// The connection cannot outlive s: it does not reconnect to a new server.
func ConnectInProcess(ctx context.Context, s *server.Server, cfg Config, logger *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	return Connect(ctx, cfg, logger, append(extra, nats.InProcessServer(s))...)
}

// serverLogger adapts slog to nats-server's Logger interface.
type serverLogger struct{ l *slog.Logger }

// Noticef logs at info level.
func (s serverLogger) Noticef(format string, v ...any) { s.l.Info(fmt.Sprintf(format, v...)) }

// Warnf logs at warn level.
func (s serverLogger) Warnf(format string, v ...any) { s.l.Warn(fmt.Sprintf(format, v...)) }

// Fatalf logs at error level; the embedding process decides whether to exit.
func (s serverLogger) Fatalf(format string, v ...any) {
	s.l.Error(fmt.Sprintf(format, v...), "fatal", true)
}

// Errorf logs at error level.
func (s serverLogger) Errorf(format string, v ...any) { s.l.Error(fmt.Sprintf(format, v...)) }

// Debugf logs at debug level.
func (s serverLogger) Debugf(format string, v ...any) { s.log(slog.LevelDebug, format, v) }

// Tracef logs below debug level.
func (s serverLogger) Tracef(format string, v ...any) { s.log(slog.LevelDebug-4, format, v) }

// log formats only what the handler will keep: the server's debug output is large.
func (s serverLogger) log(level slog.Level, format string, v []any) {
	if s.l.Enabled(context.Background(), level) {
		s.l.Log(context.Background(), level, fmt.Sprintf(format, v...))
	}
}

var _ server.Logger = serverLogger{}
