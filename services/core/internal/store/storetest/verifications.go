package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/store"
)

func createVerification(t testing.TB, st store.Store, v store.Verification) store.Verification {
	t.Helper()
	var out store.Verification
	inTx(t, st, func(ctx context.Context, tx store.Tx) {
		var err error
		out, err = tx.CreateVerification(ctx, v)
		require.NoError(t, err)
	})
	return out
}

func (s *suite) verifications(t *testing.T) {
	t.Run("create and read the newest", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		older := createVerification(t, st, store.Verification{Identifier: "reset-password:abc", Value: "old", ExpiresAt: base.Add(time.Hour), CreatedAt: base})
		newer := createVerification(t, st, store.Verification{Identifier: "reset-password:abc", Value: "new", ExpiresAt: base.Add(time.Hour), CreatedAt: base.Add(time.Second)})
		createVerification(t, st, store.Verification{Identifier: "reset-password:other", Value: "x", ExpiresAt: base.Add(time.Hour), CreatedAt: base.Add(time.Minute)})
		require.Len(t, older.ID, 32)
		require.Equal(t, ms(base.Add(time.Hour)), newer.ExpiresAt)

		got, err := st.VerificationByIdentifier(ctx, "reset-password:abc")
		require.NoError(t, err)
		require.Equal(t, newer, got)
		requireUTC(t, got.ExpiresAt, got.CreatedAt, got.UpdatedAt)

		_, err = st.VerificationByIdentifier(ctx, "reset-password:none")
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("expired ones are still returned", func(t *testing.T) {
		st := s.newStore(t)
		v := createVerification(t, st, store.Verification{Identifier: "delete-account-x", Value: "u", ExpiresAt: base.Add(-time.Hour)})
		got, err := st.VerificationByIdentifier(ctxFor(t), v.Identifier)
		require.NoError(t, err)
		require.Equal(t, v, got)
	})

	t.Run("consume is single-use", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		createVerification(t, st, store.Verification{Identifier: "reset-password:t", Value: "old", ExpiresAt: base.Add(time.Hour), CreatedAt: base})
		newer := createVerification(t, st, store.Verification{Identifier: "reset-password:t", Value: "new", ExpiresAt: base.Add(time.Hour), CreatedAt: base.Add(time.Second)})
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			got, err := tx.ConsumeVerification(ctx, "reset-password:t")
			require.NoError(t, err)
			require.Equal(t, newer, got)
		})
		_, err := st.VerificationByIdentifier(ctx, "reset-password:t")
		requireErrIs(t, err, store.ErrNotFound)
		err = st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.ConsumeVerification(ctx, "reset-password:t")
			return err
		})
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("consume under concurrency: one wins", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		for round := range 10 {
			id := fmt.Sprintf("delete-account-%d", round)
			createVerification(t, st, store.Verification{Identifier: id, Value: "user", ExpiresAt: time.Now().Add(time.Hour)})
			var wg sync.WaitGroup
			start := make(chan struct{})
			results := make([]error, 2)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = st.InTx(ctx, func(tx store.Tx) error {
						_, err := tx.ConsumeVerification(ctx, id)
						return err
					})
				}()
			}
			close(start)
			wg.Wait()
			wins, losses := 0, 0
			for _, err := range results {
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrNotFound):
					losses++
				default:
					t.Fatalf("round %d: unexpected error %v", round, err)
				}
			}
			require.Equal(t, 1, wins, "round %d: exactly one consumer wins", round)
			require.Equal(t, 1, losses, "round %d", round)
		}
	})

	t.Run("delete by identifier", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		for range 2 {
			createVerification(t, st, store.Verification{Identifier: "2fa-x", Value: "v", ExpiresAt: base.Add(time.Hour)})
		}
		kept := createVerification(t, st, store.Verification{Identifier: "2fa-y", Value: "v", ExpiresAt: base.Add(time.Hour)})
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			n, err := tx.DeleteVerifications(ctx, "2fa-x")
			require.NoError(t, err)
			require.Equal(t, 2, n)
			n, err = tx.DeleteVerifications(ctx, "2fa-x")
			require.NoError(t, err)
			require.Zero(t, n)
		})
		got, err := st.VerificationByIdentifier(ctx, "2fa-y")
		require.NoError(t, err)
		require.Equal(t, kept, got)
	})

	t.Run("delete expired in batches", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		for i := range 3 {
			createVerification(t, st, store.Verification{Identifier: fmt.Sprintf("old-%d", i), Value: "v", ExpiresAt: base.Add(-time.Duration(i) * time.Minute)})
		}
		live := createVerification(t, st, store.Verification{Identifier: "live", Value: "v", ExpiresAt: base.Add(time.Millisecond)})
		var counts []int
		for range 3 {
			inTx(t, st, func(ctx context.Context, tx store.Tx) {
				n, err := tx.DeleteExpiredVerifications(ctx, base, 2)
				require.NoError(t, err)
				counts = append(counts, n)
			})
		}
		require.Equal(t, []int{2, 1, 0}, counts)
		got, err := st.VerificationByIdentifier(ctx, "live")
		require.NoError(t, err)
		require.Equal(t, live, got)
	})

	t.Run("a verification needs an identifier and an expiry", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		for _, v := range []store.Verification{{Value: "v", ExpiresAt: base}, {Identifier: "i", Value: "v"}} {
			err := st.InTx(ctx, func(tx store.Tx) error {
				_, err := tx.CreateVerification(ctx, v)
				return err
			})
			require.ErrorContains(t, err, "required")
		}
	})
}
