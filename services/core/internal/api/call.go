package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/cookie"
	"github.com/authbus/authbus/services/core/internal/origin"
	"github.com/authbus/authbus/services/core/internal/store"
)

// route is one endpoint.
type route struct {
	method string
	path   string // relative to BasePath; resetPattern for the parameter route
	// form also accepts application/x-www-form-urlencoded bodies.
	form bool
	// noBody never reads a body (disableBody).
	noBody bool
	body   *schema
	query  *schema
	run    func(c *call) error

	handler http.Handler
}

// call is one request being served.
type call struct {
	h   *Handler
	r   *http.Request
	ctx context.Context
	rt  *route
	rp  *reply

	body        map[string]any // the validated body object (nil when absent)
	query       map[string]any
	cookieHdr   string
	sess        *auth.Authenticated
	sessChecked bool
}

// run is better-call's pipeline: body (415/413/400), the origin check and
// URL parameter check of non-GET requests, body then query validation,
// then the endpoint (whose session and CSRF middlewares it calls itself).
func (c *call) run(w http.ResponseWriter) error {
	r := c.r
	c.cookieHdr = cookie.HeaderValue(r.Header)
	c.query = queryObject(r.URL.RawQuery)
	var (
		body    any
		present bool
	)
	if !c.rt.noBody && r.Method != http.MethodGet && r.Method != http.MethodHead {
		allowed := []string{mediaJSON}
		if c.rt.form {
			allowed = []string{mediaForm, mediaJSON}
		}
		var err *contracts.Error
		if body, present, err = readBody(w, r, allowed, c.h.opts.MaxBodyBytes); err != nil {
			return err
		}
	}
	obj, _ := body.(map[string]any)
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
		if err := c.h.policy.CheckRequest(r.Method, r.Header, c.selfOrigin()); err != nil {
			return err
		}
		params := origin.Params{QueryCallbackURL: queryParam(c.query["callbackURL"])}
		if obj != nil {
			params.CallbackURL, params.RedirectTo = obj["callbackURL"], obj["redirectTo"]
			params.ErrorCallbackURL, params.NewUserCallbackURL = obj["errorCallbackURL"], obj["newUserCallbackURL"]
		}
		if err := c.h.policy.CheckParams(r.Method, params); err != nil {
			return err
		}
	}
	if issues := c.rt.body.issues("body", body, present); len(issues) > 0 {
		return validationError(issues)
	}
	if issues := c.rt.query.issues("query", c.query, true); len(issues) > 0 {
		return validationError(issues)
	}
	c.body = obj
	return c.rt.run(c)
}

// queryParam turns a query value into what origin.Params expects.
func queryParam(v any) any {
	if l, ok := v.([]string); ok {
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out
	}
	return v
}

// selfOrigin is the request's own origin (for "Origin: null" from the same
// site): the scheme of BaseURL when the request is for BaseURL's host (a
// TLS-terminating proxy in front), else the connection's.
func (c *call) selfOrigin() string {
	scheme := "http"
	switch {
	case strings.EqualFold(c.r.Host, c.h.baseURL.Host):
		scheme = c.h.baseURL.Scheme
	case c.r.TLS != nil:
		scheme = "https"
	}
	return origin.SelfOrigin(scheme, c.r.Host)
}

// failWith sets the answer for an error from a route: a *contracts.Error as
// is, anything else INTERNAL_SERVER_ERROR (logged).
func (c *call) failWith(err error) {
	var ce *contracts.Error
	if !errors.As(err, &ce) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			c.h.log.WarnContext(c.ctx, "api: request abandoned", "route", c.rt.path, "err", err)
		} else {
			c.h.log.ErrorContext(c.ctx, "api: internal error", "route", c.rt.path, "err", err)
		}
		ce = contracts.CodeInternalServerError.Err()
	}
	c.rp.fail(ce)
}

// userID is the signed-in user, if the route resolved one.
func (c *call) userID() string {
	if c.sess == nil {
		return ""
	}
	return c.sess.User.ID
}

// ok answers 200 with v as JSON.
func (c *call) ok(v any) error {
	c.rp.json(v)
	return nil
}

