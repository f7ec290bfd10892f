package compat_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/test/compat"
)

func TestParseSteps(t *testing.T) {
	out := "better-auth client -> http://x (Origin: http://x)\n" +
		"PASS  sign-up (POST /sign-up/email)  (user abc)\n" +
		"FAIL  sign-in (POST /sign-in/email)  -> error {\"code\":\"X\"}\n" +
		"PASS  sign out (POST /sign-out)\n" +
		"\n2 passed, 1 failed\n"
	require.Equal(t, []compat.Step{
		{Name: "sign-up (POST /sign-up/email)", Passed: true, Detail: "user abc"},
		{Name: "sign-in (POST /sign-in/email)", Passed: false, Detail: `error {"code":"X"}`},
		{Name: "sign out (POST /sign-out)", Passed: true},
	}, compat.ParseSteps(out))
}

// TestClientFailsAgainstNoServer runs the real client against a port where
// nothing listens: every step must FAIL, so a PASS elsewhere means something.
func TestClientFailsAgainstNoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	steps := compat.RunClient(t, "http://"+addr+"/api/auth", "SKIP_ORG=1")
	require.NotEmpty(t, steps)
	for _, s := range steps {
		require.False(t, s.Passed, "%s", s)
	}
}

func TestInstallIsRecorded(t *testing.T) {
	compat.Install(t)
	stamp, err := os.ReadFile(filepath.Join(compat.Dir(), "node_modules", ".authbus-lock.sha256"))
	require.NoError(t, err)
	require.Len(t, string(stamp), 65)
	_, err = os.Stat(filepath.Join(compat.Dir(), "node_modules", "better-auth", "package.json"))
	require.NoError(t, err)
	compat.Install(t) // a second install is a no-op (the stamp matches)
}
