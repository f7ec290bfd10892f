package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/services/core/internal/store"
)

// ErrNoHistory is returned by Replay when the relay has no Options.History.
var ErrNoHistory = errors.New("outbox: replay needs a history of published events (Options.History)")

// ReplayReport says what Replay did.
type ReplayReport struct {
	// Sent is how many events the stream acknowledged.
	Sent int
	// Duplicates is how many of those it did not store again: their id was
	// still in its duplicate window (and still stored).
	Duplicates int
	// FirstSeq and LastSeq are the outbox sequence numbers of the first and
	// last event sent (0 when none).
	FirstSeq, LastSeq int64
}

// Stored is how many replayed events the stream stored again.
func (r ReplayReport) Stored() int { return r.Sent - r.Duplicates }

// Replay publishes again the already published events opts selects, in
// their publishing order, with their original ids (Nats-Msg-Id), for
// `authbus events replay` after an incident (e.g. a stream that lost
// acknowledged messages). It does not need the relay lock and leaves the
// outbox as it is.
//
// Deduplication still applies: an id published within the stream's
// duplicate window (bus.StreamConfig.DuplicateWindow, 10 minutes by
// default) and still stored is acknowledged as a duplicate and not stored
// again, so replaying recent events is harmless and only older ones (or
// ones the stream lost) are stored again. Consumers see replayed events as
// redeliveries: they are idempotent on the id.
//
// A failed publish is retried with back-off, as the relay does, until ctx
// is done; the report then says how far it got.
func (r *Relay) Replay(ctx context.Context, opts ReplayOptions) (ReplayReport, error) {
	var rep ReplayReport
	if r.opts.History == nil {
		return rep, ErrNoHistory
	}
	err := r.opts.History.Published(ctx, opts, r.cfg.BatchSize, func(batch []store.OutboxRecord) error {
		failures := 0
		for len(batch) > 0 {
			res := r.send(ctx, batch, nil, failures > 0)
			if res.acked > 0 {
				if rep.FirstSeq == 0 {
					rep.FirstSeq = batch[0].Seq
				}
				rep.LastSeq = batch[res.acked-1].Seq
				rep.Sent += res.acked
				rep.Duplicates += res.duplicates
				r.m.replayed.Add(float64(res.acked))
				batch = batch[res.acked:]
			}
			if res.err == nil {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.m.publishErrors.Inc()
			failures++
			delay := bus.Backoff(failures, r.cfg.RetryMin, r.cfg.RetryMax)
			r.log.Warn("outbox replay: will retry the same events", "error", res.err, "failures", failures, "retryIn", delay)
			if !sleep(ctx, delay, nil) {
				return ctx.Err()
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("outbox: replay (sent %d, up to outbox seq %d): %w", rep.Sent, rep.LastSeq, err)
	}
	return rep, nil
}
