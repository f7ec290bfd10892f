package bus_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
)

const wantTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestPublishStoresARepublishedIDOnce(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	ctx := testCtx(t)
	env := envelope(t, "u1")

	first, err := bus.Publish(ctx, js, "", env)
	require.NoError(t, err)
	require.False(t, first.Duplicate)
	require.Equal(t, "AUTH_EVENTS", first.Stream)

	again, err := bus.Publish(ctx, js, "", env)
	require.NoError(t, err)
	require.True(t, again.Duplicate, "same id inside the duplicate window")
	require.Equal(t, first.Sequence, again.Sequence, "the original sequence is reported")

	// The relay's path (already-serialised envelope) dedups against it too.
	body, err := json.Marshal(env)
	require.NoError(t, err)
	msg, err := bus.EncodedEventMsg(ctx, "", body)
	require.NoError(t, err)
	relayed, err := js.PublishMsg(ctx, msg, jetstream.WithExpectStream("AUTH_EVENTS"))
	require.NoError(t, err)
	require.True(t, relayed.Duplicate)

	require.Equal(t, uint64(1), streamMsgs(t, js, "AUTH_EVENTS"))

	st, err := js.Stream(ctx, "AUTH_EVENTS")
	require.NoError(t, err)
	stored, err := st.GetMsg(ctx, first.Sequence)
	require.NoError(t, err)
	require.Equal(t, "user.created", stored.Subject)
	require.Equal(t, env.ID, stored.Header.Get(jetstream.MsgIDHeader))
	got, err := contracts.DecodeEnvelope(stored.Data)
	require.NoError(t, err)
	require.Equal(t, env.ID, got.ID)
}

func TestPublishExpectsTheStream(t *testing.T) {
	t.Parallel()
	js := setup(t, "")
	_, err := bus.Publish(testCtx(t), js, "", envelope(t, "u1"), jetstream.WithExpectStream("OTHER"))
	require.Error(t, err, "the stream capturing the subject is not the one expected")
	require.Equal(t, uint64(0), streamMsgs(t, js, "AUTH_EVENTS"))
}

func TestEventMsgTraceHeaders(t *testing.T) {
	t.Parallel()
	sc := spanContext(t)
	withSpan := trace.ContextWithRemoteSpanContext(context.Background(), sc)
	other := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tests := []struct {
		name           string
		ctx            context.Context
		envTraceParent string
		wantHeader     string
		wantBody       string
	}{
		{"span in ctx fills both", withSpan, "", wantTraceParent, wantTraceParent},
		{"envelope extension when ctx has no span", context.Background(), other, other, other},
		{"ctx wins for the header, body kept", withSpan, other, wantTraceParent, other},
		{"malformed extension is not propagated", context.Background(), "garbage", "", "garbage"},
		{"no trace at all", context.Background(), "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := envelope(t, "u1")
			env.TraceParent = tt.envTraceParent
			msg, err := bus.EventMsg(tt.ctx, "acme", env)
			require.NoError(t, err)
			require.Equal(t, "acme.user.created", msg.Subject)
			require.Equal(t, env.ID, msg.Header.Get(jetstream.MsgIDHeader))
			require.Equal(t, bus.ContentTypeCloudEvents, msg.Header.Get(bus.HeaderContentType))
			require.Equal(t, tt.wantHeader, msg.Header.Get("traceparent"), "lowercase key on the wire")
			var body contracts.Envelope
			require.NoError(t, json.Unmarshal(msg.Data, &body))
			require.Equal(t, tt.wantBody, body.TraceParent)

			// The relay's builder gives the same headers for the serialised body,
			// except that without ctx span it trusts the body's extension.
			enc, err := bus.EncodedEventMsg(context.Background(), "acme", msg.Data)
			require.NoError(t, err)
			require.Equal(t, msg.Subject, enc.Subject)
			require.Equal(t, msg.Header.Get(jetstream.MsgIDHeader), enc.Header.Get(jetstream.MsgIDHeader))
			wantEnc := tt.wantBody
			if wantEnc == "garbage" {
				wantEnc = ""
			}
			require.Equal(t, wantEnc, enc.Header.Get("traceparent"))
			require.Equal(t, msg.Data, enc.Data, "body sent unchanged")
		})
	}
}

func TestEventMsgRejectsInvalidEnvelopes(t *testing.T) {
	t.Parallel()
	env := envelope(t, "u1")
	env.ID = ""
	_, err := bus.EventMsg(context.Background(), "", env)
	require.ErrorIs(t, err, contracts.ErrInvalidEnvelope)
	_, err = bus.Publish(context.Background(), nil, "", env)
	require.ErrorIs(t, err, contracts.ErrInvalidEnvelope, "nothing is sent")

	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"not json", `{"id":`, "invalid event envelope"},
		{"no id", `{"type":"user.created"}`, "id is required"},
		{"no type", `{"id":"x"}`, "type is required"},
		{"neither", `{}`, "type is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bus.EncodedEventMsg(context.Background(), "", []byte(tt.body))
			require.ErrorIs(t, err, contracts.ErrInvalidEnvelope)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
