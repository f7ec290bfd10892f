package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/store"
)

// routeTable lists the endpoints with better-auth's schemas (contract §1).
func (h *Handler) routeTable() []*route {
	o := h.svc.Options()
	maxName, maxImage := o.MaxNameLength, o.MaxImageLength
	str := func(name string) field { return field{name: name, kind: kString} }
	opt := func(name string) field { return field{name: name, kind: kString, optional: true} }
	optBool := func(name string) field { return field{name: name, kind: kBool, optional: true} }
	email := field{name: "email", kind: kEmail, max: auth.MaxEmailLength}
	return []*route{
		{method: http.MethodPost, path: "/sign-up/email", form: true, run: h.signUp, body: &schema{alsoRecord: true, fields: []field{
			{name: "name", kind: kString, max: maxName}, email, {name: "password", kind: kString, nonEmpty: true},
			{name: "image", kind: kString, optional: true, max: maxImage}, opt("callbackURL"), optBool("rememberMe"),
		}}},
		{method: http.MethodPost, path: "/sign-in/email", form: true, run: h.signIn, body: &schema{fields: []field{
			str("email"), str("password"), opt("callbackURL"), optBool("rememberMe"),
		}}},
		{method: http.MethodPost, path: "/sign-out", run: h.signOut, body: &schema{optional: true, fields: []field{
			opt("callbackURL"), optBool("disableRedirect"), opt("state"),
		}}},
		{method: http.MethodGet, path: "/get-session", noBody: true, run: h.getSession, query: getSessionQuery},
		{method: http.MethodPost, path: "/get-session", noBody: true, run: h.getSession, query: getSessionQuery},
		{method: http.MethodGet, path: "/list-sessions", run: h.listSessions},
		{method: http.MethodPost, path: "/revoke-session", run: h.revokeSession, body: &schema{fields: []field{str("token")}}},
		{method: http.MethodPost, path: "/revoke-sessions", run: h.revokeSessions},
		{method: http.MethodPost, path: "/revoke-other-sessions", run: h.revokeOtherSessions},
		{method: http.MethodPost, path: "/update-user", run: h.updateUser, body: &schema{recordOnly: true}},
		{method: http.MethodPost, path: "/change-password", run: h.changePassword, body: &schema{fields: []field{
			str("newPassword"), str("currentPassword"), optBool("revokeOtherSessions"),
		}}},
		{method: http.MethodPost, path: "/change-email", run: h.changeEmail, body: &schema{fields: []field{
			email.renamed("newEmail"), opt("callbackURL"),
		}}},
		{method: http.MethodPost, path: "/delete-user", run: h.deleteUser, body: &schema{fields: []field{
			opt("callbackURL"), opt("password"), opt("token"),
		}}},
		{method: http.MethodGet, path: "/delete-user/callback", run: h.deleteUserCallback, query: &schema{fields: []field{
			str("token"), opt("callbackURL"),
		}}},
		{method: http.MethodPost, path: "/request-password-reset", run: h.requestPasswordReset, body: &schema{fields: []field{
			email, opt("redirectTo"),
		}}},
		{method: http.MethodGet, path: resetPattern, run: h.resetPasswordCallback, query: &schema{fields: []field{str("callbackURL")}}},
		{method: http.MethodPost, path: "/reset-password", run: h.resetPassword,
			body: &schema{fields: []field{str("newPassword"), opt("token")}}, query: &schema{fields: []field{opt("token")}}},
		{method: http.MethodPost, path: "/send-verification-email", run: h.sendVerificationEmail, body: &schema{fields: []field{
			email, opt("callbackURL"),
		}}},
		{method: http.MethodGet, path: "/verify-email", run: h.verifyEmail, query: &schema{fields: []field{str("token"), opt("callbackURL")}}},
		{method: http.MethodGet, path: "/list-accounts", run: h.listAccounts},
		{method: http.MethodGet, path: "/ok", run: func(c *call) error { return c.ok(map[string]bool{"ok": true}) }},
		{method: http.MethodGet, path: "/error", run: h.errorPage},
	}
}

func (f field) renamed(name string) field { f.name = name; return f }

var getSessionQuery = &schema{fields: []field{
	{name: "disableCookieCache", kind: kCoerceBool}, {name: "disableRefresh", kind: kCoerceBool},
}}

// formCSRF is formCsrfMiddleware (sign-in and sign-up).
func (c *call) formCSRF() error {
	if err := c.h.policy.CheckFormCSRF(c.r.Header, c.selfOrigin()); err != nil {
		return err
	}
	return nil
}

