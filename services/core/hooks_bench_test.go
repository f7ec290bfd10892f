package core

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
)

// latency is a latency distribution's p50 and p99.
type latency struct{ p50, p99 time.Duration }

// BenchmarkSignInHooks measures what hook plugins add to a sign-in: the
// whole path, HTTP → core → NATS → SDK plugins (each serving beforeSignIn,
// called in sequence, and afterSignIn, called in parallel) → HTTP answer,
// with a fast password hasher so that scrypt (~100 ms) does not drown the
// signal, and SQLite on tmpfs so that fsync does not either. NATS is
// in-process or loopback TCP, for the core and the plugins alike.
//
// Each sub-benchmark runs two stacks side by side — one with the plugins,
// one without (the baseline) — and alternates sign-ins between them, so
// that both see the same load on a shared machine; ns/op covers one sign-in
// on each. Metrics: p50-ms and p99-ms of a sign-in with the plugins,
// base-p50-ms and base-p99-ms without, added-p50-ms/plugin and
// added-p99-ms/plugin (the difference divided by the number of plugins),
// and core-msgs/op, what the core's NATS connection sent per sign-in: 2 per
// plugin (its beforeSignIn and afterSignIn requests) and nothing for the
// points nobody subscribes to (beforeRequest, beforeSessionCreate,
// afterSessionCreate, afterRequest; all of them for plugins=0 and for
// unsubscribed=3, three plugins that serve only beforeSignUp).
//
//	go test -run '^$' -bench BenchmarkSignInHooks -benchtime 3000x ./services/core/
func BenchmarkSignInHooks(b *testing.B) {
	signIn := []contracts.HookPoint{contracts.HookBeforeSignIn, contracts.HookAfterSignIn}
	for _, transport := range []string{"inprocess", "tcp"} {
		b.Run(transport, func(b *testing.B) {
			b.Run("plugins=0", func(b *testing.B) { benchSignIn(b, transport, 0, nil) })
			b.Run("plugins=1", func(b *testing.B) { benchSignIn(b, transport, 1, signIn) })
			b.Run("plugins=3", func(b *testing.B) { benchSignIn(b, transport, 3, signIn) })
			b.Run("unsubscribed=3", func(b *testing.B) {
				benchSignIn(b, transport, 3, []contracts.HookPoint{contracts.HookBeforeSignUp})
			})
		})
	}
}

// benchSignIn measures sign-ins with n plugins serving points against a
// baseline stack without plugins.
func benchSignIn(b *testing.B, transport string, n int, points []contracts.HookPoint) {
	target := newSignInBench(b, transport, n, points)
	var base *signInBench
	if n > 0 {
		base = newSignInBench(b, transport, 0, nil)
	}
	first := true
	for b.Loop() {
		// Alternate which goes first, so neither always follows the other.
		if first || base == nil {
			target.signIn(b)
			if base != nil {
				base.signIn(b)
			}
		} else {
			base.signIn(b)
			target.signIn(b)
		}
		first = !first
	}
	got := target.latency()
	b.ReportMetric(ms(got.p50), "p50-ms")
	b.ReportMetric(ms(got.p99), "p99-ms")
	b.ReportMetric(target.msgsPerOp(), "core-msgs/op")
	if base == nil {
		return
	}
	// One hook call as the core's dispatcher timed it (request sent → valid
	// reply decoded), the slowest target's percentiles over its recent calls.
	var callP50, callP99 time.Duration
	for _, ts := range target.st.svc.hooks.Stats() {
		callP50, callP99 = max(callP50, time.Duration(ts.P50)), max(callP99, time.Duration(ts.P99))
	}
	b.ReportMetric(ms(callP50), "hook-call-p50-ms")
	b.ReportMetric(ms(callP99), "hook-call-p99-ms")
	bl := base.latency()
	b.ReportMetric(ms(bl.p50), "base-p50-ms")
	b.ReportMetric(ms(bl.p99), "base-p99-ms")
	b.ReportMetric(ms(got.p50-bl.p50)/float64(n), "added-p50-ms/plugin")
	b.ReportMetric(ms(got.p99-bl.p99)/float64(n), "added-p99-ms/plugin")
}

// signInBench is one stack signing one user in again and again.
type signInBench struct {
	st      *stack
	c       *client
	samples []time.Duration
	msgs0   uint64
}

// newSignInBench starts a stack with n plugins serving points, signs the
// benchmark user up and warms the path.
func newSignInBench(b *testing.B, transport string, n int, points []contracts.HookPoint) *signInBench {
	b.Helper()
	dir, err := os.MkdirTemp(tmpfsDir(), "authbus-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	opts := []stackOption{quietLogs(), withConfig(func(c *Config) { c.DatabaseURL = filepath.Join(dir, "core.db") })}
	if transport == "tcp" {
		opts = append(opts, overTCP())
	}
	st := startStack(b, opts...)
	var ids []string
	for i := range n {
		id := fmt.Sprintf("hook-%d", i)
		ids = append(ids, id)
		var decls []contracts.HookDecl
		for _, p := range points {
			decls = append(decls, contracts.HookDecl{Point: p, Order: i})
		}
		p := plugin.New[noConfig](manifest(id, decls...))
		for _, point := range points {
			switch point {
			case contracts.HookBeforeSignIn:
				onHook(p, point, func(context.Context, contracts.SignInContext) plugin.Decision { return plugin.Continue() })
			case contracts.HookAfterSignIn:
				onHook(p, point, func(context.Context, contracts.SessionEventContext) plugin.Decision { return plugin.Continue() })
			case contracts.HookBeforeSignUp:
				onHook(p, point, func(context.Context, contracts.SignUpContext) plugin.Decision { return plugin.Continue() })
			}
		}
		st.serve(b, p)
	}
	for _, point := range points {
		st.waitPlan(b, point, ids...)
	}
	s := &signInBench{st: st, c: st.client(b), samples: make([]time.Duration, 0, 8192)}
	s.c.signUp(b, "bench@example.com", "Bench").requireOK(b)
	for range 200 { // connections, pools and caches
		s.signIn(b)
	}
	s.samples = s.samples[:0]
	s.msgs0 = st.svc.nc.Stats().OutMsgs
	return s
}

// signIn signs the user in once and records how long it took.
func (s *signInBench) signIn(b *testing.B) {
	start := time.Now()
	res := s.c.try(http.MethodPost, "/api/auth/sign-in/email", map[string]any{"email": "bench@example.com", "password": testPassword})
	d := time.Since(start)
	if res.err != nil || res.r.Status != http.StatusOK {
		b.Fatalf("sign-in: %v %d %s", res.err, res.r.Status, res.r.Body)
	}
	s.samples = append(s.samples, d)
}

// latency is the p50 and p99 of the recorded sign-ins.
func (s *signInBench) latency() latency {
	sorted := slices.Clone(s.samples)
	slices.Sort(sorted)
	return latency{p50: percentile(sorted, 0.50), p99: percentile(sorted, 0.99)}
}

// msgsPerOp is what the core's NATS connection sent per recorded sign-in
// (plugin heartbeats' answers add a little: one per plugin every 5 s).
func (s *signInBench) msgsPerOp() float64 {
	if len(s.samples) == 0 {
		return 0
	}
	return float64(s.st.svc.nc.Stats().OutMsgs-s.msgs0) / float64(len(s.samples))
}

// tmpfsDir is /dev/shm when there is one (no fsync cost), else the temp dir.
func tmpfsDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// percentile returns the q-quantile of sorted samples (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
