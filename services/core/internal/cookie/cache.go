package cookie

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Errors of the session_data cookie cache.
var (
	// ErrNoCache means the request has no session_data cookie.
	ErrNoCache = errors.New("cookie: no session_data cookie")
	// ErrInvalidCache means the session_data cookie is malformed or its
	// signature does not verify; better-auth expires such a cookie.
	ErrInvalidCache = errors.New("cookie: invalid session_data cookie")
)

// maxCookieSize is better-auth's per-cookie byte ceiling before chunking.
const maxCookieSize = 4050

// maxCookieChunks is the most chunks better-auth writes; beyond it the cache
// is skipped.
const maxCookieChunks = 100

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER.
const maxSafeInteger = 1<<53 - 1

// CachePayload is the content of the session_data cookie cache (better-auth's
// {session, user, updatedAt, version}).
type CachePayload struct {
	// Session is the session object's JSON (better-auth's output fields).
	Session json.RawMessage
	// User is the user object's JSON.
	User json.RawMessage
	// UpdatedAt is when the cache was written, in Unix milliseconds.
	UpdatedAt int64
	// Version is session.cookieCache.version; "" means "1".
	Version string
}

// Cache is a verified session_data cookie.
type Cache struct {
	CachePayload
	// ExpiresAt is the cache's own expiry in Unix milliseconds (not the
	// session's): cookieCache.maxAge after it was written, or 60 s for a
	// rememberMe:false session.
	ExpiresAt int64
}

// Expired reports whether the cache has expired at now.
func (c Cache) Expired(now time.Time) bool { return c.ExpiresAt < now.UnixMilli() }

// EncodeCache returns the session_data value of better-auth's "compact"
// strategy:
//
//	base64url(JSON{"session":P,"expiresAt":E,"signature":S})
//	P = {"session":…,"user":…,"updatedAt":…,"version":…}
//	S = base64url(HMAC-SHA256(secret, P with ,"expiresAt":E added before its closing brace))
//
// Session and User must be JSON objects as encoding/json writes them; their
// HTML-safe escapes (\u003c, \u003e, \u0026, \u2028, \u2029, \ufffd) are
// turned back into the characters JSON.stringify writes, so better-auth's own
// getCookieCache (which re-serialises before checking the signature) accepts
// the value too. For that, date strings inside must also be in JavaScript's
// toISOString form (millisecond precision, "Z").
func EncodeCache(secret []byte, p CachePayload, expiresAt int64) (string, error) {
	session, err := jsCompactObject(p.Session)
	if err != nil {
		return "", fmt.Errorf("cookie: cache session: %w", err)
	}
	user, err := jsCompactObject(p.User)
	if err != nil {
		return "", fmt.Errorf("cookie: cache user: %w", err)
	}
	version := p.Version
	if version == "" {
		version = "1"
	}
	versionJSON, err := jsonString(version)
	if err != nil {
		return "", err
	}
	exp := strconv.AppendInt(nil, expiresAt, 10)

	payload := make([]byte, 0, len(session)+len(user)+80)
	payload = append(payload, `{"session":`...)
	payload = append(payload, session...)
	payload = append(payload, `,"user":`...)
	payload = append(payload, user...)
	payload = append(payload, `,"updatedAt":`...)
	payload = strconv.AppendInt(payload, p.UpdatedAt, 10)
	payload = append(payload, `,"version":`...)
	payload = append(payload, versionJSON...)
	payload = append(payload, '}')

	sig := cacheSignature(secret, payload, exp)
	outer := make([]byte, 0, len(payload)+len(exp)+80)
	outer = append(outer, `{"session":`...)
	outer = append(outer, payload...)
	outer = append(outer, `,"expiresAt":`...)
	outer = append(outer, exp...)
	outer = append(outer, `,"signature":"`...)
	outer = append(outer, sig...)
	outer = append(outer, `"}`...)
	return base64.RawURLEncoding.EncodeToString(outer), nil
}

