package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
)

// eventConsumer runs the event handlers on Watermill's Router over the
// plugin's durable consumer (bus.Subscriber): acks, delayed naks and
// dead letters are JetStream's, the Router adds the middleware.
type eventConsumer struct {
	router *message.Router
	sub    *bus.Subscriber
	done   chan error // Router.Run's result
}

// eventDispatch is what the Router's one handler needs.
type eventDispatch[Cfg any] struct {
	prefix   string
	routes   []eventRoute[Cfg]
	context  func() *Context[Cfg]
	mw       []Middleware
	metrics  *metrics
	logger   *slog.Logger
	inflight *atomic.Int64
}

// startEvents binds to the durable the core created and starts the Router;
// it returns once the subscription is live.
func startEvents[Cfg any](js jetstream.JetStream, ci contracts.ConsumerInfo, s Settings, d *eventDispatch[Cfg]) (*eventConsumer, error) {
	sub, err := bus.NewSubscriber(js, d.prefix, bus.ConsumerConfig{
		Stream:          ci.Stream,
		Workers:         s.EventWorkers,
		PullMaxMessages: s.EventWorkers,
		NakBackoff:      s.NakBackoff,
		DrainTimeout:    s.DrainTimeout,
	}, d.logger)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(d.logger.With("component", "watermill"), map[slog.Level]slog.Level{
		// The Router narrates every start and stop at info level; that is trace here.
		slog.LevelInfo:  watermill.LevelTrace,
		slog.LevelDebug: watermill.LevelTrace,
		slog.LevelError: slog.LevelWarn, // a failing handler is routine: it is redelivered
	})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: s.DrainTimeout + 5*time.Second}, wlog)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	router.AddMiddleware(
		bus.ErrorMetadata, // outermost: records the final verdict (Permanent → dead letter) for the subscriber
		tracing(ci.Durable),
		middleware.CorrelationID,
		middleware.Recoverer,
		middleware.Timeout(s.EventTimeout),
	)
	router.AddConsumerHandler("events", ci.Durable, sub, d.handle)
	c := &eventConsumer{router: router, sub: sub, done: make(chan error, 1)}
	go func() { c.done <- router.Run(context.Background()) }()
	select {
	case <-router.Running():
		return c, nil
	case err := <-c.done:
		return nil, fmt.Errorf("events: bind durable %s on %s: %w", ci.Durable, ci.Stream, errors.Join(err, errors.New("router stopped")))
	}
}

// close stops pulling, lets in-flight handlers finish (bounded by the
// settings' drain timeout) and waits for the Router.
func (c *eventConsumer) close() error {
	err := c.router.Close()
	return errors.Join(err, <-c.done)
}

// tracing starts a consumer span continuing the publisher's trace (the
// subscriber already put its span context in the message's context).
func tracing(durable string) message.HandlerMiddleware {
	tracer := otel.Tracer(tracerName)
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			subject := msg.Metadata.Get(bus.MetadataSubject)
			ctx, span := tracer.Start(msg.Context(), "process "+subject, trace.WithSpanKind(trace.SpanKindConsumer))
			defer span.End()
			if span.IsRecording() {
				span.SetAttributes(attribute.String("messaging.system", "nats"),
					attribute.String("messaging.destination.name", subject),
					attribute.String("messaging.consumer.group.name", durable),
					attribute.String("messaging.message.id", msg.UUID))
			}
			msg.SetContext(ctx)
			out, err := h(msg)
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
			return out, err
		}
	}
}

// handle decodes one event and runs every handler whose pattern matches.
func (d *eventDispatch[Cfg]) handle(msg *message.Message) error {
	d.inflight.Add(1)
	d.metrics.inflight.Inc()
	defer func() {
		d.metrics.inflight.Dec()
		d.inflight.Add(-1)
	}()
	subject := msg.Metadata.Get(bus.MetadataSubject)
	if middleware.MessageCorrelationID(msg) == "" {
		middleware.SetCorrelationID(msg.UUID, msg)
	}
	env, err := contracts.DecodeEnvelope(msg.Payload)
	if err != nil {
		d.logger.Error("event is not a valid envelope; dead-lettering it", "subject", subject, "error", err)
		return Permanent(fmt.Errorf("decode event on %s: %w", subject, err))
	}
	delivery, _ := strconv.Atoi(msg.Metadata.Get(bus.MetadataNumDelivered))
	typ, _ := bus.EventTypeFromSubject(d.prefix, subject)
	ctx := msg.Context()
	c := d.context()
	ctx = withContext(ctx, c)
	matched := false
	for _, r := range d.routes {
		if !contracts.SubjectMatches(r.pattern, string(typ)) {
			continue
		}
		matched = true
		start := time.Now()
		call := Call{Kind: CallEvent, Name: string(typ), ID: env.ID, Delivery: delivery}
		err := chain(d.mw, ctx, call, func(ctx context.Context) error { return r.handle(ctx, c, env, delivery) })
		d.metrics.eventDuration.WithLabelValues(r.pattern).Observe(time.Since(start).Seconds())
		outcome := "ok"
		switch {
		case bus.IsPermanent(err):
			outcome = "permanent"
		case err != nil:
			outcome = "error"
		}
		d.metrics.events.WithLabelValues(r.pattern, outcome).Inc()
		if err != nil {
			d.logger.WarnContext(ctx, "event handler failed", "handler", r.pattern, "event", typ, "id", env.ID,
				"delivery", delivery, "permanent", outcome == "permanent", "correlation_id", middleware.MessageCorrelationID(msg),
				"error", err)
			return err
		}
	}
	if !matched {
		d.logger.DebugContext(ctx, "event matches no handler; acknowledged", "event", typ, "id", env.ID)
	}
	return nil
}
