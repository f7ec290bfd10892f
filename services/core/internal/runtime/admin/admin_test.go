package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/hooks"
	"github.com/authbus/authbus/services/core/internal/runtime/registry"
	"github.com/authbus/authbus/services/core/internal/store"
)

type fakeRegistry struct {
	recs []registry.Record
	plan *contracts.HookPlan
}

func (f fakeRegistry) Records() []registry.Record { return f.recs }
func (f fakeRegistry) Plan() *contracts.HookPlan  { return f.plan }

type roleSessions struct{}

func (roleSessions) Resolve(r *http.Request) (*contracts.User, *contracts.Session, error) {
	switch r.Header.Get("X-Role") {
	case "":
		return nil, nil, nil
	case "broken":
		return nil, nil, errors.New("db down")
	}
	return &contracts.User{ID: "u", Role: r.Header.Get("X-Role")}, &contracts.Session{ID: "s"}, nil
}

type fakeOutbox struct {
	b   store.OutboxBacklog
	err error
}

func (f fakeOutbox) OutboxBacklog(context.Context) (store.OutboxBacklog, error) { return f.b, f.err }

func TestAdminAPI(t *testing.T) {
	_, nc := bustest.RunJetStream(t, bustest.InProcess())
	js := bustest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := bus.EnsureStream(ctx, js, bus.StreamConfig{Storage: "memory"}, "")
	require.NoError(t, err)
	_, err = bus.EnsureConsumer(ctx, js, "", bus.ConsumerConfig{Durable: "plugin-audit", FilterSubjects: []string{"user.*"}})
	require.NoError(t, err)
	for i := range 3 {
		env, err := contracts.NewEnvelope("authbus/core", "user.created", "u", contracts.UserCreated{User: contracts.User{ID: "u"}})
		require.NoError(t, err)
		_, err = bus.Publish(ctx, js, "", env, jetstream.WithMsgID(string(rune('a'+i))))
		require.NoError(t, err)
	}

	audit := contracts.Manifest{ID: "audit", Name: "Audit", Version: "1.0.0", Events: []string{"user.*"},
		Hooks: []contracts.HookDecl{{Point: contracts.HookAfterSignIn}}}
	hb := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	reg := fakeRegistry{
		recs: []registry.Record{
			{ID: "audit", Name: "Audit", Version: "1.0.0", State: registry.StateActive, Manifest: &audit, LastHeartbeat: hb,
				Instances: []registry.Instance{{ID: "i1", Host: "pod-1", Version: "1.0.0", LastHeartbeat: hb}}},
			{ID: "bad", Version: "0.0.1", State: registry.StateRefused, Reasons: []contracts.Problem{{Field: "coreVersion", Message: "no"}},
				Manifest: &contracts.Manifest{ID: "bad", Events: []string{"user.*"}}},
		},
		plan: &contracts.HookPlan{Revision: 3, Points: map[contracts.HookPoint][]contracts.HookTarget{
			contracts.HookAfterSignIn:  {{Plugin: "audit", Timeout: contracts.Duration(time.Second), FailurePolicy: contracts.FailOpen}},
			contracts.HookBeforeSignIn: {{Plugin: "limits", Timeout: contracts.Duration(time.Second), FailurePolicy: contracts.FailClosed}, {Plugin: "audit", Timeout: contracts.Duration(time.Second), FailurePolicy: contracts.FailClosed}},
		}},
	}
	stats := HookStatsFunc(func() []hooks.TargetStats {
		return []hooks.TargetStats{{Plugin: "limits", Point: contracts.HookBeforeSignIn, Calls: 10, Timeouts: 1, NoResponders: 2, Samples: 10,
			P50: contracts.Duration(250 * time.Microsecond), P95: contracts.Duration(time.Millisecond), P99: contracts.Duration(3 * time.Millisecond)}}
	})
	h, err := New(Config{Registry: reg, Sessions: roleSessions{}, JetStream: js, HookStats: stats,
		Outbox: fakeOutbox{b: store.OutboxBacklog{Count: 2, Oldest: time.Now().Add(-time.Minute)}}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)

	get := func(path, role string) (int, string) {
		req := httptest.NewRequest("GET", path, nil)
		if role != "" {
			req.Header.Set("X-Role", role)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		b, _ := io.ReadAll(w.Result().Body)
		return w.Code, string(b)
	}

	tests := []struct {
		name, path, role string
		status           int
		json             string
		contains         []string
	}{
		{name: "anonymous", path: "/api/admin/plugins", status: 401, json: `{"code":"UNAUTHORIZED","message":"Unauthorized"}`},
		{name: "not an admin", path: "/api/admin/plugins", role: "user", status: 403, json: `{"code":"FORBIDDEN","message":"Forbidden"}`},
		{name: "resolver failure", path: "/api/admin/plugins", role: "broken", status: 500, contains: []string{"INTERNAL_SERVER_ERROR"}},
		{name: "plugins", path: "/api/admin/plugins", role: "admin", status: 200, contains: []string{
			`"id":"audit"`, `"state":"active"`, `"host":"pod-1"`, `"lastHeartbeat":"2026-01-02T03:04:05Z"`,
			`"id":"bad"`, `"state":"refused"`, `"reasons":[{"field":"coreVersion","message":"no"}]`}},
		{name: "one plugin", path: "/api/admin/plugins/bad", role: "admin", status: 200, contains: []string{`"state":"refused"`}},
		{name: "unknown plugin", path: "/api/admin/plugins/nope", role: "admin", status: 404, contains: []string{"NOT_FOUND"}},
		{name: "hook order", path: "/api/admin/hooks", role: "admin", status: 200, json: `{"revision":3,"points":[
			{"point":"beforeSignIn","mode":"sequential","targets":[{"plugin":"limits","timeout":"1s","failurePolicy":"closed"},{"plugin":"audit","timeout":"1s","failurePolicy":"closed"}]},
			{"point":"afterSignIn","mode":"parallel","targets":[{"plugin":"audit","timeout":"1s","failurePolicy":"open"}]}]}`},
		{name: "hook stats", path: "/api/admin/hooks/stats", role: "admin", status: 200, json: `{"hooks":[
			{"plugin":"limits","point":"beforeSignIn","calls":10,"aborts":0,"patches":0,"patchesRefused":0,"timeouts":1,"noResponders":2,"errors":0,
			 "samples":10,"p50":"250µs","p95":"1ms","p99":"3ms","failures":3}]}`},
		{name: "consumer lag", path: "/api/admin/consumers", role: "admin", status: 200, json: `{"stream":"AUTH_EVENTS","consumers":[
			{"plugin":"audit","durable":"plugin-audit","numPending":3,"numAckPending":0,"numRedelivered":0,"numWaiting":0}]}`},
		{name: "outbox", path: "/api/admin/outbox", role: "admin", status: 200, contains: []string{`"count":2`, `"oldestAgeSeconds":`}},
		{name: "unknown endpoint", path: "/api/admin/nothing", role: "admin", status: 404, contains: []string{"NOT_FOUND"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(tt.path, tt.role)
			require.Equal(t, tt.status, status, body)
			if tt.json != "" {
				require.JSONEq(t, tt.json, body)
			}
			for _, c := range tt.contains {
				require.Contains(t, body, c)
			}
		})
	}

	req := httptest.NewRequest("POST", "/api/admin/plugins", nil)
	req.Header.Set("X-Role", "admin")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)

	h2, err := New(Config{Registry: reg, Sessions: roleSessions{}, Outbox: fakeOutbox{err: errors.New("down")}})
	require.NoError(t, err)
	for path, want := range map[string]int{"/api/admin/outbox": 503, "/api/admin/consumers": 503, "/api/admin/hooks/stats": 200} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("X-Role", "admin")
		w := httptest.NewRecorder()
		h2.ServeHTTP(w, req)
		require.Equal(t, want, w.Code, path)
		if want == 200 {
			var v map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v))
			require.Equal(t, []any{}, v["hooks"])
		}
	}
}