// cacheSignature is base64url(HMAC(secret, JSON.stringify({...P, expiresAt}))),
// built from P's raw JSON.
func cacheSignature(secret, payload, exp []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(signedCacheText(payload, exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signedCacheText is P's JSON with ,"expiresAt":E before its closing brace.
func signedCacheText(payload, exp []byte) []byte {
	out := make([]byte, 0, len(payload)+len(exp)+16)
	out = append(out, payload[:len(payload)-1]...)
	if len(bytes.TrimSpace(payload[1:len(payload)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"expiresAt":`...)
	out = append(out, exp...)
	return append(out, '}')
}

// DecodeCache verifies and decodes a session_data value written by
// EncodeCache or by better-auth ("compact" strategy). The signature is
// checked over the payload's JSON exactly as it appears in the cookie.
// It does not check expiry: see Cache.Expired.
func DecodeCache(secret []byte, value string) (Cache, error) {
	raw, ok := decodeBase64Loose(value)
	if !ok {
		return Cache{}, fmt.Errorf("%w: not base64", ErrInvalidCache)
	}
	if !utf8.Valid(raw) {
		// TextDecoder would substitute U+FFFD; nothing genuine contains
		// invalid UTF-8, so refuse instead of guessing.
		return Cache{}, fmt.Errorf("%w: not UTF-8", ErrInvalidCache)
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(raw, &outer); err != nil {
		return Cache{}, fmt.Errorf("%w: %w", ErrInvalidCache, err)
	}
	payload := outer["session"]
	exp := outer["expiresAt"]
	var sig string
	if len(payload) == 0 || payload[0] != '{' {
		return Cache{}, fmt.Errorf("%w: session is not an object", ErrInvalidCache)
	}
	expiresAt, ok := safeInteger(exp)
	if !ok {
		return Cache{}, fmt.Errorf("%w: expiresAt is not an integer", ErrInvalidCache)
	}
	if err := json.Unmarshal(outer["signature"], &sig); err != nil {
		return Cache{}, fmt.Errorf("%w: signature is not a string", ErrInvalidCache)
	}

	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return Cache{}, fmt.Errorf("%w: %w", ErrInvalidCache, err)
	}
	if _, dup := fields["expiresAt"]; dup {
		// JSON.stringify({...P, expiresAt}) would reuse the key's position;
		// better-auth never writes such a payload.
		return Cache{}, fmt.Errorf("%w: payload has expiresAt", ErrInvalidCache)
	}

	var want [sha256.Size + 2]byte
	n, ok := decodeLoose(want[:], sig)
	if !ok || n != sha256.Size {
		return Cache{}, fmt.Errorf("%w: bad signature encoding", ErrInvalidCache)
	}
	m := hmac.New(sha256.New, secret)
	m.Write(signedCacheText(payload, exp))
	if !hmac.Equal(m.Sum(nil), want[:sha256.Size]) {
		return Cache{}, fmt.Errorf("%w: signature mismatch", ErrInvalidCache)
	}

	c := Cache{ExpiresAt: expiresAt}
	c.Session, c.User = fields["session"], fields["user"]
	if len(c.Session) == 0 || c.Session[0] != '{' || len(c.User) == 0 || c.User[0] != '{' {
		return Cache{}, fmt.Errorf("%w: session and user must be objects", ErrInvalidCache)
	}
	var updatedAt float64
	if err := json.Unmarshal(fields["updatedAt"], &updatedAt); err != nil {
		return Cache{}, fmt.Errorf("%w: updatedAt is not a number", ErrInvalidCache)
	}
	c.UpdatedAt = int64(updatedAt)
	if v, ok := fields["version"]; ok {
		if err := json.Unmarshal(v, &c.Version); err != nil {
			return Cache{}, fmt.Errorf("%w: version is not a string", ErrInvalidCache)
		}
	}
	if c.Version == "" {
		c.Version = "1" // (payload.version || "1")
	}
	return c, nil
}

// safeInteger parses a JSON number token that JavaScript would print back
// unchanged: an integer within ±(2^53-1), not "-0".
func safeInteger(tok json.RawMessage) (int64, bool) {
	s := string(tok)
	if s == "" || s == "-0" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxSafeInteger || n < -maxSafeInteger {
		return 0, false
	}
	return n, true
}

// decodeBase64Loose is @better-auth/utils base64Url.decode: URL alphabet if
// the text has '-' or '_' (else standard), stop at '=', refuse other bytes.
func decodeBase64Loose(s string) ([]byte, bool) {
	buf := make([]byte, len(s)*3/4+1)
	n, ok := decodeLoose(buf, s)
	if !ok || n > len(buf) {
		return nil, false
	}
	return buf[:n], true
}

// appendCache appends the session_data cookies for value like better-auth's
// session store chunk(): every session_data cookie or chunk of the request
// expired first (in request order), a new cookie replacing an expired one of
// the same name in place, the value split into name.0, name.1, … when one
// cookie would exceed 4050 bytes, and nothing new when more than 100 chunks
// would be needed.
func (j *Jar) appendCache(dst []string, value string, maxAge int, requestCookie string, now time.Time) ([]string, error) {
	attrs := j.SessionData.Attributes
	attrs.MaxAge = maxAge
	type entry struct{ name, value string }
	var entries []entry
	for _, name := range existingChunks(requestCookie, j.SessionData.Name) {
		entries = append(entries, entry{name, Spec{Name: name, Attributes: attrs}.Expired()})
	}
	put := func(name, v string) error {
		line, err := serializeRaw(name, EncodeURIComponent(v), attrs, now)
		if err != nil {
			return err
		}
		for i := range entries {
			if entries[i].name == name {
				entries[i].value = line
				return nil
			}
		}
		entries = append(entries, entry{name, line})
		return nil
	}

	overhead, err := serializeRaw(j.SessionData.Name+".99", "", attrs, now)
	if err != nil {
		return dst, err
	}
	size := maxCookieSize - len(overhead)
	switch {
	case size > 0 && len(value) <= size:
		if err := put(j.SessionData.Name, value); err != nil {
			return dst, err
		}
	case size > 0 && (len(value)+size-1)/size <= maxCookieChunks:
		for i := 0; i*size < len(value); i++ {
			end := min((i+1)*size, len(value))
			if err := put(j.SessionData.Name+"."+strconv.Itoa(i), value[i*size:end]); err != nil {
				return dst, err
			}
		}
	default:
		// Too large even after chunking: better-auth skips the cache.
	}
	for _, e := range entries {
		dst = append(dst, e.value)
	}
	return dst, nil
}

// jsCompactObject checks that raw is a JSON object and returns it without
// insignificant whitespace and with encoding/json's HTML-safe escapes turned
// back into the characters JSON.stringify writes.
func jsCompactObject(raw json.RawMessage) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if len(b) == 0 || b[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	return unescapeHTMLSafe(b), nil
}

// unescapeHTMLSafe rewrites \u003c \u003e \u0026 \u2028 \u2029 \ufffd inside
// JSON strings into the raw characters, leaving every other escape alone.
func unescapeHTMLSafe(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 >= len(b) {
			out = append(out, c)
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			if r, ok := parseHex4(b[i+2 : i+6]); ok {
				switch r {
				case '<', '>', '&', '\u2028', '\u2029', '\ufffd':
					out = utf8.AppendRune(out, r)
					i += 5
					continue
				}
			}
		}
		// Any other escape: copy both characters so an escaped backslash is
		// never mistaken for the start of an escape.
		out = append(out, c, b[i+1])
		i++
	}
	return out
}

func parseHex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h {
		v, ok := unhex(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// jsonString is JSON.stringify of a string as encoding/json writes it, minus
// the HTML-safe escapes.
func jsonString(s string) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return unescapeHTMLSafe(b), nil
}
