package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
)

// PlanSource supplies the current hook plan. Plan is called on every
// dispatch and must be cheap and safe for concurrent use; it may return nil
// (no plugin anywhere). The returned plan must not be modified.
type PlanSource interface {
	Plan() *contracts.HookPlan
}

// PlanFunc adapts a function to PlanSource.
type PlanFunc func() *contracts.HookPlan

// Plan calls f.
func (f PlanFunc) Plan() *contracts.HookPlan { return f() }

// StaticPlan is a PlanSource that always returns the same plan.
func StaticPlan(p *contracts.HookPlan) PlanSource {
	return PlanFunc(func() *contracts.HookPlan { return p })
}

// RemotePlan is the PlanSource of a plugin that exposes hook points: it
// holds the core's plan, fetched with the core service hooks.plan and
// replaced by every newer revision the core publishes on hooks.plan.
type RemotePlan struct {
	nc      *nats.Conn
	subject string
	plan    atomic.Pointer[contracts.HookPlan]
	sub     *nats.Subscription
	logger  *slog.Logger
	stop    sync.Once
}

// FollowPlan subscribes to the core's plan announcements, then fetches the
// current plan as pluginID (core.<pluginId>.hooks.plan) under ctx's
// deadline. Call Stop when done.
func FollowPlan(ctx context.Context, nc *nats.Conn, prefix, pluginID string, logger *slog.Logger) (*RemotePlan, error) {
	if logger == nil {
		logger = slog.Default()
	}
	svc, method := contracts.CoreHooksPlan.Split()
	r := &RemotePlan{nc: nc, subject: bus.CoreSubject(prefix, pluginID, svc, method),
		logger: logger.With("component", "hooks-plan")}
	sub, err := nc.Subscribe(bus.HooksPlanSubject(prefix), func(m *nats.Msg) {
		var p contracts.HookPlan
		if err := json.Unmarshal(m.Data, &p); err != nil {
			r.logger.Warn("hook plan announcement does not decode", "error", err)
			return
		}
		r.offer(&p)
	})
	if err != nil {
		return nil, fmt.Errorf("follow hook plan: %w", err)
	}
	r.sub = sub
	if err := r.Refresh(ctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return r, nil
}

// Refresh fetches the current plan from the core (after a reconnect or a
// re-registration, when announcements may have been missed).
func (r *RemotePlan) Refresh(ctx context.Context) error {
	msg, err := bus.Request(ctx, r.nc, r.subject, []byte("{}"), nil)
	if err != nil {
		var se *bus.ServiceError
		if errors.As(err, &se) {
			return fmt.Errorf("fetch hook plan: core answered %s: %s", se.Code, se.Description)
		}
		return fmt.Errorf("fetch hook plan: %w", err)
	}
	var p contracts.HookPlan
	if err := json.Unmarshal(msg.Data, &p); err != nil {
		return fmt.Errorf("fetch hook plan: reply does not decode: %w", err)
	}
	r.offer(&p)
	return nil
}

// offer keeps p if it is newer than the plan held.
func (r *RemotePlan) offer(p *contracts.HookPlan) {
	for {
		cur := r.plan.Load()
		if cur != nil && cur.Revision >= p.Revision {
			return
		}
		if r.plan.CompareAndSwap(cur, p) {
			return
		}
	}
}

// Plan returns the newest plan seen, or nil before the first fetch.
func (r *RemotePlan) Plan() *contracts.HookPlan { return r.plan.Load() }

// Stop stops following announcements; Plan keeps returning the last plan.
func (r *RemotePlan) Stop() {
	r.stop.Do(func() { _ = r.sub.Unsubscribe() })
}
