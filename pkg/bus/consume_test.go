package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
)

// delivery is one handler call as the test saw it.
type delivery struct {
	id        string
	subject   string
	delivered uint64
	at        time.Time
	traceID   trace.TraceID
}

// recorder is a handler that records deliveries and answers with verdicts.
type recorder struct {
	mu      sync.Mutex
	seen    []delivery
	verdict func(d delivery) error
}

func (r *recorder) handle(ctx context.Context, msg jetstream.Msg) error {
	d := delivery{id: msg.Headers().Get(jetstream.MsgIDHeader), subject: msg.Subject(),
		traceID: trace.SpanContextFromContext(ctx).TraceID()}
	if md, err := msg.Metadata(); err == nil {
		d.delivered = md.NumDelivered
	}
	var err error
	if r.verdict != nil {
		err = r.verdict(d)
	}
	d.at = time.Now() // after the verdict: the nak is sent later still
	r.mu.Lock()
	r.seen = append(r.seen, d)
	r.mu.Unlock()
	return err
}

func (r *recorder) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.seen...)
}

// atLeast is a CheckFor condition: the recorder saw n deliveries.
func (r *recorder) atLeast(n int) func() error {
	return func() error {
		if got := len(r.deliveries()); got < n {
			return fmt.Errorf("%d deliveries, want %d", got, n)
		}
		return nil
	}
}

// consumeInBackground runs Consume until stop is called (or the test ends);
// stop cancels it and returns Consume's error; done is closed when it returned.
func consumeInBackground(t *testing.T, c *bus.Consumer, h bus.Handler) (stop func() error, done <-chan struct{}) {
	t.Helper()
	cancel, wait, finished := consumeAsync(t, c, h)
	return func() error { cancel(); return wait() }, finished
}

// consumeAsync runs Consume; cancel starts its shutdown, wait waits for it.
func consumeAsync(t *testing.T, c *bus.Consumer, h bus.Handler) (cancel func(), wait func() error, done <-chan struct{}) {
	t.Helper()
	ctx, cancelCtx := context.WithCancel(context.Background())
	finished := make(chan struct{})
	var err error
	go func() {
		defer close(finished)
		err = c.Consume(ctx, h)
	}()
	wait = func() error {
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Fatal("Consume did not return after cancel")
		}
		return err
	}
	t.Cleanup(func() { cancelCtx(); _ = wait() })
	return cancelCtx, wait, finished
}

// newConsumer ensures the durable and returns a Consumer for it.
func newConsumer(t *testing.T, js jetstream.JetStream, prefix string, cfg bus.ConsumerConfig) *bus.Consumer {
	t.Helper()
	_, err := bus.EnsureConsumer(testCtx(t), js, prefix, cfg)
	require.NoError(t, err)
	c, err := bus.NewConsumer(js, prefix, cfg, quiet)
	require.NoError(t, err)
	return c
}

// consumerInfo reads the durable's state from the server.
func consumerInfo(t *testing.T, js jetstream.JetStream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(testCtx(t), "AUTH_EVENTS", durable)
	require.NoError(t, err)
	info, err := c.Info(testCtx(t))
	require.NoError(t, err)
	return info
}

// settled is a CheckFor condition: every delivered message up to stream
// sequence seq is acknowledged (or terminated) and nothing awaits an ack.
func settled(t *testing.T, js jetstream.JetStream, durable string, seq uint64) func() error {
	return func() error {
		info := consumerInfo(t, js, durable)
		if info.NumAckPending != 0 || info.AckFloor.Stream < seq {
			return fmt.Errorf("ack pending %d, ack floor %d, want 0 and %d", info.NumAckPending, info.AckFloor.Stream, seq)
		}
		return nil
	}
}

