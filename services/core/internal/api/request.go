package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/authbus/authbus/pkg/contracts"
)

// Media types a body may have.
const (
	mediaJSON = "application/json"
	mediaForm = "application/x-www-form-urlencoded"
)

var (
	errInvalidJSON     = contracts.CodeBadRequest.Err() // "Invalid JSON in request body"
	errPayloadTooLarge = contracts.CodePayloadTooLarge.Err()
)

// readBody decodes a request body like better-call's getBody: no body (or
// no Content-Type, as Node hands it over) is absent; a media type outside
// allowed is 415; JSON is parsed (400 when malformed); a form becomes an
// object of strings (the last of repeated keys wins). Bodies over limit
// are 413.
func readBody(w http.ResponseWriter, r *http.Request, allowed []string, limit int64) (any, bool, *contracts.Error) {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil, false, nil
	}
	contentType := headerGet(r.Header, "Content-Type")
	if contentType == "" {
		return nil, false, nil
	}
	normalized := strings.ToLower(contentType)
	media, _, _ := strings.Cut(normalized, ";")
	media = strings.TrimSpace(media)
	ok := false
	for _, a := range allowed {
		if media == a {
			ok = true
			break
		}
	}
	if !ok {
		return nil, false, contracts.CodeUnsupportedMediaType.Errorf("Content-Type %q is not allowed. Allowed types: %s",
			contentType, strings.Join(allowed, ", "))
	}
	if r.ContentLength > limit {
		return nil, false, errPayloadTooLarge
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, false, errPayloadTooLarge
		}
		return nil, false, contracts.CodeBadRequest.Errorf("Could not read the request body")
	}
	if media == mediaForm {
		return formObject(string(raw)), true, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, false, errInvalidJSON
	}
	return v, true, nil
}

// decodeJSON parses exactly one JSON value (numbers as json.Number); a
// leading byte-order mark is dropped as TextDecoder drops it.
func decodeJSON(raw []byte) (any, error) {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// formObject is request.formData() of a urlencoded body as better-call
// turns it into an object: every value a string, the last key wins.
func formObject(body string) map[string]any {
	out := map[string]any{}
	for _, kv := range parseURLEncoded(body) {
		out[kv[0]] = kv[1]
	}
	return out
}

// queryObject is better-call's query object: a repeated key becomes an array.
func queryObject(rawQuery string) map[string]any {
	out := map[string]any{}
	for _, kv := range parseURLEncoded(rawQuery) {
		switch prev := out[kv[0]].(type) {
		case nil:
			out[kv[0]] = kv[1]
		case string:
			out[kv[0]] = []string{prev, kv[1]}
		case []string:
			out[kv[0]] = append(prev, kv[1])
		}
	}
	return out
}

// parseURLEncoded is the WHATWG application/x-www-form-urlencoded parser
// (URLSearchParams): '&'-separated, '+' is a space, percent-decoding that
// keeps invalid escapes as they are, bytes read as UTF-8 with replacement.
func parseURLEncoded(s string) [][2]string {
	var out [][2]string
	for s != "" {
		var part string
		part, s, _ = strings.Cut(s, "&")
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		out = append(out, [2]string{percentDecode(name), percentDecode(value)})
	}
	return out
}

func percentDecode(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return toValidUTF8(s)
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return toValidUTF8(string(b))
}

func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// headerGet is the Fetch API's Headers.get: every value of a header joined with ", ".
func headerGet(h http.Header, key string) string {
	v := h.Values(key)
	switch len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	}
	return strings.Join(v, ", ")
}

// clientIP is the request's client address: the remote address, or, when
// that is a trusted proxy, the right-most X-Forwarded-For entry that is not
// a trusted proxy itself.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	remote, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	remote = remote.Unmap()
	if len(trusted) == 0 || !isTrusted(remote, trusted) {
		return remote.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		a, err := netip.ParseAddr(hop)
		if err != nil {
			// Not an address: nothing to the left of it can be trusted either.
			break
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a.String()
		}
		remote = a
	}
	return remote.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseCIDRs parses trusted-proxy CIDRs ("10.0.0.0/8"); a bare address is a
// single-host prefix.
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is neither a CIDR nor an IP address", s))
			continue
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, errors.Join(errs...)
}
