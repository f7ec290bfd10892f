package api

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c\n\t\x01\x1f\x7f", "héllo ☃ 😀", "\xff\xfe", "<>&\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		raw := appendJSONString(nil, s)
		require.NoError(t, json.Unmarshal(raw, &back), "%q", raw)
		// Like encoding/json, each invalid byte becomes one U+FFFD.
		std, err := json.Marshal(s)
		require.NoError(t, err)
		var want string
		require.NoError(t, json.Unmarshal(std, &want))
		require.Equal(t, want, back)
	})
}

func TestParseURLEncoded(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [][2]string
	}{
		{"a=1&b=2", [][2]string{{"a", "1"}, {"b", "2"}}},
		{"a=1&&b", [][2]string{{"a", "1"}, {"b", ""}}},
		{"q=a+b%20c", [][2]string{{"q", "a b c"}}},
		{"bad=%zz%4", [][2]string{{"bad", "%zz%4"}}},
		{"e=%C3%A9&x=%FF", [][2]string{{"e", "é"}, {"x", "\uFFFD"}}},
		{"k%3D=v=w", [][2]string{{"k=", "v=w"}}},
	} {
		require.Equal(t, tc.want, parseURLEncoded(tc.in), tc.in)
	}
	require.Equal(t, map[string]any{"a": []string{"1", "2", "3"}, "b": "x"}, queryObject("a=1&b=x&a=2&a=3"))
	require.Equal(t, map[string]any{"a": "3"}, formObject("a=1&a=3"), "the last key wins in a form")
}

func TestTypeName(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string
	}{
		{`null`, "null"}, {`"x"`, "string"}, {`1.5`, "number"}, {`1e400`, "Infinity"}, {`-1e400`, "-Infinity"},
		{`true`, "boolean"}, {`[]`, "array"}, {`{}`, "object"},
	} {
		v, err := decodeJSON([]byte(tc.raw))
		require.NoError(t, err)
		require.Equal(t, tc.want, typeName(v, true), tc.raw)
	}
	require.Equal(t, "undefined", typeName(nil, false))
}