// queryFlag is a z.coerce.boolean query flag.
func (c *call) queryFlag(name string) bool {
	v, ok := c.query[name]
	return coerceBool(v, ok)
}

// sessionToken is the raw session token the request presents: a valid
// Authorization: Bearer first (it replaces the session cookie), else the
// signed session cookie.
func (c *call) sessionToken() string {
	if tok, ok := c.h.jar.Bearer(headerGet(c.r.Header, "Authorization")); ok {
		return tok
	}
	tok, _ := c.h.jar.SessionTokenFrom(c.cookieHdr)
	return tok
}

// sessionOptions tune resolveSession.
type sessionOptions struct {
	// authoritative bypasses the cookie cache (sensitive endpoints).
	authoritative bool
	// clearOnMiss expires the cookies when the token names no live session
	// (get-session; the middlewares answer 401 without touching cookies).
	clearOnMiss bool
}

// resolveSession is better-auth's getSession: the cookie cache when it is
// on and valid, else the store (with the sliding refresh, whose new cookie
// is added to the answer, and the cache cookie written afresh). nil when the
// request has no live session.
func (c *call) resolveSession(o sessionOptions) (*auth.Authenticated, error) {
	if c.sessChecked && !o.authoritative {
		return c.sess, nil
	}
	c.sessChecked = true
	c.sess = nil
	tok := c.sessionToken()
	cacheOn := c.h.opts.CookieCache
	if !cacheOn {
		if hasCacheCookie(c.cookieHdr, c.h.jar) {
			c.rp.cookies = c.h.jar.ExpireCacheChunks(c.rp.cookies, c.cookieHdr)
		}
	}
	if tok == "" {
		return nil, nil
	}
	dontRemember := c.h.jar.DontRememberFrom(c.cookieHdr)
	if cacheOn && !o.authoritative && !c.queryFlag("disableCookieCache") {
		cached, err := c.h.jar.CacheFrom(c.cookieHdr)
		switch {
		case err == nil:
			if a := c.fromCache(cached, tok); a != nil {
				if err := c.h.svc.ValidateSession(c.ctx, a); err != nil {
					return nil, err
				}
				c.sess = a
				return a, nil
			}
			c.expireCookie(c.h.jar.SessionData)
		case errors.Is(err, cookie.ErrInvalidCache):
			c.expireCookie(c.h.jar.SessionData)
		}
	}
	res, err := c.h.svc.ResolveSession(c.ctx, tok, auth.ResolveOptions{
		DisableRefresh: c.queryFlag("disableRefresh"), DontRemember: dontRemember,
	})
	if err != nil {
		return nil, err
	}
	if res.Authenticated == nil {
		if res.Clear && o.clearOnMiss {
			c.expireSessionCookies()
		}
		return nil, nil
	}
	a := res.Authenticated
	if res.Refreshed {
		no := false
		c.setSessionCookie(a.Token, a.Session, a.User, &no)
	} else if cacheOn {
		c.setCacheCookie(a.Token, a.Session, a.User, dontRemember)
	}
	c.sess = a
	return a, nil
}

// fromCache accepts a verified cache for token when it is current: same
// token, version "1", neither it nor its session expired.
func (c *call) fromCache(cached cookie.Cache, tok string) *auth.Authenticated {
	now := c.h.svc.Now()
	if cached.Version != "1" || cached.Expired(now) {
		return nil
	}
	var sv sessionJSON
	var uv userJSON
	if json.Unmarshal(cached.Session, &sv) != nil || json.Unmarshal(cached.User, &uv) != nil {
		return nil
	}
	if sv.Token != tok || sv.ExpiresAt.Before(now) {
		return nil
	}
	return &auth.Authenticated{User: userFromView(uv), Session: sessionFromView(sv), Token: tok}
}

func hasCacheCookie(header string, jar *cookie.Jar) bool {
	_, err := jar.CacheFrom(header)
	return !errors.Is(err, cookie.ErrNoCache)
}

// errUnauthorized is the session middlewares' 401.
var errUnauthorized = contracts.CodeUnauthorized.Err()

