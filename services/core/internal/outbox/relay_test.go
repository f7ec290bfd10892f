package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/services/core/internal/outbox"
	"github.com/authbus/authbus/services/core/internal/store"
)

// Events committed while NATS is not running wait in the outbox, the relay
// keeps retrying, and once NATS starts every one of them reaches the stream
// once, in commit order; the relay creates the stream itself.
func TestEventsCommittedBeforeNATSStartsAreDelivered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		port := freePort(t)
		nc, err := bus.Connect(testCtx(t), bus.Config{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), ReconnectWaitMax: 50 * time.Millisecond}, quiet, outbox.ConnectOption())
		require.NoError(t, err)
		t.Cleanup(nc.Close)

		r := newRelay(t, st, nc, fastConfig(), outbox.Options{})
		want := commit(t, st, 0, 300)
		start(t, r)

		bustest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
			if r.PublishErrors() == 0 {
				return errors.New("the relay has not tried to publish yet")
			}
			return nil
		})
		lag, err := r.Lag(testCtx(t))
		require.NoError(t, err)
		require.Equal(t, 300, lag.Backlog)
		require.False(t, lag.Oldest.IsZero())

		bustest.RunServer(t, bustest.WithPort(port))
		requireDelivered(t, st, bustest.JetStream(t, nc), want)
		require.Equal(t, 300, r.Published())
	})
}

// NATS restarted while events are being committed and relayed: after it
// returns, every event is in the stream exactly once, in commit order.
func TestNATSRestartMidStream(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		s, nc := bustest.RunJetStream(t, relayConn)
		js := bustest.JetStream(t, nc)
		r := newRelay(t, st, nc, fastConfig(), outbox.Options{})
		start(t, r)

		const total = 1500
		type result struct {
			ids []string
			err error
		}
		restarted := make(chan struct{})
		done := make(chan result, 1)
		go func() {
			ctx := context.Background()
			var res result
			for i := 0; i < total && res.err == nil; {
				n := min(30, total-i)
				var ids []string
				ids, res.err = commitEvents(ctx, st, i, n)
				res.ids = append(res.ids, ids...)
				r.Notify()
				i += n
				if i == total/2 {
					// Commit the second half while NATS restarts and after.
					<-restarted
				}
			}
			done <- res
		}()

		bustest.CheckFor(t, time.Minute, time.Millisecond, func() error {
			n, err := streamCount(testCtx(t), js)
			if err != nil {
				return err
			}
			if n < 200 {
				return fmt.Errorf("only %d events in the stream", n)
			}
			return nil
		})
		close(restarted)
		bustest.Restart(t, s)

		res := <-done
		require.NoError(t, res.err)
		require.Len(t, res.ids, total)
		requireDelivered(t, st, js, res.ids)
		t.Logf("failed publish attempts across the restart: %d", r.PublishErrors())
	})
}

// Two replicas share one database: one relay publishes at a time; when it
// stops, the other takes over and nothing is lost or doubled. Neither is
// notified: each finds the other replica's commits by polling.
func TestTwoRelaysOneActiveAndTakeOver(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		st1, st2 := openStore(t, url), openStore(t, url)
		_, nc := bustest.RunJetStream(t, bustest.InProcess(), relayConn)
		js := bustest.JetStream(t, nc)
		relays := []*outbox.Relay{
			newRelay(t, st1, nc, fastConfig(), outbox.Options{}),
			newRelay(t, st2, nc, fastConfig(), outbox.Options{}),
		}
		runs := []*running{start(t, relays[0]), start(t, relays[1])}

		activeOne := func() int {
			t.Helper()
			var which int
			bustest.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
				var active []int
				for i, r := range relays {
					if r.Active() {
						active = append(active, i)
					}
				}
				if len(active) != 1 {
					return fmt.Errorf("active relays: %v", active)
				}
				which = active[0]
				return nil
			})
			return which
		}

		first := activeOne()
		want := commit(t, st1, 0, 200)
		requireDelivered(t, st1, js, want)

		runs[first].stop(t)
		require.False(t, relays[first].Active())
		other := 1 - first
		require.Equal(t, other, activeOne())
		want = append(want, commit(t, st1, 200, 200)...)
		requireDelivered(t, st2, js, want)
		require.Equal(t, 400, relays[0].Published()+relays[1].Published())
	})
}

