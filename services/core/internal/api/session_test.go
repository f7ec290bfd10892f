package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/auth/authtest"
	"github.com/authbus/authbus/services/core/internal/cookie"
	"github.com/authbus/authbus/services/core/internal/store"
)

var signer = cookie.NewSigner([]byte(authtest.Secret))

// sessionCookie is the exact Set-Cookie of a session token.
func sessionCookie(prefix, token string, maxAge bool, secure bool) string {
	v := prefix + "better-auth.session_token=" + signer.Encode(token)
	if maxAge {
		v += "; Max-Age=604800"
	}
	v += "; Path=/; HttpOnly"
	if secure {
		v += "; Secure"
	}
	return v + "; SameSite=Lax"
}

func TestSessionCookiesByteForByte(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b)
		c := e.client()
		r := c.post("/sign-up/email", map[string]any{"name": "A", "email": "a@example.com", "password": "password123"})
		tok := r.Obj(t)["token"].(string)
		require.Equal(t, []string{sessionCookie("", tok, true, false)}, r.Cookies())
		require.Equal(t, signer.Sign(tok), r.Header.Get("Set-Auth-Token"))
		require.Equal(t, "set-auth-token", r.Header.Get("Access-Control-Expose-Headers"))

		r = e.client().post("/sign-in/email", map[string]any{"email": "a@example.com", "password": "password123", "rememberMe": false})
		require.Equal(t, http.StatusOK, r.Status)
		tok = r.Obj(t)["token"].(string)
		require.Equal(t, []string{
			sessionCookie("", tok, false, false),
			"better-auth.dont_remember=" + signer.Encode("true") + "; Path=/; HttpOnly; SameSite=Lax",
		}, r.Cookies())
		s, _, err := e.st.SessionByTokenHash(context.Background(), store.HashToken(tok))
		require.NoError(t, err)
		require.Equal(t, t0.Truncate(time.Millisecond).Add(auth.DontRememberExpiresIn), s.ExpiresAt, "a rememberMe:false session lives a day")

		r = e.client().post("/sign-in/email", map[string]any{"email": "a@example.com", "password": "password123", "callbackURL": "/dashboard"})
		require.Equal(t, http.StatusOK, r.Status, "still 200 with a callback")
		require.Equal(t, "/dashboard", r.Header.Get("Location"))
		body := r.Obj(t)
		require.Equal(t, true, body["redirect"])
		require.Equal(t, "/dashboard", body["url"])

		r = c.get("/get-session?disableRefresh=1")
		require.Empty(t, r.Cookies(), "no cookie without a refresh")
		require.Empty(t, r.Header.Get("Set-Auth-Token"))
	})
}

func TestSecureCookiesOnHTTPSBaseURL(t *testing.T) {
	// The test server speaks http; UseSecureCookies stands in for an https BaseURL.
	yes := true
	e2 := newEnv(t, authtest.Backends()[0], func(c *config) { c.api.UseSecureCookies = &yes })
	c := e2.client()
	r := c.post("/sign-up/email", map[string]any{"name": "S", "email": "s@example.com", "password": "password123"})
	tok := r.Obj(t)["token"].(string)
	require.Equal(t, []string{sessionCookie("__Secure-", tok, true, true)}, r.Cookies())
	r = c.get("/get-session")
	require.Equal(t, tok, r.Obj(t)["session"].(map[string]any)["token"])
	// A plain better-auth.session_token is not this server's cookie.
	plain := e2.client()
	plain.cookies[sessionCookieName] = signer.Encode(tok)
	plain.order = append(plain.order, sessionCookieName)
	r = plain.get("/get-session")
	require.Equal(t, "null", string(r.Body))
}

