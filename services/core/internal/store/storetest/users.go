package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/store"
)

func (s *suite) users(t *testing.T) {
	t.Run("create and read back", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		in := store.User{
			ID: store.NewID(), Name: "Alice Ångström", Email: "Alice@Example.COM", Image: ptr("https://img.example/a.png"),
			CreatedAt: base, UpdatedAt: base.Add(time.Second),
		}
		created := createUser(t, st, in)
		want := in
		want.Email = "alice@example.com"
		want.Role = store.RoleUser
		want.CreatedAt, want.UpdatedAt = ms(base), ms(base.Add(time.Second))
		require.Equal(t, want, created)

		byID, err := st.UserByID(ctx, in.ID)
		require.NoError(t, err)
		require.Equal(t, want, byID)
		requireUTC(t, byID.CreatedAt, byID.UpdatedAt)

		byEmail, err := st.UserByEmail(ctx, "ALICE@example.com")
		require.NoError(t, err)
		require.Equal(t, want, byEmail)
	})

	t.Run("defaults", func(t *testing.T) {
		st := s.newStore(t)
		before := time.Now().Add(-time.Millisecond)
		u := createUser(t, st, store.User{Email: "bob@example.com"})
		after := time.Now()
		require.Len(t, u.ID, 32)
		require.Equal(t, store.RoleUser, u.Role)
		require.False(t, u.EmailVerified)
		require.False(t, u.Banned)
		require.Nil(t, u.Image)
		require.True(t, u.CreatedAt.After(before) && !u.CreatedAt.After(after), "createdAt %v is now", u.CreatedAt)
		require.Equal(t, u.CreatedAt, u.UpdatedAt)

		got, err := st.UserByID(ctxFor(t), u.ID)
		require.NoError(t, err)
		require.Equal(t, u, got)
	})

	t.Run("duplicate email is a conflict, whatever its case", func(t *testing.T) {
		st := s.newStore(t)
		first := createUser(t, st, store.User{Email: "carol@example.com", Name: "first"})
		ctx := ctxFor(t)
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.CreateUser(ctx, store.User{Email: "CAROL@example.com", Name: "second"})
			return err
		})
		requireErrIs(t, err, store.ErrConflict)

		got, err := st.UserByEmail(ctx, "carol@example.com")
		require.NoError(t, err)
		require.Equal(t, first, got)
		page, err := st.ListUsers(ctx, store.ListUsersOptions{})
		require.NoError(t, err)
		require.Equal(t, 1, page.Total)
	})

	t.Run("missing user", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		_, err := st.UserByID(ctx, "nope")
		requireErrIs(t, err, store.ErrNotFound)
		_, err = st.UserByEmail(ctx, "nobody@example.com")
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("update", s.updateUser)

	t.Run("delete cascades to sessions and accounts", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		now := time.Now()
		gone := createUser(t, st, store.User{})
		kept := createUser(t, st, store.User{})
		_, goneToken1 := createSession(t, st, gone.ID, now, now.Add(time.Hour))
		_, goneToken2 := createSession(t, st, gone.ID, now, now.Add(time.Hour))
		keptSession, keptToken := createSession(t, st, kept.ID, now, now.Add(time.Hour))
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			for _, u := range []store.User{gone, kept} {
				_, err := tx.CreateAccount(ctx, store.Account{UserID: u.ID, ProviderID: store.CredentialProvider, AccountID: u.ID, Password: "salt:key"})
				require.NoError(t, err)
			}
		})

		var deleted store.User
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			var err error
			deleted, err = tx.DeleteUser(ctx, gone.ID)
			require.NoError(t, err)
		})
		require.Equal(t, gone, deleted)

		_, err := st.UserByID(ctx, gone.ID)
		requireErrIs(t, err, store.ErrNotFound)
		for _, tok := range []string{goneToken1, goneToken2} {
			_, _, err := st.SessionByTokenHash(ctx, store.HashToken(tok))
			requireErrIs(t, err, store.ErrNotFound)
		}
		accounts, err := st.AccountsOfUser(ctx, gone.ID)
		require.NoError(t, err)
		require.Empty(t, accounts)

		gotSession, _, err := st.SessionByTokenHash(ctx, store.HashToken(keptToken))
		require.NoError(t, err)
		require.Equal(t, keptSession, gotSession)
		accounts, err = st.AccountsOfUser(ctx, kept.ID)
		require.NoError(t, err)
		require.Len(t, accounts, 1)

		err = st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.DeleteUser(ctx, gone.ID)
			return err
		})
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("list users in pages", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		var all []store.User
		for i := range 5 {
			all = append(all, createUser(t, st, store.User{CreatedAt: base.Add(time.Duration(i) * time.Minute)}))
		}
		tests := []struct {
			name string
			opts store.ListUsersOptions
			want []store.User
		}{
			{name: "default limit", opts: store.ListUsersOptions{}, want: all},
			{name: "first page", opts: store.ListUsersOptions{Limit: 2}, want: all[:2]},
			{name: "second page", opts: store.ListUsersOptions{Limit: 2, Offset: 2}, want: all[2:4]},
			{name: "last page", opts: store.ListUsersOptions{Limit: 2, Offset: 4}, want: all[4:]},
			{name: "past the end", opts: store.ListUsersOptions{Limit: 2, Offset: 10}, want: nil},
			{name: "negative offset is zero", opts: store.ListUsersOptions{Limit: 1, Offset: -3}, want: all[:1]},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				page, err := st.ListUsers(ctx, tc.opts)
				require.NoError(t, err)
				require.Equal(t, 5, page.Total)
				require.Equal(t, tc.want, page.Users)
			})
		}
	})
}

