package token

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The generators map a given byte stream to the same characters as
// better-auth's (testdata/vectors.json, made by testdata/gen-vectors.mjs).
func TestBetterAuthVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	require.NoError(t, err)
	var f struct {
		Cases []struct {
			Name   string `json:"name"`
			Bytes  string `json:"bytes"`
			Output string `json:"output"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(raw, &f))
	require.NotEmpty(t, f.Cases)
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			stream, err := hex.DecodeString(c.Bytes)
			require.NoError(t, err)
			alphabet := IDAlphabet
			if strings.Contains(c.Name, `"0-9", "a-z"`) {
				alphabet = LowerAlphabet
			}
			got := generate(len(c.Output), alphabet, bytes.NewReader(stream))
			require.Equal(t, c.Output, got)
		})
	}
}

func TestRejectionSampling(t *testing.T) {
	// 248..255 are >= 4*62 and must be skipped; 0, 61, 62, 247 map to a, 9, a, 9.
	// The generator reads ahead (2 bytes per missing character), hence the padding.
	src := append([]byte{248, 255, 0, 250, 61, 62, 247, 1}, make([]byte, 16)...)
	require.Equal(t, "a9a9b", generate(5, IDAlphabet, bytes.NewReader(src)))
	// For 36 characters the cut-off is 252.
	src = append([]byte{252, 253, 254, 255, 251, 35, 36}, make([]byte, 16)...)
	require.Equal(t, "zz0", generate(3, LowerAlphabet, bytes.NewReader(src)))
}

func TestShapes(t *testing.T) {
	tests := []struct {
		name string
		gen  func() string
		re   *regexp.Regexp
	}{
		{name: "id", gen: ID, re: regexp.MustCompile(`^[A-Za-z0-9]{32}$`)},
		{name: "session token", gen: SessionToken, re: regexp.MustCompile(`^[A-Za-z0-9]{32}$`)},
		{name: "reset token", gen: ResetToken, re: regexp.MustCompile(`^[A-Za-z0-9]{24}$`)},
		{name: "delete token", gen: DeleteToken, re: regexp.MustCompile(`^[0-9a-z]{32}$`)},
		{name: "string", gen: func() string { return String(20, "ab") }, re: regexp.MustCompile(`^[ab]{20}$`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for range 200 {
				v := tc.gen()
				require.Regexp(t, tc.re, v)
				seen[v] = true
			}
			require.Len(t, seen, 200, "values must not repeat")
		})
	}
}

// Every character of the alphabet appears about equally often. With 2000
// expected per character the standard deviation is ~44, so ±25% is > 10σ.
func TestUniform(t *testing.T) {
	counts := map[byte]int{}
	const per = 2000
	for range per * len(IDAlphabet) / IDLength {
		for _, c := range []byte(ID()) {
			counts[c]++
		}
	}
	require.Len(t, counts, len(IDAlphabet))
	for c, n := range counts {
		require.InDelta(t, per, n, per/4, "character %q", c)
	}
}

func TestHash(t *testing.T) {
	// Expected values computed independently with coreutils sha256sum.
	require.Equal(t, "7080f3a0e16dcef03524784838c74f1c13ace75398d25b5d4ea18babf4ca4070", Hash("GdulJ82ccTIELytbf6xpECb8wmtkQnXn"))
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Hash(""))
}

func TestStringPanicsOnMisuse(t *testing.T) {
	require.Panics(t, func() { String(0, IDAlphabet) })
	require.Panics(t, func() { String(4, "") })
	require.Panics(t, func() { String(4, strings.Repeat("a", 257)) })
}

func BenchmarkSessionToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = SessionToken()
	}
}

func BenchmarkHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Hash("GdulJ82ccTIELytbf6xpECb8wmtkQnXn")
	}
}
