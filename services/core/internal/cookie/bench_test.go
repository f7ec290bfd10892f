package cookie

import (
	"encoding/json"
	"testing"
	"time"
)

// A browser's Cookie header on a typical request: the session cookie between
// others.
const benchHeader = "_ga=GA1.1.2093.1700000000; theme=dark; better-auth.session_token=k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH.TiUHpy3enDDHzS6Z22BY%2BtHTd7%2F0%2BDb83PViltDjAKA%3D; lang=en"

func BenchmarkVerifySigned(b *testing.B) {
	s := NewSigner([]byte(peerSecret))
	signed := s.Sign("k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Verify(signed); !ok {
			b.Fatal("not verified")
		}
	}
}

// BenchmarkSessionTokenFrom is what every request with a session pays:
// find the cookie, decode it, check the HMAC.
func BenchmarkSessionTokenFrom(b *testing.B) {
	j := newJar(b, Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := j.SessionTokenFrom(benchHeader); !ok {
			b.Fatal("not verified")
		}
	}
}

func BenchmarkGetNoDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Get(benchHeader, "lang"); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkBearer(b *testing.B) {
	j := newJar(b, Options{})
	h := "Bearer " + j.Signer().Sign("k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := j.Bearer(h); !ok {
			b.Fatal("not verified")
		}
	}
}

func BenchmarkDecodeCache(b *testing.B) {
	secret := []byte(peerSecret)
	v, err := EncodeCache(secret, CachePayload{
		Session:   json.RawMessage(`{"expiresAt":"2026-11-29T02:31:41.553Z","token":"GdulJ82ccTIELytbf6xpECb8wmtkQnXn","createdAt":"2026-11-22T02:31:41.553Z","updatedAt":"2026-11-22T02:31:41.553Z","ipAddress":"","userAgent":"node","userId":"SSd3sdKCurmg9UBnGamq58x95NweJsYc","id":"g1hS2w9zNbGwVSXDe4upQjFphBuyLRMJ"}`),
		User:      json.RawMessage(`{"name":"Alice","email":"alice@example.com","emailVerified":false,"createdAt":"2026-11-22T02:31:40.858Z","updatedAt":"2026-11-22T02:31:40.858Z","id":"SSd3sdKCurmg9UBnGamq58x95NweJsYc"}`),
		UpdatedAt: 1795314701553,
	}, 1795315001553)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeCache(secret, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetSession(b *testing.B) {
	j := newJar(b, Options{})
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.SetSession(nil, SessionCookies{Token: "k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH", Now: now}); err != nil {
			b.Fatal(err)
		}
	}
}
