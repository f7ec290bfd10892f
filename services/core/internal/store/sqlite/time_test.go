package sqlite

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	tests := []struct {
		name    string
		src     any
		want    time.Time
		wantErr bool
	}{
		{name: "stored form", src: "2026-01-02T03:04:05.678Z", want: want},
		{name: "as bytes", src: []byte("2026-01-02T03:04:05.678Z"), want: want},
		{name: "driver time", src: want.Add(999 * time.Microsecond).In(time.FixedZone("X", 3600)), want: want},
		{name: "integer milliseconds", src: want.UnixMilli(), want: want},
		{name: "milliseconds as text", src: "1767323045678", want: want},
		{name: "offset", src: "2026-01-02T05:04:05.678+02:00", want: want},
		{name: "no fraction", src: "2026-01-02T03:04:05Z", want: want.Truncate(time.Second)},
		{name: "month 13", src: "2026-13-02T03:04:05.678Z", wantErr: true},
		{name: "letters in digits", src: "2026-0a-02T03:04:05.678Z", wantErr: true},
		{name: "hour 24", src: "2026-01-02T24:04:05.678Z", wantErr: true},
		{name: "words", src: "tomorrow", wantErr: true},
		{name: "float", src: 1.5, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTime(tc.src)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, time.UTC, got.Location())
		})
	}
}

func TestEncodeTimeRoundTrip(t *testing.T) {
	in := time.Date(2026, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("X", -3600))
	s := encodeTime(in)
	require.Equal(t, "2027-01-01T00:59:59.999Z", s)
	got, err := parseTime(s)
	require.NoError(t, err)
	require.Equal(t, in.UTC().Truncate(time.Millisecond), got)
}

func BenchmarkParseStoredTime(b *testing.B) {
	for b.Loop() {
		if _, err := parseTime("2026-01-02T03:04:05.678Z"); err != nil {
			b.Fatal(err)
		}
	}
}
