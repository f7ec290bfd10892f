// Package storetest is the one conformance suite every store.Store
// implementation passes, and the benchmarks they share.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, newStore, storetest.Features{OpenEmpty: openEmpty})
//	}
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
)

// Features describes the implementation under test beyond the common contract.
type Features struct {
	// OpenEmpty (required) returns a function that opens new, unmigrated
	// instances on one new, empty database, as several replicas or processes
	// would share it. The instances are closed at the test's cleanup.
	OpenEmpty func(t testing.TB) func() store.Store
	// SnapshotHorizon is set when writers run concurrently and FetchOutbox
	// holds back the events of transactions that committed while an older
	// one was still open (Postgres). Without it, writers take turns (SQLite).
	SnapshotHorizon bool
}

// Run runs the suite. newStore returns a migrated store on a new, empty
// database and closes it at the test's cleanup.
func Run(t *testing.T, newStore func(t testing.TB) store.Store, f Features) {
	if f.OpenEmpty == nil {
		t.Fatal("storetest: Features.OpenEmpty is required")
	}
	s := &suite{newStore: newStore, features: f}
	t.Run("Users", s.users)
	t.Run("Accounts", s.accounts)
	t.Run("Sessions", s.sessions)
	t.Run("Verifications", s.verifications)
	t.Run("Transactions", s.transactions)
	t.Run("Outbox", s.outbox)
	t.Run("RelayLock", s.relayLock)
	t.Run("Migrate", s.migrate)
}

type suite struct {
	newStore func(t testing.TB) store.Store
	features Features
}

// testTimeout bounds every call the suite makes.
const testTimeout = 30 * time.Second

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// base is a fixed instant with sub-millisecond digits that the store must drop.
var base = time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("CET", 3600))

// ms is t as the store returns it.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func ptr[T any](v T) *T { return &v }

var emailSeq atomic.Int64

// uniqueEmail returns a fresh address with upper-case letters.
func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%d@Example.COM", prefix, emailSeq.Add(1))
}

// inTx runs fn and requires it to commit.
func inTx(t testing.TB, s store.Store, fn func(ctx context.Context, tx store.Tx)) {
	t.Helper()
	ctx := ctxFor(t)
	require.NoError(t, s.InTx(ctx, func(tx store.Tx) error {
		fn(ctx, tx)
		return nil
	}))
}

// createUser commits a new user.
func createUser(t testing.TB, s store.Store, u store.User) store.User {
	t.Helper()
	if u.Email == "" {
		u.Email = uniqueEmail("user")
	}
	var out store.User
	inTx(t, s, func(ctx context.Context, tx store.Tx) {
		var err error
		out, err = tx.CreateUser(ctx, u)
		require.NoError(t, err)
	})
	return out
}

// createSession commits a session of userID expiring at expiresAt and returns it with its token.
func createSession(t testing.TB, s store.Store, userID string, createdAt, expiresAt time.Time) (store.Session, string) {
	t.Helper()
	token := store.NewID()
	var out store.Session
	inTx(t, s, func(ctx context.Context, tx store.Tx) {
		var err error
		out, err = tx.CreateSession(ctx, store.Session{
			TokenHash: store.HashToken(token), UserID: userID, ExpiresAt: expiresAt, CreatedAt: createdAt,
		})
		require.NoError(t, err)
	})
	return out, token
}

// requireErrIs checks err against a sentinel and that it says what failed.
func requireErrIs(t testing.TB, err, target error) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errors.Is(err, target), "got %v, want %v", err, target)
}

// requireUTC checks that round-tripped times are UTC with millisecond precision.
func requireUTC(t testing.TB, times ...time.Time) {
	t.Helper()
	for _, tm := range times {
		require.Equal(t, time.UTC, tm.Location(), "times come back in UTC: %v", tm)
		require.Equal(t, tm, tm.Truncate(time.Millisecond), "times have millisecond precision: %v", tm)
	}
}

// event builds a valid envelope of type typ about subject with the given data.
func event(t testing.TB, typ contracts.EventType, subject string, data any) contracts.Envelope {
	t.Helper()
	e, err := contracts.NewEnvelope("authbus/core", typ, subject, data)
	require.NoError(t, err)
	return e
}

// requireSameEvent compares envelopes; the data is compared as JSON (a
// database may re-format it).
func requireSameEvent(t testing.TB, want, got contracts.Envelope) {
	t.Helper()
	require.JSONEq(t, string(want.Data), string(got.Data))
	want.Data, got.Data = nil, nil
	require.True(t, want.Time.Equal(got.Time), "time %v != %v", want.Time, got.Time)
	want.Time, got.Time = time.Time{}, time.Time{}
	require.Equal(t, want, got)
}

// fetchN polls FetchOutbox until it returns n events (other transactions on
// a shared server may hold the Postgres horizon back for a moment).
func fetchN(t testing.TB, s store.Store, n int) []store.OutboxRecord {
	t.Helper()
	ctx := ctxFor(t)
	var got []store.OutboxRecord
	require.Eventually(t, func() bool {
		var err error
		got, err = s.FetchOutbox(ctx, 1000)
		require.NoError(t, err)
		return len(got) >= n
	}, 10*time.Second, 5*time.Millisecond, "outbox did not reach %d events", n)
	require.Len(t, got, n)
	return got
}

// rawJSON is shorthand for session data values.
func rawJSON(s string) json.RawMessage { return json.RawMessage(s) }