func TestBearer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b)
		c := e.client()
		in := c.signUp("b@example.com", "password123")
		tok := in["token"].(string)
		for _, tc := range []struct {
			name, header string
			ok           bool
		}{
			{"signed", "Bearer " + signer.Sign(tok), true},
			{"signed, percent-encoded", "Bearer " + signer.Encode(tok), true},
			{"raw token", "Bearer " + tok, true},
			{"lower-case scheme", "bearer " + tok, true},
			{"bad signature", "Bearer " + tok + ".AAAA", false},
			{"unknown token", "Bearer " + strings.Repeat("x", 32), false},
			{"not bearer", "Basic " + tok, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.client().withHeader("Authorization", tc.header).get("/get-session")
				require.Equal(t, http.StatusOK, r.Status)
				if tc.ok {
					require.Equal(t, tok, r.Obj(t)["session"].(map[string]any)["token"])
				} else {
					require.Equal(t, "null", string(r.Body))
				}
			})
		}
		t.Run("an invalid bearer falls back to the cookie", func(t *testing.T) {
			r := c.withHeader("Authorization", "Bearer nonsense.AAAA").get("/get-session")
			require.Equal(t, tok, r.Obj(t)["session"].(map[string]any)["token"])
		})
		t.Run("bearer POST needs no Origin", func(t *testing.T) {
			bc := e.client().noOrigin().withHeader("Authorization", "Bearer "+tok)
			r := bc.post("/update-user", map[string]any{"name": "Via Bearer"})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			require.Equal(t, signer.Sign(tok), r.Header.Get("Set-Auth-Token"))
		})
		t.Run("requireSignature refuses raw tokens", func(t *testing.T) {
			e2 := newEnv(t, b, func(c *config) { c.api.RequireBearerSignature = true })
			tok2 := e2.client().signUp("b2@example.com", "password123")["token"].(string)
			r := e2.client().withHeader("Authorization", "Bearer "+tok2).get("/get-session")
			require.Equal(t, "null", string(r.Body))
			r = e2.client().withHeader("Authorization", "Bearer "+signer.Sign(tok2)).get("/get-session")
			require.Equal(t, tok2, r.Obj(t)["session"].(map[string]any)["token"])
		})
	})
}

func TestSlidingRefreshOverHTTP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b)
		c := e.client()
		tok := c.signUp("r@example.com", "password123")["token"].(string)

		e.clock.Advance(auth.DefaultUpdateAge - time.Minute)
		r := c.get("/get-session")
		require.Empty(t, r.Cookies())

		e.clock.Advance(time.Minute)
		for _, q := range []string{"?disableRefresh=true", "?disableRefresh=false"} {
			r = c.get("/get-session" + q)
			require.Empty(t, r.Cookies(), "z.coerce.boolean: %s means true", q)
		}
		r = c.get("/get-session")
		require.Equal(t, []string{sessionCookie("", tok, true, false)}, r.Cookies(), "same token, fresh Max-Age")
		require.Equal(t, signer.Sign(tok), r.Header.Get("Set-Auth-Token"))
		now := e.clock.Now().UTC().Truncate(time.Millisecond)
		sess := r.Obj(t)["session"].(map[string]any)
		require.Equal(t, now.Add(auth.DefaultExpiresIn).Format("2006-01-02T15:04:05.000Z"), sess["expiresAt"])
		require.Equal(t, now.Format("2006-01-02T15:04:05.000Z"), sess["updatedAt"])

		t.Run("dont_remember sessions are never extended", func(t *testing.T) {
			d := e.client()
			r := d.post("/sign-in/email", map[string]any{"email": "r@example.com", "password": "password123", "rememberMe": false})
			require.Equal(t, http.StatusOK, r.Status)
			e.clock.Advance(auth.DontRememberExpiresIn - time.Minute)
			r = d.get("/get-session")
			require.NotEqual(t, "null", string(r.Body))
			require.Empty(t, r.Cookies())
			e.clock.Advance(2 * time.Minute)
			r = d.get("/get-session")
			require.Equal(t, "null", string(r.Body), "expired after a day")
			require.Equal(t, []string{
				"better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
				"better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
				"better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
			}, r.Cookies())
			types := authtest.Types(e.events())
			require.Equal(t, contracts.EventSessionExpired, types[len(types)-1])
		})
		t.Run("expired session: null, cookies expired, row deleted", func(t *testing.T) {
			e.clock.Advance(auth.DefaultExpiresIn + time.Second)
			r := c.get("/get-session")
			require.Equal(t, "null", string(r.Body))
			require.Len(t, r.Cookies(), 3)
			_, _, err := e.st.SessionByTokenHash(context.Background(), store.HashToken(tok))
			require.ErrorIs(t, err, store.ErrNotFound)
			r = c.get("/list-sessions")
			require.Equal(t, http.StatusUnauthorized, r.Status)
		})
	})
}

func TestListAndRevokeSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b)
		a1 := e.client()
		tok1 := a1.signUp("l@example.com", "password123")["token"].(string)
		a2 := e.client()
		tok2 := a2.signIn("l@example.com", "password123")["token"].(string)
		a3 := e.client()
		a3.signIn("l@example.com", "password123")
		mallory := e.client()
		mallory.signUp("m@example.com", "password123")

		r := a1.get("/list-sessions")
		require.Equal(t, http.StatusOK, r.Status)
		list := r.JSON(t).([]any)
		require.Len(t, list, 3)
		var handles []string
		for _, s := range list {
			tok := s.(map[string]any)["token"].(string)
			require.NotEqual(t, tok2, tok, "another session's token is never listed")
			if tok != tok1 {
				handles = append(handles, tok)
			}
		}
		require.Len(t, handles, 2)

		// A handle is not a credential.
		r = e.client().withHeader("Authorization", "Bearer "+handles[0]).get("/get-session")
		require.Equal(t, "null", string(r.Body))
		// Nor can someone else revoke with it.
		r = mallory.post("/revoke-session", map[string]any{"token": handles[0]})
		require.Equal(t, http.StatusOK, r.Status)
		require.Len(t, a1.get("/list-sessions").JSON(t).([]any), 3)

		r = a1.post("/revoke-session", map[string]any{"token": handles[0]})
		require.Equal(t, `{"status":true}`, string(r.Body))
		require.Empty(t, r.Cookies(), "revoking another session keeps ours")
		require.Len(t, a1.get("/list-sessions").JSON(t).([]any), 2)

		r = a1.post("/revoke-session", map[string]any{"token": "unknown"})
		require.Equal(t, `{"status":true}`, string(r.Body))

		r = a1.post("/revoke-other-sessions", nil)
		require.Equal(t, `{"status":true}`, string(r.Body))
		require.Len(t, a1.get("/list-sessions").JSON(t).([]any), 1)

		// A raw token of one's own session revokes it; the current one expires the cookies.
		r = a1.post("/revoke-session", map[string]any{"token": tok1})
		require.Len(t, r.Cookies(), 3)
		require.Equal(t, "null", string(a1.get("/get-session").Body))

		a4 := e.client()
		a4.signIn("l@example.com", "password123")
		e.client().signIn("l@example.com", "password123")
		r = a4.post("/revoke-sessions", map[string]any{})
		require.Equal(t, http.StatusOK, r.Status)
		require.Len(t, r.Cookies(), 3)
		live, err := e.st.SessionsOfUser(context.Background(), e.userID("l@example.com"), e.clock.Now())
		require.NoError(t, err)
		require.Empty(t, live)
		require.Len(t, mallory.get("/list-sessions").JSON(t).([]any), 1, "mallory's session survives")
	})
}

func TestListSessionsNeedsAFreshSession(t *testing.T) {
	e := newEnv(t, authtest.Backends()[0])
	c := e.client()
	c.signUp("f@example.com", "password123")
	e.clock.Advance(auth.DefaultFreshAge)
	r := c.get("/list-sessions")
	r.requireError(t, http.StatusForbidden, contracts.CodeSessionNotFresh, "Session is not fresh")
}

func TestChangePasswordOverHTTP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b)
		c := e.client()
		old := c.signUp("p@example.com", "password123")["token"].(string)
		other := e.client()
		other.signIn("p@example.com", "password123")

		r := c.post("/change-password", map[string]any{"currentPassword": "password123", "newPassword": "password456"})
		require.Equal(t, http.StatusOK, r.Status)
		require.Nil(t, r.Obj(t)["token"])
		require.Empty(t, r.Cookies())
		require.Equal(t, "p@example.com", r.Obj(t)["user"].(map[string]any)["email"])

		r = c.post("/change-password", map[string]any{"currentPassword": "password456", "newPassword": "password789", "revokeOtherSessions": true})
		require.Equal(t, http.StatusOK, r.Status)
		tok := r.Obj(t)["token"].(string)
		require.NotEqual(t, old, tok)
		require.Equal(t, []string{sessionCookie("", tok, true, false)}, r.Cookies())
		require.Equal(t, tok, c.get("/get-session").Obj(t)["session"].(map[string]any)["token"])
		require.Equal(t, "null", string(other.get("/get-session").Body), "every other session is gone")
		live, err := e.st.SessionsOfUser(context.Background(), e.userID("p@example.com"), e.clock.Now())
		require.NoError(t, err)
		require.Len(t, live, 1)
		r = e.client().post("/sign-in/email", map[string]any{"email": "p@example.com", "password": "password789"})
		require.Equal(t, http.StatusOK, r.Status)
	})
}

