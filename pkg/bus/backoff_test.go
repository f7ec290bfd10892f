package bus_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
)

func TestBackoffIsCappedAndJittered(t *testing.T) {
	t.Parallel()
	lo, hi := 100*time.Millisecond, 10*time.Second
	tests := []struct {
		attempt  int
		from, to time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{5, 800 * time.Millisecond, 1600 * time.Millisecond},
		{8, 5 * time.Second, 10 * time.Second},
		{1000, 5 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := bus.Backoff(tt.attempt, lo, hi)
			require.GreaterOrEqual(t, d, tt.from, "attempt %d", tt.attempt)
			require.LessOrEqual(t, d, tt.to, "attempt %d", tt.attempt)
			seen[d] = true
		}
		require.Greater(t, len(seen), 1, "attempt %d: jittered", tt.attempt)
	}
}
