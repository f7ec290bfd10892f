package telemetry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/authbus/authbus/pkg/telemetry"
)

// scrape fetches /metrics from baseURL over HTTP and parses it.
func scrape(t *testing.T, baseURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// series returns "route method status" → value for a counter, or → sample
// count for a histogram.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string) map[string]uint64 {
	t.Helper()
	fam, ok := fams[name]
	require.True(t, ok, "%s not exposed", name)
	got := map[string]uint64{}
	for _, m := range fam.GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		key := fmt.Sprintf("%s %s %s", l["route"], l["method"], l["status"])
		switch fam.GetType() {
		case dto.MetricType_COUNTER:
			got[key] = uint64(m.GetCounter().GetValue())
		case dto.MetricType_HISTOGRAM:
			got[key] = m.GetHistogram().GetSampleCount()
			require.NotEmpty(t, m.GetHistogram().GetBucket(), "%s{%s} has no buckets", name, key)
		default:
			t.Fatalf("%s is a %s", name, fam.GetType())
		}
	}
	return got
}

func TestHTTPInstrumentationMetrics(t *testing.T) {
	reg := telemetry.NewRegistry()
	inst, err := telemetry.NewHTTPInstrumentation(reg)
	require.NoError(t, err)

	api := http.NewServeMux()
	api.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("ok")) // implicit 200
	})
	api.HandleFunc("POST /users", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	api.HandleFunc("/panics", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })

	root := http.NewServeMux()
	root.Handle("/", inst.Mux(api))
	root.Handle("/explicit/", inst.Route("/explicit/{rest...}", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})))
	telemetry.Mount(root, telemetry.NewHealth(0), reg)
	srv := httptest.NewServer(root)
	t.Cleanup(srv.Close)

	requests := []struct{ method, path string }{
		{"GET", "/users/1"}, {"GET", "/users/2"}, {"GET", "/users/missing"},
		{"POST", "/users"}, {"BREW", "/users"},
		{"GET", "/no/such/path/1"}, {"GET", "/no/such/path/2"},
		{"GET", "/explicit/a"}, {"DELETE", "/explicit/b/c"},
		{"GET", "/panics"},
	}
	// Fresh connections only: on a reused one, the client would retry the
	// GET whose connection the panicking handler dropped.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, r := range requests {
		req, err := http.NewRequestWithContext(t.Context(), r.method, srv.URL+r.path, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		if r.path == "/panics" {
			require.Error(t, err, "the server drops the connection of a panicking handler")
			continue
		}
		require.NoError(t, err)
		resp.Body.Close()
	}

	fams := scrape(t, srv.URL)
	want := map[string]uint64{
		"/users/{id} GET 200":            2,
		"/users/{id} GET 404":            1,
		"/users POST 201":                1,
		"unmatched _OTHER 405":           1, // a method the pattern does not allow
		"unmatched GET 404":              2, // raw paths never become labels
		"/explicit/{rest...} GET 418":    1,
		"/explicit/{rest...} DELETE 418": 1,
		"/panics GET 500":                1,
	}
	require.Equal(t, want, series(t, fams, "http_server_requests_total"))
	require.Equal(t, want, series(t, fams, "http_server_request_duration_seconds"))
	require.Contains(t, fams, "go_goroutines", "Go collector")
	require.Contains(t, fams, "process_cpu_seconds_total", "process collector")
}

func TestNewHTTPInstrumentationSharesARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := telemetry.NewHTTPInstrumentation(reg)
	require.NoError(t, err)
	second, err := telemetry.NewHTTPInstrumentation(reg)
	require.NoError(t, err, "a second service in the same process reuses the metrics")

	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, h := range []http.Handler{first.Route("/a", ok), second.Route("/a", ok)} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/a", nil))
	}
	fams, err := reg.Gather()
	require.NoError(t, err)
	counts := map[string]uint64{}
	for _, f := range fams {
		require.Len(t, f.GetMetric(), 1, f.GetName())
		m := f.GetMetric()[0]
		counts[f.GetName()] = uint64(m.GetCounter().GetValue()) + m.GetHistogram().GetSampleCount()
	}
	require.Equal(t, map[string]uint64{
		"http_server_requests_total":           2,
		"http_server_request_duration_seconds": 2,
	}, counts)
}

func TestHTTPInstrumentationSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
	inst, err := telemetry.NewHTTPInstrumentation(prometheus.NewRegistry())
	require.NoError(t, err)

	var handlerSpan trace.SpanContext
	api := http.NewServeMux()
	api.HandleFunc("POST /api/auth/sign-in/email", func(w http.ResponseWriter, r *http.Request) {
		handlerSpan = trace.SpanContextFromContext(r.Context())
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/api/auth/sign-in/email", strings.NewReader("{}"))
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	inst.Mux(api).ServeHTTP(httptest.NewRecorder(), req)

	ended := rec.Ended()
	require.Len(t, ended, 1)
	span := ended[0]
	require.Equal(t, "POST /api/auth/sign-in/email", span.Name())
	require.Equal(t, trace.SpanKindServer, span.SpanKind())
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", span.Parent().TraceID().String(), "continues the caller's trace")
	require.Equal(t, "00f067aa0ba902b7", span.Parent().SpanID().String())
	require.Equal(t, span.SpanContext(), handlerSpan, "the handler runs inside the server span")
	require.Equal(t, "Error", span.Status().Code.String())
	got := map[string]string{}
	for _, kv := range span.Attributes() {
		got[string(kv.Key)] = kv.Value.String()
	}
	require.Equal(t, map[string]string{
		"http.request.method":       "POST",
		"http.route":                "/api/auth/sign-in/email",
		"http.response.status_code": "503",
	}, got)
}

// BenchmarkHTTPInstrumentation is the per-request cost of the middleware
// with tracing off (the default), against the bare handler.
func BenchmarkHTTPInstrumentation(b *testing.B) {
	otel.SetTracerProvider(noop.NewTracerProvider())
	inst, err := telemetry.NewHTTPInstrumentation(prometheus.NewRegistry())
	require.NoError(b, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	req := httptest.NewRequest(http.MethodGet, "/users/42", nil)
	w := httptest.NewRecorder()
	for _, bb := range []struct {
		name string
		h    http.Handler
	}{{"bare", mux}, {"instrumented", inst.Mux(mux)}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bb.h.ServeHTTP(w, req)
			}
		})
	}
}
