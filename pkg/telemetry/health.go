package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultCheckTimeout is how long a readiness check may run when NewHealth
// is given no timeout.
const DefaultCheckTimeout = 2 * time.Second

// Report statuses.
const (
	StatusOK          = "ok"          // the service, or a check, is fine
	StatusFail        = "fail"        // a check failed or timed out
	StatusUnavailable = "unavailable" // at least one check failed
	StatusDraining    = "draining"    // the service is shutting down
)

// Health answers the liveness (/healthz) and readiness (/readyz) probes.
// It is safe for concurrent use.
type Health struct {
	timeout  time.Duration
	draining atomic.Bool

	mu     sync.RWMutex
	checks []namedCheck
}

type namedCheck struct {
	name string
	fn   func(context.Context) error
}

// Report is the readiness verdict, as /readyz writes it in JSON.
type Report struct {
	// Status is StatusOK, StatusUnavailable or StatusDraining.
	Status string `json:"status"`
	// Checks holds one result per check, in the order they were added.
	Checks []CheckResult `json:"checks,omitempty"`
}

// CheckResult is the outcome of one readiness check.
type CheckResult struct {
	// Name is the name the check was added under.
	Name string `json:"name"`
	// Status is StatusOK or StatusFail.
	Status string `json:"status"`
	// Error says why the check failed.
	Error string `json:"error,omitempty"`
}

// NewHealth returns a Health whose readiness checks each get checkTimeout
// (DefaultCheckTimeout if zero or less) to answer.
func NewHealth(checkTimeout time.Duration) *Health {
	if checkTimeout <= 0 {
		checkTimeout = DefaultCheckTimeout
	}
	return &Health{timeout: checkTimeout}
}

// AddCheck adds a readiness check: fn reports why the service cannot serve
// (a dependency is unreachable, start-up is not finished) or nil. fn must
// return when ctx is done; a check still running at its timeout counts as
// failed. AddCheck panics on an empty or duplicate name or a nil fn, as
// http.ServeMux does on a bad pattern: these are programming errors.
func (h *Health) AddCheck(name string, fn func(ctx context.Context) error) {
	if name == "" || fn == nil {
		panic("telemetry: AddCheck needs a name and a function")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.checks {
		if c.name == name {
			panic(fmt.Sprintf("telemetry: readiness check %q added twice", name))
		}
	}
	h.checks = append(h.checks, namedCheck{name: name, fn: fn})
}

// Drain makes the service report not ready from now on, so that load
// balancers stop sending it traffic before it shuts down. Liveness is
// unaffected.
func (h *Health) Drain() { h.draining.Store(true) }

// Check runs every readiness check concurrently, each with its own timeout,
// and reports the verdict. A draining service is reported as such without
// running the checks.
func (h *Health) Check(ctx context.Context) Report {
	if h.draining.Load() {
		return Report{Status: StatusDraining}
	}
	h.mu.RLock()
	checks := append([]namedCheck(nil), h.checks...)
	h.mu.RUnlock()

	results := make([]CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			results[i] = CheckResult{Name: c.name, Status: StatusOK}
			if err := h.run(ctx, c); err != nil {
				results[i].Status, results[i].Error = StatusFail, err.Error()
			}
		})
	}
	wg.Wait()

	rep := Report{Status: StatusOK, Checks: results}
	for _, r := range results {
		if r.Status != StatusOK {
			rep.Status = StatusUnavailable
		}
	}
	return rep
}

// run runs one check within its timeout. A check that ignores its context
// is abandoned at the timeout (its goroutine ends when it returns) so that
// one stuck dependency cannot hang the probe.
func (h *Health) run(ctx context.Context, c namedCheck) error {
	ctx, cancel := context.WithTimeoutCause(ctx, h.timeout, fmt.Errorf("timed out after %s", h.timeout))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- c.fn(ctx)
	}()
	select {
	case err := <-done:
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// Same verdict whichever of the two cases the select saw first.
			return context.Cause(ctx)
		}
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// LivenessHandler answers 200 {"status":"ok"} for as long as the process
// serves HTTP, draining or not.
func (h *Health) LivenessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, Report{Status: StatusOK})
	})
}

// ReadinessHandler runs the checks and answers 200 with the Report when all
// pass, 503 with it when one fails or the service is draining.
func (h *Health) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := h.Check(r.Context())
		code := http.StatusOK
		if rep.Status != StatusOK {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, rep)
	})
}

// Mount registers GET /healthz, /readyz and /metrics (the metrics gathered
// by g) on mux.
func Mount(mux *http.ServeMux, h *Health, g prometheus.Gatherer) {
	mux.Handle("GET /healthz", h.LivenessHandler())
	mux.Handle("GET /readyz", h.ReadinessHandler())
	mux.Handle("GET /metrics", MetricsHandler(g))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // a Report always marshals; keep the probe honest anyway
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
