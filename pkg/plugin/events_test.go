package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

func TestEventRedeliveredAfterFailedHandler(t *testing.T) {
	core := plugintest.Start(t)
	var deliveries seen
	core.Run(t, newFixture("fixture", fixture{
		event: func(_ context.Context, _ *plugin.Context[testConfig], ev plugin.Event[contracts.UserCreated]) error {
			deliveries.add("%s#%d", ev.Data.User.ID, ev.Delivery)
			if ev.Delivery == 1 {
				return errors.New("database briefly unavailable")
			}
			return nil
		},
	}))
	ev := core.Publish(t, contracts.EventUserCreated, userCreated("u1"))
	st := core.WaitEvent(t, "fixture", ev, plugintest.Acked)
	require.Equal(t, []string{"u1#1", "u1#2"}, deliveries.list())
	require.Equal(t, 1, st.Naks, "the failure was a nak, server-side")
	require.Equal(t, 2, st.Deliveries)
	require.Nil(t, st.DeadLetter)
}

func TestEventDeadLettered(t *testing.T) {
	tests := []struct {
		name       string
		data       any
		handler    func(ev plugin.Event[contracts.UserCreated]) error
		reason     string
		deliveries int
		errText    string
	}{
		{name: "after MaxDeliver failed deliveries", data: userCreated("u1"),
			handler:    func(plugin.Event[contracts.UserCreated]) error { return errors.New("smtp down") },
			reason:     bus.DeadLetterReasonMaxDeliver,
			deliveries: plugintest.DefaultMaxDeliver, errText: "smtp down"},
		{name: "at once for a permanent error", data: userCreated("u1"),
			handler: func(plugin.Event[contracts.UserCreated]) error {
				return plugin.Permanent(errors.New("no such tenant"))
			},
			reason: bus.DeadLetterReasonPermanent, deliveries: 1, errText: "no such tenant"},
		{name: "at once when the data does not decode", data: map[string]any{"user": "not an object"},
			handler: func(plugin.Event[contracts.UserCreated]) error { return nil },
			reason:  bus.DeadLetterReasonPermanent, deliveries: 1, errText: "decode user.created data"},
		{name: "a panic is a failure", data: userCreated("u1"),
			handler:    func(plugin.Event[contracts.UserCreated]) error { panic("nil map") },
			reason:     bus.DeadLetterReasonMaxDeliver,
			deliveries: plugintest.DefaultMaxDeliver, errText: "nil map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core := plugintest.Start(t)
			var calls seen
			core.Run(t, newFixture("fixture", fixture{
				event: func(_ context.Context, _ *plugin.Context[testConfig], ev plugin.Event[contracts.UserCreated]) error {
					calls.add("%d", ev.Delivery)
					return tt.handler(ev)
				},
			}))
			ev := core.Publish(t, contracts.EventUserCreated, tt.data)
			st := core.WaitEvent(t, "fixture", ev, plugintest.DeadLettered)
			require.Equal(t, tt.reason, st.DeadLetter.Reason)
			require.Equal(t, tt.deliveries, st.DeadLetter.Deliveries)
			require.Contains(t, st.DeadLetter.Error, tt.errText)
			require.Equal(t, bus.DeadLetterSubject("", "plugin-fixture", string(contracts.EventUserCreated)), st.DeadLetter.Subject)
			st = core.WaitEvent(t, "fixture", ev, func(s plugintest.EventStatus) bool { return s.Terminated })
			require.False(t, st.Acked)
		})
	}
}

