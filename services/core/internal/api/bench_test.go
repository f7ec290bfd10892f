package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/auth/authtest"
	"github.com/authbus/authbus/services/core/internal/password"
)

// The benchmarks call the handler directly (no TCP) so that they measure
// the API, the flows and the store.

func benchEnv(b *testing.B, backend authtest.Backend, hasher auth.PasswordHasher) *env {
	b.Helper()
	return newEnv(b, backend, func(c *config) { c.noMail = true; c.hasher = hasher })
}

func serve(e *env, method, path, body, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, e.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// sessionCookies signs up n users and returns their session cookies.
func sessionCookies(b *testing.B, e *env, n int) []string {
	b.Helper()
	out := make([]string, n)
	for i := range out {
		rec := serve(e, http.MethodPost, "/sign-up/email",
			fmt.Sprintf(`{"name":"Bench","email":"bench-%d@example.com","password":"password123"}`, i), "")
		if rec.Code != http.StatusOK {
			b.Fatalf("sign-up: %d %s", rec.Code, rec.Body)
		}
		out[i] = strings.SplitN(rec.Header().Get("Set-Cookie"), ";", 2)[0]
	}
	return out
}

// BenchmarkGetSession is GET /get-session from a session cookie to the JSON
// answer, from parallel clients over 100 sessions.
func BenchmarkGetSession(b *testing.B) {
	for _, backend := range authtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			e := benchEnv(b, backend, &authtest.FastHasher{})
			cookies := sessionCookies(b, e, 100)
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := serve(e, http.MethodGet, "/get-session", "", cookies[next.Add(1)%int64(len(cookies))])
					if rec.Code != http.StatusOK || rec.Body.Len() < 100 {
						b.Errorf("get-session: %d %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSignIn is POST /sign-in/email with the real scrypt pool
// (GOMAXPROCS workers): scrypt dominates.
func BenchmarkSignIn(b *testing.B) {
	for _, backend := range authtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			hasher := password.NewHasher(0)
			defer hasher.Close()
			e := benchEnv(b, backend, hasher)
			sessionCookies(b, e, 1)
			body := `{"email":"bench-0@example.com","password":"password123"}`
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if rec := serve(e, http.MethodPost, "/sign-in/email", body, ""); rec.Code != http.StatusOK {
						b.Errorf("sign-in: %d %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSignUp is POST /sign-up/email with the real scrypt pool: user,
// credential, session and two events in one transaction.
func BenchmarkSignUp(b *testing.B) {
	for _, backend := range authtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			hasher := password.NewHasher(0)
			defer hasher.Close()
			e := benchEnv(b, backend, hasher)
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					body := fmt.Sprintf(`{"name":"Bench","email":"up-%d@example.com","password":"password123"}`, next.Add(1))
					if rec := serve(e, http.MethodPost, "/sign-up/email", body, ""); rec.Code != http.StatusOK {
						b.Errorf("sign-up: %d %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGetSessionDuringSignInBurst measures get-session while 4×GOMAXPROCS
// clients sign in without pause (a credential-stuffing burst): with the
// scrypt pool sized to GOMAXPROCS the sign-ins queue for a slot and
// get-session keeps its CPU; with an unbounded pool (one slot per client)
// every scrypt competes with it. Reported: get-session latency p50/p99.
func BenchmarkGetSessionDuringSignInBurst(b *testing.B) {
	burst := 4 * runtime.GOMAXPROCS(0)
	for _, pool := range []struct {
		name    string
		workers int
	}{{"pool=GOMAXPROCS", 0}, {"pool=unbounded", burst}} {
		b.Run(pool.name, func(b *testing.B) {
			hasher := password.NewHasher(pool.workers)
			defer hasher.Close()
			e := benchEnv(b, authtest.Backends()[0], hasher)
			cookie := sessionCookies(b, e, 1)[0]
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range burst {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						serve(e, http.MethodPost, "/sign-in/email", `{"email":"bench-0@example.com","password":"wrong-password"}`, "")
					}
				}()
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if rec := serve(e, http.MethodGet, "/get-session?disableRefresh=true", "", cookie); rec.Code != http.StatusOK {
					b.Fatalf("get-session: %d", rec.Code)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			cancel()
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "get-session-p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "get-session-p99-µs")
		})
	}
}
