// Package origin implements better-auth 1.7.25's trusted-origin matching and
// the checks built on it (contract §10): the origin / CSRF check of
// cookie-bearing requests, the login-CSRF check of sign-in and sign-up, and
// the validation of callback and redirect URLs. URLs are read with a WHATWG
// URL parser (as `new URL` reads them), so a redirect is judged by the origin
// a browser will actually go to.
package origin

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/authbus/authbus/pkg/contracts"
)

// Options are better-auth's switches for these checks.
type Options struct {
	// DisableCSRFCheck is advanced.disableCSRFCheck: skip the origin check of
	// cookie-bearing requests and the sign-in/sign-up CSRF check. Default false.
	DisableCSRFCheck bool
	// DisableOriginCheck is advanced.disableOriginCheck: true: skip callback
	// URL validation and, as better-auth does when disableCSRFCheck is not set,
	// the CSRF checks too. Default false.
	DisableOriginCheck bool
}

// Policy is a set of trusted-origin patterns and the checks using them. It is
// immutable and safe for concurrent use.
type Policy struct {
	patterns []pattern
	opts     Options
}

// New compiles trusted-origin patterns, taken as written (empty entries are
// dropped, like better-auth's filter(Boolean)): exact origins
// ("https://app.example.com"), wildcards "*" and "?" host-only
// ("*.example.com", matched against URL.host) or with a scheme
// ("https://*.example.com", matched against the origin; wildcard hosts made
// of digits only admit IPv4 addresses), and custom schemes ("myapp://",
// optionally with a host and a pinned path). Include the base URL's origin
// (OriginOf(baseURL)): better-auth always trusts it.
func New(trusted []string, o Options) *Policy {
	p := &Policy{opts: o}
	for _, t := range trusted {
		if t != "" {
			p.patterns = append(p.patterns, compilePattern(t))
		}
	}
	return p
}

// OriginOf returns the serialised origin of an http(s), ws(s) or ftp URL
// ("https://example.com:8443"), or "" when it has none (better-auth's getOrigin).
func OriginOf(url string) string {
	u, ok := parseURL(url)
	if !ok || !u.hasOrigin() {
		return ""
	}
	return u.origin()
}

// SelfOrigin is the origin of the request itself, from its scheme ("http" or
// "https") and Host header. It is what "Origin: null" with
// "Sec-Fetch-Site: same-origin" stands for. Whether to believe
// X-Forwarded-Proto/-Host for the two arguments is the caller's decision.
func SelfOrigin(scheme, host string) string {
	return OriginOf(scheme + "://" + host)
}

// IsTrusted reports whether url (typically an Origin or Referer value)
// matches a trusted pattern; relative paths are not trusted.
func (p *Policy) IsTrusted(url string) bool { return p.match(url, false) }

// IsTrustedURL reports whether url may be redirected to: a safe relative
// path ("/x", not "//x", no '\', no control characters, no %2F/%5C in the
// path) or a URL matching a trusted pattern.
func (p *Policy) IsTrustedURL(url string) bool { return p.match(url, true) }

func (p *Policy) match(url string, allowRelative bool) bool {
	if strings.HasPrefix(url, "/") {
		return allowRelative && isSafeRelativeURL(url) && len(p.patterns) > 0
	}
	// Fast path: the value is exactly a trusted canonical origin (the usual
	// Origin header), so getOrigin(value) == pattern.
	for i := range p.patterns {
		if p.patterns[i].canonical && p.patterns[i].raw == url {
			return true
		}
	}
	u, parsed := parseURL(url)
	var originStr string
	for i := range p.patterns {
		if p.patterns[i].matches(url, u, parsed, allowRelative, &originStr) {
			return true
		}
	}
	return false
}

// CheckRequest is the origin check better-auth runs on every request before
// the endpoint (§10 rule 1): for methods other than GET, HEAD and OPTIONS
// that carry a Cookie header, the Origin header (or, if empty, the Referer)
// must be present, not "null" and trusted — "Origin: null" with
// "Sec-Fetch-Site: same-origin" stands for self, the request's own origin
// (SelfOrigin). Requests without cookies (API clients, bearer tokens) pass.
func (p *Policy) CheckRequest(method string, h http.Header, self string) *contracts.Error {
	if skipMethod(method) {
		return nil
	}
	return p.validateOrigin(h, self, false)
}

// CheckFormCSRF is the login-CSRF check of /sign-in/email and /sign-up/email
// (§10 rule 4). With a Cookie header it is CheckRequest's origin check.
// Without one: "Sec-Fetch-Site: cross-site" with "Sec-Fetch-Mode: navigate"
// is CROSS_SITE_NAVIGATION_LOGIN_BLOCKED; any other Sec-Fetch-* header, or an
// Origin or Referer, requires a trusted origin; a request with none of these
// (a non-browser client) passes.
func (p *Policy) CheckFormCSRF(h http.Header, self string) *contracts.Error {
	if p.opts.DisableCSRFCheck || p.opts.DisableOriginCheck {
		return nil
	}
	if _, ok := h["Cookie"]; ok {
		return p.validateOrigin(h, self, false)
	}
	site, mode, dest := joined(h, "Sec-Fetch-Site"), joined(h, "Sec-Fetch-Mode"), joined(h, "Sec-Fetch-Dest")
	if jsTrim(site) != "" || jsTrim(mode) != "" || jsTrim(dest) != "" {
		if site == "cross-site" && mode == "navigate" {
			return contracts.CodeCrossSiteNavigationLoginBlocked.Err()
		}
		return p.validateOrigin(h, self, true)
	}
	if joined(h, "Origin") != "" || h.Get("Referer") != "" {
		return p.validateOrigin(h, self, true)
	}
	return nil
}

