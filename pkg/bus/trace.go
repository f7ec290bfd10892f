package bus

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceContext is the W3C Trace Context propagator. authbus always uses it
// explicitly: the global propagator may be unset (a no-op) in a service.
var traceContext = propagation.TraceContext{}

// HeaderCarrier adapts nats.Header to propagation.TextMapCarrier. Get is
// case-insensitive, so it reads the lowercase "traceparent" other clients
// send (OTel's own HeaderCarrier canonicalises to "Traceparent" and misses
// it); Set writes lowercase keys, as W3C recommends.
type HeaderCarrier nats.Header

// Get returns the first value of key, matched case-insensitively.
func (c HeaderCarrier) Get(key string) string {
	if vs := c[key]; len(vs) > 0 {
		return vs[0]
	}
	for k, vs := range c {
		if len(vs) > 0 && strings.EqualFold(k, key) {
			return vs[0]
		}
	}
	return ""
}

// Set replaces key (stored lowercase) and drops any other spelling of it.
func (c HeaderCarrier) Set(key, value string) {
	lower := strings.ToLower(key)
	for k := range c {
		if k != lower && strings.EqualFold(k, key) {
			delete(c, k)
		}
	}
	c[lower] = []string{value}
}

// Keys lists the header keys as stored.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// InjectTrace writes ctx's span context into h as W3C traceparent/tracestate.
// It does nothing when ctx carries no valid span context or h is nil.
func InjectTrace(ctx context.Context, h nats.Header) {
	if h == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	traceContext.Inject(ctx, HeaderCarrier(h))
}

// ExtractTrace returns ctx with the remote span context found in h (any key
// case). Without a valid traceparent, ctx is returned unchanged.
func ExtractTrace(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return traceContext.Extract(ctx, HeaderCarrier(h))
}

// traceParentContext returns ctx carrying the span context of a W3C
// traceparent value; ok is false when the value is malformed.
func traceParentContext(ctx context.Context, traceparent string) (context.Context, bool) {
	if traceparent == "" {
		return ctx, false
	}
	out := traceContext.Extract(ctx, HeaderCarrier{"traceparent": {traceparent}})
	return out, trace.SpanContextFromContext(out).IsValid()
}
