package hooks_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/hooks"
)

func TestFollowPlan(t *testing.T) {
	srv, core := bustest.RunJetStream(t, bustest.InProcess())
	orgs := bustest.Connect(t, srv, bustest.InProcess())
	const prefix = "acme"
	plan := func(rev uint64, plugins ...string) contracts.HookPlan {
		p := contracts.HookPlan{Revision: rev, Points: map[contracts.HookPoint][]contracts.HookTarget{}}
		for _, id := range plugins {
			p.Points[contracts.HookBeforeOrgCreate] = append(p.Points[contracts.HookBeforeOrgCreate],
				contracts.HookTarget{Plugin: id, Timeout: contracts.Duration(time.Second), FailurePolicy: contracts.FailClosed})
		}
		return p
	}
	svc, method := contracts.CoreHooksPlan.Split()
	sub, err := core.Subscribe(bus.CoreSubject(prefix, "orgs", svc, method), func(m *nats.Msg) {
		b, _ := json.Marshal(plan(3, "billing"))
		_ = m.Respond(b)
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, core.Flush())

	rp, err := hooks.FollowPlan(context.Background(), orgs, prefix, "orgs", nil)
	require.NoError(t, err)
	defer rp.Stop()
	require.Equal(t, uint64(3), rp.Plan().Revision, "fetched at start")

	announce := func(p contracts.HookPlan) {
		b, _ := json.Marshal(p)
		require.NoError(t, core.Publish(bus.HooksPlanSubject(prefix), b))
		require.NoError(t, core.Flush())
	}
	announce(plan(2, "stale"))
	announce(plan(4, "billing", "audit"))
	bustest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if rp.Plan().Revision != 4 {
			return errPlan(rp.Plan())
		}
		return nil
	})
	require.Len(t, rp.Plan().Points[contracts.HookBeforeOrgCreate], 2, "an older revision never replaces a newer one")

	require.NoError(t, rp.Refresh(context.Background()))
	require.Equal(t, uint64(4), rp.Plan().Revision, "a refresh returning an older plan keeps the newer one")
}

func TestFollowPlanWithoutCore(t *testing.T) {
	_, nc := bustest.RunJetStream(t, bustest.InProcess())
	_, err := hooks.FollowPlan(context.Background(), nc, "", "orgs", nil)
	require.ErrorIs(t, err, bus.ErrNoResponders)
}

type planError struct{ p *contracts.HookPlan }

func (e planError) Error() string {
	b, _ := json.Marshal(e.p)
	return "plan is " + string(b)
}

func errPlan(p *contracts.HookPlan) error { return planError{p} }
