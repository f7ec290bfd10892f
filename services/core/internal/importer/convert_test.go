package importer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMoment(t *testing.T) {
	want := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	tests := []struct {
		name  string
		in    any
		want  time.Time
		null  bool
		error string
	}{
		{name: "NULL", in: nil, null: true},
		{name: "empty text", in: "", null: true},
		{name: "better-auth ISO text", in: "2026-01-02T03:04:05.678Z", want: want},
		{name: "offset", in: "2026-01-02T04:04:05.678+01:00", want: want},
		{name: "bytes", in: []byte("2026-01-02T03:04:05.678Z"), want: want},
		{name: "postgres text", in: "2026-01-02 03:04:05.678+00", want: want},
		{name: "sqlite CURRENT_TIMESTAMP", in: "2026-01-02 03:04:05", want: want.Truncate(time.Second)},
		{name: "no zone", in: "2026-01-02T03:04:05.678", want: want},
		{name: "unix ms", in: int64(want.UnixMilli()), want: want},
		{name: "unix s", in: int64(want.Unix()), want: want.Truncate(time.Second)},
		{name: "unix ms text", in: "1767323045678", want: want},
		{name: "float", in: float64(want.UnixMilli()), want: want},
		{name: "time", in: want.Add(123 * time.Microsecond).In(time.FixedZone("X", 7200)), want: want},
		{name: "javascript toString", in: "Fri Jan 02 2026 03:04:05 GMT+0000 (Coordinated Universal Time)", want: want.Truncate(time.Second)},
		{name: "garbage", in: "soon", error: `"soon" is not a date`},
		{name: "type", in: true, error: "bool is not a date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := moment(tt.in)
			if tt.error != "" {
				require.EqualError(t, err, tt.error)
				return
			}
			require.NoError(t, err)
			require.Equal(t, !tt.null, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBoolean(t *testing.T) {
	tests := []struct {
		in    any
		want  bool
		error bool
	}{
		{nil, false, false}, {true, true, false}, {false, false, false}, {int64(1), true, false}, {int64(0), false, false},
		{"true", true, false}, {"f", false, false}, {"1", true, false}, {[]byte("0"), false, false}, {"maybe", false, true},
		{float64(1), true, false}, {struct{}{}, false, true},
	}
	for _, tt := range tests {
		got, err := boolean(tt.in)
		require.Equal(t, tt.error, err != nil, "%#v", tt.in)
		require.Equal(t, tt.want, got, "%#v", tt.in)
	}
}
