package bus_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
)

func TestEnsureStreamCreatesAndUpdates(t *testing.T) {
	t.Parallel()
	js := newJS(t)
	ctx := testCtx(t)

	st, err := bus.EnsureStream(ctx, js, memStreams, "acme")
	require.NoError(t, err)
	cfg := st.CachedInfo().Config
	require.Equal(t, "AUTH_EVENTS", cfg.Name)
	require.Equal(t, bus.EventStreamSubjects("acme"), cfg.Subjects)
	require.Equal(t, jetstream.MemoryStorage, cfg.Storage)
	require.Equal(t, 10*time.Minute, cfg.Duplicates)
	require.Equal(t, 30*24*time.Hour, cfg.MaxAge)
	require.Equal(t, jetstream.LimitsPolicy, cfg.Retention)

	dlq, err := js.Stream(ctx, "AUTH_DLQ")
	require.NoError(t, err)
	require.Equal(t, []string{"acme.dlq.>"}, dlq.CachedInfo().Config.Subjects)

	// Idempotent, then an update of a setting.
	_, err = bus.EnsureStream(ctx, js, memStreams, "acme.")
	require.NoError(t, err)
	changed := memStreams
	changed.MaxAge = 48 * time.Hour
	changed.DuplicateWindow = time.Hour
	st, err = bus.EnsureStream(ctx, js, changed, "acme")
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, info.Config.MaxAge)
	require.Equal(t, time.Hour, info.Config.Duplicates)

	// Every catalog event is captured by the stream.
	for _, spec := range contracts.Events() {
		env, err := contracts.NewEnvelope("authbus/test", spec.Type, "u1", spec.Data)
		require.NoError(t, err)
		ack, err := bus.Publish(ctx, js, "acme", env)
		require.NoError(t, err, spec.Type)
		require.Equal(t, "AUTH_EVENTS", ack.Stream)
	}
	require.Equal(t, uint64(len(contracts.Events())), streamMsgs(t, js, "AUTH_EVENTS"))
}

func TestEnsureStreamRefusesAnotherInstallationsStream(t *testing.T) {
	t.Parallel()
	js := newJS(t)
	ctx := testCtx(t)
	_, err := bus.EnsureStream(ctx, js, memStreams, "acme")
	require.NoError(t, err)

	_, err = bus.EnsureStream(ctx, js, memStreams, "zeta")
	require.ErrorContains(t, err, `belongs to the installation with subject prefix "acme."`)

	// With its own stream names, the second installation coexists.
	own := memStreams
	own.Name, own.DeadLetterName = "ZETA_EVENTS", "ZETA_DLQ"
	_, err = bus.EnsureStream(ctx, js, own, "zeta")
	require.NoError(t, err)
}

func TestEnsureStreamRejectsBadInput(t *testing.T) {
	t.Parallel()
	js := newJS(t)
	tests := []struct {
		name    string
		cfg     bus.StreamConfig
		prefix  string
		wantErr string
	}{
		{"bad storage", bus.StreamConfig{Storage: "tape"}, "", "STREAM_STORAGE"},
		{"bad prefix", memStreams, "a.>", "wildcards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bus.EnsureStream(testCtx(t), js, tt.cfg, tt.prefix)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
