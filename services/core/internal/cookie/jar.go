// Package cookie reads and writes better-auth 1.7.25's session cookies byte for
// byte: signed values (better-call's HMAC-SHA256 format), Cookie header
// parsing, Set-Cookie serialisation in better-call's attribute order, the
// session_token / dont_remember / session_data set and its expiry, the
// session_data cookie cache ("compact" strategy, chunked beyond 4050 bytes),
// and the bearer plugin (Authorization: Bearer, set-auth-token).
//
// Everything that sits on each request (Get, Signer.Verify, Jar.SessionToken)
// avoids allocating.
package cookie

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of better-auth's cookie options.
const (
	// DefaultPrefix is advanced.cookiePrefix's default.
	DefaultPrefix = "better-auth"
	// SecurePrefix is prepended to every name when cookies are secure.
	SecurePrefix = "__Secure-"
	// DefaultSessionMaxAge is session.expiresIn's default (7 days), in seconds.
	DefaultSessionMaxAge = 604800
	// DefaultCacheMaxAge is session.cookieCache.maxAge's default, in seconds.
	DefaultCacheMaxAge = 300
)

// Options configure the auth cookies like better-auth's createCookieGetter.
type Options struct {
	// Prefix is advanced.cookiePrefix; default "better-auth".
	Prefix string
	// Secure adds the __Secure- name prefix and the Secure attribute; default
	// false. Decide it as better-auth does: UseSecureCookies.
	Secure bool
	// Domain is advanced.crossSubDomainCookies' domain; empty means no Domain
	// attribute (the default).
	Domain string
	// SessionMaxAge is session.expiresIn in seconds; default 604800 (7 days).
	SessionMaxAge int
	// CacheEnabled turns on the session_data cookie cache; default off.
	CacheEnabled bool
	// CacheMaxAge is session.cookieCache.maxAge in seconds; default 300.
	CacheMaxAge int
	// RequireBearerSignature is the bearer plugin's requireSignature: refuse a
	// raw (unsigned) token in Authorization: Bearer. Default false.
	RequireBearerSignature bool
}

// UseSecureCookies is better-auth's rule for the __Secure- prefix and the
// Secure attribute: advanced.useSecureCookies when it is set (explicit non-nil),
// else whether a configured base URL starts with "https://", else whether it
// runs in production.
func UseSecureCookies(explicit *bool, baseURL string, production bool) bool {
	switch {
	case explicit != nil:
		return *explicit
	case baseURL != "":
		return strings.HasPrefix(baseURL, "https://")
	}
	return production
}

// Spec is one auth cookie: its full name and its default attributes.
type Spec struct {
	// Name is the full cookie name, prefixes included.
	Name string
	// Attributes are the attributes the cookie is set with.
	Attributes Attributes
}

// Expired returns the Set-Cookie value that deletes the cookie: empty value,
// the cookie's attributes and Max-Age=0 (better-auth's expireCookie).
func (s Spec) Expired() string {
	a := s.Attributes
	a.MaxAge = -1
	v, _ := serializeRaw(s.Name, "", a, time.Time{})
	return v
}

// Jar knows the names, attributes and secret of one installation's auth
// cookies. It is safe for concurrent use.
type Jar struct {
	signer *Signer
	secret []byte
	opts   Options

	// SessionToken is the signed session token cookie (…session_token).
	SessionToken Spec
	// SessionData is the cookie cache (…session_data), possibly chunked.
	SessionData Spec
	// DontRemember is the signed "true" set for rememberMe:false (…dont_remember).
	DontRemember Spec
	// dontRememberValue is the constant encoded value of DontRemember.
	dontRememberValue string
}

