package telemetry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/telemetry"
)

// get fetches url over HTTP and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	return resp.StatusCode, string(body)
}

// blockOnCtx is a check that answers only when its context is done.
func blockOnCtx(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestReadiness(t *testing.T) {
	// ignoresCtx is released at the end so its abandoned goroutine ends.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ignoresCtx := func(context.Context) error { <-release; return nil }

	ok := func(context.Context) error { return nil }
	type check struct {
		name string
		fn   func(context.Context) error
	}
	tests := []struct {
		name     string
		timeout  time.Duration
		checks   []check
		drain    bool
		wantCode int
		wantBody string
	}{
		{
			name:     "no checks",
			wantCode: http.StatusOK,
			wantBody: `{"status":"ok"}`,
		},
		{
			name:     "all pass",
			checks:   []check{{"nats", ok}, {"db", ok}},
			wantCode: http.StatusOK,
			wantBody: `{"status":"ok","checks":[{"name":"nats","status":"ok"},{"name":"db","status":"ok"}]}`,
		},
		{
			name:     "one fails",
			checks:   []check{{"nats", ok}, {"db", func(context.Context) error { return errors.New("ping db: connection refused") }}},
			wantCode: http.StatusServiceUnavailable,
			wantBody: `{"status":"unavailable","checks":[{"name":"nats","status":"ok"},{"name":"db","status":"fail","error":"ping db: connection refused"}]}`,
		},
		{
			name:     "slow check times out",
			timeout:  20 * time.Millisecond,
			checks:   []check{{"nats", ok}, {"db", blockOnCtx}},
			wantCode: http.StatusServiceUnavailable,
			wantBody: `{"status":"unavailable","checks":[{"name":"nats","status":"ok"},{"name":"db","status":"fail","error":"timed out after 20ms"}]}`,
		},
		{
			name:     "check ignoring its context is abandoned at the timeout",
			timeout:  20 * time.Millisecond,
			checks:   []check{{"stuck", ignoresCtx}},
			wantCode: http.StatusServiceUnavailable,
			wantBody: `{"status":"unavailable","checks":[{"name":"stuck","status":"fail","error":"timed out after 20ms"}]}`,
		},
		{
			name:     "panicking check fails, the process lives",
			checks:   []check{{"bad", func(context.Context) error { panic("nil map") }}},
			wantCode: http.StatusServiceUnavailable,
			wantBody: `{"status":"unavailable","checks":[{"name":"bad","status":"fail","error":"panic: nil map"}]}`,
		},
		{
			name:     "draining skips the checks",
			checks:   []check{{"never", func(context.Context) error { panic("a draining service runs no check") }}},
			drain:    true,
			wantCode: http.StatusServiceUnavailable,
			wantBody: `{"status":"draining"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := telemetry.NewHealth(tt.timeout)
			for _, c := range tt.checks {
				h.AddCheck(c.name, c.fn)
			}
			if tt.drain {
				h.Drain()
			}
			mux := http.NewServeMux()
			telemetry.Mount(mux, h, prometheus.NewRegistry())
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)

			code, body := get(t, srv.URL+"/readyz")
			require.Equal(t, tt.wantCode, code)
			require.JSONEq(t, tt.wantBody, body)

			code, body = get(t, srv.URL+"/healthz")
			require.Equal(t, http.StatusOK, code, "liveness does not depend on readiness")
			require.JSONEq(t, `{"status":"ok"}`, body)
		})
	}
}

func TestReadinessFlips(t *testing.T) {
	var dbErr atomic.Pointer[error]
	h := telemetry.NewHealth(time.Second)
	h.AddCheck("db", func(context.Context) error {
		if err := dbErr.Load(); err != nil {
			return *err
		}
		return nil
	})
	mux := http.NewServeMux()
	telemetry.Mount(mux, h, prometheus.NewRegistry())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	code, _ := get(t, srv.URL+"/readyz")
	require.Equal(t, http.StatusOK, code)

	down := errors.New("db is down")
	dbErr.Store(&down)
	code, body := get(t, srv.URL+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.JSONEq(t, `{"status":"unavailable","checks":[{"name":"db","status":"fail","error":"db is down"}]}`, body)

	dbErr.Store(nil)
	code, _ = get(t, srv.URL+"/readyz")
	require.Equal(t, http.StatusOK, code)

	h.Drain()
	code, body = get(t, srv.URL+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.JSONEq(t, `{"status":"draining"}`, body)
	code, _ = get(t, srv.URL+"/healthz")
	require.Equal(t, http.StatusOK, code)
}

func TestReadinessRunsChecksConcurrently(t *testing.T) {
	// Each check waits for the other to start: run one after the other,
	// the first would time out.
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	meet := func(mine, other chan struct{}) func(context.Context) error {
		return func(ctx context.Context) error {
			close(mine)
			select {
			case <-other:
				return nil
			case <-ctx.Done():
				return errors.New("the other check never started")
			}
		}
	}
	h := telemetry.NewHealth(10 * time.Second)
	h.AddCheck("a", meet(aStarted, bStarted))
	h.AddCheck("b", meet(bStarted, aStarted))

	rep := h.Check(t.Context())
	require.Equal(t, telemetry.Report{Status: telemetry.StatusOK, Checks: []telemetry.CheckResult{
		{Name: "a", Status: telemetry.StatusOK}, {Name: "b", Status: telemetry.StatusOK},
	}}, rep)
}

func TestAddCheckRejectsProgrammingErrors(t *testing.T) {
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name  string
		add   func(h *telemetry.Health)
		panic string
	}{
		{name: "empty name", add: func(h *telemetry.Health) { h.AddCheck("", ok) }, panic: "telemetry: AddCheck needs a name and a function"},
		{name: "nil function", add: func(h *telemetry.Health) { h.AddCheck("db", nil) }, panic: "telemetry: AddCheck needs a name and a function"},
		{name: "duplicate", add: func(h *telemetry.Health) { h.AddCheck("db", ok); h.AddCheck("db", ok) }, panic: `telemetry: readiness check "db" added twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.PanicsWithValue(t, tt.panic, func() { tt.add(telemetry.NewHealth(0)) })
		})
	}
}
