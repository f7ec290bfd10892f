package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace/noop"
)

// The OpenTelemetry environment variables SetupTracing reads itself; the
// exporters and the SDK read the rest (endpoints, headers, TLS, timeouts,
// OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_RESOURCE_ATTRIBUTES, ...).
const (
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
)

// Config names the service whose spans SetupTracing exports.
type Config struct {
	// ServiceName is service.name on every span unless OTEL_SERVICE_NAME or
	// OTEL_RESOURCE_ATTRIBUTES set it. Required.
	ServiceName string
	// ServiceVersion is service.version on every span unless
	// OTEL_RESOURCE_ATTRIBUTES sets it. Default: empty (not set).
	ServiceVersion string
	// Logger receives errors OpenTelemetry reports in the background (export
	// failures, bad sampler variables). Default: slog.Default().
	Logger *slog.Logger
}

// SetupTracing installs the W3C TraceContext and Baggage propagator as the
// global propagator and, when the standard OTEL_* variables configure an OTLP
// exporter, an SDK TracerProvider exporting spans in batches as the global
// TracerProvider. Exporting is on when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (or OTEL_TRACES_EXPORTER is
// "otlp"), unless OTEL_TRACES_EXPORTER is "none" or OTEL_SDK_DISABLED is
// "true"; otherwise the global TracerProvider is a no-op one and tracing costs
// nothing. The protocol comes from OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" (default), "http/json" or
// "grpc". The sampler is the SDK's: OTEL_TRACES_SAMPLER, else parent-based
// always-on.
//
// shutdown flushes the spans not yet exported and stops the exporter; call
// it once, with a deadline, when the service stops. The globals are process
// wide: a process running several services calls SetupTracing once.
func SetupTracing(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	if cfg.ServiceName == "" {
		return nil, errors.New("telemetry: tracing: service name is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry error", slog.String("error", err.Error()))
	}))
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	protocol, enabled, err := exportSettings()
	if err != nil {
		return nil, fmt.Errorf("telemetry: tracing: %w", err)
	}
	if !enabled {
		otel.SetTracerProvider(noop.NewTracerProvider())
		return func(context.Context) error { return nil }, nil
	}

	res, err := tracingResource(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("telemetry: tracing: resource: %w", err)
	}
	var exporter sdktrace.SpanExporter
	switch protocol {
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default: // otlptracehttp reads the protobuf/JSON choice from the same variables.
		exporter, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: tracing: otlp %s exporter: %w", protocol, err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// exportSettings reports whether the environment asks for an OTLP trace
// exporter and with which protocol.
func exportSettings() (protocol string, enabled bool, err error) {
	if strings.EqualFold(env(envSDKDisabled), "true") {
		return "", false, nil
	}
	explicit := false
	switch exp := strings.ToLower(env(envTracesExporter)); exp {
	case "none":
		return "", false, nil
	case "otlp":
		explicit = true
	case "":
	default:
		return "", false, fmt.Errorf("%s=%q is not supported: want \"otlp\" or \"none\"", envTracesExporter, exp)
	}
	if !explicit && env(envEndpoint) == "" && env(envTracesEndpoint) == "" {
		return "", false, nil
	}

	name, protocol := envTracesProtocol, env(envTracesProtocol)
	if protocol == "" {
		name, protocol = envProtocol, env(envProtocol)
	}
	switch protocol {
	case "":
		return "http/protobuf", true, nil
	case "http/protobuf", "http/json", "grpc":
		return protocol, true, nil
	default:
		return "", false, fmt.Errorf("%s=%q is not supported: want \"http/protobuf\", \"http/json\" or \"grpc\"", name, protocol)
	}
}

// tracingResource describes the service: cfg first, then what
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say, which wins.
func tracingResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	attrs := []resource.Option{resource.WithAttributes(semconv.ServiceName(cfg.ServiceName))}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersion(cfg.ServiceVersion)))
	}
	return resource.New(ctx, append(attrs, resource.WithTelemetrySDK(), resource.WithFromEnv())...)
}

func env(key string) string { return strings.TrimSpace(os.Getenv(key)) }
