package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of ConsumerConfig.
const (
	// DefaultAckWait is how long a delivery may stay unacknowledged.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxDeliver is how many deliveries a message gets before dead-lettering.
	DefaultMaxDeliver = 5
	// DefaultWorkers is how many messages one process handles at once.
	DefaultWorkers = 1
	// DefaultDrainTimeout bounds the wait for in-flight handlers on shutdown.
	DefaultDrainTimeout = 10 * time.Second
)

// DefaultNakBackoff is the redelivery delay after the 1st, 2nd, … failed
// delivery; the last value repeats.
var DefaultNakBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}

// metaDeadLetter is the consumer metadata key holding the dead-letter name,
// so every client of the consumer (and the max-deliveries watcher) agrees on it.
const metaDeadLetter = "authbus-dead-letter"

// ConsumerConfig describes a durable pull consumer and how to consume it.
// EnsureConsumer uses the server-side fields (Stream, Durable, Description,
// FilterSubjects, AckWait, MaxDeliver, MaxAckPending, DeadLetter); a
// Consumer or Subscriber uses Stream, Durable and the client-side fields
// (NakBackoff, Workers, PullMaxMessages, DrainTimeout) and reads MaxDeliver
// and DeadLetter back from the server, so a plugin that may not create
// consumers still follows the settings the core gave its durable.
type ConsumerConfig struct {
	// Stream is the stream consumed (default AUTH_EVENTS).
	Stream string
	// Durable is the consumer's name; it must never change (a new name
	// re-delivers every retained message). Required, except for a
	// Subscriber, where the topic names the durable.
	Durable string
	// Description is shown by monitoring tools; default none.
	Description string
	// FilterSubjects are catalog subject patterns such as "user.*", without
	// the installation prefix; default: every subject of the stream.
	FilterSubjects []string
	// AckWait is how long a delivery may stay unacknowledged before the
	// server redelivers it (default 30s). Handlers that take longer call
	// msg.InProgress.
	AckWait time.Duration
	// MaxDeliver is how many deliveries a message gets before it is
	// dead-lettered (default 5; -1 unlimited).
	MaxDeliver int
	// MaxAckPending caps unacknowledged deliveries across all replicas
	// (default 0: the server's 1000).
	MaxAckPending int
	// DeadLetter is the <name> in dead-letter subjects dlq.<name>.<subject>
	// (default Durable).
	DeadLetter string
	// NakBackoff is the redelivery delay after the 1st, 2nd, … failure; the
	// last value repeats (default 1s, 5s, 30s, 2m).
	NakBackoff []time.Duration
	// Workers is how many messages are handled at once by one process (default 1).
	Workers int
	// PullMaxMessages is how many messages are prefetched (default Workers).
	// Prefetched messages already count against AckWait: keep it small.
	PullMaxMessages int
	// DrainTimeout bounds how long shutdown waits for in-flight handlers (default 10s).
	DrainTimeout time.Duration
}