func (h *Handler) signUp(c *call) error {
	if err := c.formCSRF(); err != nil {
		return err
	}
	b := c.body
	in := auth.SignUpInput{
		Name: str(b, "name"), Email: str(b, "email"), Password: str(b, "password"), Image: strPtr(b, "image"),
		CallbackURL: str(b, "callbackURL"), DontRemember: b["rememberMe"] == false,
	}
	res, err := h.svc.SignUp(c.ctx, in)
	if err != nil {
		return err
	}
	out := struct {
		Token *string  `json:"token"`
		User  userJSON `json:"user"`
	}{User: userView(res.User)}
	if res.Session != nil {
		out.Token = &res.Session.Token
		c.setNewSession(res.Session, res.User)
		c.sess = &auth.Authenticated{User: res.User, Session: res.Session.Session, Token: res.Session.Token}
	}
	return c.ok(out)
}

func (h *Handler) signIn(c *call) error {
	if err := c.formCSRF(); err != nil {
		return err
	}
	b := c.body
	callback := str(b, "callbackURL")
	res, err := h.svc.SignIn(c.ctx, auth.SignInInput{
		Email: str(b, "email"), Password: str(b, "password"), DontRemember: b["rememberMe"] == false, CallbackURL: callback,
	})
	if err != nil {
		return err
	}
	c.setNewSession(&res.Session, res.User)
	c.sess = &auth.Authenticated{User: res.User, Session: res.Session.Session, Token: res.Session.Token}
	out := struct {
		Redirect bool     `json:"redirect"`
		Token    string   `json:"token"`
		URL      string   `json:"url,omitempty"`
		User     userJSON `json:"user"`
	}{Redirect: callback != "", Token: res.Session.Token, URL: callback, User: userView(res.User)}
	if callback != "" {
		c.rp.header.Set("Location", callback)
	}
	return c.ok(out)
}

func (h *Handler) signOut(c *call) error {
	tok, _ := h.jar.SessionTokenFrom(c.cookieHdr)
	if t, ok := h.jar.Bearer(headerGet(c.r.Header, "Authorization")); ok {
		tok = t
	}
	if err := h.svc.SignOut(c.ctx, tok); err != nil {
		return err
	}
	c.expireSessionCookies()
	return c.ok(map[string]bool{"success": true})
}

func (h *Handler) getSession(c *call) error {
	c.rp.header.Set("Cache-Control", "no-store")
	c.rp.header.Set("Pragma", "no-cache")
	if c.r.Method == http.MethodPost {
		return contracts.CodeMethodNotAllowedDeferSession.Err()
	}
	if h.opts.CookieCache {
		if tok := c.sessionToken(); tok == "" {
			return c.ok(nil)
		}
	}
	a, err := c.resolveSession(sessionOptions{clearOnMiss: true})
	if err != nil {
		return err
	}
	if a == nil {
		return c.ok(nil)
	}
	return c.ok(sessionAndUser{Session: sessionView(a.Session, a.Token), User: userView(a.User)})
}

func (h *Handler) listSessions(c *call) error {
	a, err := c.requireFreshSession()
	if err != nil {
		return err
	}
	entries, err := h.svc.ListSessions(c.ctx, a)
	if err != nil {
		return err
	}
	out := make([]sessionJSON, len(entries))
	for i, e := range entries {
		out[i] = sessionView(e.Session, e.Token)
	}
	return c.ok(out)
}

func (h *Handler) revokeSession(c *call) error {
	a, err := c.requireSession(true)
	if err != nil {
		return err
	}
	current, err := h.svc.RevokeSession(c.ctx, a, str(c.body, "token"))
	if err != nil {
		return err
	}
	if current {
		c.expireSessionCookies()
	}
	return c.ok(statusJSON)
}

func (h *Handler) revokeSessions(c *call) error {
	a, err := c.requireSession(true)
	if err != nil {
		return err
	}
	if err := h.svc.RevokeSessions(c.ctx, a); err != nil {
		return err
	}
	c.expireSessionCookies()
	return c.ok(statusJSON)
}

func (h *Handler) revokeOtherSessions(c *call) error {
	a, err := c.requireSession(true)
	if err != nil {
		return err
	}
	if err := h.svc.RevokeOtherSessions(c.ctx, a); err != nil {
		return err
	}
	return c.ok(statusJSON)
}