// On Postgres the lock dies with its connection: the relay that held it
// notices, stops publishing, and a relay (either) takes over.
func TestRelayLockLostOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	st1, st2 := openStore(t, url), openStore(t, url)
	_, nc := bustest.RunJetStream(t, bustest.InProcess(), relayConn)
	js := bustest.JetStream(t, nc)
	relays := []*outbox.Relay{
		newRelay(t, st1, nc, fastConfig(), outbox.Options{}),
		newRelay(t, st2, nc, fastConfig(), outbox.Options{}),
	}
	start(t, relays[0])
	start(t, relays[1])
	bustest.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		if relays[0].Active() == relays[1].Active() {
			return errors.New("not exactly one relay active")
		}
		return nil
	})
	want := commit(t, st1, 0, 100)
	requireDelivered(t, st1, js, want)

	conn, err := pgx.Connect(testCtx(t), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var killed int
	require.NoError(t, conn.QueryRow(testCtx(t), `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed))
	require.Equal(t, 1, killed, "one advisory lock holder")

	want = append(want, commit(t, st2, 100, 100)...)
	requireDelivered(t, st2, js, want)
}

// Notify wakes the relay at once: with an hour between polls, an event
// committed and notified is still published promptly.
func TestNotifyWakesTheRelay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		_, nc := bustest.RunJetStream(t, bustest.InProcess(), relayConn)
		cfg := fastConfig()
		cfg.PollInterval = time.Hour
		r := newRelay(t, st, nc, cfg, outbox.Options{})
		start(t, r)
		bustest.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
			if !r.Active() {
				return errors.New("not active yet")
			}
			return nil
		})
		var want []string
		for i := range 5 {
			want = append(want, commit(t, st, i, 1)...)
			r.Notify()
			requireDelivered(t, st, bustest.JetStream(t, nc), want)
		}
	})
}

// Pruning deletes only events published longer ago than the retention;
// unpublished and recently published ones stay. The active relay prunes
// on its own.
func TestPruneKeepsUnpublishedAndRecentEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		ctx := testCtx(t)
		st := openStore(t, url)
		_, nc := bustest.RunJetStream(t, bustest.InProcess(), relayConn)
		cfg := fastConfig()
		cfg.RetentionDays = 7
		r := newRelay(t, st, nc, cfg, outbox.Options{})

		commit(t, st, 0, 30)
		recs, err := st.FetchOutbox(ctx, 100)
		require.NoError(t, err)
		require.Len(t, recs, 30)
		seqs := func(rs []store.OutboxRecord) []int64 {
			out := make([]int64, len(rs))
			for i, rec := range rs {
				out[i] = rec.Seq
			}
			return out
		}
		old, recent, unpublished := recs[:10], recs[10:20], recs[20:]
		require.NoError(t, st.MarkPublished(ctx, seqs(old), time.Now().Add(-8*24*time.Hour)))
		require.NoError(t, st.MarkPublished(ctx, seqs(recent), time.Now().Add(-6*24*time.Hour)))

		n, err := r.Prune(ctx)
		require.NoError(t, err)
		require.Equal(t, 10, n)
		left, err := st.FetchOutbox(ctx, 100)
		require.NoError(t, err)
		require.Equal(t, seqs(unpublished), seqs(left))
		h := openHistory(t, url)
		require.Equal(t, seqs(recent), seqs(published(t, h, outbox.ReplayOptions{})))

		n, err = r.Prune(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "nothing more to prune")

		// The running relay prunes by itself (at start, then every PruneInterval).
		require.NoError(t, st.MarkPublished(ctx, seqs(recent), time.Now()))
		commit(t, st, 30, 5)
		more, err := st.FetchOutbox(ctx, 100)
		require.NoError(t, err)
		require.Len(t, more, 15)
		require.NoError(t, st.MarkPublished(ctx, seqs(more[10:]), time.Now().Add(-30*24*time.Hour)))
		start(t, r)
		bustest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
			if got := len(published(t, h, outbox.ReplayOptions{})); got != 20 {
				return fmt.Errorf("%d published events kept, want the 10 recent and the 10 just relayed", got)
			}
			return nil
		})
	})
}

// Replay sends published events again with their original ids: within the
// duplicate window the stream absorbs them; a stream that lost them stores
// them again, once, in the original order.
func TestReplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		ctx := testCtx(t)
		st := openStore(t, url)
		_, nc := bustest.RunJetStream(t, bustest.InProcess(), relayConn)
		js := bustest.JetStream(t, nc)
		h := openHistory(t, url)
		r := newRelay(t, st, nc, fastConfig(), outbox.Options{History: h})

		want := commit(t, st, 0, 150)
		run := start(t, r)
		requireDelivered(t, st, js, want)
		run.stop(t)

		rep, err := r.Replay(ctx, outbox.ReplayOptions{})
		require.NoError(t, err)
		require.Equal(t, 150, rep.Sent)
		require.Equal(t, 150, rep.Duplicates, "all within the duplicate window")
		require.Zero(t, rep.Stored())
		got, err := streamIDs(ctx, js)
		require.NoError(t, err)
		require.Equal(t, want, got)

		// The stream loses everything (deleted and re-created: its
		// duplicate window is gone with it).
		require.NoError(t, js.DeleteStream(ctx, bus.DefaultStreamName))
		_, err = bus.EnsureStream(ctx, js, bus.StreamConfig{}, "")
		require.NoError(t, err)

		all := published(t, h, outbox.ReplayOptions{})
		require.Len(t, all, 150)
		from := all[100].Seq
		rep, err = r.Replay(ctx, outbox.ReplayOptions{FromSeq: from})
		require.NoError(t, err)
		require.Equal(t, outbox.ReplayReport{Sent: 50, FirstSeq: from, LastSeq: all[149].Seq}, rep)
		got, err = streamIDs(ctx, js)
		require.NoError(t, err)
		require.Equal(t, want[100:], got)

		rep, err = r.Replay(ctx, outbox.ReplayOptions{Since: all[0].CreatedAt})
		require.NoError(t, err)
		require.Equal(t, 150, rep.Sent)
		require.Equal(t, 50, rep.Duplicates)
		got, err = streamIDs(ctx, js)
		require.NoError(t, err)
		require.Equal(t, append(want[100:150:150], want[:100]...), got, "each id once")

		rep, err = r.Replay(ctx, outbox.ReplayOptions{Since: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		require.Zero(t, rep.Sent)
	})
}

func TestReplayWithoutHistory(t *testing.T) {
	_, nc := bustest.RunJetStream(t, bustest.InProcess(), relayConn)
	r := newRelay(t, openStore(t, backends[0].url(t)), nc, fastConfig(), outbox.Options{})
	_, err := r.Replay(testCtx(t), outbox.ReplayOptions{})
	require.ErrorIs(t, err, outbox.ErrNoHistory)
}

// Lag, the readiness check and the metrics report the unpublished events.
func TestLagCheckAndMetrics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		port := freePort(t)
		nc, err := bus.Connect(testCtx(t), bus.Config{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), ReconnectWaitMax: 50 * time.Millisecond}, quiet, outbox.ConnectOption())
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		r := newRelay(t, st, nc, fastConfig(), outbox.Options{})
		reg := prometheus.NewPedanticRegistry()
		require.NoError(t, reg.Register(r))

		check := r.Check(time.Millisecond)
		require.NoError(t, check(testCtx(t)), "nothing to publish")
		commit(t, st, 0, 12)
		start(t, r)
		bustest.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
			if err := check(testCtx(t)); err == nil {
				return errors.New("check passes with 12 events waiting")
			}
			return nil
		})
		err = check(testCtx(t))
		require.ErrorContains(t, err, "12 events unpublished")
		require.NoError(t, r.Check(time.Hour)(testCtx(t)))

		bustest.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
			if r.PublishErrors() == 0 {
				return errors.New("no failed attempt yet")
			}
			return nil
		})
		require.Equal(t, 12.0, gauge(t, reg, "authbus_outbox_backlog"))
		require.Equal(t, 0.0, counter(t, reg, "authbus_outbox_published_total"))
		require.Equal(t, 1.0, gauge(t, reg, "authbus_outbox_relay_active"))
		require.Positive(t, counter(t, reg, "authbus_outbox_publish_errors_total"))
		age := gauge(t, reg, "authbus_outbox_oldest_unpublished_age_seconds")
		require.Positive(t, age)

		bustest.RunServer(t, bustest.WithPort(port))
		bustest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error { return check(testCtx(t)) })
		lag, err := r.Lag(testCtx(t))
		require.NoError(t, err)
		require.Equal(t, outbox.Lag{}, lag)
		require.Equal(t, 12, r.Published())
		require.Zero(t, gauge(t, reg, "authbus_outbox_backlog"))
		require.Zero(t, gauge(t, reg, "authbus_outbox_oldest_unpublished_age_seconds"))
	})
}

func TestRunTwiceIsAnError(t *testing.T) {
	_, nc := bustest.RunJetStream(t, bustest.InProcess(), relayConn)
	r := newRelay(t, openStore(t, backends[0].url(t)), nc, fastConfig(), outbox.Options{})
	start(t, r)
	bustest.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		if !r.Active() {
			return errors.New("not active yet")
		}
		return nil
	})
	require.ErrorContains(t, r.Run(testCtx(t)), "already running")
}

// A relay whose events go to a subject prefix publishes them there, with
// the same ids.
func TestSubjectPrefix(t *testing.T) {
	ctx := testCtx(t)
	st := openStore(t, backends[0].url(t))
	_, nc := bustest.RunJetStream(t, bustest.InProcess(), relayConn)
	js := bustest.JetStream(t, nc)
	r := newRelay(t, st, nc, fastConfig(), outbox.Options{
		Prefix: "acme",
		EnsureStream: func(ctx context.Context) error {
			_, err := bus.EnsureStream(ctx, js, bus.StreamConfig{}, "acme")
			return err
		},
	})
	want := commit(t, st, 0, 3)
	start(t, r)
	requireDelivered(t, st, js, want)
	stream, err := js.Stream(ctx, bus.DefaultStreamName)
	require.NoError(t, err)
	m, err := stream.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "acme.user.updated", m.Subject)
	require.Equal(t, want[0], m.Header.Get(jetstream.MsgIDHeader))
	require.Equal(t, bus.ContentTypeCloudEvents, m.Header.Get(bus.HeaderContentType))
}

func TestNewRejectsBadInput(t *testing.T) {
	s, nc := bustest.RunJetStream(t, bustest.InProcess(), relayConn)
	st := openStore(t, backends[0].url(t))
	tests := []struct {
		name string
		st   store.Outbox
		nc   *nats.Conn
		cfg  outbox.Config
		opts outbox.Options
		want string
	}{
		{name: "no store", cfg: outbox.Config{}, want: "needs a store"},
		{name: "bad config", st: st, cfg: outbox.Config{BatchSize: 20000, Window: -1, RetryMin: time.Minute, RetryMax: time.Second}, want: "OUTBOX_BATCH_SIZE"},
		{name: "bad prefix", st: st, opts: outbox.Options{Prefix: "a b"}, want: "prefix"},
		{name: "buffering connection", st: st, nc: bustest.Connect(t, s, bustest.InProcess()), want: "connect it with outbox.ConnectOption()"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := nc
			if tt.nc != nil {
				conn = tt.nc
			}
			_, err := outbox.New(tt.st, conn, tt.cfg, tt.opts)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// gauge reads one unlabelled gauge from reg.
func gauge(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	return metric(t, reg, name).GetGauge().GetValue()
}

// counter reads one unlabelled counter from reg.
func counter(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	return metric(t, reg, name).GetCounter().GetValue()
}

func metric(t testing.TB, reg prometheus.Gatherer, name string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1)
			return mf.GetMetric()[0]
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
