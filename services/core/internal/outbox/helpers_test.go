package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/outbox"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/postgres"
	"github.com/authbus/authbus/services/core/internal/store/storeopen"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// quiet discards logs.
var quiet = slog.New(slog.DiscardHandler)

// backend makes the URL of a new, empty core database.
type backend struct {
	name string
	url  func(t testing.TB) string
}

// backends are the two store implementations the relay runs on.
var backends = []backend{
	{"sqlite", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "core.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.URL(t) }},
}

// forEachBackend runs fn as a subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, url string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.url(t)) })
	}
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens (and migrates) a store on url, closed at cleanup. Each
// call is another replica's connection to the same database.
func openStore(t testing.TB, url string) store.Store {
	t.Helper()
	st, err := storeopen.Open(context.Background(), url, storeopen.Options{
		Postgres: postgres.Options{LockCheckInterval: 50 * time.Millisecond},
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// relayConn makes bustest's connection fit for a relay (no reconnect buffer).
var relayConn = bustest.ConnectOptions(outbox.ConnectOption())

// fastConfig makes the relay react quickly and keeps batches small so that
// a few hundred events span many batches and windows.
func fastConfig() outbox.Config {
	return outbox.Config{
		PollInterval:      20 * time.Millisecond,
		BatchSize:         64,
		Window:            16,
		PublishTimeout:    2 * time.Second,
		RetryMin:          10 * time.Millisecond,
		RetryMax:          200 * time.Millisecond,
		LockRetryInterval: 20 * time.Millisecond,
	}
}

// ensureStream returns an Options.EnsureStream creating the file-backed stream on nc.
func ensureStream(t testing.TB, nc *nats.Conn) func(context.Context) error {
	js := bustest.JetStream(t, nc)
	return func(ctx context.Context) error {
		_, err := bus.EnsureStream(ctx, js, bus.StreamConfig{}, "")
		return err
	}
}

// newRelay builds a relay on st and nc that creates the stream itself.
func newRelay(t testing.TB, st store.Outbox, nc *nats.Conn, cfg outbox.Config, opts outbox.Options) *outbox.Relay {
	t.Helper()
	if opts.EnsureStream == nil {
		opts.EnsureStream = ensureStream(t, nc)
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	r, err := outbox.New(st, nc, cfg, opts)
	require.NoError(t, err)
	return r
}

// running is a relay's Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// start runs r until stop or the end of the test.
func start(t testing.TB, r *outbox.Relay) *running {
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() { rr.stop(t) })
	return rr
}

// stop cancels Run and waits for it to return nil.
func (rr *running) stop(t testing.TB) {
	t.Helper()
	rr.cancel()
	select {
	case err, ok := <-rr.done:
		if ok {
			require.NoError(t, err)
			close(rr.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("relay Run did not return within 30s of its context being cancelled")
	}
}

// event returns a new envelope of a few event types, in turn.
func event(t testing.TB, i int) contracts.Envelope {
	t.Helper()
	user := fmt.Sprintf("user%05d", i)
	var (
		env contracts.Envelope
		err error
	)
	switch i % 3 {
	case 0:
		env, err = contracts.NewEnvelope("authbus/core", contracts.EventUserCreated, user,
			contracts.UserCreated{User: contracts.User{ID: user, Email: user + "@example.com"}, Method: "email"})
	case 1:
		env, err = contracts.NewEnvelope("authbus/core", contracts.EventSessionCreated, user,
			contracts.SessionCreated{Session: contracts.Session{ID: "s" + user, UserID: user}})
	default:
		env, err = contracts.NewEnvelope("authbus/core", contracts.EventLogout, user, map[string]string{"sessionId": "s" + user})
	}
	require.NoError(t, err)
	return env
}

// commitEvents appends n events in transactions of 1 to 3 events and
// returns their ids in commit order.
func commitEvents(ctx context.Context, st store.Store, first, n int) ([]string, error) {
	ids := make([]string, 0, n)
	for i := first; i < first+n; {
		size := min(1+i%3, first+n-i)
		var batch []contracts.Envelope
		for j := range size {
			env, err := newEvent(i + j)
			if err != nil {
				return ids, err
			}
			batch = append(batch, env)
		}
		if err := st.InTx(ctx, func(tx store.Tx) error { return tx.AppendOutbox(ctx, batch...) }); err != nil {
			return ids, err
		}
		for _, e := range batch {
			ids = append(ids, e.ID)
		}
		i += size
	}
	return ids, nil
}

// newEvent is event for goroutines that cannot fail a test.
func newEvent(i int) (contracts.Envelope, error) {
	user := fmt.Sprintf("user%05d", i)
	return contracts.NewEnvelope("authbus/core", contracts.EventUserUpdated, user,
		contracts.UserUpdated{User: contracts.User{ID: user, Email: user + "@example.com"}, Changed: []string{"name"}})
}

// commit is commitEvents on the test's goroutine.
func commit(t testing.TB, st store.Store, first, n int) []string {
	t.Helper()
	ids, err := commitEvents(testCtx(t), st, first, n)
	require.NoError(t, err)
	return ids
}

// streamIDs returns the event ids in the stream, in stream order.
func streamIDs(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	st, err := js.Stream(ctx, bus.DefaultStreamName)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	if info.State.Msgs == 0 {
		return ids, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get stream message %d: %w", seq, err)
		}
		env, err := contracts.DecodeEnvelope(m.Data)
		if err != nil {
			return nil, err
		}
		if got := m.Header.Get(jetstream.MsgIDHeader); got != env.ID {
			return nil, fmt.Errorf("message %d: Nats-Msg-Id %q is not the event id %q", seq, got, env.ID)
		}
		ids = append(ids, env.ID)
	}
	return ids, nil
}

// streamCount is the number of messages in the events stream.
func streamCount(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	st, err := js.Stream(ctx, bus.DefaultStreamName)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// requireDelivered waits until the outbox is drained, then requires the
// stream to hold exactly want, in that order (each id once).
func requireDelivered(t testing.TB, st store.Store, js jetstream.JetStream, want []string) {
	t.Helper()
	bustest.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
		b, err := st.OutboxBacklog(context.Background())
		if err != nil {
			return err
		}
		if b.Count > 0 {
			return fmt.Errorf("%d events still unpublished", b.Count)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := streamCount(ctx, js)
		if err != nil {
			return err
		}
		if n < uint64(len(want)) {
			return fmt.Errorf("stream holds %d of %d events", n, len(want))
		}
		return nil
	})
	got, err := streamIDs(testCtx(t), js)
	require.NoError(t, err)
	require.Equal(t, len(want), len(got), "every event exactly once")
	for i := range want {
		if want[i] != got[i] {
			pos := map[string]int{}
			for j, id := range want {
				pos[id] = j
			}
			var seen []int
			for j := max(0, i-3); j < min(len(got), i+12); j++ {
				seen = append(seen, pos[got[j]])
			}
			t.Fatalf("stream order is not commit order from stream position %d: commit positions of stream messages %d..: %v",
				i, max(0, i-3), seen)
		}
	}
}

// freePort returns a TCP port nothing listens on (yet).
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}
