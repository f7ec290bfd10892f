// Package telemetry is the operational plumbing every authbus service and
// every plugin shares: JSON logs (log/slog), OpenTelemetry tracing exported
// over OTLP when the standard OTEL_* variables ask for it, Prometheus metrics,
// the /healthz and /readyz endpoints, and the ops HTTP server that serves them.
//
// It lives in pkg/ (not internal/) because the plugin SDK, used by teams
// outside this module, must serve exactly the same endpoints.
package telemetry
