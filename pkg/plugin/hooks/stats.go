package hooks

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authbus/authbus/pkg/contracts"
)

// outcome is how one hook call ended.
type outcome string

const (
	outcomeContinue     outcome = "continue"
	outcomePatch        outcome = "patch"
	outcomeAbort        outcome = "abort"
	outcomeTimeout      outcome = "timeout"
	outcomeNoResponders outcome = "no_responders"
	outcomeError        outcome = "error"
)

// TargetStats describes the recent calls of one plugin at one hook point.
type TargetStats struct {
	// Point is the hook point.
	Point contracts.HookPoint `json:"point"`
	// Plugin is the plugin id.
	Plugin string `json:"plugin"`
	// Calls counts every call since start.
	Calls uint64 `json:"calls"`
	// Aborts counts calls the plugin answered with abort.
	Aborts uint64 `json:"aborts"`
	// Patches counts replies with a patch inside the point's allowlist
	// (applied, or refused when the result did not fit the context type).
	Patches uint64 `json:"patches"`
	// PatchesRefused counts patches outside the point's allowlist or not
	// fitting the context type; the flow went on unpatched.
	PatchesRefused uint64 `json:"patchesRefused"`
	// Timeouts counts calls that got no answer before their deadline.
	Timeouts uint64 `json:"timeouts"`
	// NoResponders counts calls made while no instance of the plugin served the point.
	NoResponders uint64 `json:"noResponders"`
	// Errors counts error replies and replies that were not valid decisions.
	Errors uint64 `json:"errors"`
	// Samples is how many recent calls the percentiles cover.
	Samples int `json:"samples"`
	// P50 is the median latency of the recent calls.
	P50 contracts.Duration `json:"p50"`
	// P95 is the 95th percentile latency of the recent calls.
	P95 contracts.Duration `json:"p95"`
	// P99 is the 99th percentile latency of the recent calls.
	P99 contracts.Duration `json:"p99"`
}

// Failures is the number of calls the failure policy had to handle.
func (s TargetStats) Failures() uint64 { return s.Timeouts + s.NoResponders + s.Errors }

// Stats returns the statistics of every (point, plugin) called so far,
// sorted by point then plugin.
func (d *Dispatcher) Stats() []TargetStats { return d.stats.snapshot() }

// targetKey identifies one plugin at one point.
type targetKey struct {
	point  contracts.HookPoint
	plugin string
}

// targetRecord holds one target's counters and a ring of recent latencies.
type targetRecord struct {
	mu    sync.Mutex
	stats TargetStats
	ring  []time.Duration
	next  int
	full  bool
}

// recorder keeps per-target statistics and the Prometheus metrics.
type recorder struct {
	window   int
	mu       sync.RWMutex
	targets  map[targetKey]*targetRecord
	duration *prometheus.HistogramVec
	refusals *prometheus.CounterVec
}

func newRecorder(window int, reg prometheus.Registerer) (*recorder, error) {
	r := &recorder{
		window:  window,
		targets: map[targetKey]*targetRecord{},
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authbus_hook_call_duration_seconds",
			Help: "Time from sending a hook request to its outcome, by point, plugin and outcome " +
				"(continue, patch, abort, timeout, no_responders, error).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"point", "plugin", "outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authbus_hook_patches_refused_total",
			Help: "Hook reply patches refused because they touched fields the point does not allow, by point and plugin.",
		}, []string{"point", "plugin"}),
	}
	if reg != nil {
		var err error
		if r.duration, err = registerOrReuse(reg, r.duration); err != nil {
			return nil, err
		}
		if r.refusals, err = registerOrReuse(reg, r.refusals); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// registerOrReuse registers c, or returns the collector already registered
// under its name (a core and a plugin may share one registry in one process).
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("hooks: register metrics: %w", err)
	}
	return c, nil
}

// target returns the record of (point, plugin), creating it.
func (r *recorder) target(point contracts.HookPoint, plugin string) *targetRecord {
	key := targetKey{point, plugin}
	r.mu.RLock()
	t := r.targets[key]
	r.mu.RUnlock()
	if t != nil {
		return t
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t = r.targets[key]; t == nil {
		t = &targetRecord{stats: TargetStats{Point: point, Plugin: plugin}, ring: make([]time.Duration, r.window)}
		r.targets[key] = t
	}
	return t
}

// record counts one call.
func (r *recorder) record(point contracts.HookPoint, plugin string, o outcome, elapsed time.Duration) {
	r.duration.WithLabelValues(string(point), plugin, string(o)).Observe(elapsed.Seconds())
	t := r.target(point, plugin)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &t.stats
	s.Calls++
	switch o {
	case outcomeAbort:
		s.Aborts++
	case outcomePatch:
		s.Patches++
	case outcomeTimeout:
		s.Timeouts++
	case outcomeNoResponders:
		s.NoResponders++
	case outcomeError:
		s.Errors++
	}
	t.ring[t.next] = elapsed
	t.next++
	if t.next == len(t.ring) {
		t.next, t.full = 0, true
	}
}

// refused counts a refused patch.
func (r *recorder) refused(point contracts.HookPoint, plugin string) {
	r.refusals.WithLabelValues(string(point), plugin).Inc()
	t := r.target(point, plugin)
	t.mu.Lock()
	t.stats.PatchesRefused++
	t.mu.Unlock()
}

// snapshot copies every target's statistics and computes the percentiles.
func (r *recorder) snapshot() []TargetStats {
	r.mu.RLock()
	records := make([]*targetRecord, 0, len(r.targets))
	for _, t := range r.targets {
		records = append(records, t)
	}
	r.mu.RUnlock()
	out := make([]TargetStats, 0, len(records))
	for _, t := range records {
		t.mu.Lock()
		s := t.stats
		n := t.next
		if t.full {
			n = len(t.ring)
		}
		samples := slices.Clone(t.ring[:n])
		t.mu.Unlock()
		slices.Sort(samples)
		s.Samples = len(samples)
		s.P50 = contracts.Duration(percentile(samples, 50))
		s.P95 = contracts.Duration(percentile(samples, 95))
		s.P99 = contracts.Duration(percentile(samples, 99))
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b TargetStats) int {
		if a.Point != b.Point {
			if a.Point < b.Point {
				return -1
			}
			return 1
		}
		switch {
		case a.Plugin < b.Plugin:
			return -1
		case a.Plugin > b.Plugin:
			return 1
		}
		return 0
	})
	return out
}

// percentile is the nearest-rank percentile p of sorted samples.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}
