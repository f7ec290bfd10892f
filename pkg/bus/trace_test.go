package bus_test

import (
	"context"
	"sort"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
)

func TestHeaderCarrier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header nats.Header
		key    string
		want   string
	}{
		{"exact", nats.Header{"traceparent": {"a"}}, "traceparent", "a"},
		{"lowercase stored, canonical asked", nats.Header{"traceparent": {"b"}}, "Traceparent", "b"},
		{"canonical stored, lowercase asked", nats.Header{"Traceparent": {"c"}}, "traceparent", "c"},
		{"upper stored", nats.Header{"TRACESTATE": {"d"}}, "tracestate", "d"},
		{"missing", nats.Header{"Other": {"e"}}, "traceparent", ""},
		{"empty values", nats.Header{"traceparent": {}}, "traceparent", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, bus.HeaderCarrier(tt.header).Get(tt.key))
		})
	}

	h := nats.Header{"Traceparent": {"old"}, "X": {"y"}}
	c := bus.HeaderCarrier(h)
	c.Set("Traceparent", "new")
	require.Equal(t, nats.Header{"traceparent": {"new"}, "X": {"y"}}, h, "lowercase key, other spelling dropped")
	keys := c.Keys()
	sort.Strings(keys)
	require.Equal(t, []string{"X", "traceparent"}, keys)

	var _ propagation.TextMapCarrier = c
}

func TestInjectExtractTrace(t *testing.T) {
	t.Parallel()
	sc := spanContext(t)
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), sc)

	h := nats.Header{}
	bus.InjectTrace(ctx, h)
	require.Equal(t, []string{wantTraceParent}, h["traceparent"], "W3C lowercase header")
	got := trace.SpanContextFromContext(bus.ExtractTrace(context.Background(), h))
	require.Equal(t, sc.TraceID(), got.TraceID())
	require.Equal(t, sc.SpanID(), got.SpanID())
	require.True(t, got.IsRemote())

	// What a non-Go client sends: a raw lowercase key, or any other case.
	for _, key := range []string{"traceparent", "TRACEPARENT", "Traceparent"} {
		raw := nats.Header{key: {wantTraceParent}, "tracestate": {"vendor=1"}}
		got := bus.ExtractTrace(context.Background(), raw)
		require.Equal(t, sc.TraceID(), trace.SpanContextFromContext(got).TraceID(), key)
		require.Equal(t, "vendor=1", trace.SpanContextFromContext(got).TraceState().String())
	}

	// No span, no header: nothing written; no header: ctx unchanged.
	empty := nats.Header{}
	bus.InjectTrace(context.Background(), empty)
	require.Empty(t, empty)
	bus.InjectTrace(ctx, nil)
	type key struct{}
	base := context.WithValue(context.Background(), key{}, 1)
	require.Equal(t, base, bus.ExtractTrace(base, nil))
	require.False(t, trace.SpanContextFromContext(bus.ExtractTrace(context.Background(), nats.Header{"traceparent": {"junk"}})).IsValid())
}
