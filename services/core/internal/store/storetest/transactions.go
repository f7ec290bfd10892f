package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
)

var errBoom = errors.New("boom")

// writeEverything writes one row of every kind and two events, like a sign-up.
func writeEverything(ctx context.Context, t testing.TB, tx store.Tx, email string) store.User {
	t.Helper()
	u, err := tx.CreateUser(ctx, store.User{Email: email})
	require.NoError(t, err)
	_, err = tx.CreateAccount(ctx, store.Account{UserID: u.ID, ProviderID: store.CredentialProvider, AccountID: u.ID, Password: "s:k"})
	require.NoError(t, err)
	_, err = tx.CreateSession(ctx, store.Session{TokenHash: store.HashToken(email), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = tx.CreateVerification(ctx, store.Verification{Identifier: "verify:" + email, Value: u.ID, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.NoError(t, tx.AppendOutbox(ctx,
		event(t, contracts.EventUserCreated, u.ID, contracts.UserCreated{User: contracts.User{ID: u.ID, Email: u.Email}, Method: "email"}),
		event(t, contracts.EventSessionCreated, u.ID, contracts.SessionCreated{})))
	return u
}

// requireNothingFrom checks that no row written by writeEverything(email) exists.
func requireNothingFrom(t testing.TB, st store.Store, email string) {
	t.Helper()
	ctx := ctxFor(t)
	_, err := st.UserByEmail(ctx, email)
	requireErrIs(t, err, store.ErrNotFound)
	_, _, err = st.SessionByTokenHash(ctx, store.HashToken(email))
	requireErrIs(t, err, store.ErrNotFound)
	_, err = st.VerificationByIdentifier(ctx, "verify:"+email)
	requireErrIs(t, err, store.ErrNotFound)
	backlog, err := st.OutboxBacklog(ctx)
	require.NoError(t, err)
	require.Zero(t, backlog.Count, "no outbox row survives a rollback")
	recs, err := st.FetchOutbox(ctx, 100)
	require.NoError(t, err)
	require.Empty(t, recs)
}

func (s *suite) transactions(t *testing.T) {
	t.Run("commit keeps everything", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		var u store.User
		inTx(t, st, func(ctx context.Context, tx store.Tx) { u = writeEverything(ctx, t, tx, "commit@example.com") })
		got, cred, err := st.UserWithCredential(ctx, "commit@example.com")
		require.NoError(t, err)
		require.Equal(t, u, got)
		require.NotNil(t, cred)
		fetchN(t, st, 2)
	})

	t.Run("a failing callback rolls back everything, outbox included", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		err := st.InTx(ctx, func(tx store.Tx) error {
			writeEverything(ctx, t, tx, "rollback@example.com")
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		require.Equal(t, errBoom, err, "the callback's error is returned as is")
		requireNothingFrom(t, st, "rollback@example.com")
	})

	t.Run("a swallowed failed write still rolls back", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		createUser(t, st, store.User{Email: "taken@example.com"})
		err := st.InTx(ctx, func(tx store.Tx) error {
			writeEverything(ctx, t, tx, "swallow@example.com")
			_, err := tx.CreateUser(ctx, store.User{Email: "taken@example.com"})
			requireErrIs(t, err, store.ErrConflict)
			return nil // the callback ignores the failure
		})
		requireErrIs(t, err, store.ErrConflict)
		require.ErrorContains(t, err, "rolled back")
		requireNothingFrom(t, st, "swallow@example.com")
	})

	t.Run("not found is not a failure", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			_, err := tx.UserByEmail(ctx, "nobody@example.com")
			requireErrIs(t, err, store.ErrNotFound)
			_, err = tx.ConsumeVerification(ctx, "nothing")
			requireErrIs(t, err, store.ErrNotFound)
			_, err = tx.DeleteSession(ctx, "nobody", "nothing")
			requireErrIs(t, err, store.ErrNotFound)
			writeEverything(ctx, t, tx, "after-miss@example.com")
		})
		_, err := st.UserByEmail(ctx, "after-miss@example.com")
		require.NoError(t, err)
	})

	t.Run("a panic rolls back and propagates", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		require.PanicsWithValue(t, "kaboom", func() {
			_ = st.InTx(ctx, func(tx store.Tx) error {
				writeEverything(ctx, t, tx, "panic@example.com")
				panic("kaboom")
			})
		})
		requireNothingFrom(t, st, "panic@example.com")
		// The store is still usable (its writer was given back).
		inTx(t, st, func(ctx context.Context, tx store.Tx) { writeEverything(ctx, t, tx, "after-panic@example.com") })
	})

	t.Run("reads in a transaction see its writes", func(t *testing.T) {
		st := s.newStore(t)
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			u := writeEverything(ctx, t, tx, "visible@example.com")
			got, err := tx.UserByID(ctx, u.ID)
			require.NoError(t, err)
			require.Equal(t, u, got)
			_, acc, err := tx.UserWithCredential(ctx, "visible@example.com")
			require.NoError(t, err)
			require.NotNil(t, acc)
			sess, user, err := tx.SessionByTokenHash(ctx, store.HashToken("visible@example.com"))
			require.NoError(t, err)
			require.Equal(t, u, user)
			require.Equal(t, u.ID, sess.UserID)
		})
	})

	t.Run("a cancelled context fails and leaves the store usable", func(t *testing.T) {
		st := s.newStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.CreateUser(ctx, store.User{Email: "cancelled@example.com"})
			return err
		})
		require.Error(t, err)
		_, err = st.UserByEmail(ctxFor(t), "cancelled@example.com")
		requireErrIs(t, err, store.ErrNotFound)
		inTx(t, st, func(ctx context.Context, tx store.Tx) { writeEverything(ctx, t, tx, "after-cancel@example.com") })
	})
}
