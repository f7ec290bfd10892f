package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
)

// tracerName names the tracer of the SDK's spans.
const tracerName = "github.com/authbus/authbus/pkg/plugin"

// metrics are the SDK's Prometheus metrics.
type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	events        *prometheus.CounterVec
	eventDuration *prometheus.HistogramVec
	inflight      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authbus_plugin_requests_total",
			Help: "Hook, route and invoke requests handled, by kind, name (hook point, route, method) and outcome " +
				"(ok, abort, error, dropped: the caller's deadline passed before a worker was free).",
		}, []string{"kind", "name", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authbus_plugin_request_duration_seconds",
			Help:    "Time to handle hook, route and invoke requests, by kind and name.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind", "name"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authbus_plugin_events_total",
			Help: "Event handler calls, by handler pattern and outcome (ok, error: redelivered or dead-lettered " +
				"after MaxDeliver, permanent: dead-lettered at once).",
		}, []string{"handler", "outcome"}),
		eventDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authbus_plugin_event_duration_seconds",
			Help:    "Time to handle events, by handler pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"handler"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authbus_plugin_inflight",
			Help: "Hook, route, invoke requests and events being handled.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.events, m.eventDuration, m.inflight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("plugin metrics: %w", err)
		}
	}
	return m, nil
}

// server serves request subjects in the plugin's queue group with a
// bounded pool of goroutines: a NATS subscription delivers its messages one
// at a time, so each is handed to a worker at once.
type server struct {
	nc       *nats.Conn
	logger   *slog.Logger
	metrics  *metrics
	tracer   trace.Tracer
	inflight *atomic.Int64

	slots  chan struct{}
	base   context.Context // parent of every request's context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	subs []*nats.Subscription
}

func newServer(nc *nats.Conn, workers int, logger *slog.Logger, m *metrics, inflight *atomic.Int64) *server {
	base, cancel := context.WithCancel(context.Background())
	return &server{nc: nc, logger: logger, metrics: m, tracer: otel.Tracer(tracerName), inflight: inflight,
		slots: make(chan struct{}, workers), base: base, cancel: cancel}
}

// requestFunc handles one request and answers it itself; it returns the
// name to record it under (empty: the endpoint's) and its outcome.
type requestFunc func(ctx context.Context, m *nats.Msg) (name, outcome string)

// serve subscribes to subject in queue group queue and hands each request
// to fn on a worker, within the caller's deadline and trace.
func (s *server) serve(subject, queue string, kind CallKind, name string, fn requestFunc) error {
	sub, err := s.nc.QueueSubscribe(subject, queue, func(m *nats.Msg) { s.dispatch(m, kind, name, fn) })
	if err != nil {
		return fmt.Errorf("serve %s: %w", subject, err)
	}
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	return nil
}

// subscribe adds a plain subscription (no pool, no queue group) that drain
// also removes.
func (s *server) subscribe(subject string, cb nats.MsgHandler) error {
	sub, err := s.nc.Subscribe(subject, cb)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	return nil
}

// dispatch waits for a free worker, but not past the caller's deadline.
func (s *server) dispatch(m *nats.Msg, kind CallKind, name string, fn requestFunc) {
	ctx, cancel := bus.ContextFromHeader(s.base, m.Header)
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		cancel()
		s.metrics.requests.WithLabelValues(string(kind), name, "dropped").Inc()
		s.logger.Warn("request dropped: its deadline passed while every worker was busy",
			"kind", kind, "name", name, "workers", cap(s.slots))
		return
	}
	s.wg.Add(1)
	s.inflight.Add(1)
	s.metrics.inflight.Inc()
	go func() {
		defer func() {
			cancel()
			s.metrics.inflight.Dec()
			s.inflight.Add(-1)
			<-s.slots
			s.wg.Done()
		}()
		ctx, span := s.tracer.Start(ctx, string(kind)+" "+name, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		start := time.Now()
		got, outcome := fn(ctx, m)
		if got != "" {
			name = got
			span.SetName(string(kind) + " " + name)
		}
		if span.IsRecording() {
			span.SetAttributes(attribute.String("messaging.system", "nats"),
				attribute.String("messaging.destination.name", m.Subject), attribute.String("authbus.outcome", outcome))
		}
		if outcome == "error" {
			span.SetStatus(codes.Error, "handler failed")
		}
		s.metrics.requests.WithLabelValues(string(kind), name, outcome).Inc()
		s.metrics.duration.WithLabelValues(string(kind), name).Observe(time.Since(start).Seconds())
	}()
}

// drain stops taking requests, lets the queued ones be dispatched and
// waits for every handler to return, within timeout; then it cancels the
// handlers' contexts and waits a little longer.
func (s *server) drain(timeout time.Duration) error {
	s.mu.Lock()
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	closed := make([]<-chan nats.SubStatus, 0, len(subs))
	for _, sub := range subs {
		closed = append(closed, sub.StatusChanged(nats.SubscriptionClosed))
		if err := sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			s.logger.Warn("drain subscription", "subject", sub.Subject, "error", err)
		}
	}
	done := make(chan struct{})
	go func() {
		// A drained subscription is closed only after its last callback
		// returned, so no dispatch can Add to wg once all are closed.
		for i, ch := range closed {
			if subs[i].IsValid() {
				<-ch
			}
		}
		s.wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-timer.C:
	}
	s.cancel()
	grace := time.NewTimer(time.Second)
	defer grace.Stop()
	select {
	case <-done:
		return fmt.Errorf("in-flight requests outlived the %s drain timeout and were canceled", timeout)
	case <-grace.C:
		return fmt.Errorf("in-flight requests outlived the %s drain timeout and ignored cancellation", timeout)
	}
}
