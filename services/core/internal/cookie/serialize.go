package cookie

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxCookieAge is better-call's 400-day ceiling for Max-Age and Expires.
const maxCookieAge = 400 * 24 * time.Hour

// ErrTooLong reports a Max-Age or Expires more than 400 days away, which
// better-call refuses to serialise.
var ErrTooLong = errors.New("cookie: Max-Age/Expires more than 400 days ahead")

// Attributes are a Set-Cookie's attributes, serialised in better-call's order:
// Max-Age, Domain, Path, Expires, HttpOnly, Secure, SameSite, Partitioned.
type Attributes struct {
	// MaxAge in seconds, net/http style: 0 means no Max-Age attribute (a
	// browser-session cookie), negative means "Max-Age=0" (delete now).
	MaxAge int
	// Domain, when not empty, is emitted as Domain=<Domain>.
	Domain string
	// Path, when not empty, is emitted as Path=<Path>.
	Path string
	// Expires, when not zero, is emitted in RFC 1123 GMT form.
	Expires time.Time
	// HTTPOnly emits HttpOnly.
	HTTPOnly bool
	// Secure emits Secure; it is forced on by a __Secure-/__Host- name,
	// SameSite=None and Partitioned.
	Secure bool
	// SameSite is "lax", "strict" or "none" (any case); emitted capitalised.
	// Empty means no attribute.
	SameSite string
	// Partitioned emits Partitioned.
	Partitioned bool
}

// Serialize returns a Set-Cookie header value for name and value, exactly as
// better-call's serializeCookie writes it: the value encodeURIComponent-ed,
// then the attributes in better-call's order, with its prefix rules
// (__Host-: Secure, Path=/, no Domain; __Secure-: Secure; SameSite=None or
// Partitioned: Secure).
func Serialize(name, value string, a Attributes) (string, error) {
	return serializeRaw(name, EncodeURIComponent(value), a, time.Now())
}

// serializeRaw is better-call's serializeCookieValue: value is written as is.
func serializeRaw(name, value string, a Attributes, now time.Time) (string, error) {
	lower := strings.ToLower(name)
	switch {
	case strings.HasPrefix(lower, "__host-"):
		a.Secure, a.Path, a.Domain = true, "/", ""
	case strings.HasPrefix(lower, "__secure-"):
		a.Secure = true
	}
	if a.Partitioned || strings.EqualFold(a.SameSite, "none") {
		a.Secure = true
	}
	if a.MaxAge > int(maxCookieAge/time.Second) {
		return "", ErrTooLong
	}
	if !a.Expires.IsZero() && a.Expires.Sub(now) > maxCookieAge {
		return "", ErrTooLong
	}
	var b strings.Builder
	b.Grow(len(name) + 1 + len(value) + 64 + len(a.Domain) + len(a.Path))
	b.WriteString(name)
	b.WriteByte('=')
	b.WriteString(value)
	switch {
	case a.MaxAge > 0:
		b.WriteString("; Max-Age=")
		b.WriteString(strconv.Itoa(a.MaxAge))
	case a.MaxAge < 0:
		b.WriteString("; Max-Age=0")
	}
	if a.Domain != "" {
		b.WriteString("; Domain=")
		b.WriteString(a.Domain)
	}
	if a.Path != "" {
		b.WriteString("; Path=")
		b.WriteString(a.Path)
	}
	if !a.Expires.IsZero() {
		b.WriteString("; Expires=")
		b.WriteString(a.Expires.UTC().Format(http.TimeFormat))
	}
	if a.HTTPOnly {
		b.WriteString("; HttpOnly")
	}
	if a.Secure {
		b.WriteString("; Secure")
	}
	if a.SameSite != "" {
		b.WriteString("; SameSite=")
		b.WriteString(strings.ToUpper(a.SameSite[:1]))
		b.WriteString(a.SameSite[1:])
	}
	if a.Partitioned {
		b.WriteString("; Partitioned")
	}
	return b.String(), nil
}