func (s *suite) updateUser(t *testing.T) {
	later := base.Add(time.Hour)
	banEnd := base.Add(48 * time.Hour)
	tests := []struct {
		name   string
		update store.UserUpdate
		apply  func(u *store.User)
	}{
		{
			name:   "name",
			update: store.UserUpdate{Name: store.Some("New Name")},
			apply:  func(u *store.User) { u.Name = "New Name" },
		},
		{
			name:   "email is lower-cased",
			update: store.UserUpdate{Email: store.Some("New.Address@Example.COM")},
			apply:  func(u *store.User) { u.Email = "new.address@example.com" },
		},
		{
			name:   "email verified",
			update: store.UserUpdate{EmailVerified: store.Some(true)},
			apply:  func(u *store.User) { u.EmailVerified = true },
		},
		{
			name:   "image set",
			update: store.UserUpdate{Image: store.Some(ptr("https://img.example/new.png"))},
			apply:  func(u *store.User) { u.Image = ptr("https://img.example/new.png") },
		},
		{
			name:   "image cleared",
			update: store.UserUpdate{Image: store.Some[*string](nil)},
			apply:  func(u *store.User) { u.Image = nil },
		},
		{
			name:   "role",
			update: store.UserUpdate{Role: store.Some(store.RoleAdmin)},
			apply:  func(u *store.User) { u.Role = store.RoleAdmin },
		},
		{
			name: "ban",
			update: store.UserUpdate{Banned: store.Some(true), BanReason: store.Some(ptr("spam")),
				BanExpires: store.Some(&banEnd)},
			apply: func(u *store.User) { u.Banned, u.BanReason, u.BanExpires = true, ptr("spam"), ptr(ms(banEnd)) },
		},
		{
			name:   "nothing but updatedAt",
			update: store.UserUpdate{},
			apply:  func(*store.User) {},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := s.newStore(t)
			ctx := ctxFor(t)
			orig := createUser(t, st, store.User{Name: "Orig", Image: ptr("https://img.example/old.png"), CreatedAt: base})
			up := tc.update
			up.UpdatedAt = later
			var got store.User
			inTx(t, st, func(ctx context.Context, tx store.Tx) {
				var err error
				got, err = tx.UpdateUser(ctx, orig.ID, up)
				require.NoError(t, err)
			})
			want := orig
			tc.apply(&want)
			want.UpdatedAt = ms(later)
			require.Equal(t, want, got)
			read, err := st.UserByID(ctx, orig.ID)
			require.NoError(t, err)
			require.Equal(t, want, read)
			if want.BanExpires != nil {
				requireUTC(t, *read.BanExpires)
			}
		})
	}

	t.Run("unban clears the ban fields", func(t *testing.T) {
		st := s.newStore(t)
		u := createUser(t, st, store.User{Banned: true, BanReason: ptr("spam"), BanExpires: ptr(base)})
		require.Equal(t, ptr(ms(base)), u.BanExpires)
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			got, err := tx.UpdateUser(ctx, u.ID, store.UserUpdate{
				Banned: store.Some(false), BanReason: store.Some[*string](nil), BanExpires: store.Some[*time.Time](nil),
			})
			require.NoError(t, err)
			require.False(t, got.Banned)
			require.Nil(t, got.BanReason)
			require.Nil(t, got.BanExpires)
		})
	})

	t.Run("email taken by another user", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		createUser(t, st, store.User{Email: "taken@example.com"})
		u := createUser(t, st, store.User{})
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.UpdateUser(ctx, u.ID, store.UserUpdate{Email: store.Some("TAKEN@example.com")})
			return err
		})
		requireErrIs(t, err, store.ErrConflict)
		got, err := st.UserByID(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, u, got)
	})

	t.Run("unknown user", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.UpdateUser(ctx, "nope", store.UserUpdate{Name: store.Some("x")})
			return err
		})
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("empty email or role is refused", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u := createUser(t, st, store.User{})
		for _, up := range []store.UserUpdate{{Email: store.Some("")}, {Role: store.Some("")}} {
			err := st.InTx(ctx, func(tx store.Tx) error {
				_, err := tx.UpdateUser(ctx, u.ID, up)
				return err
			})
			require.Error(t, err)
			require.True(t, strings.Contains(err.Error(), "empty"), err.Error())
		}
	})
}
