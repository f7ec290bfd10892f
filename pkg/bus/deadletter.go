package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxDeliveriesAdvisory is the part of io.nats.jetstream.advisory.v1.max_deliver we read.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// advisoryBuffer is how many advisories may wait while one is being copied.
const advisoryBuffer = 1024

// watcherCallTimeout bounds each JetStream call the watcher makes.
const watcherCallTimeout = 5 * time.Second

// MaxDeliveriesWatcher copies to the dead-letter subject every message that
// reached its consumer's MaxDeliver without a handler verdict: the handler
// crashed, hung past AckWait, or could not publish its own dead-letter copy.
// Copies it makes and copies a handler made share a Nats-Msg-Id, so a
// message is stored in the dead-letter stream once. Advisories are core NATS
// messages: those sent while no watcher runs are not seen.
type MaxDeliveriesWatcher struct {
	sub    *nats.Subscription
	cancel context.CancelFunc
	done   chan struct{}
}

// WatchMaxDeliveries subscribes to the MAX_DELIVERIES advisories of stream
// (any consumer) and starts copying in the background until ctx is canceled
// or Stop is called. The subscription is active when it returns.
func WatchMaxDeliveries(ctx context.Context, js jetstream.JetStream, prefix, stream string, logger *slog.Logger) (*MaxDeliveriesWatcher, error) {
	if err := errors.Join(validateName("stream", stream), ValidateSubjectPrefix(prefix)); err != nil {
		return nil, fmt.Errorf("watch max deliveries: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("stream", stream, "component", "max-deliveries-watcher")
	nc := js.Conn()
	ch := make(chan *nats.Msg, advisoryBuffer)
	sub, err := nc.ChanSubscribe(MaxDeliveriesAdvisorySubject(stream), ch)
	if err != nil {
		return nil, fmt.Errorf("watch max deliveries on %s: %w", stream, err)
	}
	// While disconnected the subscription is sent on reconnect; only wait
	// for the server to have it when there is a server to ask.
	if nc.IsConnected() {
		fctx, cancel := context.WithTimeout(ctx, watcherCallTimeout)
		err := nc.FlushWithContext(fctx)
		cancel()
		if err != nil {
			_ = sub.Unsubscribe()
			return nil, fmt.Errorf("watch max deliveries on %s: %w", stream, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &MaxDeliveriesWatcher{sub: sub, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer func() { _ = sub.Unsubscribe() }()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-ch:
				copyOnMaxDeliveries(ctx, js, prefix, m, logger)
			}
		}
	}()
	return w, nil
}

// Stop unsubscribes and waits for the copy in progress, if any.
func (w *MaxDeliveriesWatcher) Stop() {
	w.cancel()
	<-w.done
}

// Done is closed when the watcher has stopped.
func (w *MaxDeliveriesWatcher) Done() <-chan struct{} { return w.done }

// copyOnMaxDeliveries handles one advisory.
func copyOnMaxDeliveries(ctx context.Context, js jetstream.JetStream, prefix string, m *nats.Msg, logger *slog.Logger) {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(m.Data, &adv); err != nil || adv.Stream == "" || adv.StreamSeq == 0 {
		logger.Warn("malformed max-deliveries advisory", "subject", m.Subject, "error", err)
		return
	}
	log := logger.With("consumer", adv.Consumer, "stream_seq", adv.StreamSeq)
	cctx, cancel := context.WithTimeout(ctx, watcherCallTimeout)
	defer cancel()
	name := adv.Consumer
	if cons, err := js.Consumer(cctx, adv.Stream, adv.Consumer); err == nil {
		if dl := cons.CachedInfo().Config.Metadata[metaDeadLetter]; dl != "" {
			name = dl
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		log.Warn("consumer lookup failed; dead-lettering under the consumer name", "error", err)
	}
	st, err := js.Stream(cctx, adv.Stream)
	if err != nil {
		log.Error("max-deliveries copy failed: stream lookup", "error", err)
		return
	}
	raw, err := st.GetMsg(cctx, adv.StreamSeq)
	if err != nil {
		// Gone already (MaxAge, purge): nothing left to copy.
		log.Error("max-deliveries copy failed: message not readable", "error", err)
		return
	}
	dl := deadLetter{subject: raw.Subject, header: raw.Header, data: raw.Data, stream: adv.Stream,
		seq: adv.StreamSeq, consumer: adv.Consumer, deliveries: adv.Deliveries,
		reason:  DeadLetterReasonNoVerdict,
		errText: fmt.Sprintf("no verdict after %d deliveries (handler crash or ack wait exceeded)", adv.Deliveries)}
	if err := publishDeadLetter(js, prefix, name, dl); err != nil {
		log.Error("max-deliveries copy failed", "error", err)
		return
	}
	log.Warn("message dead-lettered after max deliveries without verdict", "subject", raw.Subject,
		"deliveries", adv.Deliveries)
}