// validateOrigin is better-auth's validateOrigin(ctx, force).
func (p *Policy) validateOrigin(h http.Header, self string, force bool) *contracts.Error {
	if p.opts.DisableCSRFCheck || p.opts.DisableOriginCheck {
		return nil
	}
	if _, cookies := h["Cookie"]; !force && !cookies {
		return nil
	}
	origin := joined(h, "Origin")
	value := origin
	if value == "" {
		value = h.Get("Referer") // Node keeps the first of duplicate Referer headers
	}
	if origin == "null" && joined(h, "Sec-Fetch-Site") == "same-origin" {
		if o := OriginOf(self); o != "" {
			value = o
		}
	}
	if value == "" || value == "null" {
		return contracts.CodeMissingOrNullOrigin.Err()
	}
	if !p.IsTrusted(latin1ToUTF8(value)) {
		return contracts.CodeInvalidOrigin.Err()
	}
	return nil
}

// Params are the URL parameters better-auth validates on every request that
// is not GET, HEAD or OPTIONS (§10 rule 2), as decoded from the body (JSON
// values: string, float64, bool, nil, []any, map[string]any) and the query
// (string, or []string for a repeated key). A nil field was absent.
type Params struct {
	// CallbackURL is body.callbackURL.
	CallbackURL any
	// QueryCallbackURL is the callbackURL query parameter, used when
	// body.callbackURL is falsy.
	QueryCallbackURL any
	// RedirectTo is body.redirectTo.
	RedirectTo any
	// ErrorCallbackURL is body.errorCallbackURL.
	ErrorCallbackURL any
	// NewUserCallbackURL is body.newUserCallbackURL.
	NewUserCallbackURL any
}

// urlFields are the fields of Params in better-auth's order, with the label
// of its messages and the code of its 403.
var urlFields = []struct {
	label string
	code  contracts.Code
	get   func(Params) any
}{
	{"callbackURL", contracts.CodeInvalidCallbackURL, func(p Params) any {
		if jsTruthy(p.CallbackURL) {
			return p.CallbackURL
		}
		return p.QueryCallbackURL
	}},
	{"redirectURL", contracts.CodeInvalidRedirectURL, func(p Params) any { return p.RedirectTo }},
	{"errorCallbackURL", contracts.CodeInvalidErrorCallbackURL, func(p Params) any { return p.ErrorCallbackURL }},
	{"newUserCallbackURL", contracts.CodeInvalidNewUserCallbackURL, func(p Params) any { return p.NewUserCallbackURL }},
}

// CheckParams validates the URL parameters of a request that is not GET,
// HEAD or OPTIONS, in better-auth's order (callbackURL, redirectTo,
// errorCallbackURL, newUserCallbackURL): a falsy value is skipped, a value
// that is not a string is 400 "Invalid <field>: expected a string", an
// untrusted one 403 INVALID_CALLBACK_URL / INVALID_REDIRECT_URL /
// INVALID_ERROR_CALLBACK_URL / INVALID_NEW_USER_CALLBACK_URL.
func (p *Policy) CheckParams(method string, params Params) *contracts.Error {
	if skipMethod(method) || p.opts.DisableOriginCheck {
		return nil
	}
	for _, f := range urlFields {
		v := f.get(params)
		if !jsTruthy(v) {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return &contracts.Error{Status: http.StatusBadRequest, Message: "Invalid " + f.label + ": expected a string"}
		}
		if !p.IsTrustedURL(s) {
			return f.code.Err()
		}
	}
	return nil
}

// CheckCallbackURL validates the callbackURL query parameter(s) of the GET
// endpoints that redirect (/verify-email, /reset-password/:token,
// /delete-user/callback; §10 rule 3): each non-empty value must be a safe
// relative path or trusted, else 403 INVALID_CALLBACK_URL.
func (p *Policy) CheckCallbackURL(values ...string) *contracts.Error {
	if p.opts.DisableOriginCheck {
		return nil
	}
	for _, v := range values {
		if v != "" && !p.IsTrustedURL(v) {
			return contracts.CodeInvalidCallbackURL.Err()
		}
	}
	return nil
}

func skipMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// jsTruthy is JavaScript truthiness for JSON-decoded values.
func jsTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0 && x == x
	case int:
		return x != 0
	case int64:
		return x != 0
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return err != nil || (f != 0 && f == f)
	}
	return true
}

// joined is Headers.get: every value of a header joined with ", ".
func joined(h http.Header, key string) string {
	v := h[key]
	switch len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	}
	return strings.Join(v, ", ")
}

// jsTrim is String.prototype.trim over a latin-1 header value.
func jsTrim(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xA0 }
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// latin1ToUTF8 turns a header value into the string JavaScript sees: Node
// decodes header bytes as latin-1, one character per byte.
func latin1ToUTF8(s string) string {
	if isASCII(s) {
		return s
	}
	b := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		b = utf8.AppendRune(b, rune(s[i]))
	}
	return string(b)
}
