package bus_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
)

// wmCall is one Watermill handler call as the test saw it.
type wmCall struct {
	uuid      string
	metadata  message.Metadata
	traceID   trace.TraceID
	delivered string
}

// runRouter runs a Watermill router with ErrorMetadata and one handler on
// durable topic until the test ends.
func runRouter(t *testing.T, sub *bus.Subscriber, topic string, h message.NoPublishHandlerFunc) *message.Router {
	t.Helper()
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NewSlogLogger(quiet))
	require.NoError(t, err)
	router.AddMiddleware(bus.ErrorMetadata)
	router.AddConsumerHandler("audit", topic, sub, h)
	runErr := make(chan error, 1)
	go func() { runErr <- router.Run(context.Background()) }()
	select {
	case <-router.Running():
	case err := <-runErr:
		t.Fatalf("router stopped: %v", err)
	}
	t.Cleanup(func() {
		require.NoError(t, router.Close())
		require.NoError(t, <-runErr)
	})
	return router
}

func TestWatermillRouterAcksAndNacks(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	_, err := bus.EnsureConsumer(testCtx(t), js, "", bus.ConsumerConfig{Durable: "plugin-wm"})
	require.NoError(t, err)
	sub, err := bus.NewSubscriber(js, "", bus.ConsumerConfig{NakBackoff: []time.Duration{20 * time.Millisecond}}, quiet)
	require.NoError(t, err)

	ok := publishTracedEnv(t, js, "ok")
	flaky := publish(t, js, "", "flaky")

	var (
		mu    sync.Mutex
		calls []wmCall
	)
	runRouter(t, sub, "plugin-wm", func(msg *message.Message) error {
		c := wmCall{uuid: msg.UUID, metadata: maps.Clone(msg.Metadata),
			traceID: trace.SpanContextFromContext(msg.Context()).TraceID(), delivered: msg.Metadata.Get(bus.MetadataNumDelivered)}
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		if c.uuid == flaky.ID && c.delivered == "1" {
			return errors.New("first attempt fails")
		}
		return nil
	})

	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-wm", 2))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, calls, 3)
	var okCalls, flakyCalls []wmCall
	for _, c := range calls {
		switch c.uuid {
		case ok.ID:
			okCalls = append(okCalls, c)
		case flaky.ID:
			flakyCalls = append(flakyCalls, c)
		}
	}
	require.Len(t, okCalls, 1, "ack: no redelivery")
	require.Len(t, flakyCalls, 2, "nack: redelivered")
	require.Equal(t, "2", flakyCalls[1].delivered)

	c := okCalls[0]
	require.Equal(t, spanContext(t).TraceID(), c.traceID, "msg.Context carries the trace")
	require.Equal(t, "user.created", c.metadata.Get(bus.MetadataSubject))
	require.Equal(t, "AUTH_EVENTS", c.metadata.Get(bus.MetadataStream))
	require.Equal(t, "plugin-wm", c.metadata.Get(bus.MetadataConsumer))
	require.Equal(t, "1", c.metadata.Get(bus.MetadataStreamSequence))
	require.Equal(t, ok.ID, c.metadata.Get(jetstream.MsgIDHeader), "headers become metadata")
	require.Equal(t, wantTraceParent, c.metadata.Get("traceparent"))
}

// publishTracedEnv publishes a traced user.created and returns its envelope.
func publishTracedEnv(t *testing.T, js jetstream.JetStream, id string) contracts.Envelope {
	t.Helper()
	env := envelope(t, id)
	ctx := trace.ContextWithRemoteSpanContext(testCtx(t), spanContext(t))
	_, err := bus.Publish(ctx, js, "", env)
	require.NoError(t, err)
	return env
}

func TestWatermillDeadLetters(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	_, err := bus.EnsureConsumer(testCtx(t), js, "", bus.ConsumerConfig{Durable: "plugin-wm-dlq", MaxDeliver: 2})
	require.NoError(t, err)
	sub, err := bus.NewSubscriber(js, "", bus.ConsumerConfig{NakBackoff: []time.Duration{time.Millisecond}}, quiet)
	require.NoError(t, err)
	failing := publish(t, js, "", "failing")
	poison := publish(t, js, "", "poison")

	runRouter(t, sub, "plugin-wm-dlq", func(msg *message.Message) error {
		if msg.UUID == poison.ID {
			return fmt.Errorf("schema: %w", bus.Permanent(errors.New("unknown field")))
		}
		return errors.New("still failing")
	})

	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := streamMsgs(t, js, "AUTH_DLQ"); n != 2 {
			return fmt.Errorf("%d dead letters", n)
		}
		return nil
	})
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-wm-dlq", 2))
	byID := map[string]map[string]string{}
	for _, dl := range deadLetters(t, js) {
		byID[dl.Header.Get("Authbus-Dlq-Sequence")] = map[string]string{
			"reason":     dl.Header.Get(bus.HeaderDeadLetterReason),
			"error":      dl.Header.Get(bus.HeaderDeadLetterError),
			"deliveries": dl.Header.Get(bus.HeaderDeadLetterDeliveries),
			"subject":    dl.Subject,
		}
	}
	require.Equal(t, map[string]string{"reason": bus.DeadLetterReasonMaxDeliver, "error": "still failing",
		"deliveries": "2", "subject": "dlq.plugin-wm-dlq.user.created"}, byID["1"], "failing: %s", failing.ID)
	require.Equal(t, map[string]string{"reason": bus.DeadLetterReasonPermanent, "error": "schema: unknown field",
		"deliveries": "1", "subject": "dlq.plugin-wm-dlq.user.created"}, byID["2"])
}