func (h *Handler) updateUser(c *call) error {
	a, err := c.requireSession(false)
	if err != nil {
		return err
	}
	b := c.body
	if jsTruthy(b["email"]) {
		return contracts.CodeEmailCanNotBeUpdated.Err()
	}
	var ch auth.ProfileChanges
	var issues []string
	if v, ok := b["name"]; ok {
		if msg := (field{name: "name", kind: kString, max: h.svc.Options().MaxNameLength}).check(v, true); msg != "" {
			issues = append(issues, "[body.name] "+msg)
		} else {
			ch.Name = store.Some(v.(string))
		}
	}
	if v, ok := b["image"]; ok {
		if msg := (field{name: "image", kind: kStringOrNull, max: h.svc.Options().MaxImageLength}).check(v, true); msg != "" {
			issues = append(issues, "[body.image] "+msg)
		} else {
			ch.Image = store.Some(strPtr(b, "image"))
		}
	}
	if len(issues) > 0 {
		return validationError(issues)
	}
	updated, err := h.svc.UpdateUser(c.ctx, a, ch)
	if err != nil {
		return err
	}
	c.setSessionCookie(a.Token, a.Session, updated, nil)
	return c.ok(statusJSON)
}

func (h *Handler) changePassword(c *call) error {
	a, err := c.requireSession(true)
	if err != nil {
		return err
	}
	b := c.body
	ns, err := h.svc.ChangePassword(c.ctx, a, str(b, "currentPassword"), str(b, "newPassword"), b["revokeOtherSessions"] == true)
	if err != nil {
		return err
	}
	out := struct {
		Token *string  `json:"token"`
		User  userJSON `json:"user"`
	}{User: userView(a.User)}
	if ns != nil {
		out.Token = &ns.Token
		// Like better-auth, the cookie keeps the request's dont_remember choice.
		c.setSessionCookie(ns.Token, ns.Session, a.User, nil)
	}
	return c.ok(out)
}

func (h *Handler) changeEmail(c *call) error {
	a, err := c.requireSession(true)
	if err != nil {
		return err
	}
	res, err := h.svc.ChangeEmail(c.ctx, a, str(c.body, "newEmail"), str(c.body, "callbackURL"))
	if err != nil {
		return err
	}
	if res.Updated != nil {
		c.setSessionCookie(a.Token, a.Session, *res.Updated, nil)
	}
	return c.ok(statusJSON)
}

func (h *Handler) deleteUser(c *call) error {
	a, err := c.requireSession(true)
	if err != nil {
		return err
	}
	b := c.body
	res, err := h.svc.DeleteUser(c.ctx, a, auth.DeleteUserInput{
		Password: str(b, "password"), Token: str(b, "token"), CallbackURL: str(b, "callbackURL"),
	})
	if err != nil {
		return err
	}
	if !res.Deleted {
		return c.ok(successJSON{true, "Verification email sent"})
	}
	c.expireSessionCookies()
	return c.ok(successJSON{true, "User deleted"})
}

func (h *Handler) deleteUserCallback(c *call) error {
	callback := str(c.query, "callbackURL")
	if err := h.policy.CheckCallbackURL(callback); err != nil {
		return err
	}
	var a *auth.Authenticated
	if h.svc.Options().DeleteUser {
		var err error
		if a, err = c.resolveSession(sessionOptions{authoritative: true}); err != nil {
			return err
		}
	}
	if err := h.svc.DeleteUserCallback(c.ctx, a, str(c.query, "token")); err != nil {
		return err
	}
	c.expireSessionCookies()
	if callback != "" {
		c.rp.redirect(callback)
		return nil
	}
	return c.ok(successJSON{true, "User deleted"})
}

func (h *Handler) requestPasswordReset(c *call) error {
	if err := h.svc.RequestPasswordReset(c.ctx, str(c.body, "email"), str(c.body, "redirectTo")); err != nil {
		return err
	}
	return c.ok(statusMessageJSON{true, "If this email exists in our system, check your email for the reset link"})
}

// resetPasswordCallback is GET /reset-password/:token: a redirect to the
// callback with ?token= when the token is valid, else ?error=INVALID_TOKEN.
func (h *Handler) resetPasswordCallback(c *call) error {
	callback := str(c.query, "callbackURL")
	if err := h.policy.CheckCallbackURL(callback); err != nil {
		return err
	}
	tok, err := url.PathUnescape(strings.TrimPrefix(c.r.URL.EscapedPath(), h.opts.BasePath+"/reset-password/"))
	if err != nil {
		tok = ""
	}
	ok, err := h.svc.ResetTokenValid(c.ctx, tok)
	if err != nil {
		return err
	}
	if callback == "" || !ok {
		c.rp.redirect(h.resolveURL(callback, "error", "INVALID_TOKEN"))
		return nil
	}
	c.rp.redirect(h.resolveURL(callback, "token", tok))
	return nil
}

