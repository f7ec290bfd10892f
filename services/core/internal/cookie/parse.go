package cookie

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// HeaderValue returns the request's Cookie header as Node hands it to
// better-auth: several Cookie header lines joined with "; ".
func HeaderValue(h http.Header) string {
	v := h.Values("Cookie")
	switch len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	}
	return strings.Join(v, "; ")
}

// Pair is one name=value from a Cookie header.
type Pair struct {
	// Name is the cookie name, trimmed.
	Name string
	// Value is the cookie value, trimmed, unquoted and percent-decoded.
	Value string
}

// Get returns the value of the first cookie called name in a Cookie header,
// parsed exactly like better-call's parseCookies (the parser better-auth reads
// its session cookie with): pairs split on ';', name and value trimmed, a
// value starting with '"' loses its first and last character, a value
// containing '%' is decodeURIComponent-ed (kept as is when that fails), and
// the first occurrence of a name wins. It does not allocate unless the value
// needs decoding.
func Get(header, name string) (string, bool) {
	var (
		value string
		found bool
	)
	scan(header, func(k, v string) bool {
		if k == name {
			value, found = tryDecode(v), true
			return false
		}
		return true
	})
	return value, found
}

// Parse returns every cookie of a Cookie header in order of first
// occurrence, with better-call's parseCookies rules (see Get); a later
// duplicate of a name is dropped.
func Parse(header string) []Pair {
	var out []Pair
	scan(header, func(k, v string) bool {
		for _, p := range out {
			if p.Name == k {
				return true
			}
		}
		out = append(out, Pair{Name: k, Value: tryDecode(v)})
		return true
	})
	return out
}

// scan walks a Cookie header like better-call's parseCookies and calls fn
// with each trimmed name and raw (trimmed, unquoted, undecoded) value until
// fn returns false. Duplicates are passed on; callers keep the first.
func scan(str string, fn func(name, value string) bool) {
	index := 0
	for index < len(str) {
		eq := strings.IndexByte(str[index:], '=')
		if eq < 0 {
			return
		}
		eq += index
		end := strings.IndexByte(str[index:], ';')
		if end < 0 {
			end = len(str)
		} else {
			end += index
			if end < eq {
				// A ';' before the '=': restart just after the last ';' that
				// precedes the '='.
				index = strings.LastIndexByte(str[:eq], ';') + 1
				continue
			}
		}
		key := jsTrim(str[index:eq])
		val := jsTrim(str[eq+1 : end])
		if len(val) > 0 && val[0] == '"' {
			// val.slice(1, -1), whatever the last character is.
			if len(val) >= 2 {
				val = val[1 : len(val)-1]
			} else {
				val = ""
			}
		}
		if !fn(key, val) {
			return
		}
		index = end + 1
	}
}

// strictPair is one entry of better-auth's own (stricter) cookie parser.
type strictPair struct{ name, value string }

// parseStrict is better-auth's cookies/cookie-utils parseCookies, which
// better-auth uses for chunked cookies (session_data.N): split on ';', trim
// spaces and tabs, unquote a value wrapped in '"', keep only RFC-valid names
// and values; a later duplicate replaces the value but keeps the position.
func parseStrict(header string) []strictPair {
	var out []strictPair
	if len(header) < 2 {
		return nil
	}
	for chunk := range strings.SplitSeq(header, ";") {
		eq := strings.IndexByte(chunk, '=')
		if eq < 0 {
			continue
		}
		key := trimOWS(chunk[:eq])
		val := trimOWS(chunk[eq+1:])
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		if !validName(key) || !validValue(val) {
			continue
		}
		val = tryDecode(val)
		if i := slices.IndexFunc(out, func(p strictPair) bool { return p.name == key }); i >= 0 {
			out[i].value = val
			continue
		}
		out = append(out, strictPair{key, val})
	}
	return out
}

// validName is better-auth's cookieNameRegex (RFC 7230 token).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0x21, c >= 0x23 && c <= 0x27, c == 0x2A, c == 0x2B, c == 0x2D, c == 0x2E,
			c >= 0x30 && c <= 0x39, c >= 0x41 && c <= 0x5A, c >= 0x5E && c <= 0x7A, c == 0x7C, c == 0x7E:
		default:
			return false
		}
	}
	return true
}

// validValue is better-auth's cookieValueRegex (RFC 6265 cookie-octet plus
// space and comma).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x22 || c == 0x3B || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}

// chunkIndex is better-auth's parseCookieChunkIndex: name must be
// base + "." + a canonical non-negative decimal integer.
func chunkIndex(base, name string) (int, bool) {
	suffix, ok := strings.CutPrefix(name, base+".")
	if !ok || suffix == "" || len(suffix) > 16 {
		return 0, false
	}
	if len(suffix) > 1 && suffix[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(suffix); i++ {
		if suffix[i] < '0' || suffix[i] > '9' {
			return 0, false
		}
	}
	// Number.isSafeInteger
	n, err := strconv.ParseInt(suffix, 10, 64)
	if err != nil || n > 1<<53-1 {
		return 0, false
	}
	return int(n), true
}

// chunkedValue is better-auth's getChunkedCookie: the cookie called name if
// it is present and non-empty, else its chunks name.0, name.1, … joined in
// index order ("" when there are none).
func chunkedValue(header, name string) string {
	if v, ok := Get(header, name); ok && v != "" {
		return v
	}
	type chunk struct {
		index int
		value string
	}
	var chunks []chunk
	for _, p := range parseStrict(header) {
		if i, ok := chunkIndex(name, p.name); ok {
			chunks = append(chunks, chunk{i, p.value})
		}
	}
	if len(chunks) == 0 {
		return ""
	}
	slices.SortStableFunc(chunks, func(a, b chunk) int { return a.index - b.index })
	var b strings.Builder
	for _, c := range chunks {
		b.WriteString(c.value)
	}
	return b.String()
}

// existingChunks is better-auth's readExistingChunks: the names, in header
// order, of the cookies called name or name.<index>.
func existingChunks(header, name string) []string {
	var out []string
	for _, p := range parseStrict(header) {
		if p.name == name {
			out = append(out, p.name)
			continue
		}
		if _, ok := chunkIndex(name, p.name); ok {
			out = append(out, p.name)
		}
	}
	return out
}