func TestWatermillSubscriberDeliversOneAtATime(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	_, err := bus.EnsureConsumer(testCtx(t), js, "", bus.ConsumerConfig{Durable: "plugin-seq"})
	require.NoError(t, err)
	sub, err := bus.NewSubscriber(js, "", bus.ConsumerConfig{NakBackoff: []time.Duration{time.Millisecond},
		PullMaxMessages: 2}, quiet)
	require.NoError(t, err)
	first := publish(t, js, "", "first")
	second := publish(t, js, "", "second")

	msgs, err := sub.Subscribe(testCtx(t), "plugin-seq")
	require.NoError(t, err)
	next := func() *message.Message {
		t.Helper()
		select {
		case m, ok := <-msgs:
			require.True(t, ok, "channel closed early")
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
			return nil
		}
	}

	m1 := next()
	require.Equal(t, first.ID, m1.UUID)
	// Asserting an absence needs a window; a slow machine can only make this pass wrongly, never fail wrongly.
	select {
	case m := <-msgs:
		t.Fatalf("message %s delivered before the previous one was acked", m.UUID)
	case <-time.After(100 * time.Millisecond):
	}
	require.True(t, m1.Ack())

	m2 := next()
	require.Equal(t, second.ID, m2.UUID)
	require.True(t, m2.Nack())
	again := next()
	require.Equal(t, second.ID, again.UUID)
	require.Equal(t, "2", again.Metadata.Get(bus.MetadataNumDelivered))
	require.True(t, again.Ack())
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-seq", 2))

	require.NoError(t, sub.Close())
	_, open := <-msgs
	require.False(t, open, "Close closes the channel")
	require.NoError(t, sub.Close(), "Close is idempotent")
	_, err = sub.Subscribe(testCtx(t), "plugin-seq")
	require.ErrorContains(t, err, "closed")
}

func TestWatermillSubscriberShutdown(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	_, err := bus.EnsureConsumer(testCtx(t), js, "", bus.ConsumerConfig{Durable: "plugin-bye", AckWait: time.Minute})
	require.NoError(t, err)
	sub, err := bus.NewSubscriber(js, "", bus.ConsumerConfig{DrainTimeout: 50 * time.Millisecond}, quiet)
	require.NoError(t, err)
	env := publish(t, js, "", "held")

	_, err = sub.Subscribe(testCtx(t), "no-such-durable")
	require.ErrorIs(t, err, jetstream.ErrConsumerNotFound)

	ctx, cancel := context.WithCancel(context.Background())
	msgs, err := sub.Subscribe(ctx, "plugin-bye")
	require.NoError(t, err)
	held := <-msgs
	require.Equal(t, env.ID, held.UUID)

	// Canceling the subscription while a message is unanswered: after the
	// drain timeout the message goes back to the server (Nak), the channel closes.
	cancel()
	for range msgs {
		t.Fatal("no further message after cancel")
	}
	require.NoError(t, sub.Close())

	// Another subscriber gets it right away (AckWait is a minute: this was a Nak).
	sub2, err := bus.NewSubscriber(js, "", bus.ConsumerConfig{}, quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub2.Close() })
	msgs2, err := sub2.Subscribe(testCtx(t), "plugin-bye")
	require.NoError(t, err)
	select {
	case m := <-msgs2:
		require.Equal(t, env.ID, m.UUID)
		require.Equal(t, "2", m.Metadata.Get(bus.MetadataNumDelivered))
		require.True(t, m.Ack())
	case <-time.After(10 * time.Second):
		t.Fatal("the unanswered message was not handed back")
	}
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-bye", 1))
}

// A handler busy when the subscription ends keeps a live context until the
// drain timeout, so it can finish its I/O and ack: shutdown loses nothing.
func TestWatermillHandlerFinishesDuringDrain(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	_, err := bus.EnsureConsumer(testCtx(t), js, "", bus.ConsumerConfig{Durable: "plugin-drain", AckWait: time.Minute})
	require.NoError(t, err)
	sub, err := bus.NewSubscriber(js, "", bus.ConsumerConfig{DrainTimeout: 10 * time.Second}, quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	publish(t, js, "", "busy")

	subCtx, cancel := context.WithCancel(context.Background())
	msgs, err := sub.Subscribe(subCtx, "plugin-drain")
	require.NoError(t, err)
	m := <-msgs
	cancel() // shutdown begins while the handler holds m
	select {
	case <-m.Context().Done():
		t.Fatal("the handler's context was cancelled with the subscription, before the drain timeout")
	default:
	}
	require.NoError(t, m.Context().Err())
	require.True(t, m.Ack())
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-drain", 1))
}
