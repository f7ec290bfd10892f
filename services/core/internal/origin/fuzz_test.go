package origin

import (
	"strings"
	"testing"
)

// FuzzIsTrustedURL: the URL checker never panics, trusts only what its
// patterns allow, and the WHATWG origin serialisation is a fixed point.
func FuzzIsTrustedURL(f *testing.F) {
	for _, s := range []string{
		"/dashboard", "//evil.com", `/\evil`, "/%2fx", "http://localhost:3000", "https://app.example.com/x",
		"https://a.example.com@evil.com", `http://evil.com\@app.example.com`, "http://[::1]:80", "http://0x7f.1",
		"http://münchen.de", "myapp://cb/../x", "javascript://app.example.com/%0a", "http://xn--.de", "exp://192.168.1.1:8081",
		"http:\\\\app.example.com", "HTTPS://APP.EXAMPLE.COM:443", "http://a:65536", "file:///x",
	} {
		f.Add(s)
	}
	exact := New([]string{"https://app.example.com", "http://localhost:3000"}, Options{})
	wild := New([]string{"*.example.com", "https://*.example.net", "myapp://", "exp://192.168.*.*:8081", "myapp://h/cb/*"}, Options{})
	f.Fuzz(func(t *testing.T, s string) {
		_ = wild.IsTrustedURL(s)
		_ = wild.IsTrusted(s)
		_, _ = parseCustomSchemeOrigin(s, true)
		_ = normalizePath(s)

		if exact.IsTrustedURL(s) {
			if strings.HasPrefix(s, "/") {
				if strings.HasPrefix(s, "//") || strings.Contains(s, `\`) {
					t.Fatalf("unsafe relative path trusted: %q", s)
				}
			} else if o := OriginOf(s); o != "https://app.example.com" && o != "http://localhost:3000" {
				t.Fatalf("%q trusted with origin %q", s, o)
			}
		}
		if u, ok := parseURL(s); ok {
			if scriptSchemes[u.scheme] && wild.IsTrustedURL(s) {
				t.Fatalf("script URL trusted: %q", s)
			}
			if u.hasOrigin() {
				o := u.origin()
				v, ok := parseURL(o)
				if !ok || v.origin() != o || !v.originEquals(o) {
					t.Fatalf("origin %q of %q does not re-parse to itself (%v, %q)", o, s, ok, v.origin())
				}
			}
		}
	})
}

// FuzzGlob: the hand-written wildcard matcher agrees with the regular
// expression better-auth's wildcardMatch builds (checked on inputs where
// UTF-16 units and runes coincide).
func FuzzGlob(f *testing.F) {
	f.Add("*.example.com", "a.example.com")
	f.Add("https://app-?.example.com", "https://app-1.example.com")
	f.Add(`a\*b*`, "a*bc")
	f.Add("*a*b*c*", "xxaxxbxcx")
	f.Add("??", "é")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		g := compileGlob(pattern)
		got := g.MatchString(s)
		for _, r := range s {
			if r >= 0x10000 {
				return
			}
		}
		for _, r := range pattern {
			if r >= 0x10000 {
				return
			}
		}
		if want := g.re.MatchString(s); got != want {
			t.Fatalf("glob %q on %q: %v, regexp says %v", pattern, s, got, want)
		}
	})
}
