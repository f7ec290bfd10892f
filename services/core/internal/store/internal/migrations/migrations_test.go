package migrations

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []string
		wantErr string
	}{
		{
			name: "ordered by number, not by text",
			files: fstest.MapFS{
				"m/10_ten.sql":   {Data: []byte("ten")},
				"m/0002_two.sql": {Data: []byte("two")},
				"m/1_one.sql":    {Data: []byte("one")},
				"m/README.md":    {Data: []byte("not a migration")},
			},
			want: []string{"1_one.sql", "0002_two.sql", "10_ten.sql"},
		},
		{
			name:    "duplicate version",
			files:   fstest.MapFS{"m/1_a.sql": {}, "m/0001_b.sql": {}},
			wantErr: "same version 1",
		},
		{
			name:    "no number",
			files:   fstest.MapFS{"m/init.sql": {}},
			wantErr: "NNNN_name.sql",
		},
		{
			name:    "zero",
			files:   fstest.MapFS{"m/0_init.sql": {}},
			wantErr: "NNNN_name.sql",
		},
		{
			name:    "missing directory",
			files:   fstest.MapFS{},
			wantErr: "read migrations",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := Load(tc.files, "m")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var names []string
			for _, m := range ms {
				names = append(names, m.Name)
				require.Equal(t, string(tc.files["m/"+m.Name].Data), m.SQL)
			}
			require.Equal(t, tc.want, names)
		})
	}
}