// resolveURL resolves ref against the base URL (the API's /error page when
// ref is empty) and sets one query parameter, like better-auth's
// new URL(callbackURL, baseURL) + searchParams.set.
func (h *Handler) resolveURL(ref, key, value string) string {
	base := *h.baseURL
	base.Path, base.RawPath, base.RawQuery, base.Fragment = h.opts.BasePath, "", "", ""
	if ref == "" {
		ref = h.opts.BasePath + "/error"
	}
	u, err := base.Parse(ref)
	if err != nil {
		u, _ = base.Parse(h.opts.BasePath + "/error")
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func (h *Handler) resetPassword(c *call) error {
	tok := str(c.body, "token")
	if tok == "" {
		tok = str(c.query, "token")
	}
	if err := h.svc.ResetPassword(c.ctx, tok, str(c.body, "newPassword")); err != nil {
		return err
	}
	return c.ok(statusJSON)
}

func (h *Handler) sendVerificationEmail(c *call) error {
	if !h.svc.MailEnabled() {
		return contracts.CodeVerificationEmailNotEnabled.Err()
	}
	a, err := c.resolveSession(sessionOptions{})
	if err != nil {
		return err
	}
	if err := h.svc.SendVerificationEmail(c.ctx, a, str(c.body, "email"), str(c.body, "callbackURL")); err != nil {
		return err
	}
	return c.ok(statusJSON)
}

func (h *Handler) verifyEmail(c *call) error {
	callback := str(c.query, "callbackURL")
	if err := h.policy.CheckCallbackURL(callback); err != nil {
		return err
	}
	a, err := c.resolveSession(sessionOptions{})
	if err != nil {
		return err
	}
	res, err := h.svc.VerifyEmail(c.ctx, a, str(c.query, "token"), callback)
	if err != nil {
		var ce *contracts.Error
		if errors.As(err, &ce) && callback != "" {
			c.rp.redirect(appendQuery(callback, "error", string(ce.Code)))
			return nil
		}
		return err
	}
	switch {
	case res.NewSession != nil:
		c.setSessionCookie(res.NewSession.Token, res.NewSession.Session, *res.SessionUser, nil)
	case res.SessionUser != nil && a != nil:
		c.setSessionCookie(a.Token, a.Session, *res.SessionUser, nil)
	}
	if callback != "" {
		c.rp.redirect(callback)
		return nil
	}
	out := struct {
		Status bool      `json:"status"`
		User   *userJSON `json:"user"`
	}{Status: true}
	if res.User != nil {
		u := userView(*res.User)
		out.User = &u
	}
	return c.ok(out)
}

// appendQuery is better-auth's appendQueryParams for a relative or absolute URL.
func appendQuery(ref, key, value string) string {
	u, err := url.Parse(ref)
	if err != nil {
		sep := "?"
		if strings.Contains(ref, "?") {
			sep = "&"
		}
		return ref + sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func (h *Handler) listAccounts(c *call) error {
	a, err := c.requireSession(false)
	if err != nil {
		return err
	}
	accounts, err := h.svc.Store().AccountsOfUser(c.ctx, a.User.ID)
	if err != nil {
		return err
	}
	type accountJSON struct {
		ID         string   `json:"id"`
		ProviderID string   `json:"providerId"`
		AccountID  string   `json:"accountId"`
		UserID     string   `json:"userId"`
		CreatedAt  jsTime   `json:"createdAt"`
		UpdatedAt  jsTime   `json:"updatedAt"`
		Scopes     []string `json:"scopes"`
	}
	out := make([]accountJSON, len(accounts))
	for i, acc := range accounts {
		scopes := []string{}
		for s := range strings.SplitSeq(acc.Scope, ",") {
			if s = strings.TrimSpace(s); s != "" {
				scopes = append(scopes, s)
			}
		}
		out[i] = accountJSON{ID: acc.ID, ProviderID: acc.ProviderID, AccountID: acc.AccountID, UserID: acc.UserID,
			CreatedAt: jsTime(acc.CreatedAt), UpdatedAt: jsTime(acc.UpdatedAt), Scopes: scopes}
	}
	return c.ok(out)
}
