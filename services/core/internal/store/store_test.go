package store_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/store"
)

func TestHashToken(t *testing.T) {
	tests := []struct {
		name, token, want string
	}{
		// sha256sum of the bytes, hex.
		{name: "empty", token: "", want: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{name: "abc", token: "abc", want: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, store.HashToken(tc.token))
		})
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		id := store.NewID()
		require.Len(t, id, 32)
		for _, r := range id {
			require.True(t, strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", r), "%q", r)
			counts[r]++
		}
		require.False(t, seen[id])
		seen[id] = true
	}
	require.Len(t, counts, 62, "every character of the alphabet shows up")
}

func TestSome(t *testing.T) {
	require.Equal(t, store.Optional[string]{Set: true, Value: "x"}, store.Some("x"))
	var none store.Optional[*string]
	require.False(t, none.Set)
	cleared := store.Some[*string](nil)
	require.True(t, cleared.Set)
	require.Nil(t, cleared.Value)
}
