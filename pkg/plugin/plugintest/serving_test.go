package plugintest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

// heldInit is a lifecycle whose Init waits until released.
type heldInit struct{ release chan struct{} }

func (h heldInit) Init(ctx context.Context, _ *plugin.Context[struct{}]) error {
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestPlanNamesAPluginOnceItServes(t *testing.T) {
	core := plugintest.Start(t)
	h := heldInit{release: make(chan struct{})}
	i := core.Launch(t, hookPlugin("starting", 0), plugin.WithLifecycle(h))
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if core.Registrations("starting") == 0 {
			return errors.New("not registered yet")
		}
		return nil
	})
	require.Empty(t, core.Plan().Points[contracts.HookBeforeSignIn], "registered, but Init runs and nothing is subscribed yet")
	require.NoError(t, core.Hooks().Before(context.Background(), contracts.HookBeforeSignIn, &contracts.SignInContext{}),
		"a point nobody serves yet costs nothing and fails nothing")

	close(h.release)
	core.WaitServing(t, i)
	require.Len(t, core.Plan().Points[contracts.HookBeforeSignIn], 1)
	require.NoError(t, core.Hooks().Before(context.Background(), contracts.HookBeforeSignIn, &contracts.SignInContext{}))
	require.Len(t, core.Hooks().Stats(), 1, "called once it serves")
}
