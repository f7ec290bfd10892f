package telemetry

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the tracer of the HTTP server spans.
const instrumentationName = "github.com/authbus/authbus/pkg/telemetry"

// unmatchedRoute labels requests that matched no route, so that scanners
// probing random paths cannot grow the label set.
const unmatchedRoute = "unmatched"

// NewRegistry returns a Prometheus registry holding the Go runtime and
// process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// MetricsHandler serves the metrics gathered by g in the Prometheus text (or
// OpenMetrics, when asked) format, at most 4 scrapes at a time, each within
// 10 seconds.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
		EnableOpenMetrics:   true,
	})
}

// HTTPInstrumentation records, for each HTTP request, the
// http_server_requests_total counter and the
// http_server_request_duration_seconds histogram, labelled by route, method
// and status, and a server span continuing the caller's W3C trace context.
type HTTPInstrumentation struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTPInstrumentation registers the HTTP server metrics with reg. Several
// instrumentations may share one registry: they then share the metrics.
func NewHTTPInstrumentation(reg prometheus.Registerer) (*HTTPInstrumentation, error) {
	labels := []string{"route", "method", "status"}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_server_requests_total",
		Help: "HTTP requests served, by route pattern, method and status code.",
	}, labels)
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "http_server_request_duration_seconds",
		Help:    "Time to serve HTTP requests, by route pattern, method and status code.",
		Buckets: prometheus.DefBuckets,
	}, labels)
	var err error
	if requests, err = registerOrReuse(reg, requests); err != nil {
		return nil, err
	}
	if duration, err = registerOrReuse(reg, duration); err != nil {
		return nil, err
	}
	return &HTTPInstrumentation{requests: requests, duration: duration}, nil
}

func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("telemetry: register http metrics: %w", err)
	}
	return c, nil
}

// Route wraps next, recording its requests under route: the pattern the
// handler is mounted at (e.g. "/api/auth/session"), never the raw request
// path, whose values are unbounded.
func (i *HTTPInstrumentation) Route(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.serve(route, next, w, r)
	})
}

// Mux wraps mux, recording each request under the pattern it matched in mux
// (without its method), or "unmatched".
func (i *HTTPInstrumentation) Mux(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		i.serve(routeOfPattern(pattern), mux, w, r)
	})
}

func (i *HTTPInstrumentation) serve(route string, next http.Handler, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	method := methodLabel(r.Method)
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := otel.GetTracerProvider().Tracer(instrumentationName).Start(ctx, method+" "+route,
		trace.WithSpanKind(trace.SpanKindServer))
	recording := span.IsRecording() // attributes cost allocations; skip them when tracing is off
	if recording {
		span.SetAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.HTTPRoute(route))
	}
	sw := &statusWriter{ResponseWriter: w}
	returned := false
	defer func() {
		status := sw.status
		switch {
		case !returned:
			// The handler panicked: net/http drops the connection, which the
			// client sees as a failure; count it as the 500 it stands for.
			status = http.StatusInternalServerError
		case status == 0:
			status = http.StatusOK
		}
		code := strconv.Itoa(status)
		i.requests.WithLabelValues(route, method, code).Inc()
		i.duration.WithLabelValues(route, method, code).Observe(time.Since(start).Seconds())
		if recording {
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
		}
		span.End()
	}()
	next.ServeHTTP(sw, r.WithContext(ctx))
	returned = true
}

// routeOfPattern drops the method from a ServeMux pattern ("GET /x" → "/x").
func routeOfPattern(pattern string) string {
	if pattern == "" {
		return unmatchedRoute
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return strings.TrimLeft(path, " \t")
	}
	return pattern
}

// methodLabel keeps the method label set bounded.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the Flusher, Hijacker and
// deadline setters of the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
