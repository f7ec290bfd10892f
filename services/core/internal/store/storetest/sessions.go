package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/store"
)

func (s *suite) sessions(t *testing.T) {
	t.Run("create and look up by token hash", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u := createUser(t, st, store.User{Name: "Erin"})
		token := store.NewID()
		in := store.Session{
			ID: store.NewID(), TokenHash: store.HashToken(token), UserID: u.ID,
			ExpiresAt: base.Add(7 * 24 * time.Hour), CreatedAt: base, UpdatedAt: base,
			IPAddress: "203.0.113.7", UserAgent: "curl/8", ActiveOrganizationID: ptr("org-1"),
			Data: map[string]json.RawMessage{"impersonatedBy": rawJSON(`"admin-1"`), "flags": rawJSON(`{"a":[1,2]}`)},
		}
		var created store.Session
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			var err error
			created, err = tx.CreateSession(ctx, in)
			require.NoError(t, err)
		})
		want := in
		want.ExpiresAt, want.CreatedAt, want.UpdatedAt = ms(in.ExpiresAt), ms(base), ms(base)
		require.Equal(t, want, created)

		gotSession, gotUser, err := st.SessionByTokenHash(ctx, store.HashToken(token))
		require.NoError(t, err)
		requireSameSession(t, want, gotSession)
		require.Equal(t, u, gotUser)
		requireUTC(t, gotSession.ExpiresAt, gotSession.CreatedAt, gotSession.UpdatedAt)

		byID, byIDUser, err := st.SessionByID(ctx, want.ID)
		require.NoError(t, err)
		requireSameSession(t, want, byID)
		require.Equal(t, u, byIDUser)
		_, _, err = st.SessionByID(ctx, "no-such-session")
		requireErrIs(t, err, store.ErrNotFound)

		// The token is not what is stored.
		_, _, err = st.SessionByTokenHash(ctx, token)
		requireErrIs(t, err, store.ErrNotFound)
		_, _, err = st.SessionByTokenHash(ctx, store.HashToken("other"))
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("minimal session", func(t *testing.T) {
		st := s.newStore(t)
		u := createUser(t, st, store.User{})
		sess, token := createSession(t, st, u.ID, time.Time{}, time.Now().Add(time.Hour))
		require.Len(t, sess.ID, 32)
		require.Nil(t, sess.Data)
		require.Nil(t, sess.ActiveOrganizationID)
		got, _, err := st.SessionByTokenHash(ctxFor(t), store.HashToken(token))
		require.NoError(t, err)
		require.Equal(t, sess, got)
		require.Equal(t, "", got.IPAddress)
	})

	t.Run("an expired session is still found by token", func(t *testing.T) {
		st := s.newStore(t)
		u := createUser(t, st, store.User{})
		sess, token := createSession(t, st, u.ID, base.Add(-2*time.Hour), base.Add(-time.Hour))
		got, _, err := st.SessionByTokenHash(ctxFor(t), store.HashToken(token))
		require.NoError(t, err)
		require.Equal(t, sess, got)
	})

	t.Run("sessions of a user are the unexpired ones, oldest first", func(t *testing.T) {
		st := s.newStore(t)
		u := createUser(t, st, store.User{})
		other := createUser(t, st, store.User{})
		now := base
		createSession(t, st, u.ID, now.Add(-3*time.Hour), now.Add(-time.Hour)) // expired
		createSession(t, st, u.ID, now.Add(-2*time.Hour), now)                 // expires exactly now: expired
		live2, _ := createSession(t, st, u.ID, now.Add(-time.Minute), now.Add(2*time.Hour))
		live1, _ := createSession(t, st, u.ID, now.Add(-time.Hour), now.Add(time.Millisecond))
		createSession(t, st, other.ID, now, now.Add(time.Hour))
		got, err := st.SessionsOfUser(ctxFor(t), u.ID, now)
		require.NoError(t, err)
		require.Equal(t, []store.Session{live1, live2}, got)

		none, err := st.SessionsOfUser(ctxFor(t), "nobody", now)
		require.NoError(t, err)
		require.Empty(t, none)
	})

	t.Run("extend", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u := createUser(t, st, store.User{})
		sess, token := createSession(t, st, u.ID, base, base.Add(time.Hour))
		newExpiry, at := base.Add(8*24*time.Hour), base.Add(24*time.Hour)
		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			got, err := tx.ExtendSession(ctx, sess.ID, newExpiry, at)
			require.NoError(t, err)
			sess.ExpiresAt, sess.UpdatedAt = ms(newExpiry), ms(at)
			require.Equal(t, sess, got)
		})
		got, _, err := st.SessionByTokenHash(ctx, store.HashToken(token))
		require.NoError(t, err)
		require.Equal(t, sess, got)

		err = st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.ExtendSession(ctx, "nope", newExpiry, at)
			return err
		})
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("plugin fields", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u := createUser(t, st, store.User{})
		sess, token := createSession(t, st, u.ID, base, base.Add(time.Hour))
		steps := []struct {
			name     string
			update   store.SessionUpdate
			wantOrg  *string
			wantData map[string]json.RawMessage
		}{
			{
				name:     "set organization and keys",
				update:   store.SessionUpdate{ActiveOrganizationID: store.Some(ptr("org-9")), Data: map[string]json.RawMessage{"a": rawJSON(`1`), "b": rawJSON(`"x"`)}},
				wantOrg:  ptr("org-9"),
				wantData: map[string]json.RawMessage{"a": rawJSON(`1`), "b": rawJSON(`"x"`)},
			},
			{
				name:     "merge: replace one, remove one with null, keep the organization",
				update:   store.SessionUpdate{Data: map[string]json.RawMessage{"a": rawJSON(`{"n":2}`), "b": rawJSON(`null`)}},
				wantOrg:  ptr("org-9"),
				wantData: map[string]json.RawMessage{"a": rawJSON(`{"n":2}`)},
			},
			{
				name:     "clear organization and the last key",
				update:   store.SessionUpdate{ActiveOrganizationID: store.Some[*string](nil), Data: map[string]json.RawMessage{"a": nil}},
				wantOrg:  nil,
				wantData: nil,
			},
		}
		for i, step := range steps {
			at := base.Add(time.Duration(i+1) * time.Minute)
			step.update.UpdatedAt = at
			var got store.Session
			inTx(t, st, func(ctx context.Context, tx store.Tx) {
				var err error
				got, err = tx.UpdateSession(ctx, sess.ID, step.update)
				require.NoError(t, err, step.name)
			})
			want := sess
			want.ActiveOrganizationID, want.Data, want.UpdatedAt = step.wantOrg, step.wantData, ms(at)
			requireSameSession(t, want, got)
			read, _, err := st.SessionByTokenHash(ctx, store.HashToken(token))
			require.NoError(t, err)
			requireSameSession(t, want, read)
		}
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.UpdateSession(ctx, "nope", store.SessionUpdate{Data: map[string]json.RawMessage{"a": rawJSON(`1`)}})
			return err
		})
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("delete one, only the owner's", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u, other := createUser(t, st, store.User{}), createUser(t, st, store.User{})
		sess, token := createSession(t, st, u.ID, base, base.Add(time.Hour))

		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.DeleteSession(ctx, other.ID, sess.ID)
			return err
		})
		requireErrIs(t, err, store.ErrNotFound)
		_, _, err = st.SessionByTokenHash(ctx, store.HashToken(token))
		require.NoError(t, err, "another user cannot delete the session")

		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			got, err := tx.DeleteSession(ctx, u.ID, sess.ID)
			require.NoError(t, err)
			require.Equal(t, sess, got)
		})
		_, _, err = st.SessionByTokenHash(ctx, store.HashToken(token))
		requireErrIs(t, err, store.ErrNotFound)
		err = st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.DeleteSession(ctx, u.ID, sess.ID)
			return err
		})
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("delete all but one, then all", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u, other := createUser(t, st, store.User{}), createUser(t, st, store.User{})
		s1, _ := createSession(t, st, u.ID, base, base.Add(time.Hour))
		s2, _ := createSession(t, st, u.ID, base.Add(time.Second), base.Add(time.Hour))
		s3, _ := createSession(t, st, u.ID, base.Add(2*time.Second), base.Add(-time.Hour)) // expired ones go too
		kept, _ := createSession(t, st, other.ID, base, base.Add(time.Hour))

		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			got, err := tx.DeleteUserSessions(ctx, u.ID, s2.ID)
			require.NoError(t, err)
			require.Equal(t, []store.Session{s1, s3}, got)
		})
		left, err := st.SessionsOfUser(ctx, u.ID, base)
		require.NoError(t, err)
		require.Equal(t, []store.Session{s2}, left)

		inTx(t, st, func(ctx context.Context, tx store.Tx) {
			got, err := tx.DeleteUserSessions(ctx, u.ID, "")
			require.NoError(t, err)
			require.Equal(t, []store.Session{s2}, got)
			got, err = tx.DeleteUserSessions(ctx, u.ID, "")
			require.NoError(t, err)
			require.Empty(t, got)
		})
		others, err := st.SessionsOfUser(ctx, other.ID, base)
		require.NoError(t, err)
		require.Equal(t, []store.Session{kept}, others)
	})

	t.Run("delete expired in batches", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u, v := createUser(t, st, store.User{}), createUser(t, st, store.User{})
		e1, _ := createSession(t, st, u.ID, base.Add(-time.Hour), base.Add(-3*time.Minute))
		e2, _ := createSession(t, st, v.ID, base.Add(-time.Hour), base.Add(-2*time.Minute))
		e3, _ := createSession(t, st, u.ID, base.Add(-time.Hour), base) // expiresAt == now counts as expired
		live, liveToken := createSession(t, st, u.ID, base.Add(-time.Hour), base.Add(time.Millisecond))

		var batches [][]store.Session
		for range 3 {
			inTx(t, st, func(ctx context.Context, tx store.Tx) {
				got, err := tx.DeleteExpiredSessions(ctx, base, 2)
				require.NoError(t, err)
				batches = append(batches, got)
			})
		}
		require.Len(t, batches[0], 2)
		require.Len(t, batches[1], 1)
		require.Empty(t, batches[2])
		require.ElementsMatch(t, []store.Session{e1, e2, e3}, append(batches[0], batches[1]...))
		got, _, err := st.SessionByTokenHash(ctx, store.HashToken(liveToken))
		require.NoError(t, err)
		require.Equal(t, live, got)
	})

	t.Run("duplicate token hash", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u := createUser(t, st, store.User{})
		sess, _ := createSession(t, st, u.ID, base, base.Add(time.Hour))
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.CreateSession(ctx, store.Session{TokenHash: sess.TokenHash, UserID: u.ID, ExpiresAt: base.Add(time.Hour)})
			return err
		})
		requireErrIs(t, err, store.ErrConflict)
	})

	t.Run("session of an unknown user", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.CreateSession(ctx, store.Session{TokenHash: store.HashToken("t"), UserID: "nope", ExpiresAt: base})
			return err
		})
		requireErrIs(t, err, store.ErrNotFound)
	})

	t.Run("a session needs an expiry", func(t *testing.T) {
		st := s.newStore(t)
		ctx := ctxFor(t)
		u := createUser(t, st, store.User{})
		err := st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.CreateSession(ctx, store.Session{TokenHash: store.HashToken("t"), UserID: u.ID})
			return err
		})
		require.ErrorContains(t, err, "expiresAt is required")
	})
}

// requireSameSession compares sessions, their data as JSON (a database may re-format it).
func requireSameSession(t testing.TB, want, got store.Session) {
	t.Helper()
	require.Equal(t, len(want.Data), len(got.Data), "data %v != %v", want.Data, got.Data)
	for k, v := range want.Data {
		require.Contains(t, got.Data, k)
		require.JSONEq(t, string(v), string(got.Data[k]))
	}
	want.Data, got.Data = nil, nil
	require.Equal(t, want, got)
}