// deadLetters returns the messages in the dead-letter stream.
func deadLetters(t *testing.T, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	st, err := js.Stream(testCtx(t), "AUTH_DLQ")
	require.NoError(t, err)
	info, err := st.Info(testCtx(t))
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(testCtx(t), seq)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

func TestConsumePublishedEvents(t *testing.T) {
	t.Parallel()
	js := setup(t, "acme")
	c := newConsumer(t, js, "acme", bus.ConsumerConfig{Durable: "plugin-audit", FilterSubjects: []string{"user.*"}})
	var ids []string
	for _, id := range []string{"u1", "u2", "u3"} {
		ids = append(ids, publish(t, js, "acme", id).ID)
	}
	other, err := contracts.NewEnvelope("authbus/test", contracts.EventLoginFailed, "u1", contracts.LoginFailed{})
	require.NoError(t, err)
	_, err = bus.Publish(testCtx(t), js, "acme", other)
	require.NoError(t, err)

	var (
		mu   sync.Mutex
		envs []contracts.Envelope
	)
	stop, _ := consumeInBackground(t, c, func(_ context.Context, msg jetstream.Msg) error {
		env, err := bus.DecodeEvent(msg)
		if err != nil {
			return err
		}
		mu.Lock()
		envs = append(envs, env)
		mu.Unlock()
		return nil
	})
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-audit", 3))
	require.NoError(t, stop())

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, envs, 3, "the filter leaves auth.login.failed out")
	for i, env := range envs {
		require.Equal(t, ids[i], env.ID, "one worker sees stream order")
		require.Equal(t, contracts.EventUserCreated, env.Type)
	}
	info := consumerInfo(t, js, "plugin-audit")
	require.Equal(t, []string{"acme.user.*"}, info.Config.FilterSubjects)
}

func TestConsumeRedeliversAfterNakWithBackoff(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	backoff := []time.Duration{150 * time.Millisecond, 400 * time.Millisecond}
	c := newConsumer(t, js, "", bus.ConsumerConfig{Durable: "plugin-retry", NakBackoff: backoff})
	publish(t, js, "", "u1")

	rec := &recorder{verdict: func(d delivery) error {
		if d.delivered < 3 {
			return errors.New("downstream unavailable")
		}
		return nil
	}}
	consumeInBackground(t, c, rec.handle)
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, rec.atLeast(3))
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-retry", 1))

	ds := rec.deliveries()
	require.Len(t, ds, 3)
	for i, d := range ds {
		require.Equal(t, uint64(i+1), d.delivered, "delivery count from metadata")
	}
	// The delay after the n-th failure is backoff[n-1]; only a lower bound is asserted.
	require.GreaterOrEqual(t, ds[1].at.Sub(ds[0].at), backoff[0])
	require.GreaterOrEqual(t, ds[2].at.Sub(ds[1].at), backoff[1])
}

func TestConsumeDeadLetters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		publish        func(t *testing.T, js jetstream.JetStream) uint64
		verdict        func(d delivery) error
		wantDeliveries int
		wantReason     string
		wantError      string
	}{
		{
			name:           "after max deliver",
			publish:        publishTraced,
			verdict:        func(delivery) error { return errors.New("smtp down\nfor good") },
			wantDeliveries: 3,
			wantReason:     bus.DeadLetterReasonMaxDeliver,
			wantError:      "smtp down for good",
		},
		{
			name:           "permanent error at once",
			publish:        publishTraced,
			verdict:        func(delivery) error { return fmt.Errorf("validate: %w", bus.Permanent(errors.New("bad payload"))) },
			wantDeliveries: 1,
			wantReason:     bus.DeadLetterReasonPermanent,
			wantError:      "validate: bad payload",
		},
		{
			name: "undecodable envelope is permanent",
			publish: func(t *testing.T, js jetstream.JetStream) uint64 {
				ack, err := js.PublishMsg(testCtx(t), &nats.Msg{Subject: "acme.user.created", Data: []byte("not json"),
					Header: nats.Header{"traceparent": {wantTraceParent}}})
				require.NoError(t, err)
				return ack.Sequence
			},
			wantDeliveries: 1,
			wantReason:     bus.DeadLetterReasonPermanent,
			wantError:      "invalid event envelope",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := setup(t, "acme")
			c := newConsumer(t, js, "acme", bus.ConsumerConfig{Durable: "plugin-mailer", DeadLetter: "mailer",
				MaxDeliver: 3, NakBackoff: []time.Duration{10 * time.Millisecond}})
			seq := tt.publish(t, js)
			rec := &recorder{verdict: tt.verdict}
			h := rec.handle
			if tt.verdict == nil {
				h = func(ctx context.Context, msg jetstream.Msg) error {
					_ = rec.handle(ctx, msg)
					_, err := bus.DecodeEvent(msg)
					return err
				}
			}
			consumeInBackground(t, c, h)

			bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
				if n := streamMsgs(t, js, "AUTH_DLQ"); n != 1 {
					return fmt.Errorf("%d dead letters", n)
				}
				return nil
			})
			bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-mailer", seq))
			require.Len(t, rec.deliveries(), tt.wantDeliveries, "terminated: no further delivery")

			dl := deadLetters(t, js)[0]
			require.Equal(t, "acme.dlq.mailer.user.created", dl.Subject)
			require.Equal(t, "acme.user.created", dl.Header.Get(bus.HeaderDeadLetterSubject))
			require.Equal(t, "AUTH_EVENTS", dl.Header.Get(bus.HeaderDeadLetterStream))
			require.Equal(t, strconv.FormatUint(seq, 10), dl.Header.Get(bus.HeaderDeadLetterSequence))
			require.Equal(t, "plugin-mailer", dl.Header.Get(bus.HeaderDeadLetterConsumer))
			require.Equal(t, strconv.Itoa(tt.wantDeliveries), dl.Header.Get(bus.HeaderDeadLetterDeliveries))
			require.Equal(t, tt.wantReason, dl.Header.Get(bus.HeaderDeadLetterReason))
			require.Contains(t, dl.Header.Get(bus.HeaderDeadLetterError), tt.wantError)
			require.Equal(t, wantTraceParent, dl.Header.Get("traceparent"), "original headers travel along")

			st, err := js.Stream(testCtx(t), "AUTH_EVENTS")
			require.NoError(t, err)
			orig, err := st.GetMsg(testCtx(t), seq)
			require.NoError(t, err)
			require.Equal(t, orig.Data, dl.Data, "body copied unchanged")
		})
	}
}