// NewJar returns the cookie set for secret (used as UTF-8 bytes, like
// better-auth's secret string) and o.
func NewJar(secret []byte, o Options) (*Jar, error) {
	var errs []error
	if len(secret) == 0 {
		errs = append(errs, errors.New("secret is empty"))
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.SessionMaxAge == 0 {
		o.SessionMaxAge = DefaultSessionMaxAge
	}
	if o.CacheMaxAge == 0 {
		o.CacheMaxAge = DefaultCacheMaxAge
	}
	limit := int(maxCookieAge / time.Second)
	if o.SessionMaxAge < 0 || o.SessionMaxAge > limit {
		errs = append(errs, fmt.Errorf("session max age %d s is outside 1..%d", o.SessionMaxAge, limit))
	}
	if o.CacheMaxAge < 0 || o.CacheMaxAge > limit {
		errs = append(errs, fmt.Errorf("cache max age %d s is outside 1..%d", o.CacheMaxAge, limit))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cookie: %w", err)
	}
	spec := func(name string, maxAge int) Spec {
		full := o.Prefix + "." + name
		if o.Secure {
			full = SecurePrefix + full
		}
		return Spec{Name: full, Attributes: Attributes{
			MaxAge: maxAge, Domain: o.Domain, Path: "/", HTTPOnly: true, Secure: o.Secure, SameSite: "lax",
		}}
	}
	j := &Jar{
		signer:       NewSigner(secret),
		secret:       append([]byte(nil), secret...),
		opts:         o,
		SessionToken: spec("session_token", o.SessionMaxAge),
		SessionData:  spec("session_data", o.CacheMaxAge),
		DontRemember: spec("dont_remember", 0),
	}
	j.dontRememberValue = j.signer.Encode("true")
	return j, nil
}

// Signer returns the Jar's signer (HMAC with the Jar's secret).
func (j *Jar) Signer() *Signer { return j.signer }

// SessionTokenFrom returns the session token of a request's Cookie header:
// the first session_token cookie, verified (getSignedCookie). ok is false when
// it is missing, empty or badly signed — better-auth treats all of these as
// "no session".
func (j *Jar) SessionTokenFrom(cookieHeader string) (token string, ok bool) {
	v, found := Get(cookieHeader, j.SessionToken.Name)
	if !found || v == "" {
		return "", false
	}
	return j.signer.Verify(v)
}

// DontRememberFrom reports whether the Cookie header carries a validly signed
// dont_remember cookie.
func (j *Jar) DontRememberFrom(cookieHeader string) bool {
	v, found := Get(cookieHeader, j.DontRemember.Name)
	if !found || v == "" {
		return false
	}
	_, ok := j.signer.Verify(v)
	return ok
}

// SessionCookies describes one setSessionCookie call.
type SessionCookies struct {
	// Token is the raw session token.
	Token string
	// DontRemember is rememberMe:false. When the request says nothing about
	// rememberMe, better-auth uses whether the request carried a valid
	// dont_remember cookie (DontRememberFrom).
	DontRemember bool
	// RequestCookie is the request's Cookie header: a dont_remember cookie in
	// it is expired when DontRemember is false, and stale session_data chunks
	// are expired when the cache is written.
	RequestCookie string
	// Cache is the session_data payload; nil writes no cache cookie. Ignored
	// unless Options.CacheEnabled.
	Cache *CachePayload
	// Now is the current time (the cache's expiry is computed from it).
	Now time.Time
}

// SetSession appends to dst the Set-Cookie values better-auth's
// setSessionCookie emits, in its order: session_token (no Max-Age when
// DontRemember), then dont_remember (set when DontRemember, expired when the
// request had one and DontRemember is false), then the session_data cookies
// (expired stale chunks first, then the new value or its chunks).
func (j *Jar) SetSession(dst []string, s SessionCookies) ([]string, error) {
	tokenAttrs := j.SessionToken.Attributes
	if s.DontRemember {
		tokenAttrs.MaxAge = 0
	}
	v, err := serializeRaw(j.SessionToken.Name, j.signer.Encode(s.Token), tokenAttrs, s.Now)
	if err != nil {
		return dst, err
	}
	dst = append(dst, v)
	switch {
	case s.DontRemember:
		v, err := serializeRaw(j.DontRemember.Name, j.dontRememberValue, j.DontRemember.Attributes, s.Now)
		if err != nil {
			return dst, err
		}
		dst = append(dst, v)
	case j.DontRememberFrom(s.RequestCookie):
		dst = append(dst, j.DontRemember.Expired())
	}
	if !j.opts.CacheEnabled || s.Cache == nil {
		return dst, nil
	}
	maxAge := j.opts.CacheMaxAge
	if s.DontRemember {
		// The cookie lives for the browser session and the payload for 60 s.
		maxAge = 0
	}
	life := maxAge
	if life == 0 {
		life = 60
	}
	value, err := EncodeCache(j.secret, *s.Cache, s.Now.Add(time.Duration(life)*time.Second).UnixMilli())
	if err != nil {
		return dst, err
	}
	return j.appendCache(dst, value, maxAge, s.RequestCookie, s.Now)
}

// ExpireSession appends better-auth's deleteSessionCookie set: session_token,
// session_data, then every session_data cookie or chunk present in the
// request (so session_data can appear twice), then dont_remember.
func (j *Jar) ExpireSession(dst []string, requestCookie string) []string {
	dst = append(dst, j.SessionToken.Expired(), j.SessionData.Expired())
	dst = j.ExpireCacheChunks(dst, requestCookie)
	return append(dst, j.DontRemember.Expired())
}

// ExpireCacheChunks appends an expiring Set-Cookie for every session_data
// cookie or chunk (session_data.N) present in the request, in request order
// (better-auth's session store clean()).
func (j *Jar) ExpireCacheChunks(dst []string, requestCookie string) []string {
	for _, name := range existingChunks(requestCookie, j.SessionData.Name) {
		dst = append(dst, Spec{Name: name, Attributes: j.SessionData.Attributes}.Expired())
	}
	return dst
}

// CacheFrom reads and verifies the session_data cookie cache of a request
// (chunked or not). It does not check expiry: see Cache.Expired.
func (j *Jar) CacheFrom(cookieHeader string) (Cache, error) {
	v := chunkedValue(cookieHeader, j.SessionData.Name)
	if v == "" {
		return Cache{}, ErrNoCache
	}
	return DecodeCache(j.secret, v)
}

// Bearer returns the session token carried by an Authorization header value,
// with better-auth's bearer plugin rules and the session cookie check the
// request then goes through (see BearerToken).
func (j *Jar) Bearer(authorization string) (token string, ok bool) {
	return BearerToken(j.signer, authorization, j.opts.RequireBearerSignature)
}

// SetAuthToken returns the set-auth-token header value for a response's
// Set-Cookie values (see SetAuthToken).
func (j *Jar) SetAuthToken(setCookies []string) (string, bool) {
	return SetAuthToken(j.SessionToken.Name, setCookies)
}

// RemoveSetCookie drops from setCookies every value that sets name or one of
// its chunks (name.N), as better-auth's expireCookie does before appending
// the expiring value, so a valid value never leaks next to its deletion. It
// filters in place: the result shares setCookies' backing array.
func RemoveSetCookie(setCookies []string, name string) []string {
	exact, chunk := name+"=", name+"."
	out := setCookies[:0]
	for _, v := range setCookies {
		if strings.HasPrefix(v, exact) || strings.HasPrefix(v, chunk) {
			continue
		}
		out = append(out, v)
	}
	return out
}
