package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/authbus/authbus/pkg/telemetry"
	"github.com/authbus/authbus/pkg/telemetry/telemetrytest"
)

// otelEnv lists every variable that changes what SetupTracing does; each
// test starts with all of them empty (unset, to OpenTelemetry).
var otelEnv = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
}

func setOTelEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range otelEnv {
		t.Setenv(k, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
}

// export is one OTLP export request a fake collector received.
type export struct {
	protocol    string // "http" or "grpc"
	path        string
	contentType string
	body        []byte
	req         *collectortrace.ExportTraceServiceRequest // nil for http/json
}

// collector is a fake OTLP trace receiver.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu      sync.Mutex
	exports []export
}

func (c *collector) got() []export {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]export(nil), c.exports...)
}

func (c *collector) add(e export) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exports = append(c.exports, e)
}

// ServeHTTP receives OTLP/HTTP on any path.
func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e := export{protocol: "http", path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: body}
	if e.contentType == "application/json" {
		c.add(e)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
		return
	}
	e.req = &collectortrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(body, e.req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.add(e)
	resp, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// Export receives OTLP/gRPC.
func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.add(export{protocol: "grpc", req: req})
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// startHTTPCollector returns the collector and its base URL.
func startHTTPCollector(t *testing.T) (*collector, string) {
	c := &collector{}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// startGRPCCollector returns the collector and its URL (http://host:port).
func startGRPCCollector(t *testing.T) (*collector, string) {
	c := &collector{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, c)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return c, "http://" + ln.Addr().String()
}

// spans returns "service.name/span name" for every span in the exports.
func spans(t *testing.T, exports []export) []string {
	t.Helper()
	var names []string
	for _, e := range exports {
		require.NotNil(t, e.req, "export over %s is not protobuf", e.contentType)
		for _, rs := range e.req.GetResourceSpans() {
			service := attrs(rs.GetResource().GetAttributes())["service.name"]
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, service+"/"+s.GetName())
				}
			}
		}
	}
	return names
}

// resource returns the string attributes of the first resource exported.
func resource(t *testing.T, exports []export) map[string]string {
	t.Helper()
	require.NotEmpty(t, exports)
	require.NotEmpty(t, exports[0].req.GetResourceSpans())
	return attrs(exports[0].req.GetResourceSpans()[0].GetResource().GetAttributes())
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return m
}

// traceOnce sets tracing up, ends one span named "sign-in" and shuts
// tracing down, which flushes the span to the exporter.
func traceOnce(t *testing.T, cfg telemetry.Config) (recording bool) {
	t.Helper()
	ctx := t.Context()
	shutdown, err := telemetry.SetupTracing(ctx, cfg)
	require.NoError(t, err)
	_, span := otel.Tracer("test").Start(ctx, "sign-in")
	recording = span.IsRecording()
	span.End()
	require.NoError(t, shutdown(ctx))
	return recording
}

