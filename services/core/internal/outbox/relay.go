package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/services/core/internal/store"
)

// pruneBatch is how many rows one PruneOutbox call deletes.
const pruneBatch = 1000

// storeTimeout bounds each store call of the relay, so that a database
// that stops answering cannot stall it (it retries instead).
const storeTimeout = 30 * time.Second

// Relay publishes the outbox's committed events to JetStream, in commit
// order, and marks them published. Run it in every core replica: only the
// holder of the store's relay lock publishes. It is safe for concurrent use.
type Relay struct {
	st   store.Outbox
	nc   *nats.Conn
	js   jetstream.JetStream
	cfg  Config
	opts Options
	log  *slog.Logger
	m    *metrics

	wake    chan struct{}
	running atomic.Bool
	active  atomic.Bool
}

// ConnectOption must be among the options of the relay's NATS connection
// (e.g. bus.Connect(ctx, cfg, logger, outbox.ConnectOption())): it turns
// off the reconnect buffer. With it on, a message published while the
// connection is down is sent after reconnecting, ahead of earlier events
// the relay sends again, and the stream would hold them out of order.
// Other users of the connection then see publishes fail at once while
// NATS is away instead of being buffered, so give the relay its own.
func ConnectOption() nats.Option { return nats.ReconnectBufSize(-1) }

// New returns a relay that reads st and publishes on nc. Connect nc with
// bus.Connect and ConnectOption: it reconnects forever, which the relay
// relies on while NATS is away.
func New(st store.Outbox, nc *nats.Conn, cfg Config, opts Options) (*Relay, error) {
	if st == nil || nc == nil {
		return nil, errors.New("outbox: relay needs a store and a NATS connection")
	}
	if nc.Opts.ReconnectBufSize >= 0 {
		return nil, errors.New("outbox: the relay's NATS connection buffers publishes while reconnecting, " +
			"which would reorder events; connect it with outbox.ConnectOption()")
	}
	cfg = cfg.WithDefaults()
	if err := errors.Join(cfg.Validate(), bus.ValidateSubjectPrefix(opts.Prefix)); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	opts = opts.withDefaults()
	// Every future resolves (ack, error or timeout), so an abandoned one
	// never holds a slot; twice the window leaves room for those still
	// pending after a failed batch.
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(2*cfg.Window),
		jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
	if err != nil {
		return nil, fmt.Errorf("outbox: jetstream: %w", err)
	}
	r := &Relay{st: st, nc: nc, js: js, cfg: cfg, opts: opts, log: opts.Logger, wake: make(chan struct{}, 1)}
	r.m = newMetrics(r)
	return r, nil
}

// Notify wakes the relay at once; the auth flows call it after each
// transaction that appended events. It never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Active reports whether this relay holds the relay lock and publishes.
func (r *Relay) Active() bool { return r.active.Load() }

// Run relays until ctx is cancelled, then releases the relay lock and
// returns nil. While another replica holds the lock it waits, trying every
// LockRetryInterval; it takes over when that replica releases or loses it.
// It is an error to run a Relay twice at once.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("outbox: relay is already running")
	}
	defer r.running.Store(false)
	failures := 0
	standby := false
	for {
		lctx, cancel := context.WithTimeout(ctx, storeTimeout)
		lock, ok, err := r.st.TryRelayLock(lctx)
		cancel()
		if ctx.Err() != nil {
			if ok {
				r.release(lock)
			}
			return nil
		}
		switch {
		case err != nil:
			failures++
			r.m.storeErrors.Inc()
			if failures == 1 || failures%60 == 0 {
				r.log.Warn("outbox relay: cannot try the relay lock", "error", err, "failures", failures)
			}
		case ok:
			failures, standby = 0, false
			r.lead(ctx, lock)
			r.release(lock)
			if ctx.Err() != nil {
				return nil
			}
			r.log.Warn("outbox relay: relay lock lost; another replica may publish now")
			continue
		case !standby:
			standby = true
			r.log.Info("outbox relay: standby, another replica holds the relay lock")
		}
		if !sleep(ctx, r.cfg.LockRetryInterval, nil) {
			return nil
		}
	}
}

// release gives the lock up, logging a failure (the lock is gone anyway
// once its connection or file is closed).
func (r *Relay) release(lock store.RelayLock) {
	if err := lock.Release(); err != nil {
		r.log.Warn("outbox relay: release the relay lock", "error", err)
	}
}

