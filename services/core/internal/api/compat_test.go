package api_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/auth/authtest"
	"github.com/authbus/authbus/services/core/internal/password"
	"github.com/authbus/authbus/test/compat"
)

// TestBetterAuthClient runs the real better-auth client (test/compat's
// client.mjs, all steps but the organization plugin's) against the API on a
// real port, with the real scrypt hasher, and requires every step to pass.
func TestBetterAuthClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		hasher := password.NewHasher(0)
		t.Cleanup(func() { _ = hasher.Close() })
		e := newEnv(t, b, func(c *config) { c.hasher = hasher })
		steps := compat.RunClient(t, e.base, "SKIP_ORG=1")
		require.Len(t, steps, 7, "client.mjs steps without the organization one")
		for _, s := range steps {
			require.True(t, s.Passed, "%s", s)
		}
	})
}