func TestSetupTracingExports(t *testing.T) {
	tests := []struct {
		name  string
		grpc  bool                                 // collector speaks gRPC, not HTTP
		env   func(url string) map[string]string   // url: the collector's
		check func(t *testing.T, exports []export) // what the collector got
	}{
		{
			name: "base endpoint, http/protobuf by default",
			env:  func(url string) map[string]string { return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url} },
			check: func(t *testing.T, exports []export) {
				require.Len(t, exports, 1)
				require.Equal(t, "/v1/traces", exports[0].path)
				require.Equal(t, "application/x-protobuf", exports[0].contentType)
				require.Equal(t, []string{"core/sign-in"}, spans(t, exports))
				res := resource(t, exports)
				require.Equal(t, "v1.2.3", res["service.version"])
				require.Equal(t, "opentelemetry", res["telemetry.sdk.name"])
			},
		},
		{
			name: "traces endpoint is used as is",
			env: func(url string) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": url + "/collector/traces", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
			},
			check: func(t *testing.T, exports []export) {
				require.Len(t, exports, 1)
				require.Equal(t, "/collector/traces", exports[0].path)
				require.Equal(t, []string{"core/sign-in"}, spans(t, exports))
			},
		},
		{
			name: "environment resource wins over config",
			env: func(url string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT": url,
					"OTEL_SERVICE_NAME":           "core-eu",
					"OTEL_RESOURCE_ATTRIBUTES":    "service.version=v9,deployment.environment.name=staging",
				}
			},
			check: func(t *testing.T, exports []export) {
				require.Equal(t, []string{"core-eu/sign-in"}, spans(t, exports))
				res := resource(t, exports)
				require.Equal(t, "v9", res["service.version"])
				require.Equal(t, "staging", res["deployment.environment.name"])
			},
		},
		{
			name: "traces protocol overrides the general one",
			env: func(url string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT":        url,
					"OTEL_EXPORTER_OTLP_PROTOCOL":        "grpc",
					"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
				}
			},
			check: func(t *testing.T, exports []export) {
				require.Len(t, exports, 1)
				require.Equal(t, "http", exports[0].protocol)
				require.Equal(t, []string{"core/sign-in"}, spans(t, exports))
			},
		},
		{
			name: "http/json",
			env: func(url string) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}
			},
			check: func(t *testing.T, exports []export) {
				require.Len(t, exports, 1)
				require.Equal(t, "/v1/traces", exports[0].path)
				require.Equal(t, "application/json", exports[0].contentType)
				require.Contains(t, string(exports[0].body), `"name":"sign-in"`)
			},
		},
		{
			name: "grpc",
			grpc: true,
			env: func(url string) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
			},
			check: func(t *testing.T, exports []export) {
				require.Len(t, exports, 1)
				require.Equal(t, "grpc", exports[0].protocol)
				require.Equal(t, []string{"core/sign-in"}, spans(t, exports))
			},
		},
		{
			name: "sampler from the environment",
			env: func(url string) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_TRACES_SAMPLER": "always_off"}
			},
			check: func(t *testing.T, exports []export) {
				require.Empty(t, exports, "an always_off sampler records nothing to export")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, url := startHTTPCollector(t)
			if tt.grpc {
				c, url = startGRPCCollector(t)
			}
			env := tt.env(url)
			setOTelEnv(t, env)
			logger, logs := telemetrytest.NewLogger(t)

			recording := traceOnce(t, telemetry.Config{ServiceName: "core", ServiceVersion: "v1.2.3", Logger: logger})

			require.Equal(t, env["OTEL_TRACES_SAMPLER"] != "always_off", recording)
			tt.check(t, c.got())
			require.Empty(t, logs.WithMessage(t, "opentelemetry error"))
			require.ElementsMatch(t, []string{"traceparent", "tracestate", "baggage"}, otel.GetTextMapPropagator().Fields())
		})
	}
}

func TestSetupTracingOff(t *testing.T) {
	tests := []struct {
		name string
		env  func(url string) map[string]string
	}{
		{name: "nothing set", env: func(string) map[string]string { return nil }},
		{name: "protocol alone does not turn it on", env: func(string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
		}},
		{name: "exporter none", env: func(url string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_TRACES_EXPORTER": "none"}
		}},
		{name: "sdk disabled", env: func(url string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": url, "OTEL_SDK_DISABLED": "TRUE"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, url := startHTTPCollector(t)
			setOTelEnv(t, tt.env(url))

			recording := traceOnce(t, telemetry.Config{ServiceName: "core"})

			require.False(t, recording)
			require.IsType(t, noop.TracerProvider{}, otel.GetTracerProvider())
			require.Empty(t, c.got())
			require.ElementsMatch(t, []string{"traceparent", "tracestate", "baggage"}, otel.GetTextMapPropagator().Fields())
		})
	}
}

func TestSetupTracingErrors(t *testing.T) {
	const endpoint = "http://127.0.0.1:1" // never reached: set-up fails first
	tests := []struct {
		name    string
		cfg     telemetry.Config
		env     map[string]string
		wantErr string
	}{
		{
			name:    "bad protocol",
			cfg:     telemetry.Config{ServiceName: "core"},
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"},
			wantErr: `telemetry: tracing: OTEL_EXPORTER_OTLP_PROTOCOL="thrift" is not supported: want "http/protobuf", "http/json" or "grpc"`,
		},
		{
			name:    "bad traces protocol",
			cfg:     telemetry.Config{ServiceName: "core"},
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "HTTP"},
			wantErr: `telemetry: tracing: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="HTTP" is not supported`,
		},
		{
			name:    "unsupported exporter",
			cfg:     telemetry.Config{ServiceName: "core"},
			env:     map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"},
			wantErr: `telemetry: tracing: OTEL_TRACES_EXPORTER="zipkin" is not supported: want "otlp" or "none"`,
		},
		{
			name:    "malformed resource attributes",
			cfg:     telemetry.Config{ServiceName: "core"},
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_RESOURCE_ATTRIBUTES": "region"},
			wantErr: "telemetry: tracing: resource:",
		},
		{
			name:    "no service name",
			cfg:     telemetry.Config{ServiceVersion: "v1.2.3"},
			wantErr: "telemetry: tracing: service name is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setOTelEnv(t, tt.env)
			shutdown, err := telemetry.SetupTracing(t.Context(), tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
			require.Nil(t, shutdown)
		})
	}
}
