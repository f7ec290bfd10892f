package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/auth/authtest"
)

var jsDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

func TestCoreFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b)
		c := e.client()
		up := c.signUp("Alice@Example.com", "password123")
		user := up["user"].(map[string]any)
		require.Equal(t, "alice@example.com", user["email"])
		require.Equal(t, false, user["emailVerified"])
		require.Nil(t, user["image"])
		require.Contains(t, user, "image")
		require.Regexp(t, jsDate, user["createdAt"])
		require.Len(t, up["token"], 32)

		in := c.signIn("alice@example.com", "password123")
		require.Equal(t, false, in["redirect"])
		require.NotContains(t, in, "url")
		tok := in["token"].(string)

		r := c.get("/get-session")
		require.Equal(t, http.StatusOK, r.Status)
		require.Equal(t, "no-store", r.Header.Get("Cache-Control"))
		require.Equal(t, "no-cache", r.Header.Get("Pragma"))
		sess := r.Obj(t)["session"].(map[string]any)
		require.Equal(t, tok, sess["token"])
		require.Regexp(t, jsDate, sess["expiresAt"])
		require.Equal(t, "127.0.0.1", sess["ipAddress"])

		r = c.get("/list-sessions")
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		list := r.JSON(t).([]any)
		require.Len(t, list, 2)
		var sawCurrent bool
		for _, s := range list {
			if s.(map[string]any)["token"] == tok {
				sawCurrent = true
			}
		}
		require.True(t, sawCurrent)

		r = c.post("/sign-out", map[string]any{})
		require.Equal(t, http.StatusOK, r.Status)
		require.Equal(t, []string{
			"better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
			"better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
			"better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
		}, r.Cookies())
		r = c.get("/get-session")
		require.Equal(t, "null", strings.TrimSpace(string(r.Body)))
	})
}
