package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/auth/authtest"
)

// link waits for the next email to `to` and returns its link, checked to
// point at this server's API.
func (e *env) link(to string) string {
	e.t.Helper()
	m := e.smtp.WaitFor(e.t, to)
	l := m.Link()
	require.True(e.t, strings.HasPrefix(l, e.base+"/"), "link %q in %q", l, m.Subject)
	return l
}

func TestEmailVerificationFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b, func(c *config) { c.auth.SendVerificationOnSignUp = true })
		c := e.client()
		r := c.post("/sign-up/email", map[string]any{"name": "V", "email": "v@example.com", "password": "password123", "callbackURL": "/welcome"})
		require.Equal(t, http.StatusOK, r.Status)
		link := e.link("v@example.com")
		require.Contains(t, link, "/verify-email?token=eyJ")
		require.True(t, strings.HasSuffix(link, "&callbackURL=%2Fwelcome"), link)

		r = c.get(link)
		require.Equal(t, http.StatusFound, r.Status)
		require.Equal(t, "/welcome", r.Header.Get("Location"))
		require.Equal(t, true, c.get("/get-session").Obj(t)["user"].(map[string]any)["emailVerified"])

		// Already verified: the same success.
		r = c.get(strings.TrimSuffix(link, "&callbackURL=%2Fwelcome"))
		require.Equal(t, `{"status":true,"user":null}`, string(r.Body))

		r = c.post("/send-verification-email", map[string]any{"email": "v@example.com"})
		r.requireError(t, http.StatusBadRequest, contracts.CodeEmailAlreadyVerified, "Email is already verified")

		// Errors redirect to the callback with ?error=.
		r = c.get("/verify-email?token=bad&callbackURL=/after")
		require.Equal(t, http.StatusFound, r.Status)
		require.Equal(t, "/after?error=INVALID_TOKEN", r.Header.Get("Location"))
		require.Empty(t, r.Body)

		t.Run("expired link", func(t *testing.T) {
			d := e.client()
			d.signUp("late@example.com", "password123")
			link := e.link("late@example.com")
			e.clock.Advance(auth.DefaultEmailVerificationExpiresIn + time.Second)
			r := d.get(strings.SplitN(link, "&", 2)[0])
			r.requireError(t, http.StatusUnauthorized, contracts.CodeTokenExpired, "Token expired")
		})
	})
}

func TestSendVerificationEmail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		const minimum = 80 * time.Millisecond
		e := newEnv(t, b, func(c *config) { c.auth.VerificationEmailMinDuration = minimum })
		c := e.client()
		c.signUp("s@example.com", "password123")

		r := c.post("/send-verification-email", map[string]any{"email": "S@example.com", "callbackURL": "/verified"})
		require.Equal(t, `{"status":true}`, string(r.Body))
		require.Contains(t, e.link("s@example.com"), "callbackURL=%2Fverified")

		// Without a session every address gets the same answer, never sooner than the minimum.
		anon := e.client()
		for _, addr := range []string{"s@example.com", "nobody@example.com"} {
			start := time.Now()
			r := anon.post("/send-verification-email", map[string]any{"email": addr})
			require.Equal(t, `{"status":true}`, string(r.Body))
			require.GreaterOrEqual(t, time.Since(start), minimum, "the floor holds for %s", addr)
		}
		require.NotEmpty(t, e.link("s@example.com"), "the known unverified address got its link")

		e2 := newEnv(t, b, func(c *config) { c.noMail = true })
		r = e2.client().post("/send-verification-email", map[string]any{"email": "s@example.com"})
		r.requireError(t, http.StatusBadRequest, contracts.CodeVerificationEmailNotEnabled, "Verification email isn't enabled")
		r = e2.client().post("/request-password-reset", map[string]any{"email": "s@example.com"})
		r.requireError(t, http.StatusBadRequest, contracts.CodeResetPasswordDisabled, "Reset password isn't enabled")
	})
}

func TestPasswordResetFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b)
		c := e.client()
		c.signUp("reset@example.com", "password123")
		anon := e.client()
		r := anon.post("/request-password-reset", map[string]any{"email": "nobody@example.com"})
		require.Equal(t, `{"status":true,"message":"If this email exists in our system, check your email for the reset link"}`, string(r.Body))
		r = anon.post("/request-password-reset", map[string]any{"email": "RESET@example.com", "redirectTo": "/reset"})
		require.Equal(t, `{"status":true,"message":"If this email exists in our system, check your email for the reset link"}`, string(r.Body))

		link := e.link("reset@example.com")
		u, err := url.Parse(link)
		require.NoError(t, err)
		require.Equal(t, "callbackURL=%2Freset", u.RawQuery)
		tok := strings.TrimPrefix(u.Path, "/api/auth/reset-password/")
		require.Len(t, tok, 24)

		r = anon.get(link)
		require.Equal(t, http.StatusFound, r.Status)
		require.Equal(t, e.origin+"/reset?token="+tok, r.Header.Get("Location"))
		r = anon.get("/reset-password/bad?callbackURL=%2Freset")
		require.Equal(t, e.origin+"/reset?error=INVALID_TOKEN", r.Header.Get("Location"))
		r = anon.get("/reset-password/" + tok + "?callbackURL=https%3A%2F%2Fevil.example.org%2F")
		r.requireError(t, http.StatusForbidden, contracts.CodeInvalidCallbackURL, "")

		r = anon.post("/reset-password", map[string]any{"token": tok, "newPassword": "short"})
		r.requireError(t, http.StatusBadRequest, contracts.CodePasswordTooShort, "")
		r = anon.post("/reset-password?token="+tok, map[string]any{"newPassword": "password000"})
		require.Equal(t, `{"status":true}`, string(r.Body), "the token may come in the query")
		r = anon.post("/reset-password", map[string]any{"token": tok, "newPassword": "password001"})
		r.requireError(t, http.StatusBadRequest, contracts.CodeInvalidToken, "Invalid token")
		anon.signIn("reset@example.com", "password000")
		require.NotEqual(t, "null", string(c.get("/get-session").Body), "sessions survive a reset by default")

		t.Run("expired token", func(t *testing.T) {
			anon.post("/request-password-reset", map[string]any{"email": "reset@example.com"})
			u, err := url.Parse(e.link("reset@example.com"))
			require.NoError(t, err)
			tok := strings.TrimPrefix(u.Path, "/api/auth/reset-password/")
			e.clock.Advance(auth.DefaultResetPasswordExpiresIn + time.Second)
			r := anon.post("/reset-password", map[string]any{"token": tok, "newPassword": "password002"})
			r.requireError(t, http.StatusBadRequest, contracts.CodeInvalidToken, "")
		})
	})
}

func TestChangeEmailFlows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		t.Run("disabled", func(t *testing.T) {
			e := newEnv(t, b)
			c := e.client()
			c.signUp("ce@example.com", "password123")
			c.post("/change-email", map[string]any{"newEmail": "new@example.com"}).
				requireError(t, http.StatusBadRequest, contracts.CodeChangeEmailDisabled, "Change email is disabled")
		})
		t.Run("unverified user, without verification", func(t *testing.T) {
			e := newEnv(t, b, func(c *config) { c.auth.ChangeEmail, c.auth.UpdateEmailWithoutVerification = true, true })
			c := e.client()
			tok := c.signUp("ce@example.com", "password123")["token"].(string)
			e.client().signUp("taken@example.com", "password123")
			r := c.post("/change-email", map[string]any{"newEmail": "TAKEN@example.com"})
			require.Equal(t, `{"status":true}`, string(r.Body), "an existing address looks like success")
			require.Equal(t, "ce@example.com", c.get("/get-session").Obj(t)["user"].(map[string]any)["email"])

			r = c.post("/change-email", map[string]any{"newEmail": "New@example.com", "callbackURL": "/changed"})
			require.Equal(t, `{"status":true}`, string(r.Body))
			require.Equal(t, []string{sessionCookie("", tok, true, false)}, r.Cookies())
			require.Equal(t, "new@example.com", c.get("/get-session").Obj(t)["user"].(map[string]any)["email"])
			require.Contains(t, e.link("new@example.com"), "callbackURL=%2Fchanged", "the new address gets a verification link")
		})
		t.Run("verified user, confirmation from the old address first", func(t *testing.T) {
			e := newEnv(t, b, func(c *config) {
				c.auth.ChangeEmail, c.auth.SendChangeEmailConfirmation, c.auth.SendVerificationOnSignUp = true, true, true
			})
			c := e.client()
			c.signUp("old@example.com", "password123")
			require.Equal(t, http.StatusFound, c.get(e.link("old@example.com")).Status, "verified, redirected to /")

			r := c.post("/change-email", map[string]any{"newEmail": "fresh@example.com", "callbackURL": "/done"})
			require.Equal(t, `{"status":true}`, string(r.Body))
			approve := e.smtp.WaitFor(t, "old@example.com")
			require.Contains(t, approve.Text, "fresh@example.com")
			r = c.get(approve.Link())
			require.Equal(t, http.StatusFound, r.Status)
			require.Equal(t, "/done", r.Header.Get("Location"))
			require.Equal(t, "old@example.com", c.get("/get-session").Obj(t)["user"].(map[string]any)["email"], "not changed before the new address confirms")

			confirm := e.link("fresh@example.com")
			r = c.get(strings.SplitN(confirm, "&", 2)[0])
			require.Equal(t, http.StatusOK, r.Status, "%s %s (link %s)", r.Body, r.Header.Get("Location"), confirm)
			user := r.Obj(t)["user"].(map[string]any)
			require.Equal(t, "fresh@example.com", user["email"])
			require.Equal(t, true, user["emailVerified"])
			require.Len(t, r.Cookies(), 1, "the session cookie is issued again for the changed user")
			require.Equal(t, "fresh@example.com", c.get("/get-session").Obj(t)["user"].(map[string]any)["email"])
			ev := e.events()
			var upd contracts.UserUpdated
			require.NoError(t, ev[len(ev)-1].DecodeData(&upd))
			require.Equal(t, []string{"email"}, upd.Changed)
		})
		t.Run("no way to deliver", func(t *testing.T) {
			e := newEnv(t, b, func(c *config) { c.auth.ChangeEmail, c.noMail = true, true })
			c := e.client()
			c.signUp("ce@example.com", "password123")
			c.post("/change-email", map[string]any{"newEmail": "x@example.com"}).requireError(t, http.StatusBadRequest, "", "Verification email isn't enabled")
		})
	})
}

