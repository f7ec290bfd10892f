package bus_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
)

// addService registers a micro service with one endpoint on subject.
func addService(t *testing.T, nc *nats.Conn, subject string, h micro.HandlerFunc) {
	t.Helper()
	svc, err := micro.AddService(nc, micro.Config{Name: "core", Version: "1.0.0"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	require.NoError(t, svc.AddEndpoint("endpoint", h, micro.WithEndpointSubject(subject)))
}

func TestRequestReply(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunJetStream(t, bustest.InProcess())
	subject := bus.CoreSubject("acme", "audit", "users", "get")

	type seen struct {
		header      nats.Header
		ctxDeadline time.Time
		traceID     trace.TraceID
	}
	got := make(chan seen, 1)
	addService(t, nc, subject, func(req micro.Request) {
		ctx, cancel := bus.ContextFromHeader(context.Background(), nats.Header(req.Headers()))
		defer cancel()
		dl, _ := ctx.Deadline()
		got <- seen{header: nats.Header(req.Headers()), ctxDeadline: dl, traceID: trace.SpanContextFromContext(ctx).TraceID()}
		_ = req.Respond(append([]byte("hello "), req.Data()...))
	})

	deadline := time.Now().Add(20 * time.Second)
	ctx, cancel := context.WithDeadline(trace.ContextWithRemoteSpanContext(context.Background(), spanContext(t)), deadline)
	defer cancel()
	hdr := nats.Header{contracts.HeaderPluginID: {"audit"}}
	reply, err := bus.Request(ctx, nc, subject, []byte("world"), hdr)
	require.NoError(t, err)
	require.Equal(t, "hello world", string(reply.Data))
	require.Equal(t, nats.Header{contracts.HeaderPluginID: {"audit"}}, hdr, "the caller's header is not modified")

	s := <-got
	require.Equal(t, "audit", s.header.Get(contracts.HeaderPluginID))
	require.Equal(t, contracts.FormatDeadline(deadline), s.header.Get(contracts.HeaderDeadline))
	require.True(t, s.ctxDeadline.Equal(deadline), "the server side works to the caller's deadline")
	require.Equal(t, wantTraceParent, s.header.Get("traceparent"))
	require.Equal(t, spanContext(t).TraceID(), s.traceID)
}

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunJetStream(t, bustest.InProcess())
	addService(t, nc, "core.users.limited", func(req micro.Request) {
		_ = req.Error("429", "too many attempts", []byte(`{"retry_after":30}`))
	})
	addService(t, nc, "core.users.big", func(req micro.Request) {
		_ = req.Respond(bytes.Repeat([]byte("x"), 100))
	})
	silent, err := nc.SubscribeSync("core.users.silent")
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Unsubscribe() })

	t.Run("no responders is distinct and does not wait", func(t *testing.T) {
		// With a minute to spare, only NATS' immediate no-responders status
		// can end this request early; a timeout would take the whole minute.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := bus.Request(ctx, nc, "core.nobody.home", nil, nil)
		require.ErrorIs(t, err, bus.ErrNoResponders)
		require.ErrorIs(t, err, nats.ErrNoResponders)
		require.NotErrorIs(t, err, bus.ErrTimeout)
		require.NoError(t, ctx.Err())
	})
	t.Run("context deadline honoured", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := bus.Request(ctx, nc, "core.users.silent", nil, nil)
		require.ErrorIs(t, err, bus.ErrTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, bus.ErrNoResponders)
		require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "never gives up early")
	})
	t.Run("default timeout without context deadline", func(t *testing.T) {
		start := time.Now()
		_, err := bus.Request(context.Background(), nc, "core.users.silent", nil, nil, bus.WithTimeout(100*time.Millisecond))
		require.ErrorIs(t, err, bus.ErrTimeout)
		require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	})
	t.Run("cancellation is not a timeout", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := bus.Request(ctx, nc, "core.users.silent", nil, nil)
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, bus.ErrTimeout)
	})
	t.Run("service error decoded", func(t *testing.T) {
		_, err := bus.Request(testCtx(t), nc, "core.users.limited", nil, nil)
		var se *bus.ServiceError
		require.True(t, errors.As(err, &se), "got %v", err)
		require.Equal(t, "429", se.Code)
		require.Equal(t, 429, se.Status())
		require.Equal(t, "too many attempts", se.Description)
		require.JSONEq(t, `{"retry_after":30}`, string(se.Data))
		require.Equal(t, "core.users.limited", se.Subject)
		require.Contains(t, se.Error(), "429")
	})
	t.Run("reply size capped", func(t *testing.T) {
		_, err := bus.Request(testCtx(t), nc, "core.users.big", nil, nil, bus.WithMaxReplyBytes(10))
		require.ErrorIs(t, err, bus.ErrReplyTooLarge)
		reply, err := bus.Request(testCtx(t), nc, "core.users.big", nil, nil, bus.WithMaxReplyBytes(100))
		require.NoError(t, err)
		require.Len(t, reply.Data, 100)
	})
}

func TestContextFromHeaderWithoutDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := bus.ContextFromHeader(context.Background(), nats.Header{contracts.HeaderDeadline: {"not a time"}})
	defer cancel()
	_, has := ctx.Deadline()
	require.False(t, has, "a malformed deadline is ignored")
	cancel()
	require.ErrorIs(t, ctx.Err(), context.Canceled)
}
