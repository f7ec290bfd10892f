package plugin

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
)

func TestMergePatchDiff(t *testing.T) {
	tests := []struct {
		name          string
		before, after string
		want          string // empty: no patch
		applied       string // what applying the patch gives, when not after
	}{
		{name: "equal", before: `{"a":1,"b":{"c":"x"}}`, after: `{"b":{"c":"x"},"a":1}`},
		{name: "changed leaf", before: `{"a":1,"b":"x"}`, after: `{"a":1,"b":"y"}`, want: `{"b":"y"}`},
		{name: "nested change", before: `{"user":{"name":"Ada","email":"a@x"}}`, after: `{"user":{"name":"Grace","email":"a@x"}}`,
			want: `{"user":{"name":"Grace"}}`},
		{name: "removed key becomes null", before: `{"a":1,"b":2}`, after: `{"a":1}`, want: `{"b":null}`},
		{name: "value set to null", before: `{"image":"x"}`, after: `{"image":null}`, want: `{"image":null}`,
			applied: `{}`}, // merge patches cannot hold an explicit null; decoding into a struct gives nil either way
		{name: "added key", before: `{}`, after: `{"logo":"l.png"}`, want: `{"logo":"l.png"}`},
		{name: "added null is nothing", before: `{}`, after: `{"logo":null}`},
		{name: "arrays replace whole", before: `{"t":[1,2]}`, after: `{"t":[1,3]}`, want: `{"t":[1,3]}`},
		{name: "numbers compare exactly", before: `{"n":12345678901234567890}`, after: `{"n":12345678901234567891}`,
			want: `{"n":12345678901234567891}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mergePatchDiff([]byte(tt.before), []byte(tt.after))
			require.NoError(t, err)
			if tt.want == "" {
				require.Nil(t, got)
				return
			}
			require.JSONEq(t, tt.want, string(got))
			applied, err := contracts.ApplyPatch([]byte(tt.before), got)
			require.NoError(t, err)
			want := tt.after
			if tt.applied != "" {
				want = tt.applied
			}
			require.JSONEq(t, want, string(applied), "applying the patch gives the new document")
		})
	}
}

func TestDecodeConfig(t *testing.T) {
	type cfg struct {
		Limit int `json:"limit"`
	}
	tests := []struct {
		name string
		raw  string
		want cfg
		err  string
	}{
		{name: "object", raw: `{"limit":3}`, want: cfg{Limit: 3}},
		{name: "absent", raw: ``},
		{name: "null", raw: `null`},
		{name: "unknown field", raw: `{"limt":3}`, err: `unknown field "limt"`},
		{name: "wrong type", raw: `{"limit":"3"}`, err: "cannot unmarshal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeConfig[cfg](json.RawMessage(tt.raw))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestMuxPath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/items", "/items"},
		{"/items/*", "/items/{rest...}"},
		{"/items/", "/items/{$}"},
		{"/orgs/{id}", "/orgs/{id}"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			require.Equal(t, tt.want, muxPath(tt.path))
		})
	}
}
