package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// Watermill metadata keys set by Subscriber besides the message headers.
const (
	// MetadataSubject is the NATS subject of the message.
	MetadataSubject = "nats_subject"
	// MetadataStream is the stream it was stored in.
	MetadataStream = "nats_stream"
	// MetadataStreamSequence is its sequence in the stream (decimal).
	MetadataStreamSequence = "nats_stream_sequence"
	// MetadataConsumer is the durable it was delivered by.
	MetadataConsumer = "nats_consumer"
	// MetadataNumDelivered is the delivery count, 1 on the first delivery (decimal).
	MetadataNumDelivered = "nats_num_delivered"
	// MetadataError is set by the ErrorMetadata middleware to the handler's error.
	MetadataError = "authbus_error"
	// MetadataPermanent is set to "true" by ErrorMetadata when the error is Permanent.
	MetadataPermanent = "authbus_permanent"
)

// errNacked is the verdict recorded for a Nack without ErrorMetadata.
var errNacked = errors.New("nacked by watermill handler")

// Subscriber is a Watermill message.Subscriber over durable pull consumers:
// the topic given to Subscribe names the durable (which must exist). Ack
// acks; Nack redelivers after the back-off for the delivery count, or on the
// last allowed delivery (or for a Permanent error recorded by ErrorMetadata)
// copies the message to the dead-letter subject and terminates it. Each
// subscription goroutine delivers its next message only after the previous
// one was acked or nacked.
type Subscriber struct {
	js     jetstream.JetStream
	prefix string
	cfg    ConsumerConfig
	logger *slog.Logger

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
}

// NewSubscriber returns a Subscriber; cfg gives the stream and the
// client-side settings (Workers goroutines per subscription,
// PullMaxMessages, NakBackoff, DrainTimeout); cfg.Durable is ignored.
func NewSubscriber(js jetstream.JetStream, prefix string, cfg ConsumerConfig, logger *slog.Logger) (*Subscriber, error) {
	cfg.Durable = "topic"
	cfg = cfg.WithDefaults()
	cfg.DeadLetter = ""
	if err := errors.Join(cfg.Validate(), ValidateSubjectPrefix(prefix)); err != nil {
		return nil, fmt.Errorf("watermill subscriber: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Subscriber{js: js, prefix: prefix, cfg: cfg, logger: logger, closing: make(chan struct{})}, nil
}

// Subscribe binds to durable topic on the configured stream and returns its
// messages. The channel is closed after ctx is canceled or Close is called,
// once in-flight messages were acked or nacked (or DrainTimeout passed, in
// which case they are handed back to the server unacknowledged).
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return nil, errors.New("watermill subscriber: closed")
	}
	out, err := s.subscribe(ctx, topic)
	if err != nil {
		s.wg.Done()
		return nil, err
	}
	return out, nil
}

// subscribe starts one subscription; the caller holds one s.wg count for it.
func (s *Subscriber) subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := validateName("topic (durable)", topic); err != nil {
		return nil, fmt.Errorf("watermill subscribe: %w", err)
	}
	cons, err := s.js.Consumer(ctx, s.cfg.Stream, topic)
	if err != nil {
		return nil, fmt.Errorf("watermill subscribe %s on %s: %w", topic, s.cfg.Stream, err)
	}
	cfg := s.cfg
	cfg.Durable = topic
	logger := s.logger.With("stream", cfg.Stream, "consumer", topic)
	st := newSettler(s.js, s.prefix, cfg, cons.CachedInfo(), logger)
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.PullMaxMessages))
	if err != nil {
		return nil, fmt.Errorf("watermill subscribe %s on %s: %w", topic, cfg.Stream, err)
	}

	subCtx, stop := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.closing:
		case <-subCtx.Done():
		}
		stop()
	}()
	out := make(chan *message.Message)
	var workers sync.WaitGroup
	for range cfg.Workers {
		workers.Go(func() {
			for {
				m, err := nextMsg(subCtx, it)
				if err != nil {
					if subCtx.Err() == nil {
						logger.Error("watermill subscription ended", "error", err)
						stop()
					}
					return
				}
				if subCtx.Err() != nil {
					st.release(m)
					return
				}
				s.deliver(subCtx, ctx, out, st, m, cfg.DrainTimeout)
			}
		})
	}
	go func() {
		defer s.wg.Done()
		<-subCtx.Done()
		it.Drain()
		workers.Wait()
		releaseBuffered(it, st)
		it.Stop()
		close(out)
	}()
	return out, nil
}