func TestDeleteUserVariants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		gone := func(t *testing.T, e *env, email string) {
			t.Helper()
			_, err := e.svc.GetUser(context.Background(), e.userIDOrEmpty(email))
			require.Error(t, err)
			r := e.client().post("/sign-in/email", map[string]any{"email": email, "password": "password123"})
			require.Equal(t, http.StatusUnauthorized, r.Status)
		}
		t.Run("disabled: 404 with an empty body", func(t *testing.T) {
			e := newEnv(t, b)
			c := e.client()
			c.signUp("d@example.com", "password123")
			r := c.post("/delete-user", map[string]any{"password": "password123"})
			require.Equal(t, http.StatusNotFound, r.Status)
			require.Empty(t, r.Body)
			require.Equal(t, "application/json", r.Header.Get("Content-Type"))
			c.get("/delete-user/callback?token=x").requireError(t, http.StatusNotFound, contracts.CodeNotFound, "Not found")
		})
		t.Run("password", func(t *testing.T) {
			e := newEnv(t, b, func(c *config) { c.auth.DeleteUser = true })
			c := e.client()
			c.signUp("d@example.com", "password123")
			r := c.post("/delete-user", map[string]any{"password": "password123"})
			require.Equal(t, `{"success":true,"message":"User deleted"}`, string(r.Body))
			require.Len(t, r.Cookies(), 3)
			gone(t, e, "d@example.com")
		})
		t.Run("fresh session without password", func(t *testing.T) {
			e := newEnv(t, b, func(c *config) { c.auth.DeleteUser = true })
			c := e.client()
			c.signUp("d@example.com", "password123")
			e.clock.Advance(auth.DefaultFreshAge)
			c.post("/delete-user", map[string]any{}).requireError(t, http.StatusBadRequest, contracts.CodeSessionExpired,
				"Session expired. Re-authenticate to perform this action.")
			fresh := e.client()
			fresh.signIn("d@example.com", "password123")
			r := fresh.post("/delete-user", map[string]any{})
			require.Equal(t, `{"success":true,"message":"User deleted"}`, string(r.Body))
			gone(t, e, "d@example.com")
		})
		t.Run("emailed confirmation", func(t *testing.T) {
			e := newEnv(t, b, func(c *config) { c.auth.DeleteUser, c.auth.SendDeleteAccountVerification = true, true })
			c := e.client()
			c.signUp("d@example.com", "password123")
			r := c.post("/delete-user", map[string]any{"callbackURL": "/goodbye"})
			require.Equal(t, `{"success":true,"message":"Verification email sent"}`, string(r.Body))
			link := e.link("d@example.com")
			u, err := url.Parse(link)
			require.NoError(t, err)
			require.Equal(t, "/api/auth/delete-user/callback", u.Path)
			require.Regexp(t, `^[0-9a-z]{32}$`, u.Query().Get("token"))
			require.Equal(t, "/goodbye", u.Query().Get("callbackURL"))

			mallory := e.client()
			mallory.signUp("m@example.com", "password123")
			mallory.get(link).requireError(t, http.StatusNotFound, contracts.CodeInvalidToken, "Invalid token")

			r = c.get(link)
			require.Equal(t, http.StatusFound, r.Status)
			require.Equal(t, "/goodbye", r.Header.Get("Location"))
			require.Len(t, r.Cookies(), 3)
			gone(t, e, "d@example.com")
		})
		t.Run("token in the body", func(t *testing.T) {
			e := newEnv(t, b, func(c *config) { c.auth.DeleteUser, c.auth.SendDeleteAccountVerification = true, true })
			c := e.client()
			c.signUp("d@example.com", "password123")
			c.post("/delete-user", map[string]any{})
			u, err := url.Parse(e.link("d@example.com"))
			require.NoError(t, err)
			r := c.post("/delete-user", map[string]any{"token": u.Query().Get("token")})
			require.Equal(t, `{"success":true,"message":"User deleted"}`, string(r.Body))
			gone(t, e, "d@example.com")
			require.Contains(t, authtest.Types(e.events()), contracts.EventUserDeleted)
		})
	})
}

