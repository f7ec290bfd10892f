package bus_test

import (
	"fmt"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
)

func TestReconnectDelayIsCappedJitteredBackoff(t *testing.T) {
	t.Parallel()
	limit := 2 * time.Second
	delay := bus.ReconnectDelay(limit)
	tests := []struct {
		attempts int
		nominal  time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, 1600 * time.Millisecond},
		{6, limit},
		{60, limit},
		{1 << 30, limit},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.attempts), func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := delay(tt.attempts)
				require.GreaterOrEqual(t, d, tt.nominal/2)
				require.LessOrEqual(t, d, tt.nominal)
				seen[d] = true
			}
			require.Greater(t, len(seen), 1, "jittered")
		})
	}
}

func TestSanitizeHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"plain", "smtp down", 100, "smtp down"},
		{"newlines", "line one\r\nline two", 100, "line one  line two"},
		{"truncated", "abcdef", 3, "abc"},
		{"rune boundary", "ééé", 3, "é"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bus.SanitizeHeader(tt.in, tt.max)
			require.Equal(t, tt.want, got)
			require.True(t, utf8.ValidString(got))
		})
	}
}
