package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/store"
)

func (s *suite) accounts(t *testing.T) {
	t.Run("credential account for sign-in", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u := createUser(t, st, store.User{Email: "dave@example.com"})
		var cred, github store.Account
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			var err error
			cred, err = tx.CreateAccount(ctx, store.Account{
				UserID: u.ID, ProviderID: store.CredentialProvider, AccountID: u.ID, Password: "0123abcd:deadbeef", CreatedAt: base,
			})
			require.NoError(t, err)
			github, err = tx.CreateAccount(ctx, store.Account{UserID: u.ID, ProviderID: "github", AccountID: "gh-42", CreatedAt: base.Add(time.Minute)})
			require.NoError(t, err)
		})
		require.Len(t, cred.ID, 32)
		require.Equal(t, ms(base), cred.CreatedAt)
		require.Equal(t, cred.CreatedAt, cred.UpdatedAt)

		gotUser, gotCred, err := st.UserWithCredential(ctx, "DAVE@example.com")
		require.NoError(t, err)
		require.Equal(t, u, gotUser)
		require.NotNil(t, gotCred)
		require.Equal(t, cred, *gotCred)
		requireUTC(t, gotCred.CreatedAt, gotCred.UpdatedAt)

		byUser, err := st.CredentialAccount(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, cred, byUser)

		all, err := st.AccountsOfUser(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, []store.Account{cred, github}, all)

		later := base.Add(time.Hour)
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			require.NoError(t, tx.SetPassword(ctx, u.ID, "feed:beef", later))
		})
		byUser, err = st.CredentialAccount(ctx, u.ID)
		require.NoError(t, err)
		cred.Password, cred.UpdatedAt = "feed:beef", ms(later)
		require.Equal(t, cred, byUser)
	})

	t.Run("user without a credential account", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u := createUser(t, st, store.User{})
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			_, err := tx.CreateAccount(ctx, store.Account{UserID: u.ID, ProviderID: "github", AccountID: "gh-1"})
			require.NoError(t, err)
		})
		gotUser, gotCred, err := st.UserWithCredential(ctx, u.Email)
		require.NoError(t, err)
		require.Equal(t, u, gotUser)
		require.Nil(t, gotCred)

		_, err = st.CredentialAccount(ctx, u.ID)
		requireErrIs(t, err, store.ErrNotFound)
		err = st.InTx(ctx, func(tx store.Tx) error { return tx.SetPassword(ctx, u.ID, "a:b", time.Time{}) })
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("unknown email", func(t *testing.T) {
		st := s.newStore(t)
		_, acc, err := st.UserWithCredential(ctxFor(t), "nobody@example.com")
		requireErrIs(t, err, store.ErrNotFound)
		require.Nil(t, acc)
	})

	t.Run("account of an unknown user", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.CreateAccount(ctx, store.Account{UserID: "nope", ProviderID: store.CredentialProvider, AccountID: "nope"})
			return err
		})
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("same provider account twice", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		a, b := createUser(t, st, store.User{}), createUser(t, st, store.User{})
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			_, err := tx.CreateAccount(ctx, store.Account{UserID: a.ID, ProviderID: "github", AccountID: "gh-7"})
			require.NoError(t, err)
		})
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.CreateAccount(ctx, store.Account{UserID: b.ID, ProviderID: "github", AccountID: "gh-7"})
			return err
		})
		requireErrIs(t, err, store.ErrConflict)
	})

	t.Run("OAuth fields round-trip", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u := createUser(t, st, store.User{})
		in := store.Account{
			ID: store.NewID(), UserID: u.ID, ProviderID: "google", AccountID: "g-1",
			AccessToken: "at", RefreshToken: "rt", IDToken: "it", Scope: "openid email",
			AccessTokenExpiresAt: ptr(base.Add(time.Hour)), RefreshTokenExpiresAt: ptr(base.Add(24 * time.Hour)),
			CreatedAt: base, UpdatedAt: base,
		}
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			_, err := tx.CreateAccount(ctx, in)
			require.NoError(t, err)
		})
		got, err := st.AccountsOfUser(ctx, u.ID)
		require.NoError(t, err)
		want := in
		want.AccessTokenExpiresAt, want.RefreshTokenExpiresAt = ptr(ms(base.Add(time.Hour))), ptr(ms(base.Add(24*time.Hour)))
		want.CreatedAt, want.UpdatedAt = ms(base), ms(base)
		require.Equal(t, []store.Account{want}, got)
		requireUTC(t, *got[0].AccessTokenExpiresAt, *got[0].RefreshTokenExpiresAt)
	})

	t.Run("incomplete account is refused", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u := createUser(t, st, store.User{})
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.CreateAccount(ctx, store.Account{UserID: u.ID, ProviderID: store.CredentialProvider})
			return err
		})
		require.ErrorContains(t, err, "required")
	})
}
