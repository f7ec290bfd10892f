package password

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkHash is the cost of one better-auth scrypt (N=16384, r=16).
func BenchmarkHash(b *testing.B) {
	h := NewHasher(1)
	defer h.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "password123"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyBurst fires a burst of concurrent verifications (a sign-in
// storm) while another goroutine keeps doing a cheap request-sized operation
// (an HMAC, like verifying a session cookie), and reports how long that cheap
// operation takes: with the pool sized to GOMAXPROCS the burst queues; with an
// unbounded pool every scrypt competes for the CPUs and the cheap work waits
// behind all of them.
func BenchmarkVerifyBurst(b *testing.B) {
	const burst = 16
	stored, err := NewHasher(1).Hash(context.Background(), "password123")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name    string
		workers int
	}{
		{name: "pool=GOMAXPROCS", workers: runtime.GOMAXPROCS(0)},
		{name: "unbounded", workers: burst},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := NewHasher(bc.workers)
			defer h.Close()
			var lat []time.Duration
			for b.Loop() {
				lat = append(lat, runBurst(b, h, stored, burst)...)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "cheap-p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "cheap-p99-µs")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "cheap-max-µs")
		})
	}
}

// runBurst runs burst verifications and, until they are done, starts a
// cheap operation in a new goroutine every millisecond (a request arriving);
// it returns each cheap operation's latency from arrival to completion.
func runBurst(b *testing.B, h *Hasher, stored string, burst int) []time.Duration {
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Verify(context.Background(), stored, "password123"); err != nil {
				b.Error(err)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	key := []byte("peer-test-secret-0123456789-abcdefghijklmnop")
	var (
		mu    sync.Mutex
		lat   []time.Duration
		cheap sync.WaitGroup
	)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
			cheap.Add(1)
			start := time.Now()
			go func() {
				defer cheap.Done()
				m := hmac.New(sha256.New, key)
				m.Write([]byte("k4zpxozLjlGHlUPUqDTVP8y9vnw6WGOH"))
				m.Sum(nil)
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
	}
	cheap.Wait()
	return lat
}
