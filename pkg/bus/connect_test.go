package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
)

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// contains is a CheckFor condition on the collected log.
func (b *logBuffer) contains(parts ...string) func() error {
	return func() error {
		s := b.String()
		for _, p := range parts {
			if !strings.Contains(s, p) {
				return fmt.Errorf("log has no %q yet:\n%s", p, s)
			}
		}
		return nil
	}
}

func newLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// freePort returns a TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

func TestConnectStartsWhileNATSIsDown(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	var logs logBuffer
	cfg := bus.Config{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), ClientName: "early-bird",
		ReconnectWaitMax: 50 * time.Millisecond}
	nc, err := bus.Connect(context.Background(), cfg, newLogger(&logs))
	require.NoError(t, err, "a service starts while NATS is down")
	t.Cleanup(nc.Close)
	require.False(t, nc.IsConnected())

	s := bustest.RunServer(t, bustest.WithPort(port))
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !nc.IsConnected() {
			return errors.New("not connected yet")
		}
		return nil
	})
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, logs.contains("nats connected"))

	// Kill the server: the client notices, and reconnects to its successor.
	bustest.Restart(t, s)
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, logs.contains("nats disconnected", "nats reconnected"))
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !nc.IsConnected() {
			return errors.New("not reconnected yet")
		}
		return nil
	})
}

func TestConnectRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := bus.Connect(context.Background(), bus.Config{URL: "http://x:1"}, quiet)
	require.ErrorContains(t, err, "scheme must be nats")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = bus.Connect(ctx, bus.Config{}, quiet)
	require.ErrorIs(t, err, context.Canceled)
}

func TestRunServerWithUsersWebsocketAndLogging(t *testing.T) {
	t.Parallel()
	var serverLogs, clientLogs logBuffer
	s, err := bus.RunServer(bus.ServerConfig{
		Port:          -1,
		WebsocketPort: -1,
		StoreDir:      t.TempDir(),
		Logger:        newLogger(&serverLogs),
		Users: []*server.User{
			{Username: "core", Password: "core-pw"},
			{Username: "audit", Password: "audit-pw", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"dlq.audit.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_audit.>"}},
			}},
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.Contains(t, serverLogs.String(), "Server is ready", "server log goes to slog")

	// The core connects over WebSocket.
	core, err := bus.Connect(context.Background(), bus.Config{URL: s.WebsocketURL(), User: "core", Password: "core-pw"}, quiet)
	require.NoError(t, err)
	t.Cleanup(core.Close)
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !core.IsConnected() {
			return errors.New("websocket client not connected")
		}
		return nil
	})
	require.NoError(t, core.Publish("user.created", []byte("{}")))
	require.NoError(t, core.Flush())

	// A plugin user publishing outside its grant is refused; the violation is logged.
	audit, err := bus.Connect(context.Background(), bus.Config{URL: s.ClientURL(), User: "audit",
		Password: "audit-pw", InboxPrefix: "_INBOX_audit"}, newLogger(&clientLogs))
	require.NoError(t, err)
	t.Cleanup(audit.Close)
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !audit.IsConnected() {
			return errors.New("plugin client not connected")
		}
		return nil
	})
	require.NoError(t, audit.Publish("user.created", []byte("{}")), "core publish is fire and forget")
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond,
		clientLogs.contains("nats async error", "Permissions Violation", "user.created"))
}

func TestRunServerInProcessOnly(t *testing.T) {
	t.Parallel()
	s, err := bus.RunServer(bus.ServerConfig{DontListen: true, StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.Nil(t, s.Addr(), "no TCP listener")

	nc, err := bus.ConnectInProcess(context.Background(), s, bus.Config{}, quiet)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync("ping")
	require.NoError(t, err)
	require.NoError(t, nc.Publish("ping", []byte("pong")))
	m, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "pong", string(m.Data))
}
