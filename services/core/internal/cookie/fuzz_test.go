package cookie

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzParseCookieHeader(f *testing.F) {
	for _, s := range []string{
		"", "a=1", "a=1; b=2", `a="x"`, "a; b=2", "=v", "a=%E4%BD%A0", "a=%ZZ", "a=\"", ";;=;",
		"better-auth.session_data.0=x; better-auth.session_data.1=y",
		"better-auth.session_token=k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH.TiUHpy3enDDHzS6Z22BY%2BtHTd7%2F0%2BDb83PViltDjAKA%3D",
	} {
		f.Add(s, "v")
	}
	f.Fuzz(func(t *testing.T, header, value string) {
		pairs := Parse(header)
		for _, p := range pairs {
			got, ok := Get(header, p.Name)
			if !ok || got != p.Value {
				t.Fatalf("Get(%q, %q) = %q, %v; Parse gave %q", header, p.Name, got, ok, p.Value)
			}
		}
		_ = parseStrict(header)
		_ = chunkedValue(header, "better-auth.session_data")
		_ = existingChunks(header, "better-auth.session_data")

		// What EncodeURIComponent writes, Get reads back.
		if utf8.ValidString(value) {
			h := "x=1; better-auth.session_token=" + EncodeURIComponent(value) + "; y=2"
			got, ok := Get(h, "better-auth.session_token")
			if !ok || got != value {
				t.Fatalf("round trip of %q: got %q, %v", value, got, ok)
			}
		}
	})
}

func FuzzVerifySigned(f *testing.F) {
	s := NewSigner([]byte(peerSecret))
	f.Add("k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH", "k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH.TiUHpy3enDDHzS6Z22BY+tHTd7/0+Db83PViltDjAKA=")
	f.Add("a.b", "x.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("", ".")
	f.Add("true", "Bearer abc.def")
	f.Fuzz(func(t *testing.T, value, arbitrary string) {
		// Arbitrary input never panics.
		_, _ = s.Verify(arbitrary)
		_ = s.verifyLoose(arbitrary)
		_, _ = BearerToken(s, arbitrary, false)
		_, _ = BearerToken(s, "Bearer "+arbitrary, true)
		_, _ = DecodeURIComponent(arbitrary)
		_, _ = SetAuthToken("n", []string{arbitrary})

		if value == "" {
			return // ".sig" never verifies (lastIndexOf('.') < 1), as in better-call
		}
		signed := s.Sign(value)
		if got, ok := s.Verify(signed); !ok || got != value {
			t.Fatalf("Verify(Sign(%q)) = %q, %v", value, got, ok)
		}
		if arbitrary != value {
			if got, ok := s.Verify(arbitrary + signed[len(value):]); ok {
				t.Fatalf("signature of %q verified for %q", value, got)
			}
		}
		if utf8.ValidString(value) {
			h := "better-auth.session_token=" + s.Encode(value)
			v, _ := Get(h, "better-auth.session_token")
			if got, ok := s.Verify(v); !ok || got != value {
				t.Fatalf("cookie round trip of %q: %q, %v", value, got, ok)
			}
		}
		if !strings.ContainsAny(value, ".%") && !isJSSpace(value[0]) {
			if got, ok := BearerToken(s, "Bearer "+signed, true); !ok || got != value {
				t.Fatalf("bearer round trip of %q: %q, %v", value, got, ok)
			}
		}
	})
}

func FuzzDecodeCache(f *testing.F) {
	secret := []byte(peerSecret)
	good, err := EncodeCache(secret, CachePayload{Session: []byte(`{"token":"t"}`), User: []byte(`{"id":"u"}`), UpdatedAt: 1}, 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, `{"a":"<b>"}`)
	f.Add("", "{}")
	f.Add("eyJzZXNzaW9uIjp7fX0", `{"x":1}`)
	f.Fuzz(func(t *testing.T, value, object string) {
		_, _ = DecodeCache(secret, value)
		v, err := EncodeCache(secret, CachePayload{Session: []byte(object), User: []byte(`{"id":"u"}`), UpdatedAt: 5}, 7)
		if err != nil {
			return // not a JSON object
		}
		c, err := DecodeCache(secret, v)
		if err != nil {
			t.Fatalf("DecodeCache(EncodeCache(%q)): %v", object, err)
		}
		if c.ExpiresAt != 7 || c.UpdatedAt != 5 || c.Expired(time.UnixMilli(7)) {
			t.Fatalf("round trip changed the payload: %+v", c)
		}
	})
}