func TestReplicasShareOneDurable(t *testing.T) {
	core := plugintest.Start(t)
	var mu sync.Mutex
	handled := map[string][]string{} // event id → replicas that handled it
	replica := func(name string) *plugin.Plugin[testConfig] {
		return newFixture("fixture", fixture{
			event: func(_ context.Context, _ *plugin.Context[testConfig], ev plugin.Event[contracts.UserCreated]) error {
				mu.Lock()
				defer mu.Unlock()
				handled[ev.ID] = append(handled[ev.ID], name)
				return nil
			},
		})
	}
	a := core.Run(t, replica("a"))
	core.Run(t, replica("b"))

	publish := func(n int) []plugintest.Published {
		out := make([]plugintest.Published, n)
		for i := range out {
			out[i] = core.Publish(t, contracts.EventUserCreated, userCreated(fmt.Sprintf("u%d", i)))
		}
		for _, ev := range out {
			core.WaitEvent(t, "fixture", ev, plugintest.Acked)
		}
		return out
	}
	first := publish(40)
	require.NoError(t, a.Stop(), "replica a stops; b goes on alone on the same durable")
	second := publish(20)

	mu.Lock()
	defer mu.Unlock()
	byReplica := map[string]int{}
	for _, ev := range append(first, second...) {
		require.Len(t, handled[ev.Envelope.ID], 1, "event %s handled by %v", ev.Envelope.ID, handled[ev.Envelope.ID])
		byReplica[handled[ev.Envelope.ID][0]]++
	}
	for _, ev := range second {
		require.Equal(t, []string{"b"}, handled[ev.Envelope.ID])
	}
	require.Len(t, handled, 60, "b did not replay what a had acked: the position is the durable's, shared")
	t.Logf("events per replica: %v", byReplica)
}

func TestShutdownWhileHandlingLosesNothing(t *testing.T) {
	core := plugintest.Start(t)
	inHook, inEvent := make(chan struct{}), make(chan struct{})
	release := make(chan struct{})
	var handled seen
	settings := core.Settings()
	settings.EventWorkers = 1
	f := fixture{
		beforeSignUp: func(context.Context, *plugin.Context[testConfig], contracts.SignUpContext) plugin.Decision {
			close(inHook)
			<-release
			return plugin.Patch(map[string]any{"name": "finished"})
		},
		event: func(_ context.Context, _ *plugin.Context[testConfig], ev plugin.Event[contracts.UserCreated]) error {
			if ev.Data.User.ID == "u0" && ev.Delivery == 1 {
				close(inEvent)
				<-release
			}
			handled.add("%s", ev.Data.User.ID)
			return nil
		},
	}
	i := core.Run(t, newFixture("fixture", f), plugin.WithSettings(settings))

	evs := []plugintest.Published{core.Publish(t, contracts.EventUserCreated, userCreated("u0"))}
	<-inEvent
	for _, id := range []string{"u1", "u2"} {
		evs = append(evs, core.Publish(t, contracts.EventUserCreated, userCreated(id)))
	}
	type hookResult struct {
		reply contracts.HookReply
		err   error
	}
	hookDone := make(chan hookResult, 1)
	go func() {
		r, err := callHook(t, core, "fixture", contracts.SignUpContext{Email: "a@example.com", Name: "Ada"})
		hookDone <- hookResult{r, err}
	}()
	<-inHook

	stopped := make(chan error, 1)
	go func() { stopped <- i.Stop() }()
	// Draining: no new request is taken while the two in flight finish.
	bustest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		_, err := callHook(t, core, "fixture", contracts.SignUpContext{})
		if !errors.Is(err, bus.ErrNoResponders) {
			return fmt.Errorf("still taking hook requests: %v", err)
		}
		return nil
	})
	select {
	case err := <-stopped:
		t.Fatalf("Run returned while handlers were still running: %v", err)
	default:
	}
	close(release)

	res := <-hookDone
	require.NoError(t, res.err, "the in-flight hook was answered")
	require.JSONEq(t, `{"name":"finished"}`, string(res.reply.Patch))
	require.NoError(t, <-stopped)
	core.WaitEvent(t, "fixture", evs[0], plugintest.Acked)

	// What was published but not handled went back to the server: the next
	// instance handles it.
	core.Run(t, newFixture("fixture", f))
	for _, ev := range evs {
		core.WaitEvent(t, "fixture", ev, plugintest.Acked)
	}
	for _, id := range []string{"u0", "u1", "u2"} {
		require.GreaterOrEqual(t, handled.count(id), 1, "%s was handled", id)
	}
	require.Equal(t, 1, handled.count("u0"), "the event in flight at shutdown was acked, not redelivered")
}
