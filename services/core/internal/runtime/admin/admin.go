// Package admin serves the plugin part of the admin API under /api/admin/
// for users with role admin: plugins with their state and reasons, the hook
// order per point, hook latency and failures, consumer lag and the outbox
// backlog.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/hooks"
	"github.com/authbus/authbus/services/core/internal/runtime/gateway"
	"github.com/authbus/authbus/services/core/internal/runtime/natsperm"
	"github.com/authbus/authbus/services/core/internal/runtime/registry"
	"github.com/authbus/authbus/services/core/internal/store"
)

// Prefix is the path the admin API is served under.
const Prefix = "/api/admin/"

// HookStats is implemented by the hook dispatcher (*hooks.Dispatcher).
type HookStats interface {
	// Stats returns one row per point and plugin called so far.
	Stats() []hooks.TargetStats
}

// HookStatsFunc adapts a function to HookStats.
type HookStatsFunc func() []hooks.TargetStats

// Stats calls f.
func (f HookStatsFunc) Stats() []hooks.TargetStats { return f() }

// HookStatRow is one row of /api/admin/hooks/stats: the dispatcher's
// numbers plus the failures its policy had to handle.
type HookStatRow struct {
	hooks.TargetStats
	// Failures counts timeouts, no responders and errors.
	Failures uint64 `json:"failures"`
}

// OutboxBacklog is the store's view of unpublished events (store.Store has it).
type OutboxBacklog interface {
	// OutboxBacklog counts the unpublished events.
	OutboxBacklog(ctx context.Context) (store.OutboxBacklog, error)
}

// Registry is what the admin API reads from the registry.
type Registry interface {
	// Records returns every plugin's record.
	Records() []registry.Record
	// Plan returns the hook plan.
	Plan() *contracts.HookPlan
}

// Config configures the admin handler.
type Config struct {
	// Registry is the plugin registry (required).
	Registry Registry
	// Sessions resolves the caller (required: without it every request is 401).
	Sessions gateway.SessionResolver
	// JetStream reads consumer lag (nil: the consumers endpoint answers 503).
	JetStream jetstream.JetStream
	// Stream is the events stream (default AUTH_EVENTS).
	Stream string
	// HookStats gives hook latency and failures (nil: empty list).
	HookStats HookStats
	// Outbox gives the outbox backlog (nil: the outbox endpoint answers 503).
	Outbox OutboxBacklog
	// Logger receives failures (default slog.Default()).
	Logger *slog.Logger
	// Timeout bounds each call to JetStream or the store (default 5s).
	Timeout time.Duration
}

// Handler serves the admin API.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New returns the admin handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Registry == nil {
		return nil, errors.New("admin: Registry is required")
	}
	if cfg.Stream == "" {
		cfg.Stream = bus.DefaultStreamName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Handler{cfg: cfg, log: cfg.Logger.With("component", "admin")}, nil
}

// ServeHTTP routes /api/admin/… after checking the caller is an admin.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Sessions == nil {
		gateway.WriteError(w, contracts.CodeUnauthorized.Err())
		return
	}
	user, _, err := h.cfg.Sessions.Resolve(r)
	switch {
	case err != nil:
		gateway.WriteError(w, contracts.AsError(err))
		return
	case user == nil:
		gateway.WriteError(w, contracts.CodeUnauthorized.Err())
		return
	case user.Role != "admin":
		gateway.WriteError(w, contracts.CodeForbidden.Err())
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		gateway.WriteError(w, contracts.CodeNotFound.Err())
		return
	}
	rest = strings.TrimSuffix(rest, "/")
	var handle func(http.ResponseWriter, *http.Request)
	switch {
	case rest == "plugins":
		handle = h.plugins
	case strings.HasPrefix(rest, "plugins/") && !strings.Contains(rest[len("plugins/"):], "/"):
		id := rest[len("plugins/"):]
		handle = func(w http.ResponseWriter, r *http.Request) { h.plugin(w, id) }
	case rest == "hooks":
		handle = h.hooks
	case rest == "hooks/stats":
		handle = h.hookStats
	case rest == "consumers":
		handle = h.consumers
	case rest == "outbox":
		handle = h.outbox
	default:
		gateway.WriteError(w, contracts.CodeNotFound.Err())
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		gateway.WriteError(w, &contracts.Error{Status: http.StatusMethodNotAllowed, Code: contracts.CodeBadRequest, Message: "only GET is allowed here"})
		return
	}
	handle(w, r)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		gateway.WriteError(w, contracts.CodeInternalServerError.Err())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// PluginRow is one plugin in the plugins list.
type PluginRow struct {
	// ID is the plugin id.
	ID string `json:"id"`
	// Name is the plugin's name.
	Name string `json:"name,omitempty"`
	// Version is the registered version.
	Version string `json:"version"`
	// State is the plugin's state.
	State registry.State `json:"state"`
	// Reasons explain a refusal.
	Reasons []contracts.Problem `json:"reasons,omitempty"`
	// WaitingOn lists required dependencies not yet up.
	WaitingOn []string `json:"waitingOn,omitempty"`
	// Instances are the live instances.
	Instances []registry.Instance `json:"instances"`
	// LastHeartbeat is the latest heartbeat of any instance.
	LastHeartbeat time.Time `json:"lastHeartbeat,omitzero"`
	// Granted lists the granted permissions.
	Granted []contracts.Permission `json:"granted,omitempty"`
	// Hooks are the hook points the plugin serves.
	Hooks []contracts.HookDecl `json:"hooks,omitempty"`
	// Routes are the gateway routes it serves.
	Routes []contracts.RouteDecl `json:"routes,omitempty"`
	// Events are the subject patterns it consumes.
	Events []string `json:"events,omitempty"`
}

