package telemetrytest_test

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/telemetry/telemetrytest"
)

func TestLogs(t *testing.T) {
	logger, logs := telemetrytest.NewLogger(t, slog.String("service", "audit"))

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { logger.Debug("consumed", "n", i) })
	}
	wg.Wait()
	logger.Warn("lagging", "behind", 12)

	entries := logs.Entries(t)
	require.Len(t, entries, 5)
	consumed := logs.WithMessage(t, "consumed")
	require.Len(t, consumed, 4)
	for _, e := range consumed {
		require.Equal(t, "DEBUG", e["level"])
		require.Equal(t, "audit", e["service"])
	}
	require.Equal(t, []map[string]any{entries[4]}, logs.WithMessage(t, "lagging"))
	require.Equal(t, 12.0, entries[4]["behind"])
	require.Empty(t, logs.WithMessage(t, "never logged"))
}