// publishTraced publishes a traced user.created on prefix acme.
func publishTraced(t *testing.T, js jetstream.JetStream) uint64 {
	ctx := trace.ContextWithRemoteSpanContext(testCtx(t), spanContext(t))
	ack, err := bus.Publish(ctx, js, "acme", envelope(t, "u1"))
	require.NoError(t, err)
	return ack.Sequence
}

func TestConsumeCarriesTraceContext(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	c := newConsumer(t, js, "", bus.ConsumerConfig{Durable: "plugin-trace"})
	want := spanContext(t).TraceID()

	// From a Go producer, through Publish.
	publishTraced := trace.ContextWithRemoteSpanContext(testCtx(t), spanContext(t))
	_, err := bus.Publish(publishTraced, js, "", envelope(t, "go"))
	require.NoError(t, err)
	// From a non-Go client: a raw, lowercase header key on the wire.
	_, err = js.PublishMsg(testCtx(t), &nats.Msg{Subject: "user.created", Data: []byte(`{}`),
		Header: nats.Header{"traceparent": {wantTraceParent}, jetstream.MsgIDHeader: {"raw"}}})
	require.NoError(t, err)
	// From the outbox relay: trace only in the envelope's extension.
	env := envelope(t, "relay")
	env.TraceParent = wantTraceParent
	_, err = bus.Publish(context.Background(), js, "", env)
	require.NoError(t, err)

	rec := &recorder{}
	consumeInBackground(t, c, rec.handle)
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, rec.atLeast(3))
	for _, d := range rec.deliveries() {
		require.Equal(t, want, d.traceID, "trace survives the hop for %s", d.id)
	}
}

func TestConsumeRecoversFromPanics(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	c := newConsumer(t, js, "", bus.ConsumerConfig{Durable: "plugin-panicky", NakBackoff: []time.Duration{time.Millisecond}})
	publish(t, js, "", "u1")
	rec := &recorder{verdict: func(d delivery) error {
		if d.delivered == 1 {
			panic("nil map")
		}
		return nil
	}}
	stop, _ := consumeInBackground(t, c, rec.handle)
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-panicky", 1))
	require.NoError(t, stop())
	require.Len(t, rec.deliveries(), 1, "the panicking call never recorded")
	require.Equal(t, uint64(2), rec.deliveries()[0].delivered)
}

