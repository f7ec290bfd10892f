package bustest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
)

func TestRunJetStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []bustest.Option
		tcp  bool
	}{
		{"tcp", nil, true},
		{"in process", []bustest.Option{bustest.InProcess()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, nc := bustest.RunJetStream(t, tt.opts...)
			require.True(t, s.JetStreamEnabled())
			require.True(t, nc.IsConnected())
			require.Equal(t, tt.tcp, s.Addr() != nil)
			js := bustest.JetStream(t, nc)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := bus.EnsureStream(ctx, js, bus.StreamConfig{Storage: "memory"}, "")
			require.NoError(t, err)
		})
	}
}

func TestRestartKeepsDataAndPort(t *testing.T) {
	t.Parallel()
	s, nc := bustest.RunJetStream(t)
	url := s.ClientURL()
	js := bustest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := bus.EnsureStream(ctx, js, bus.StreamConfig{}, "")
	require.NoError(t, err)
	_, err = js.Publish(ctx, "user.created", []byte("{}"))
	require.NoError(t, err)

	s2 := bustest.Restart(t, s)
	require.Equal(t, url, s2.ClientURL())
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		st, err := js.Stream(ctx, "AUTH_EVENTS")
		if err != nil {
			return err
		}
		if n := st.CachedInfo().State.Msgs; n != 1 {
			return fmt.Errorf("%d messages after restart", n)
		}
		return nil
	})
}

func TestWithUsers(t *testing.T) {
	t.Parallel()
	s, nc := bustest.RunJetStream(t,
		bustest.WithUsers(&server.User{Username: "core", Password: "pw"}),
		bustest.ConnectOptions(nats.UserInfo("core", "pw")))
	require.True(t, nc.IsConnected())
	_, err := nats.Connect(s.ClientURL(), nats.UserInfo("core", "wrong"))
	require.Error(t, err, "only the configured users get in")
}

func TestCheckForFailsWithTheLastError(t *testing.T) {
	t.Parallel()
	ft := &fakeTB{TB: t}
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = recover() }()
		bustest.CheckFor(ft, 30*time.Millisecond, 5*time.Millisecond, func() error {
			calls++
			return fmt.Errorf("still cold (%d)", calls)
		})
	}()
	<-done
	require.Greater(t, calls, 1, "polled")
	require.Contains(t, ft.failure, fmt.Sprintf("still cold (%d)", calls))

	n := 0
	bustest.CheckFor(t, time.Second, time.Millisecond, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	require.Equal(t, 3, n, "returns as soon as fn succeeds")
}

// fakeTB records Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	failure string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failure = fmt.Sprintf(format, args...)
	panic("fatal")
}
