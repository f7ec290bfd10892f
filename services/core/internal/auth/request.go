package auth

import (
	"context"

	"go.opentelemetry.io/otel/propagation"

	"github.com/authbus/authbus/pkg/contracts"
)

// Request describes the request a flow runs for: it feeds hook contexts, the
// session's ipAddress/userAgent and the events' extensions.
type Request struct {
	// Info is the HTTP request as hooks see it.
	Info contracts.RequestInfo
	// TraceParent is the W3C traceparent of the request's span, when the
	// context carries no span of its own.
	TraceParent string
	// ActorID is who acts: a user id, or "plugin:<id>" for a plugin calling
	// a core service. Flows fill in the signed-in user when it is empty.
	ActorID string
}

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the Request carried by ctx (zero when none).
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

// WithActor returns ctx with the request's ActorID set to actor.
func WithActor(ctx context.Context, actor string) context.Context {
	r := RequestFrom(ctx)
	r.ActorID = actor
	return WithRequest(ctx, r)
}

// PluginActor is the ActorID of a plugin.
func PluginActor(pluginID string) string { return "plugin:" + pluginID }

// traceParent is the traceparent of ctx's span, else the request's.
func traceParent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	if tp := carrier.Get("traceparent"); tp != "" {
		return tp
	}
	return RequestFrom(ctx).TraceParent
}