// lead publishes as the active relay until ctx is done or lock is lost.
func (r *Relay) lead(ctx context.Context, lock store.RelayLock) {
	r.active.Store(true)
	r.m.active.Set(1)
	defer func() {
		r.active.Store(false)
		r.m.active.Set(0)
	}()
	r.log.Info("outbox relay: active")
	lost := lock.Lost()
	needStream := r.opts.EnsureStream != nil
	failures := 0
	reconnects := r.nc.Stats().Reconnects
	nextPrune := time.Now()
	poll := time.NewTimer(r.cfg.PollInterval)
	defer poll.Stop()
	for {
		if ctx.Err() != nil || closed(lost) {
			return
		}
		if !time.Now().Before(nextPrune) {
			if n, err := r.Prune(ctx); err != nil {
				r.log.Warn("outbox relay: prune published events", "error", err, "pruned", n)
			} else if n > 0 {
				r.log.Info("outbox relay: pruned published events", "pruned", n, "retentionDays", r.cfg.RetentionDays)
			}
			nextPrune = time.Now().Add(r.cfg.PruneInterval)
		}
		// After a failure or a reconnection, one event goes alone before
		// the window opens again: while the stream is not answering, a
		// pipelined event could be stored ahead of an earlier one that
		// failed.
		now := r.nc.Stats().Reconnects
		cautious := failures > 0 || now != reconnects
		reconnects = now
		n, err := r.step(ctx, lost, &needStream, cautious)
		if err != nil {
			if ctx.Err() != nil || closed(lost) {
				return
			}
			failures++
			delay := bus.Backoff(failures, r.cfg.RetryMin, r.cfg.RetryMax)
			r.log.Warn("outbox relay: will retry the same events", "error", err, "failures", failures, "retryIn", delay)
			if !sleep(ctx, delay, lost) {
				return
			}
			continue
		}
		if failures > 0 {
			r.log.Info("outbox relay: publishing again", "afterFailures", failures)
			failures = 0
		}
		if n >= r.cfg.BatchSize {
			continue // more may be waiting
		}
		poll.Reset(min(r.cfg.PollInterval, max(time.Until(nextPrune), 0)))
		select {
		case <-ctx.Done():
			return
		case <-lost:
			return
		case <-r.wake:
			if r.cfg.NotifyDelay > 0 && !sleep(ctx, r.cfg.NotifyDelay, lost) {
				return
			}
		case <-poll.C:
		}
		// Since Go 1.23 a stopped or reset timer delivers no stale tick.
		poll.Stop()
	}
}

// step publishes one batch and returns how many events it read.
func (r *Relay) step(ctx context.Context, lost <-chan struct{}, needStream *bool, cautious bool) (int, error) {
	if *needStream {
		ectx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
		err := r.opts.EnsureStream(ectx)
		cancel()
		if err != nil {
			r.m.publishErrors.Inc()
			return 0, fmt.Errorf("ensure stream %s: %w", r.opts.Stream, err)
		}
		*needStream = false
	}
	fctx, cancel := context.WithTimeout(ctx, storeTimeout)
	recs, err := r.st.FetchOutbox(fctx, r.cfg.BatchSize)
	cancel()
	if err != nil {
		r.m.storeErrors.Inc()
		return 0, err
	}
	if len(recs) == 0 {
		return 0, nil
	}
	res := r.send(ctx, recs, lost, cautious)
	if res.acked > 0 {
		seqs := make([]int64, res.acked)
		for i, rec := range recs[:res.acked] {
			seqs[i] = rec.Seq
		}
		// Mark what the stream acknowledged even when shutting down:
		// otherwise it is only sent again (and deduplicated).
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		err := r.st.MarkPublished(mctx, seqs, time.Now())
		cancel()
		if err != nil {
			r.m.storeErrors.Inc()
			return 0, fmt.Errorf("%d events published but not marked (they will be sent again): %w", res.acked, err)
		}
		r.m.published.Add(float64(res.acked))
	}
	if res.err != nil {
		if ctx.Err() == nil && !closed(lost) {
			r.m.publishErrors.Inc()
		}
		if errors.Is(res.err, jetstream.ErrNoStreamResponse) && r.opts.EnsureStream != nil {
			*needStream = true
		}
		return res.acked, res.err
	}
	return len(recs), nil
}

// sent is the outcome of send.
type sent struct {
	// acked is how many of the records, from the first, the stream acknowledged.
	acked int
	// duplicates is how many of those it already held (same id in its duplicate window).
	duplicates int
	// err is the first failure; nil when every record was acknowledged.
	err error
}

