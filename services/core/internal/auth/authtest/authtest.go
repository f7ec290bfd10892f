// Package authtest holds what the tests of the auth flows and of the HTTP
// API share: both stores to run on, a fast password hasher that counts its
// work, a recording Hooks fake and a settable clock.
package authtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/postgres"
	"github.com/authbus/authbus/services/core/internal/store/sqlite"
)

// Secret is a test secret long enough for the flows.
const Secret = "authtest-secret-0123456789-abcdefghijklmnop"

// Backend opens a migrated store on a new, empty database, closed at the
// test's cleanup.
type Backend struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Open returns the store.
	Open func(t testing.TB) store.Store
}

// Backends are SQLite (a temporary file) and Postgres (pgtest: the test
// package needs TestMain calling pgtest.Main).
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", Open: OpenSQLite},
		{Name: "postgres", Open: OpenPostgres},
	}
}

// OpenSQLite returns a migrated SQLite store in a temporary file.
func OpenSQLite(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "core.db"), sqlite.Options{Synchronous: "NORMAL"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

// OpenPostgres returns a migrated Postgres store on a fresh database.
func OpenPostgres(t testing.TB) store.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

// FastHasher stands in for scrypt, which takes most of a second under the
// race detector: a salted SHA-256 in a "salt:hash" string, and counters of
// the work done. The zero value is ready.
type FastHasher struct {
	hashes, verifies atomic.Int64
}

// Hash returns "fast<salt>:<sha256>".
func (h *FastHasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	h.hashes.Add(1)
	salt := store.NewID()[:16]
	return "fast" + salt + ":" + digest(salt, pw), nil
}

// Verify checks a Hash result.
func (h *FastHasher) Verify(ctx context.Context, stored, pw string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	h.verifies.Add(1)
	salt, sum, ok := strings.Cut(strings.TrimPrefix(stored, "fast"), ":")
	return ok && sum == digest(salt, pw), nil
}

// VerifyDummy costs one Verify.
func (h *FastHasher) VerifyDummy(ctx context.Context, pw string) error {
	_, err := h.Verify(ctx, "fastx:y", pw)
	return err
}

// Work is how many hashes and verifications ran.
func (h *FastHasher) Work() (hashes, verifies int64) { return h.hashes.Load(), h.verifies.Load() }

func digest(salt, pw string) string {
	sum := sha256.Sum256([]byte(salt + "\x00" + pw))
	return hex.EncodeToString(sum[:])
}

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// HookCall is one call a Hooks fake received.
type HookCall struct {
	// Point is the hook point.
	Point contracts.HookPoint
	// Context is a copy of the context struct as the fake received it (before its patch).
	Context any
}

// Hooks records every call; Abort makes a sequential point fail and Patch
// changes its context in place. Safe for concurrent use.
type Hooks struct {
	mu    sync.Mutex
	calls []HookCall
	abort map[contracts.HookPoint]*contracts.Error
	patch map[contracts.HookPoint]func(c any)
}

// Abort makes point answer err from now on.
func (h *Hooks) Abort(point contracts.HookPoint, err *contracts.Error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.abort == nil {
		h.abort = map[contracts.HookPoint]*contracts.Error{}
	}
	h.abort[point] = err
}

// Patch makes point apply fn to its context (a pointer to the context struct).
func (h *Hooks) Patch(point contracts.HookPoint, fn func(c any)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.patch == nil {
		h.patch = map[contracts.HookPoint]func(any){}
	}
	h.patch[point] = fn
}

// Reset forgets the calls, aborts and patches.
func (h *Hooks) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls, h.abort, h.patch = nil, nil, nil
}

// Before records the call, then patches or aborts as configured.
func (h *Hooks) Before(_ context.Context, point contracts.HookPoint, c any) error {
	h.record(point, c)
	h.mu.Lock()
	abort, patch := h.abort[point], h.patch[point]
	h.mu.Unlock()
	if abort != nil {
		return abort
	}
	if patch != nil {
		patch(c)
	}
	return nil
}

// After records the call.
func (h *Hooks) After(_ context.Context, point contracts.HookPoint, c any) { h.record(point, c) }

func (h *Hooks) record(point contracts.HookPoint, c any) {
	v := reflect.ValueOf(c)
	var cp any = c
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		cp = v.Elem().Interface()
	}
	h.mu.Lock()
	h.calls = append(h.calls, HookCall{Point: point, Context: cp})
	h.mu.Unlock()
}

// Calls returns the calls so far, in order.
func (h *Hooks) Calls() []HookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// Points returns the points called so far, in order, leaving out the
// request-level points (beforeRequest, afterRequest, onError).
func (h *Hooks) Points() []contracts.HookPoint {
	var out []contracts.HookPoint
	for _, c := range h.Calls() {
		switch c.Point {
		case contracts.HookBeforeRequest, contracts.HookAfterRequest, contracts.HookOnError:
			continue
		}
		out = append(out, c.Point)
	}
	return out
}

// Last returns the context of the last call at point, nil when none.
func (h *Hooks) Last(point contracts.HookPoint) any {
	calls := h.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Point == point {
			return calls[i].Context
		}
	}
	return nil
}

// Outbox returns every event in the outbox, oldest first (published or not).
func Outbox(t testing.TB, st store.Store) []contracts.Envelope {
	t.Helper()
	recs, err := st.FetchOutbox(context.Background(), 10000)
	require.NoError(t, err)
	out := make([]contracts.Envelope, len(recs))
	for i, r := range recs {
		out[i] = r.Event
	}
	return out
}

// Types lists the types of events.
func Types(events []contracts.Envelope) []contracts.EventType {
	out := make([]contracts.EventType, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

// CheckFor polls fn every 5 ms until it returns nil, failing the test with
// its last error after total.
func CheckFor(t testing.TB, total time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("authtest: condition not met within %s: %v", total, err)
		}
		<-tick.C
	}
}

// Await waits (up to 10 s) for a call at point whose context matches, and
// returns that context. Request-level hooks run after the answer is sent,
// so a test reads them with Await.
func (h *Hooks) Await(t testing.TB, point contracts.HookPoint, match func(c any) bool) any {
	t.Helper()
	var found any
	CheckFor(t, 10*time.Second, func() error {
		for _, c := range h.Calls() {
			if c.Point == point && (match == nil || match(c.Context)) {
				found = c.Context
				return nil
			}
		}
		return fmt.Errorf("no matching %s call among %d calls", point, len(h.Calls()))
	})
	return found
}
