package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
)

// appendEvents commits events in one transaction.
func appendEvents(t testing.TB, st store.Store, events ...contracts.Envelope) {
	t.Helper()
	inTx(t, st, func(ctx context.Context, tx store.Tx) {
		require.NoError(t, tx.AppendOutbox(ctx, events...))
	})
}

func seqs(recs []store.OutboxRecord) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func (s *suite) outbox(t *testing.T) {
	t.Run("events come back in commit order, as appended", func(t *testing.T) {
		st := s.newStore(t)
		e1 := event(t, contracts.EventUserCreated, "u1", contracts.UserCreated{User: contracts.User{ID: "u1", Email: "a@example.com"}, Method: "email"})
		e1.OrgID, e1.ActorID, e1.IP, e1.UserAgent = "org-1", "u1", "203.0.113.9", "curl/8"
		e1.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		e2 := event(t, contracts.EventSessionCreated, "u1", contracts.SessionCreated{Session: contracts.Session{ID: "s1", UserID: "u1"}})
		e3 := event(t, contracts.EventLogout, "u2", map[string]any{"sessionId": "s2", "nested": map[string]any{"z": 1, "a": []int{3, 2}}})

		before := time.Now().Add(-time.Millisecond)
		appendEvents(t, st, e1, e2)
		appendEvents(t, st, e3)
		after := time.Now()

		recs := fetchN(t, st, 3)
		for i, want := range []contracts.Envelope{e1, e2, e3} {
			requireSameEvent(t, want, recs[i].Event)
			require.Nil(t, recs[i].PublishedAt)
			require.True(t, !recs[i].CreatedAt.Before(before.Truncate(time.Millisecond)) && !recs[i].CreatedAt.After(after), "createdAt %v", recs[i].CreatedAt)
			requireUTC(t, recs[i].CreatedAt, recs[i].Event.Time)
		}
		require.Less(t, recs[0].Seq, recs[1].Seq)
		require.Less(t, recs[1].Seq, recs[2].Seq)

		first, err := st.FetchOutbox(ctxFor(t), 2)
		require.NoError(t, err)
		require.Equal(t, seqs(recs[:2]), seqs(first), "limit")
	})

	t.Run("many transactions, one after another", func(t *testing.T) {
		st := s.newStore(t)
		var want []string
		for i := range 20 {
			e := event(t, contracts.EventUserUpdated, "u", map[string]int{"i": i})
			want = append(want, e.ID)
			appendEvents(t, st, e)
		}
		recs := fetchN(t, st, 20)
		var got []string
		for _, r := range recs {
			got = append(got, r.Event.ID)
		}
		require.Equal(t, want, got)
	})

	t.Run("concurrent writers: every event once, each transaction's events together and in order", func(t *testing.T) {
		st := s.newStore(t)
		const writers, perWriter = 4, 10
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					a := event(t, contracts.EventUserUpdated, "u", map[string]int{"w": w, "i": i, "n": 0})
					b := event(t, contracts.EventUserUpdated, "u", map[string]int{"w": w, "i": i, "n": 1})
					ctx := ctxFor(t)
					if err := st.InTx(ctx, func(tx store.Tx) error { return tx.AppendOutbox(ctx, a, b) }); err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		recs := fetchN(t, st, writers*perWriter*2)
		seen := map[string]bool{}
		lastOfWriter := map[int]int{}
		for i := 0; i < len(recs); i += 2 {
			var a, b struct{ W, I, N int }
			require.NoError(t, recs[i].Event.DecodeData(&a))
			require.NoError(t, recs[i+1].Event.DecodeData(&b))
			require.Equal(t, struct{ W, I, N int }{a.W, a.I, 1}, b, "the two events of a transaction are adjacent")
			require.Zero(t, a.N)
			if last, ok := lastOfWriter[a.W]; ok {
				require.Greater(t, a.I, last, "a writer's transactions come in its order")
			}
			lastOfWriter[a.W] = a.I
			seen[recs[i].Event.ID], seen[recs[i+1].Event.ID] = true, true
		}
		require.Len(t, seen, writers*perWriter*2)
	})

	t.Run("mark published, backlog and prune", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		backlog, err := st.OutboxBacklog(ctx)
		require.NoError(t, err)
		require.Equal(t, store.OutboxBacklog{}, backlog)

		for i := range 5 {
			appendEvents(t, st, event(t, contracts.EventUserUpdated, "u", map[string]int{"i": i}))
		}
		recs := fetchN(t, st, 5)
		backlog, err = st.OutboxBacklog(ctx)
		require.NoError(t, err)
		require.Equal(t, store.OutboxBacklog{Count: 5, Oldest: recs[0].CreatedAt}, backlog)

		require.NoError(t, st.MarkPublished(ctx, nil, base), "nothing to mark")
		require.NoError(t, st.MarkPublished(ctx, seqs(recs[:3]), base))
		// Marking again does not move the time.
		require.NoError(t, st.MarkPublished(ctx, seqs(recs[:1]), base.Add(time.Hour)))

		rest, err := st.FetchOutbox(ctx, 100)
		require.NoError(t, err)
		require.Equal(t, seqs(recs[3:]), seqs(rest), "published events are not fetched again")
		backlog, err = st.OutboxBacklog(ctx)
		require.NoError(t, err)
		require.Equal(t, store.OutboxBacklog{Count: 2, Oldest: recs[3].CreatedAt}, backlog)

		n, err := st.PruneOutbox(ctx, base, 100)
		require.NoError(t, err)
		require.Zero(t, n, "only events published before the cut-off go")
		var pruned []int
		for range 3 {
			n, err := st.PruneOutbox(ctx, base.Add(time.Millisecond), 2)
			require.NoError(t, err)
			pruned = append(pruned, n)
		}
		require.Equal(t, []int{2, 1, 0}, pruned, "in batches, never the unpublished ones")
		rest, err = st.FetchOutbox(ctx, 100)
		require.NoError(t, err)
		require.Equal(t, seqs(recs[3:]), seqs(rest))
	})

	t.Run("duplicate event id", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		e := event(t, contracts.EventUserDeleted, "u", contracts.UserDeleted{UserID: "u"})
		appendEvents(t, st, e)
		err := st.InTx(ctx, func(tx store.Tx) error { return tx.AppendOutbox(ctx, e) })
		requireErrIs(t, err, store.ErrConflict)
		fetchN(t, st, 1)
	})

	t.Run("an invalid envelope is refused", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		good := event(t, contracts.EventUserDeleted, "u", contracts.UserDeleted{UserID: "u"})
		bad := good
		bad.ID, bad.Source = "", ""
		err := st.InTx(ctx, func(tx store.Tx) error { return tx.AppendOutbox(ctx, good, bad) })
		require.ErrorIs(t, err, contracts.ErrInvalidEnvelope)
		recs, err := st.FetchOutbox(ctx, 10)
		require.NoError(t, err)
		require.Empty(t, recs)
		require.NoError(t, st.InTx(ctx, func(tx store.Tx) error { return tx.AppendOutbox(ctx) }), "appending nothing is fine")
	})

	if s.features.SnapshotHorizon {
		t.Run("a transaction that began earlier but commits later is not skipped", s.lateCommit)
	}
}