// send publishes recs in order with async publishes, at most Window
// awaiting their acknowledgement (1 until the first is acknowledged when
// cautious), and stops at the first failure: what follows it is not
// counted, so the caller sends it again with the same ids. Every failure
// is treated as "outcome unknown" (nats-notes §1.3). nats.go's own retry
// of a publish that found no stream is off: it would send that event again
// after later ones.
func (r *Relay) send(ctx context.Context, recs []store.OutboxRecord, stop <-chan struct{}, cautious bool) sent {
	var res sent
	futures := make([]jetstream.PubAckFuture, 0, len(recs))
	await := func(f jetstream.PubAckFuture, rec store.OutboxRecord) error {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				res.duplicates++
			}
			return nil
		case err := <-f.Err():
			return fmt.Errorf("publish event %s (outbox seq %d): %w", rec.Event.ID, rec.Seq, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return errLockLost
		}
	}
	for i, rec := range recs {
		window := r.cfg.Window
		if cautious && res.acked == 0 {
			window = 1
		}
		for i-res.acked >= window {
			if res.err = await(futures[res.acked], recs[res.acked]); res.err != nil {
				return res
			}
			res.acked++
			window = r.cfg.Window
		}
		msg, err := r.message(rec)
		if err != nil {
			res.err = err
			break
		}
		f, err := r.js.PublishMsgAsync(msg, jetstream.WithExpectStream(r.opts.Stream), jetstream.WithRetryAttempts(0))
		if err != nil {
			res.err = fmt.Errorf("publish event %s (outbox seq %d): %w", rec.Event.ID, rec.Seq, err)
			break
		}
		futures = append(futures, f)
	}
	for res.acked < len(futures) {
		if err := await(futures[res.acked], recs[res.acked]); err != nil {
			res.err = err
			break
		}
		res.acked++
	}
	return res
}

// errLockLost stops a batch whose relay lost the lock.
var errLockLost = errors.New("relay lock lost")

// message builds the NATS message of an outbox record: the envelope as
// stored, Nats-Msg-Id = event id.
func (r *Relay) message(rec store.OutboxRecord) (*nats.Msg, error) {
	body, err := json.Marshal(rec.Event)
	if err != nil {
		return nil, fmt.Errorf("encode event %s (outbox seq %d): %w", rec.Event.ID, rec.Seq, err)
	}
	msg, err := bus.EncodedEventMsg(context.Background(), r.opts.Prefix, body)
	if err != nil {
		return nil, fmt.Errorf("outbox seq %d: %w", rec.Seq, err)
	}
	return msg, nil
}

// Prune deletes the events published more than RetentionDays ago and
// returns how many. The active relay calls it every PruneInterval.
func (r *Relay) Prune(ctx context.Context) (int, error) {
	before := time.Now().Add(-r.cfg.Retention())
	total := 0
	for {
		pctx, cancel := context.WithTimeout(ctx, storeTimeout)
		n, err := r.st.PruneOutbox(pctx, before, pruneBatch)
		cancel()
		total += n
		r.m.pruned.Add(float64(n))
		if err != nil {
			r.m.storeErrors.Inc()
			return total, fmt.Errorf("outbox: prune: %w", err)
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}

// Lag describes the events not yet published.
type Lag struct {
	// Backlog is how many committed events await publishing.
	Backlog int
	// Oldest is when the oldest of them was committed (zero when Backlog is 0).
	Oldest time.Time
	// Age is how long the oldest has waited (0 when Backlog is 0).
	Age time.Duration
}

// Lag reports the events not yet published, whichever replica relays them.
func (r *Relay) Lag(ctx context.Context) (Lag, error) {
	b, err := r.st.OutboxBacklog(ctx)
	if err != nil {
		return Lag{}, fmt.Errorf("outbox: backlog: %w", err)
	}
	l := Lag{Backlog: b.Count, Oldest: b.Oldest}
	if b.Count > 0 && !b.Oldest.IsZero() {
		l.Age = max(time.Since(b.Oldest), 0)
	}
	return l, nil
}

// Check returns a readiness check (telemetry.Health.AddCheck) that fails
// while the oldest unpublished event is older than maxAge. NATS being away
// delays events without failing sign-ups, so whether that should take a
// replica out of service is the operator's choice: pick maxAge accordingly.
func (r *Relay) Check(maxAge time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		l, err := r.Lag(ctx)
		if err != nil {
			return err
		}
		if l.Backlog > 0 && l.Age > maxAge {
			return fmt.Errorf("outbox: %d events unpublished, the oldest for %s (more than %s): is NATS reachable?",
				l.Backlog, l.Age.Round(time.Second), maxAge)
		}
		return nil
	}
}

// sleep waits d; it returns false when ctx is done or stop is closed first.
func sleep(ctx context.Context, d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}

// closed reports whether ch is closed (a nil channel never is).
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