func row(rec registry.Record) PluginRow {
	r := PluginRow{ID: rec.ID, Name: rec.Name, Version: rec.Version, State: rec.State, Reasons: rec.Reasons,
		WaitingOn: rec.WaitingOn, Instances: rec.Instances, LastHeartbeat: rec.LastHeartbeat, Granted: rec.Granted}
	if r.Instances == nil {
		r.Instances = []registry.Instance{}
	}
	if rec.Manifest != nil {
		r.Hooks, r.Routes, r.Events = rec.Manifest.Hooks, rec.Manifest.Routes, rec.Manifest.Events
	}
	return r
}

func (h *Handler) plugins(w http.ResponseWriter, _ *http.Request) {
	recs := h.cfg.Registry.Records()
	rows := make([]PluginRow, 0, len(recs))
	for _, rec := range recs {
		rows = append(rows, row(rec))
	}
	writeJSON(w, map[string]any{"plugins": rows})
}

func (h *Handler) plugin(w http.ResponseWriter, id string) {
	for _, rec := range h.cfg.Registry.Records() {
		if rec.ID == id {
			writeJSON(w, row(rec))
			return
		}
	}
	gateway.WriteError(w, contracts.CodeNotFound.Errorf("no plugin %q is known", id))
}

// PointOrder is the call order at one hook point.
type PointOrder struct {
	// Point is the hook point.
	Point contracts.HookPoint `json:"point"`
	// Mode is sequential or parallel.
	Mode contracts.HookMode `json:"mode"`
	// Targets are the plugins in call order.
	Targets []contracts.HookTarget `json:"targets"`
}

func (h *Handler) hooks(w http.ResponseWriter, _ *http.Request) {
	plan := h.cfg.Registry.Plan()
	var points []PointOrder
	for _, spec := range contracts.Hooks() {
		if ts := plan.Points[spec.Point]; len(ts) > 0 {
			points = append(points, PointOrder{Point: spec.Point, Mode: spec.Mode, Targets: ts})
		}
	}
	if points == nil {
		points = []PointOrder{}
	}
	writeJSON(w, map[string]any{"revision": plan.Revision, "points": points})
}

func (h *Handler) hookStats(w http.ResponseWriter, _ *http.Request) {
	stats := []HookStatRow{}
	if h.cfg.HookStats != nil {
		for _, s := range h.cfg.HookStats.Stats() {
			stats = append(stats, HookStatRow{TargetStats: s, Failures: s.Failures()})
		}
	}
	sort.Slice(stats, func(i, j int) bool {
		if stats[i].Plugin != stats[j].Plugin {
			return stats[i].Plugin < stats[j].Plugin
		}
		return stats[i].Point < stats[j].Point
	})
	writeJSON(w, map[string]any{"hooks": stats})
}

// ConsumerLag is one plugin's durable consumer position.
type ConsumerLag struct {
	// Plugin is the plugin id.
	Plugin string `json:"plugin"`
	// Durable is the consumer name.
	Durable string `json:"durable"`
	// NumPending is how many events wait to be delivered.
	NumPending uint64 `json:"numPending"`
	// NumAckPending is how many were delivered and not yet acknowledged.
	NumAckPending int `json:"numAckPending"`
	// NumRedelivered is how many delivered messages were redelivered.
	NumRedelivered int `json:"numRedelivered"`
	// NumWaiting is how many pull requests are waiting (instances consuming).
	NumWaiting int `json:"numWaiting"`
	// Error says why the numbers are missing.
	Error string `json:"error,omitempty"`
}

func (h *Handler) consumers(w http.ResponseWriter, r *http.Request) {
	if h.cfg.JetStream == nil {
		gateway.WriteError(w, contracts.CodeServiceUnavailable.Errorf("consumer information is not available"))
		return
	}
	rows := []ConsumerLag{}
	for _, rec := range h.cfg.Registry.Records() {
		if rec.Manifest == nil || len(rec.Manifest.Events) == 0 || rec.State == registry.StateRefused {
			continue
		}
		row := ConsumerLag{Plugin: rec.ID, Durable: natsperm.Durable(rec.ID)}
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
		info, err := consumerInfo(ctx, h.cfg.JetStream, h.cfg.Stream, row.Durable)
		cancel()
		if err != nil {
			row.Error = err.Error()
		} else {
			row.NumPending, row.NumAckPending = info.NumPending, info.NumAckPending
			row.NumRedelivered, row.NumWaiting = info.NumRedelivered, info.NumWaiting
		}
		rows = append(rows, row)
	}
	writeJSON(w, map[string]any{"stream": h.cfg.Stream, "consumers": rows})
}

func consumerInfo(ctx context.Context, js jetstream.JetStream, stream, durable string) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", durable, err)
	}
	return c.Info(ctx)
}

func (h *Handler) outbox(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Outbox == nil {
		gateway.WriteError(w, contracts.CodeServiceUnavailable.Errorf("outbox information is not available"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	b, err := h.cfg.Outbox.OutboxBacklog(ctx)
	if err != nil {
		h.log.Error("outbox backlog", "err", err)
		gateway.WriteError(w, contracts.CodeServiceUnavailable.Errorf("the store did not answer"))
		return
	}
	out := map[string]any{"count": b.Count}
	if b.Count > 0 && !b.Oldest.IsZero() {
		out["oldest"] = b.Oldest
		out["oldestAgeSeconds"] = time.Since(b.Oldest).Seconds()
	}
	writeJSON(w, out)
}
