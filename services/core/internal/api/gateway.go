package api

import (
	"net/http"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/cookie"
)

// What the plugin gateway and the admin API need from this package: the
// caller's session with the API's own rules (signed cookie or bearer, the
// cookie cache), and a way to send the session cookie again after a plugin
// changed the session (an active organization).

// newCall prepares a call for r outside the route pipeline.
func (h *Handler) newCall(r *http.Request) *call {
	ctx, _ := h.withRequest(r)
	if auth.RequestFrom(r.Context()).Info.Method != "" {
		ctx = r.Context() // already served by this handler (fallback): keep its metadata
	}
	c := &call{h: h, r: r, ctx: ctx, rp: newReply(), query: queryObject(r.URL.RawQuery)}
	c.cookieHdr = cookie.HeaderValue(r.Header)
	return c
}

// ResolveRequest returns the user and session r is signed in with (from
// the signed session cookie or Authorization: Bearer; the cookie cache is
// used when enabled), or nil, nil without a live session. It does not
// extend the session (no cookie could be sent back): get-session does. The
// error is a *contracts.Error (a sessionValidate abort, or an internal
// failure as INTERNAL_SERVER_ERROR).
func (h *Handler) ResolveRequest(r *http.Request) (*contracts.User, *contracts.Session, error) {
	c := h.newCall(r)
	c.query["disableRefresh"] = "true"
	a, err := c.resolveSession(sessionOptions{})
	if err != nil {
		return nil, nil, h.clientError(c, err)
	}
	if a == nil {
		return nil, nil, nil
	}
	u, s := auth.PublicUser(a.User), auth.PublicSession(a.Session)
	return &u, &s, nil
}

// ReissueSessionCookie adds to w's headers the Set-Cookie values (and the
// bearer plugin's set-auth-token) that set r's session cookie again, read
// afresh from the store: after a plugin changed the session (or its user),
// like better-auth's organization/set-active does. It writes no status and
// no body. Without a live session it adds nothing and returns 401 UNAUTHORIZED.
func (h *Handler) ReissueSessionCookie(w http.ResponseWriter, r *http.Request) error {
	c := h.newCall(r)
	c.query["disableRefresh"] = "true"
	a, err := c.resolveSession(sessionOptions{authoritative: true})
	if err != nil {
		return h.clientError(c, err)
	}
	if a == nil {
		return errUnauthorized
	}
	c.setSessionCookie(a.Token, a.Session, a.User, nil)
	hdr := w.Header()
	for _, v := range c.rp.cookies {
		hdr.Add("Set-Cookie", v)
	}
	if tok, ok := h.jar.SetAuthToken(c.rp.cookies); ok {
		hdr.Set("Set-Auth-Token", tok)
		hdr.Set("Access-Control-Expose-Headers", cookieExpose(hdr.Get("Access-Control-Expose-Headers")))
	}
	return nil
}

// clientError maps an error to what a client may see, logging internal ones.
func (h *Handler) clientError(c *call, err error) *contracts.Error {
	c.rt = &route{path: "(gateway)"}
	c.failWith(err)
	return c.rp.err
}
