package hooks

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name          string
		sorted        []time.Duration
		p50, p95, p99 time.Duration
	}{
		{name: "empty"},
		{name: "one sample", sorted: ms(7), p50: 7 * time.Millisecond, p95: 7 * time.Millisecond, p99: 7 * time.Millisecond},
		{name: "four samples", sorted: ms(1, 2, 3, 40), p50: 2 * time.Millisecond, p95: 40 * time.Millisecond, p99: 40 * time.Millisecond},
		{name: "1..100", sorted: ms(hundred...), p50: 50 * time.Millisecond, p95: 95 * time.Millisecond, p99: 99 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.p50, percentile(tt.sorted, 50))
			require.Equal(t, tt.p95, percentile(tt.sorted, 95))
			require.Equal(t, tt.p99, percentile(tt.sorted, 99))
		})
	}
}