func TestUpdateUserOverHTTP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b)
		c := e.client()
		tok := c.signUp("u@example.com", "password123")["token"].(string)
		r := c.post("/update-user", map[string]any{"name": "Alice Updated", "image": "https://img.example/a.png"})
		require.Equal(t, `{"status":true}`, string(r.Body))
		require.Equal(t, []string{sessionCookie("", tok, true, false)}, r.Cookies(), "the session cookie is issued again")
		require.Equal(t, signer.Sign(tok), r.Header.Get("Set-Auth-Token"))
		u := c.get("/get-session").Obj(t)["user"].(map[string]any)
		require.Equal(t, "Alice Updated", u["name"])
		require.Equal(t, "https://img.example/a.png", u["image"])

		r = c.post("/update-user", map[string]any{"image": nil})
		require.Equal(t, http.StatusOK, r.Status)
		u = c.get("/get-session").Obj(t)["user"].(map[string]any)
		require.Nil(t, u["image"])
		require.Equal(t, "Alice Updated", u["name"])
	})
}

func TestCookieCache(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b, func(c *config) { c.api.CookieCache = true })
		c := e.client()
		tok := c.signUp("cache@example.com", "password123")["token"].(string)
		require.Contains(t, c.cookies, "better-auth.session_data")

		// Delete the session behind the cache's back: the cache still answers.
		require.NoError(t, e.st.InTx(context.Background(), func(tx store.Tx) error {
			_, err := tx.DeleteUserSessions(context.Background(), e.userID("cache@example.com"), "")
			return err
		}))
		r := c.get("/get-session")
		require.Equal(t, tok, r.Obj(t)["session"].(map[string]any)["token"], "answered from session_data without the store")

		r = c.get("/get-session?disableCookieCache=true")
		require.Equal(t, "null", string(r.Body))
		require.Contains(t, strings.Join(r.Cookies(), "\n"), "better-auth.session_token=; Max-Age=0")

		// Sensitive endpoints never trust the cache.
		d := e.client()
		d.signUp("cache2@example.com", "password123")
		require.NoError(t, e.st.InTx(context.Background(), func(tx store.Tx) error {
			_, err := tx.DeleteUserSessions(context.Background(), e.userID("cache2@example.com"), "")
			return err
		}))
		r = d.post("/revoke-other-sessions", map[string]any{})
		require.Equal(t, http.StatusUnauthorized, r.Status)

		// A tampered cache is expired and the store answers.
		x := e.client()
		xt := x.signUp("cache3@example.com", "password123")["token"].(string)
		x.cookies["better-auth.session_data"] = "eyJ0YW1wZXJlZCI6dHJ1ZX0"
		r = x.get("/get-session")
		require.Equal(t, xt, r.Obj(t)["session"].(map[string]any)["token"])
		require.Contains(t, strings.Join(r.Cookies(), "\n"), "better-auth.session_data=")

		t.Run("disabled cache clears a stale session_data", func(t *testing.T) {
			e2 := newEnv(t, b)
			c2 := e2.client()
			c2.signUp("nocache@example.com", "password123")
			c2.cookies["better-auth.session_data"] = "stale"
			c2.order = append(c2.order, "better-auth.session_data")
			r := c2.get("/get-session")
			require.NotEqual(t, "null", string(r.Body))
			require.Equal(t, []string{"better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"}, r.Cookies())
		})
	})
}

func TestGatewayHelpers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b)
		c := e.client()
		tok := c.signUp("g@example.com", "password123")["token"].(string)
		req, err := http.NewRequest(http.MethodGet, e.base+"/organization/list", nil)
		require.NoError(t, err)
		req.Header.Set("Cookie", c.cookieHeader())
		u, s, err := e.h.ResolveRequest(req)
		require.NoError(t, err)
		require.Equal(t, "g@example.com", u.Email)

		_, err = e.svc.SetSessionField(context.Background(), s.ID, auth.SessionFieldActiveOrganization, []byte(`"org_1"`))
		require.NoError(t, err)
		w := newHeaderRecorder()
		require.NoError(t, e.h.ReissueSessionCookie(w, req))
		require.Equal(t, []string{sessionCookie("", tok, true, false)}, w.Header().Values("Set-Cookie"))
		require.Equal(t, signer.Sign(tok), w.Header().Get("Set-Auth-Token"))
		r := c.get("/get-session")
		require.Equal(t, "org_1", r.Obj(t)["session"].(map[string]any)["activeOrganizationId"])

		anon, _ := http.NewRequest(http.MethodGet, e.base+"/organization/list", nil)
		u, s, err = e.h.ResolveRequest(anon)
		require.NoError(t, err)
		require.Nil(t, u)
		require.Nil(t, s)
		require.ErrorIs(t, e.h.ReissueSessionCookie(newHeaderRecorder(), anon), contracts.CodeUnauthorized.Err())
	})
}

// userID looks a user up by email.
func (e *env) userID(email string) string {
	e.t.Helper()
	u, err := e.st.UserByEmail(context.Background(), email)
	require.NoError(e.t, err)
	return u.ID
}