// requireSession is sessionMiddleware (authoritative: sensitiveSessionMiddleware).
func (c *call) requireSession(authoritative bool) (*auth.Authenticated, error) {
	a, err := c.resolveSession(sessionOptions{authoritative: authoritative})
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, errUnauthorized
	}
	return a, nil
}

// requireFreshSession is freshSessionMiddleware.
func (c *call) requireFreshSession() (*auth.Authenticated, error) {
	a, err := c.requireSession(false)
	if err != nil {
		return nil, err
	}
	if !c.h.svc.Fresh(a.Session) {
		return nil, contracts.CodeSessionNotFresh.Err()
	}
	return a, nil
}

// cachePayload is the session_data content for a session.
func (c *call) cachePayload(tok string, s store.Session, u store.User) *cookie.CachePayload {
	if !c.h.opts.CookieCache {
		return nil
	}
	sess, err := json.Marshal(sessionView(s, tok))
	if err != nil {
		return nil
	}
	user, err := json.Marshal(userView(u))
	if err != nil {
		return nil
	}
	return &cookie.CachePayload{Session: sess, User: user, UpdatedAt: c.h.svc.Now().UnixMilli(), Version: "1"}
}

// setSessionCookie is better-auth's setSessionCookie: session_token (no
// Max-Age for dontRemember), dont_remember set or expired, session_data.
// dontRemember nil means "as the request's dont_remember cookie says".
func (c *call) setSessionCookie(tok string, s store.Session, u store.User, dontRemember *bool) {
	dr := c.h.jar.DontRememberFrom(c.cookieHdr)
	if dontRemember != nil {
		dr = *dontRemember
	}
	for _, spec := range []cookie.Spec{c.h.jar.SessionToken, c.h.jar.DontRemember, c.h.jar.SessionData} {
		c.rp.cookies = cookie.RemoveSetCookie(c.rp.cookies, spec.Name)
	}
	out, err := c.h.jar.SetSession(c.rp.cookies, cookie.SessionCookies{
		Token: tok, DontRemember: dr, RequestCookie: c.cookieHdr, Cache: c.cachePayload(tok, s, u), Now: c.h.svc.Now(),
	})
	if err != nil {
		c.h.log.ErrorContext(c.ctx, "api: set session cookie", "err", err)
		return
	}
	c.rp.cookies = out
}

// setCacheCookie writes only the session_data cookie (setCookieCache).
func (c *call) setCacheCookie(tok string, s store.Session, u store.User, dontRemember bool) {
	out, err := c.h.jar.SetSession(nil, cookie.SessionCookies{
		Token: tok, DontRemember: dontRemember, RequestCookie: c.cookieHdr, Cache: c.cachePayload(tok, s, u), Now: c.h.svc.Now(),
	})
	if err != nil {
		c.h.log.ErrorContext(c.ctx, "api: set cache cookie", "err", err)
		return
	}
	out = cookie.RemoveSetCookie(out, c.h.jar.SessionToken.Name)
	out = cookie.RemoveSetCookie(out, c.h.jar.DontRemember.Name)
	c.rp.cookies = cookie.RemoveSetCookie(c.rp.cookies, c.h.jar.SessionData.Name)
	c.rp.cookies = append(c.rp.cookies, out...)
}

// expireCookie is better-auth's expireCookie: earlier values of the cookie
// in this answer are dropped, then the deletion is appended.
func (c *call) expireCookie(spec cookie.Spec) {
	c.rp.cookies = append(cookie.RemoveSetCookie(c.rp.cookies, spec.Name), spec.Expired())
}

// expireSessionCookies is deleteSessionCookie.
func (c *call) expireSessionCookies() {
	for _, spec := range []cookie.Spec{c.h.jar.SessionToken, c.h.jar.SessionData, c.h.jar.DontRemember} {
		c.rp.cookies = cookie.RemoveSetCookie(c.rp.cookies, spec.Name)
	}
	c.rp.cookies = c.h.jar.ExpireSession(c.rp.cookies, c.cookieHdr)
}

// setNewSession sets the cookies of a session a flow created.
func (c *call) setNewSession(ns *auth.NewSession, u store.User) {
	dr := ns.DontRemember
	c.setSessionCookie(ns.Token, ns.Session, u, &dr)
}

func stack() string { return string(debug.Stack()) }