// userIDOrEmpty looks a user up by email ("" when there is none).
func (e *env) userIDOrEmpty(email string) string {
	u, err := e.st.UserByEmail(context.Background(), email)
	if err != nil {
		return ""
	}
	return u.ID
}

func TestRequireEmailVerification(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b, func(c *config) {
			c.auth.RequireEmailVerification, c.auth.SendVerificationOnSignIn, c.auth.AutoSignInAfterVerification = true, true, true
		})
		c := e.client()
		r := c.post("/sign-up/email", map[string]any{"name": "R", "email": "rv@example.com", "password": "password123"})
		require.Equal(t, http.StatusOK, r.Status)
		require.Nil(t, r.Obj(t)["token"], "no session before verification")
		require.Empty(t, r.Cookies())
		first := e.link("rv@example.com")

		// A duplicate gets the same kind of answer, with a user that does not exist.
		r = e.client().post("/sign-up/email", map[string]any{"name": "R", "email": "rv@example.com", "password": "password999"})
		require.Equal(t, http.StatusOK, r.Status)
		require.Nil(t, r.Obj(t)["token"])
		require.NotEqual(t, e.userID("rv@example.com"), r.Obj(t)["user"].(map[string]any)["id"])

		r = c.post("/sign-in/email", map[string]any{"email": "rv@example.com", "password": "password123"})
		r.requireError(t, http.StatusForbidden, contracts.CodeEmailNotVerified, "Email not verified")
		require.NotEmpty(t, e.link("rv@example.com"), "sign-in sent the link again")
		ev := e.events()
		var failed contracts.LoginFailed
		require.NoError(t, ev[len(ev)-1].DecodeData(&failed))
		require.Equal(t, contracts.CodeEmailNotVerified, failed.Reason)

		r = c.get(first)
		require.Equal(t, http.StatusFound, r.Status)
		require.Len(t, r.Cookies(), 1, "autoSignInAfterVerification sets a session")
		require.Equal(t, true, c.get("/get-session").Obj(t)["user"].(map[string]any)["emailVerified"])
		c.signIn("rv@example.com", "password123")
	})
}

func TestSignUpDisabledAndHookAbortOverHTTP(t *testing.T) {
	e := newEnv(t, authtest.Backends()[0], func(c *config) { c.auth.DisableSignUp = true })
	e.client().post("/sign-up/email", map[string]any{"name": "X", "email": "x@example.com", "password": "password123"}).
		requireError(t, http.StatusBadRequest, contracts.CodeEmailPasswordSignUpDisabled, "Email and password sign up is not enabled")

	e2 := newEnv(t, authtest.Backends()[0])
	e2.client().signUp("h@example.com", "password123")
	e2.hooks.Abort(contracts.HookBeforeSignIn, &contracts.Error{Status: 429, Code: contracts.CodeRateLimited, Message: "Locked out for 15 minutes"})
	r := e2.client().post("/sign-in/email", map[string]any{"email": "h@example.com", "password": "password123"})
	require.Equal(t, `{"message":"Locked out for 15 minutes","code":"RATE_LIMITED"}`, string(r.Body))
	require.Equal(t, 429, r.Status)
	require.Empty(t, r.Cookies())
}