// WithDefaults returns c with every zero field set to its default.
func (c ConsumerConfig) WithDefaults() ConsumerConfig {
	if c.Stream == "" {
		c.Stream = DefaultStreamName
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.DeadLetter == "" {
		c.DeadLetter = c.Durable
	}
	if c.NakBackoff == nil {
		c.NakBackoff = DefaultNakBackoff
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.PullMaxMessages == 0 {
		c.PullMaxMessages = c.Workers
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	return c
}

// Validate reports every problem of c at once.
func (c ConsumerConfig) Validate() error {
	var errs []error
	if err := validateName("stream", c.Stream); err != nil {
		errs = append(errs, err)
	}
	if err := validateName("durable", c.Durable); err != nil {
		errs = append(errs, err)
	}
	if c.DeadLetter != "" {
		if err := validateLiteralSubject(c.DeadLetter); err != nil {
			errs = append(errs, fmt.Errorf("dead letter name %q %w", c.DeadLetter, err))
		}
	}
	for _, f := range c.FilterSubjects {
		if f == "" {
			errs = append(errs, errors.New("filter subjects contain an empty pattern"))
		}
	}
	if c.AckWait < 0 {
		errs = append(errs, fmt.Errorf("ack wait %s is negative", c.AckWait))
	}
	if c.MaxDeliver < -1 || c.MaxDeliver == 0 {
		errs = append(errs, fmt.Errorf("max deliver %d must be positive or -1", c.MaxDeliver))
	}
	if c.MaxAckPending < -1 {
		errs = append(errs, fmt.Errorf("max ack pending %d must be positive, 0 or -1", c.MaxAckPending))
	}
	if len(c.NakBackoff) == 0 {
		errs = append(errs, errors.New("nak backoff needs at least one delay"))
	}
	for _, d := range c.NakBackoff {
		if d < 0 {
			errs = append(errs, fmt.Errorf("nak backoff %s is negative", d))
		}
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d must be at least 1", c.Workers))
	}
	if c.PullMaxMessages < 1 {
		errs = append(errs, fmt.Errorf("pull max messages %d must be at least 1", c.PullMaxMessages))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drain timeout %s is negative", c.DrainTimeout))
	}
	return errors.Join(errs...)
}

// EnsureConsumer creates or updates the durable pull consumer cfg describes
// (explicit acks, deliver all, filters with the installation prefix) and
// records its dead-letter name in the consumer's metadata.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, prefix string, cfg ConsumerConfig) (jetstream.Consumer, error) {
	cfg = cfg.WithDefaults()
	if err := errors.Join(cfg.Validate(), ValidateSubjectPrefix(prefix)); err != nil {
		return nil, fmt.Errorf("ensure consumer: %w", err)
	}
	filters := make([]string, len(cfg.FilterSubjects))
	for i, f := range cfg.FilterSubjects {
		filters[i] = EventFilter(prefix, f)
	}
	cc := jetstream.ConsumerConfig{
		Durable:        cfg.Durable,
		Description:    cfg.Description,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        cfg.AckWait,
		MaxDeliver:     cfg.MaxDeliver,
		MaxAckPending:  cfg.MaxAckPending,
		FilterSubjects: filters,
		Metadata:       map[string]string{metaDeadLetter: cfg.DeadLetter},
	}
	c, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s on %s: %w", cfg.Durable, cfg.Stream, err)
	}
	return c, nil
}

// Handler processes one consumed message and returns its verdict: nil acks
// it; an error redelivers it after the back-off for its delivery count; a
// Permanent error, or an error on the last allowed delivery, copies it to
// the dead-letter subject and terminates it. ctx carries the trace context
// from the message headers and is canceled when shutdown's drain timeout
// passes. A handler does not ack itself; it may call msg.InProgress.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

// Error returns the wrapped error's text.
func (e permanentError) Error() string { return e.err.Error() }

// Unwrap returns the wrapped error.
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the message is dead-lettered
// at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or any error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Consumer runs a bounded pool of handlers over one durable pull consumer.
type Consumer struct {
	js     jetstream.JetStream
	prefix string
	cfg    ConsumerConfig
	logger *slog.Logger
}

// NewConsumer checks cfg and returns a Consumer for the durable it names.
// The durable must exist (EnsureConsumer, usually run by the core).
func NewConsumer(js jetstream.JetStream, prefix string, cfg ConsumerConfig, logger *slog.Logger) (*Consumer, error) {
	cfg = cfg.WithDefaults()
	if err := errors.Join(cfg.Validate(), ValidateSubjectPrefix(prefix)); err != nil {
		return nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Consumer{js: js, prefix: prefix, cfg: cfg,
		logger: logger.With("stream", cfg.Stream, "consumer", cfg.Durable)}, nil
}

// Consume pulls messages and runs h on up to Workers of them at a time until
// ctx is canceled or the consumer becomes unusable (deleted, connection
// closed), which is returned as an error. On cancel it stops pulling, lets
// in-flight handlers finish (up to DrainTimeout, then cancels their
// context), hands prefetched messages back to the server with an immediate
// Nak, and returns nil. A message whose handler has not returned is never
// acked, so the server redelivers it: nothing is lost, it may be seen twice.
func (c *Consumer) Consume(ctx context.Context, h Handler) error {
	cons, err := c.js.Consumer(ctx, c.cfg.Stream, c.cfg.Durable)
	if err != nil {
		return fmt.Errorf("consume %s on %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	st := newSettler(c.js, c.prefix, c.cfg, cons.CachedInfo(), c.logger)
	it, err := cons.Messages(jetstream.PullMaxMessages(c.cfg.PullMaxMessages))
	if err != nil {
		return fmt.Errorf("consume %s on %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	defer it.Stop()

	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	var (
		wg       sync.WaitGroup
		fatalMu  sync.Mutex
		fatalErr error
	)
	for range c.cfg.Workers {
		wg.Go(func() {
			for {
				m, err := nextMsg(loopCtx, it)
				if err != nil {
					if loopCtx.Err() == nil {
						fatalMu.Lock()
						if fatalErr == nil {
							fatalErr = fmt.Errorf("consume %s on %s: %w", c.cfg.Durable, c.cfg.Stream, err)
						}
						fatalMu.Unlock()
						stopLoop()
					}
					return
				}
				if loopCtx.Err() != nil {
					st.release(m)
					return
				}
				herr := runHandler(handlerCtx, h, m, c.logger)
				if herr != nil && handlerCtx.Err() != nil {
					// Cut short by shutdown, not a verdict on the message.
					st.release(m)
					continue
				}
				st.settle(m, herr)
			}
		})
	}

	<-loopCtx.Done()
	it.Drain()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timer := time.NewTimer(c.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		c.logger.Warn("drain timeout: handlers still running; their messages will be redelivered",
			"drain_timeout", c.cfg.DrainTimeout)
		cancelHandlers()
	}
	releaseBuffered(it, st)

	fatalMu.Lock()
	defer fatalMu.Unlock()
	return fatalErr
}

// nextPoll bounds each wait of nextMsg.
const nextPoll = 100 * time.Millisecond

// nextMsg waits for the next message until ctx ends. It waits in short
// slices because each Next call re-checks whether to pull more: nats.go
// v1.55's iterator skips issuing the next pull request when the previous
// one was fulfilled before it finished recording that request as sent
// (pullSubscription.fetchInProgress), and would otherwise only recover at
// the missing-heartbeat timer, 30 s later.
func nextMsg(ctx context.Context, it jetstream.MessagesContext) (jetstream.Msg, error) {
	for {
		pctx, cancel := context.WithTimeout(ctx, nextPoll)
		m, err := it.Next(jetstream.NextContext(pctx))
		cancel()
		switch {
		case err == nil:
			return m, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			continue
		default:
			return nil, err
		}
	}
}

// releaseBuffered naks what the iterator prefetched and nobody handled, so
// another replica gets it now instead of after AckWait.
func releaseBuffered(it jetstream.MessagesContext, st *settler) {
	for {
		m, err := it.Next(jetstream.NextMaxWait(time.Second))
		if err != nil {
			return
		}
		st.release(m)
	}
}

// runHandler calls h with the message's trace context and turns a panic into an error.
func runHandler(ctx context.Context, h Handler, m jetstream.Msg, logger *slog.Logger) (err error) {
	defer func() {
		if r := recover(); r != nil {
			logger.Error("handler panicked", "subject", m.Subject(), "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ExtractTrace(ctx, m.Headers()), m)
}

// Headers of a dead-letter copy. The original headers are kept, except the
// server's Nats-* ones.
const (
	// HeaderDeadLetterSubject is the subject the message was consumed from.
	HeaderDeadLetterSubject = "Authbus-Dlq-Subject"
	// HeaderDeadLetterStream is the stream it was stored in.
	HeaderDeadLetterStream = "Authbus-Dlq-Stream"
	// HeaderDeadLetterSequence is its sequence in that stream.
	HeaderDeadLetterSequence = "Authbus-Dlq-Sequence"
	// HeaderDeadLetterConsumer is the durable that gave up on it.
	HeaderDeadLetterConsumer = "Authbus-Dlq-Consumer"
	// HeaderDeadLetterDeliveries is how many times it was delivered.
	HeaderDeadLetterDeliveries = "Authbus-Dlq-Deliveries"
	// HeaderDeadLetterReason is one of the DeadLetterReason* values.
	HeaderDeadLetterReason = "Authbus-Dlq-Reason"
	// HeaderDeadLetterError is the last handler error (truncated).
	HeaderDeadLetterError = "Authbus-Dlq-Error"
)

// Why a message was dead-lettered (HeaderDeadLetterReason).
const (
	// DeadLetterReasonPermanent: the handler returned a Permanent error.
	DeadLetterReasonPermanent = "permanent"
	// DeadLetterReasonMaxDeliver: the handler failed on the last allowed delivery.
	DeadLetterReasonMaxDeliver = "max-deliver"
	// DeadLetterReasonNoVerdict: MaxDeliver was reached without a verdict
	// (crashes, AckWait timeouts); copied by the max-deliveries watcher.
	DeadLetterReasonNoVerdict = "no-verdict"
)

// maxErrorHeader caps the error text copied into a dead-letter header.
const maxErrorHeader = 1024

// deadLetterTimeout bounds the publish of a dead-letter copy.
const deadLetterTimeout = 5 * time.Second

// settler turns a handler's verdict into ack, delayed nak, or dead letter + term.
type settler struct {
	js         jetstream.JetStream
	prefix     string
	stream     string
	consumer   string
	deadLetter string
	maxDeliver int
	backoff    []time.Duration
	logger     *slog.Logger
}

// newSettler takes MaxDeliver and the dead-letter name from the server's
// view of the consumer when it has them, from cfg otherwise.
func newSettler(js jetstream.JetStream, prefix string, cfg ConsumerConfig, info *jetstream.ConsumerInfo, logger *slog.Logger) *settler {
	s := &settler{js: js, prefix: prefix, stream: cfg.Stream, consumer: cfg.Durable,
		deadLetter: cfg.DeadLetter, maxDeliver: cfg.MaxDeliver, backoff: cfg.NakBackoff, logger: logger}
	if info != nil {
		s.maxDeliver = info.Config.MaxDeliver
		if dl := info.Config.Metadata[metaDeadLetter]; dl != "" {
			s.deadLetter = dl
		}
	}
	if s.deadLetter == "" {
		s.deadLetter = s.consumer
	}
	return s
}

// delay is the nak delay after the n-th delivery failed.
func (s *settler) delay(n uint64) time.Duration {
	if len(s.backoff) == 0 {
		return 0
	}
	i := int(min(max(n, 1), uint64(len(s.backoff)))) - 1
	return s.backoff[i]
}

// release gives a message back unhandled (shutdown): immediate redelivery.
func (s *settler) release(m jetstream.Msg) {
	if err := m.Nak(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		s.logger.Debug("nak on shutdown failed; the server redelivers after ack wait", "subject", m.Subject(), "error", err)
	}
}

// settle applies the verdict herr to m.
func (s *settler) settle(m jetstream.Msg, herr error) {
	if herr == nil {
		if err := m.Ack(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			s.logger.Warn("ack failed; the message will be redelivered", "subject", m.Subject(), "error", err)
		}
		return
	}
	md, err := m.Metadata()
	if err != nil {
		s.logger.Error("message without metadata", "subject", m.Subject(), "error", err)
		s.nak(m, s.delay(1), herr)
		return
	}
	reason := ""
	switch {
	case IsPermanent(herr):
		reason = DeadLetterReasonPermanent
	case s.maxDeliver > 0 && md.NumDelivered >= uint64(s.maxDeliver):
		reason = DeadLetterReasonMaxDeliver
	}
	if reason == "" {
		s.nak(m, s.delay(md.NumDelivered), herr)
		return
	}
	dl := deadLetter{subject: m.Subject(), header: m.Headers(), data: m.Data(), stream: md.Stream,
		seq: md.Sequence.Stream, consumer: md.Consumer, deliveries: md.NumDelivered,
		reason: reason, errText: herr.Error()}
	if dl.stream == "" {
		dl.stream = s.stream
	}
	if dl.consumer == "" {
		dl.consumer = s.consumer
	}
	if err := publishDeadLetter(s.js, s.prefix, s.deadLetter, dl); err != nil {
		// Leave it to redelivery (or, after the last delivery, to the max-deliveries watcher).
		s.logger.Error("dead-letter copy failed; message not terminated", "subject", m.Subject(),
			"stream_seq", md.Sequence.Stream, "error", err, "handler_error", herr)
		s.nak(m, s.delay(md.NumDelivered), herr)
		return
	}
	s.logger.Warn("message dead-lettered", "subject", m.Subject(), "stream_seq", md.Sequence.Stream,
		"deliveries", md.NumDelivered, "reason", reason, "error", herr)
	if err := m.TermWithReason(sanitizeHeader(reason+": "+herr.Error(), maxErrorHeader)); err != nil &&
		!errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		s.logger.Warn("term failed; the message may be redelivered", "subject", m.Subject(), "error", err)
	}
}

// nak asks for redelivery after d.
func (s *settler) nak(m jetstream.Msg, d time.Duration, herr error) {
	s.logger.Debug("handler failed; redelivery scheduled", "subject", m.Subject(), "delay", d, "error", herr)
	if err := m.NakWithDelay(d); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		s.logger.Warn("nak failed; the server redelivers after ack wait", "subject", m.Subject(), "error", err)
	}
}

// deadLetter is what a dead-letter copy is made of.
type deadLetter struct {
	subject    string
	header     nats.Header
	data       []byte
	stream     string
	seq        uint64
	consumer   string
	deliveries uint64
	reason     string
	errText    string
}

// publishDeadLetter stores a copy of a message on the dead-letter subject of
// name. Its Nats-Msg-Id is derived from stream, consumer and sequence, so the
// copies made by a handler and by the max-deliveries watcher are stored once.
func publishDeadLetter(js jetstream.JetStream, prefix, name string, dl deadLetter) error {
	h := make(nats.Header, len(dl.header)+8)
	for k, vs := range dl.header {
		if len(k) >= 5 && strings.EqualFold(k[:5], "Nats-") {
			continue
		}
		h[k] = append([]string(nil), vs...)
	}
	h[HeaderDeadLetterSubject] = []string{dl.subject}
	h[HeaderDeadLetterStream] = []string{dl.stream}
	h[HeaderDeadLetterSequence] = []string{fmt.Sprint(dl.seq)}
	h[HeaderDeadLetterConsumer] = []string{dl.consumer}
	h[HeaderDeadLetterDeliveries] = []string{fmt.Sprint(dl.deliveries)}
	h[HeaderDeadLetterReason] = []string{dl.reason}
	if dl.errText != "" {
		h[HeaderDeadLetterError] = []string{sanitizeHeader(dl.errText, maxErrorHeader)}
	}
	h[jetstream.MsgIDHeader] = []string{fmt.Sprintf("dlq:%s:%s:%d", dl.stream, dl.consumer, dl.seq)}
	msg := &nats.Msg{Subject: DeadLetterSubject(prefix, name, dl.subject), Header: h, Data: dl.data}
	ctx, cancel := context.WithTimeout(context.Background(), deadLetterTimeout)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish dead letter to %s: %w", msg.Subject, err)
	}
	return nil
}

// sanitizeHeader makes s safe as a header value: one line, at most n bytes,
// cut on a rune boundary.
func sanitizeHeader(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	if len(b) <= n {
		return string(b)
	}
	cut := n
	for cut > 0 && b[cut]&0xC0 == 0x80 {
		cut--
	}
	return string(b[:cut])
}