// lateCommit: transaction A appends and stays open while B appends and
// commits. A fetch meanwhile must not return B ahead of A (a relay that then
// marked B published and moved on could never see A); once A commits, A and
// then B are fetched.
func (s *suite) lateCommit(t *testing.T) {
	st := s.newStore(t)
	ctx := ctxFor(t)
	eA := event(t, contracts.EventUserCreated, "a", map[string]string{"tx": "A"})
	eB := event(t, contracts.EventUserCreated, "b", map[string]string{"tx": "B"})

	aWrote, releaseA := make(chan struct{}), make(chan struct{})
	aDone := make(chan error, 1)
	go func() {
		aDone <- st.InTx(ctx, func(tx store.Tx) error {
			if err := tx.AppendOutbox(ctx, eA); err != nil {
				return err
			}
			close(aWrote)
			<-releaseA
			return nil
		})
	}()
	select {
	case <-aWrote:
	case err := <-aDone:
		t.Fatalf("transaction A ended early: %v", err)
	}
	appendEvents(t, st, eB)

	meanwhile, err := st.FetchOutbox(ctx, 100)
	require.NoError(t, err)
	require.Empty(t, meanwhile, "B is held back while the older transaction A is open")
	backlog, err := st.OutboxBacklog(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, backlog.Count, "B is committed, A is not")

	close(releaseA)
	require.NoError(t, <-aDone)
	recs := fetchN(t, st, 2)
	require.Equal(t, eA.ID, recs[0].Event.ID, "A first: it began first")
	require.Equal(t, eB.ID, recs[1].Event.ID)
}

func (s *suite) relayLock(t *testing.T) {
	t.Run("one holder among instances, until released", func(t *testing.T) {
		open := s.features.OpenEmpty(t)
		a, b := open(), open()
		ctx := ctxFor(t)
		require.NoError(t, a.Migrate(ctx))

		lockA, ok, err := a.TryRelayLock(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		for name, st := range map[string]store.Store{"other instance": b, "same instance": a} {
			l, ok, err := st.TryRelayLock(ctx)
			require.NoError(t, err, name)
			require.False(t, ok, "%s: the lock is held", name)
			require.Nil(t, l)
		}
		select {
		case <-lockA.Lost():
			t.Fatal("a held lock is not lost")
		default:
		}

		require.NoError(t, lockA.Release())
		require.NoError(t, lockA.Release(), "releasing twice is fine")
		lockB := tryUntilHeld(t, b)
		_, ok, err = a.TryRelayLock(ctx)
		require.NoError(t, err)
		require.False(t, ok)
		require.NoError(t, lockB.Release())
	})

	t.Run("closing the store releases its lock", func(t *testing.T) {
		open := s.features.OpenEmpty(t)
		a, b := open(), open()
		ctx := ctxFor(t)
		require.NoError(t, a.Migrate(ctx))
		_, ok, err := a.TryRelayLock(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, a.Close())
		lockB := tryUntilHeld(t, b)
		require.NoError(t, lockB.Release())
	})
}

// tryUntilHeld polls until st gets the relay lock (a released lock may take a
// moment to be freed on the server).
func tryUntilHeld(t testing.TB, st store.Store) store.RelayLock {
	t.Helper()
	ctx := ctxFor(t)
	var lock store.RelayLock
	require.Eventually(t, func() bool {
		l, ok, err := st.TryRelayLock(ctx)
		require.NoError(t, err)
		lock = l
		return ok
	}, 10*time.Second, 5*time.Millisecond, "the relay lock was not freed")
	return lock
}

func (s *suite) migrate(t *testing.T) {
	t.Run("instances migrating at once", func(t *testing.T) {
		open := s.features.OpenEmpty(t)
		instances := []store.Store{open(), open(), open()}
		ctx := ctxFor(t)
		errs := make([]error, len(instances))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, st := range instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = st.Migrate(ctx)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "instance %d", i)
		}
		for _, st := range instances {
			require.NoError(t, st.Migrate(ctx), "migrating again is a no-op")
		}
		u := createUser(t, instances[0], store.User{})
		got, err := instances[2].UserByID(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, u, got)
	})
}