// deliver hands m to Watermill and settles it by the verdict.
func (s *Subscriber) deliver(subCtx, parent context.Context, out chan<- *message.Message, st *settler, m jetstream.Msg, drain time.Duration) {
	// The handler's context outlives the subscription (Router.Close cancels
	// parent): a handler busy at shutdown finishes within the drain timeout,
	// and is cancelled only when that runs out.
	msgCtx, cancel := context.WithCancel(ExtractTrace(context.WithoutCancel(parent), m.Headers()))
	defer cancel()
	wm := toWatermill(msgCtx, m)
	select {
	case out <- wm:
	case <-subCtx.Done():
		st.release(m)
		return
	}
	select {
	case <-wm.Acked():
		st.settle(m, nil)
		return
	case <-wm.Nacked():
		st.settle(m, nackError(wm))
		return
	case <-subCtx.Done():
	}
	// Shutting down: give the handler DrainTimeout to decide.
	timer := time.NewTimer(drain)
	defer timer.Stop()
	select {
	case <-wm.Acked():
		st.settle(m, nil)
	case <-wm.Nacked():
		st.settle(m, nackError(wm))
	case <-timer.C:
		st.logger.Warn("drain timeout: message handed back unacknowledged", "subject", m.Subject())
		st.release(m)
	}
}

// nackError is the verdict of a nacked message, as ErrorMetadata recorded it.
func nackError(wm *message.Message) error {
	err := errNacked
	if text := wm.Metadata.Get(MetadataError); text != "" {
		err = errors.New(text)
	}
	if wm.Metadata.Get(MetadataPermanent) == "true" {
		return Permanent(err)
	}
	return err
}

// toWatermill converts m: UUID = envelope id (Nats-Msg-Id), payload = body,
// metadata = headers (first value each) + subject, stream, sequence,
// consumer and delivery count.
func toWatermill(ctx context.Context, m jetstream.Msg) *message.Message {
	h := m.Headers()
	id := h.Get(jetstream.MsgIDHeader)
	if id == "" {
		var e struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(m.Data(), &e) == nil {
			id = e.ID
		}
	}
	wm := message.NewMessage(id, m.Data())
	for k, vs := range h {
		if len(vs) > 0 {
			wm.Metadata[k] = vs[0]
		}
	}
	wm.Metadata[MetadataSubject] = m.Subject()
	if md, err := m.Metadata(); err == nil {
		wm.Metadata[MetadataStream] = md.Stream
		wm.Metadata[MetadataConsumer] = md.Consumer
		wm.Metadata[MetadataStreamSequence] = strconv.FormatUint(md.Sequence.Stream, 10)
		wm.Metadata[MetadataNumDelivered] = strconv.FormatUint(md.NumDelivered, 10)
		if wm.UUID == "" {
			wm.UUID = md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
		}
	}
	wm.SetContext(ctx)
	return wm
}

// Close stops every subscription and waits until their channels are closed.
// It is safe to call more than once (Watermill's Router calls it per handler).
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// ErrorMetadata is a Watermill middleware that records a failing handler's
// error in the message metadata (MetadataError, MetadataPermanent), so that
// Subscriber puts the error text in the dead-letter headers and
// dead-letters a Permanent error at once instead of retrying it.
func ErrorMetadata(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err != nil {
			msg.Metadata.Set(MetadataError, sanitizeHeader(err.Error(), maxErrorHeader))
			if IsPermanent(err) {
				msg.Metadata.Set(MetadataPermanent, "true")
			}
		}
		return out, err
	}
}

var _ message.Subscriber = (*Subscriber)(nil)
