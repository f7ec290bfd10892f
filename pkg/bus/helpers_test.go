package bus_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
)

// memStreams is a StreamConfig for tests where persistence is not the point.
var memStreams = bus.StreamConfig{Storage: "memory"}

// quiet discards logs.
var quiet = slog.New(slog.DiscardHandler)

// testCtx is a context bounded by the test's lifetime and a generous timeout.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// setup starts an in-process JetStream server with the events and
// dead-letter streams (memory storage) and returns a JetStream handle.
func setup(t testing.TB, prefix string) jetstream.JetStream {
	t.Helper()
	js := newJS(t)
	_, err := bus.EnsureStream(testCtx(t), js, memStreams, prefix)
	require.NoError(t, err)
	return js
}

// newJS starts an in-process JetStream server and returns a handle on it.
func newJS(t testing.TB) jetstream.JetStream {
	t.Helper()
	_, nc := bustest.RunJetStream(t, bustest.InProcess())
	return bustest.JetStream(t, nc)
}

// envelope builds a user.created envelope for user id.
func envelope(t testing.TB, id string) contracts.Envelope {
	t.Helper()
	env, err := contracts.NewEnvelope("authbus/test", contracts.EventUserCreated, id,
		contracts.UserCreated{User: contracts.User{ID: id, Email: id + "@example.com"}})
	require.NoError(t, err)
	return env
}

// publish publishes an envelope for user id and returns it.
func publish(t testing.TB, js jetstream.JetStream, prefix, id string) contracts.Envelope {
	t.Helper()
	env := envelope(t, id)
	_, err := bus.Publish(testCtx(t), js, prefix, env)
	require.NoError(t, err)
	return env
}

// spanContext is a remote span context with fixed ids.
func spanContext(t testing.TB) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid,
		TraceFlags: trace.FlagsSampled, Remote: true})
}

// streamMsgs returns the number of messages stored in stream.
func streamMsgs(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	st, err := js.Stream(testCtx(t), stream)
	require.NoError(t, err)
	info, err := st.Info(testCtx(t))
	require.NoError(t, err)
	return info.State.Msgs
}
