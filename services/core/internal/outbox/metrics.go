package outbox

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// backlogTimeout bounds the backlog query of one scrape.
const backlogTimeout = 2 * time.Second

// metrics are the relay's Prometheus metrics.
type metrics struct {
	r *Relay

	published     prometheus.Counter
	publishErrors prometheus.Counter
	storeErrors   prometheus.Counter
	pruned        prometheus.Counter
	replayed      prometheus.Counter
	active        prometheus.Gauge
	backlog       *prometheus.Desc
	oldestAge     *prometheus.Desc
}

func newMetrics(r *Relay) *metrics {
	return &metrics{
		r: r,
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authbus_outbox_published_total",
			Help: "Outbox events the stream acknowledged and the relay marked published.",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authbus_outbox_publish_errors_total",
			Help: "Failed publish attempts (NATS away, no stream, timeouts); each is retried with the same event ids.",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authbus_outbox_store_errors_total",
			Help: "Failed outbox reads, marks, prunes and relay lock attempts.",
		}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authbus_outbox_pruned_total",
			Help: "Published outbox events deleted after the retention period.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authbus_outbox_replayed_total",
			Help: "Published outbox events sent again by Replay (the stream may deduplicate them).",
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authbus_outbox_relay_active",
			Help: "1 while this replica holds the relay lock and publishes, else 0.",
		}),
		backlog: prometheus.NewDesc("authbus_outbox_backlog",
			"Committed outbox events not yet published (all replicas).", nil, nil),
		oldestAge: prometheus.NewDesc("authbus_outbox_oldest_unpublished_age_seconds",
			"How long the oldest unpublished outbox event has waited; 0 when none.", nil, nil),
	}
}

func (m *metrics) counters() []prometheus.Collector {
	return []prometheus.Collector{m.published, m.publishErrors, m.storeErrors, m.pruned, m.replayed, m.active}
}

// Describe implements prometheus.Collector.
func (r *Relay) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range r.m.counters() {
		c.Describe(ch)
	}
	ch <- r.m.backlog
	ch <- r.m.oldestAge
}

// Collect implements prometheus.Collector. The backlog gauges are read
// from the store at scrape time (within 2s) and left out when it fails, so
// one slow query never fails the whole scrape.
func (r *Relay) Collect(ch chan<- prometheus.Metric) {
	for _, c := range r.m.counters() {
		c.Collect(ch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	l, err := r.Lag(ctx)
	if err != nil {
		r.m.storeErrors.Inc()
		r.log.Warn("outbox relay: backlog metrics", "error", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(r.m.backlog, prometheus.GaugeValue, float64(l.Backlog))
	ch <- prometheus.MustNewConstMetric(r.m.oldestAge, prometheus.GaugeValue, l.Age.Seconds())
}

var _ prometheus.Collector = (*Relay)(nil)
