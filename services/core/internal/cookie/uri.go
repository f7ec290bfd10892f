package cookie

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Header strings are handled as bytes: Node hands header values to JavaScript
// as latin-1, one character per byte, so byte-wise rules here reproduce what
// better-auth does character-wise.

const upperHex = "0123456789ABCDEF"

// uriUnreserved marks the bytes encodeURIComponent leaves alone:
// A-Z a-z 0-9 - _ . ! ~ * ' ( ).
var uriUnreserved = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_.!~*'()" {
		t[c] = true
	}
	return t
}()

// EncodeURIComponent is JavaScript's encodeURIComponent for a UTF-8 string.
func EncodeURIComponent(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !uriUnreserved[s[i]] {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if uriUnreserved[c] {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

var errURIMalformed = errors.New("URI malformed")

// DecodeURIComponent is JavaScript's decodeURIComponent: every %XX is decoded
// (reserved characters too), a malformed escape or an escaped byte sequence
// that is not valid UTF-8 fails the whole string. Bytes that are not escaped
// are kept as they are.
func DecodeURIComponent(s string) (string, error) {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			i++
			continue
		}
		v, ok := unhex2(s, i)
		if !ok {
			return "", errURIMalformed
		}
		i += 3
		if v < utf8.RuneSelf {
			b.WriteByte(v)
			continue
		}
		// A multi-byte UTF-8 sequence must be escaped completely.
		var n int
		switch {
		case v&0xE0 == 0xC0:
			n = 2
		case v&0xF0 == 0xE0:
			n = 3
		case v&0xF8 == 0xF0:
			n = 4
		default:
			return "", errURIMalformed
		}
		var seq [4]byte
		seq[0] = v
		for k := 1; k < n; k++ {
			if i >= len(s) || s[i] != '%' {
				return "", errURIMalformed
			}
			w, ok := unhex2(s, i)
			if !ok || w&0xC0 != 0x80 {
				return "", errURIMalformed
			}
			seq[k] = w
			i += 3
		}
		// utf8.Valid rejects overlong forms, surrogates and > U+10FFFF, as JS does.
		if !utf8.Valid(seq[:n]) {
			return "", errURIMalformed
		}
		b.Write(seq[:n])
	}
	return b.String(), nil
}

func unhex2(s string, i int) (byte, bool) {
	if i+2 >= len(s) {
		return 0, false
	}
	h, ok1 := unhex(s[i+1])
	l, ok2 := unhex(s[i+2])
	return h<<4 | l, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// tryDecode is better-call's (and better-auth's cookie-utils') tryDecode:
// decode only when a '%' is present, keep the input when decoding fails.
func tryDecode(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	d, err := DecodeURIComponent(s)
	if err != nil {
		return s
	}
	return d
}

// isJSSpace reports whether a latin-1 byte is whitespace for
// String.prototype.trim (the Unicode spaces beyond U+00FF cannot occur in a
// latin-1 header).
func isJSSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xA0
}

// jsTrim is String.prototype.trim over a latin-1 header string.
func jsTrim(s string) string {
	i, j := 0, len(s)
	for i < j && isJSSpace(s[i]) {
		i++
	}
	for j > i && isJSSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// trimOWS strips spaces and tabs, better-auth cookie-utils' trimOWS.
func trimOWS(s string) string {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	return s[i:j]
}