func TestConsumeShutdownLosesNothing(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	// AckWait is long: whatever is redelivered within the test was handed back by a Nak.
	cfg := bus.ConsumerConfig{Durable: "plugin-slow", AckWait: time.Minute, Workers: 1, PullMaxMessages: 3}
	c := newConsumer(t, js, "", cfg)
	for _, id := range []string{"u1", "u2", "u3"} {
		publish(t, js, "", id)
	}

	started := make(chan struct{})
	var startOnce sync.Once
	release := make(chan struct{})
	var calls sync.Map
	cancel, wait, done := consumeAsync(t, c, func(_ context.Context, msg jetstream.Msg) error {
		calls.Store(msg.Headers().Get(jetstream.MsgIDHeader), true)
		startOnce.Do(func() { close(started) })
		<-release
		return nil
	})
	<-started
	// The other two are prefetched by now or soon; shut down while the handler is busy.
	cancel()
	// Consume cannot return while its handler runs (the drain timeout is 10s).
	select {
	case <-done:
		t.Fatal("Consume returned while a handler was still running")
	default:
	}
	close(release)
	require.NoError(t, wait())

	info := consumerInfo(t, js, "plugin-slow")
	require.Equal(t, uint64(1), info.AckFloor.Stream, "the in-flight message was acked")

	// A new consumer process gets the other two at once.
	rec := &recorder{}
	consumeInBackground(t, c, rec.handle)
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-slow", 3))
	for _, d := range rec.deliveries() {
		_, again := calls.Load(d.id)
		require.False(t, again, "the acked message is not redelivered")
	}
	require.Len(t, rec.deliveries(), 2)
}

func TestConsumeDrainTimeoutHandsMessageBack(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	cfg := bus.ConsumerConfig{Durable: "plugin-stuck", AckWait: 300 * time.Millisecond, DrainTimeout: 50 * time.Millisecond}
	c := newConsumer(t, js, "", cfg)
	publish(t, js, "", "u1")

	started := make(chan struct{})
	never := make(chan struct{})
	t.Cleanup(func() { close(never) })
	handlerCtxErr := make(chan error, 1)
	stop, _ := consumeInBackground(t, c, func(ctx context.Context, _ jetstream.Msg) error {
		close(started)
		<-ctx.Done() // the drain timeout cancels it
		handlerCtxErr <- ctx.Err()
		<-never // and it still refuses to return
		return nil
	})
	<-started
	require.NoError(t, stop(), "Consume returns once the drain timeout passed")

	rec := &recorder{}
	consumeInBackground(t, c, rec.handle)
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, rec.atLeast(1))
	require.Equal(t, uint64(2), rec.deliveries()[0].delivered, "redelivered, not lost")
	require.ErrorIs(t, <-handlerCtxErr, context.Canceled)
}

func TestConsumeFailsWithoutConsumer(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	c, err := bus.NewConsumer(js, "", bus.ConsumerConfig{Durable: "nobody-made-me"}, quiet)
	require.NoError(t, err)
	err = c.Consume(testCtx(t), func(context.Context, jetstream.Msg) error { return nil })
	require.ErrorIs(t, err, jetstream.ErrConsumerNotFound)

	_, err = bus.NewConsumer(js, "", bus.ConsumerConfig{}, quiet)
	require.ErrorContains(t, err, "durable is required")

	// Deleting the durable under a running Consume ends it with an error.
	c = newConsumer(t, js, "", bus.ConsumerConfig{Durable: "plugin-doomed"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- c.Consume(ctx, func(context.Context, jetstream.Msg) error { return nil }) }()
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if info := consumerInfo(t, js, "plugin-doomed"); info.NumWaiting == 0 {
			return errors.New("no pull request yet")
		}
		return nil
	})
	require.NoError(t, js.DeleteConsumer(testCtx(t), "AUTH_EVENTS", "plugin-doomed"))
	select {
	case err := <-errc:
		require.ErrorIs(t, err, jetstream.ErrConsumerDeleted)
	case <-time.After(20 * time.Second):
		t.Fatal("Consume kept running on a deleted consumer")
	}
}

func TestMaxDeliveriesWatcherCopiesMessagesWithoutVerdict(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	w, err := bus.WatchMaxDeliveries(testCtx(t), js, "", "AUTH_EVENTS", quiet)
	require.NoError(t, err)
	t.Cleanup(w.Stop)
	cons, err := bus.EnsureConsumer(testCtx(t), js, "", bus.ConsumerConfig{Durable: "plugin-crashy",
		DeadLetter: "crashy", MaxDeliver: 2, AckWait: 100 * time.Millisecond})
	require.NoError(t, err)
	env := publish(t, js, "", "u1")

	// A process that crashes twice: receives, never answers.
	for want := uint64(1); want <= 2; want++ {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		m, ok := <-batch.Messages()
		require.True(t, ok, "delivery %d", want)
		md, err := m.Metadata()
		require.NoError(t, err)
		require.Equal(t, want, md.NumDelivered)
	}

	// The server notices the exhausted message when it next serves a pull
	// request (in production: another replica, or the restarted process).
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond))
	require.NoError(t, err)
	for range batch.Messages() {
		t.Fatal("a message past MaxDeliver was delivered")
	}
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := streamMsgs(t, js, "AUTH_DLQ"); n != 1 {
			return fmt.Errorf("%d dead letters", n)
		}
		return nil
	})
	dl := deadLetters(t, js)[0]
	require.Equal(t, "dlq.crashy.user.created", dl.Subject, "dead-letter name read from the consumer")
	require.Equal(t, bus.DeadLetterReasonNoVerdict, dl.Header.Get(bus.HeaderDeadLetterReason))
	require.Equal(t, "2", dl.Header.Get(bus.HeaderDeadLetterDeliveries))
	require.Equal(t, "plugin-crashy", dl.Header.Get(bus.HeaderDeadLetterConsumer))
	got, err := contracts.DecodeEnvelope(dl.Data)
	require.NoError(t, err)
	require.Equal(t, env.ID, got.ID)

	w.Stop()
	select {
	case <-w.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}

func TestConsumerSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	s, nc := bustest.RunJetStream(t) // TCP and file storage: the point is persistence
	js := bustest.JetStream(t, nc)
	_, err := bus.EnsureStream(testCtx(t), js, bus.StreamConfig{}, "")
	require.NoError(t, err)
	c := newConsumer(t, js, "", bus.ConsumerConfig{Durable: "plugin-durable"})
	rec := &recorder{}
	consumeInBackground(t, c, rec.handle)

	first := publish(t, js, "", "before")
	// Its ack must have reached the server; one lost with the server would
	// only come back after AckWait (at least once, never lost).
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-durable", 1))

	bustest.Restart(t, s)

	// Publishing is retried with the same id until the server is back: dedup makes that safe.
	second := envelope(t, "after")
	bustest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := bus.Publish(ctx, js, "", second)
		return err
	})
	bustest.CheckFor(t, 30*time.Second, 10*time.Millisecond, rec.atLeast(2))
	ds := rec.deliveries()
	require.Equal(t, first.ID, ds[0].id)
	require.Equal(t, second.ID, ds[len(ds)-1].id)
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, settled(t, js, "plugin-durable", 2))
}

func TestEnsureConsumerUpdates(t *testing.T) {
	t.Parallel()
	js := setup(t, "acme")
	cfg := bus.ConsumerConfig{Durable: "plugin-orgs", FilterSubjects: []string{"user.*"}, AckWait: time.Second}
	_, err := bus.EnsureConsumer(testCtx(t), js, "acme", cfg)
	require.NoError(t, err)
	_, err = bus.EnsureConsumer(testCtx(t), js, "acme", cfg)
	require.NoError(t, err, "idempotent")

	cfg.FilterSubjects = []string{"user.*", "org.>"}
	cfg.MaxDeliver = 9
	cfg.DeadLetter = "orgs"
	_, err = bus.EnsureConsumer(testCtx(t), js, "acme", cfg)
	require.NoError(t, err)
	info := consumerInfo(t, js, "plugin-orgs")
	require.Equal(t, []string{"acme.user.*", "acme.org.>"}, info.Config.FilterSubjects)
	require.Equal(t, 9, info.Config.MaxDeliver)
	require.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy)
	require.Equal(t, time.Second, info.Config.AckWait)
	require.Equal(t, "plugin-orgs", info.Config.Durable)

	_, err = bus.EnsureConsumer(testCtx(t), js, "acme", bus.ConsumerConfig{Durable: "bad.name"})
	require.ErrorContains(t, err, "durable")
}

func TestConsumeShutdownIsNotAVerdict(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	// A failure would be retried only after a minute, and AckWait is a minute too:
	// a quick redelivery proves the interrupted message was handed back, not failed.
	c := newConsumer(t, js, "", bus.ConsumerConfig{Durable: "plugin-interrupted", AckWait: time.Minute,
		MaxDeliver: 2, NakBackoff: []time.Duration{time.Minute}, DrainTimeout: 20 * time.Millisecond})
	publish(t, js, "", "u1")
	started := make(chan struct{})
	stop, _ := consumeInBackground(t, c, func(ctx context.Context, _ jetstream.Msg) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	<-started
	require.NoError(t, stop())

	rec := &recorder{}
	consumeInBackground(t, c, rec.handle)
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, settled(t, js, "plugin-interrupted", 1))
	require.Equal(t, uint64(2), rec.deliveries()[0].delivered)
	require.Equal(t, uint64(0), streamMsgs(t, js, "AUTH_DLQ"), "not dead-lettered on its last delivery")
}
