package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
)

// BenchmarkSessionLookup measures the get-session hot path, SessionByTokenHash,
// from parallel goroutines over 1000 sessions.
func BenchmarkSessionLookup(b *testing.B, newStore func(t testing.TB) store.Store) {
	st := newStore(b)
	ctx := context.Background()
	const n = 1000
	hashes := make([]string, n)
	now := time.Now()
	err := st.InTx(ctx, func(tx store.Tx) error {
		for i := range n {
			u, err := tx.CreateUser(ctx, store.User{Email: fmt.Sprintf("bench-%d@example.com", i), Name: "Bench"})
			if err != nil {
				return err
			}
			hashes[i] = store.HashToken(store.NewID())
			if _, err := tx.CreateSession(ctx, store.Session{TokenHash: hashes[i], UserID: u.ID, ExpiresAt: now.Add(time.Hour),
				IPAddress: "203.0.113.1", UserAgent: "bench"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h := hashes[next.Add(1)%n]
			if _, _, err := st.SessionByTokenHash(ctx, h); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSignUp measures the sign-up transaction from parallel goroutines:
// user, credential account, session and two outbox events, committed together.
func BenchmarkSignUp(b *testing.B, newStore func(t testing.TB) store.Store) {
	st := newStore(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			err := st.InTx(ctx, func(tx store.Tx) error {
				u, err := tx.CreateUser(ctx, store.User{Email: fmt.Sprintf("signup-%d@example.com", i), Name: "Bench"})
				if err != nil {
					return err
				}
				if _, err := tx.CreateAccount(ctx, store.Account{UserID: u.ID, ProviderID: store.CredentialProvider, AccountID: u.ID,
					Password: "0123456789abcdef0123456789abcdef:" + store.NewID() + store.NewID() + store.NewID() + store.NewID()}); err != nil {
					return err
				}
				sess, err := tx.CreateSession(ctx, store.Session{TokenHash: store.HashToken(store.NewID()), UserID: u.ID,
					ExpiresAt: time.Now().Add(7 * 24 * time.Hour)})
				if err != nil {
					return err
				}
				created, err := contracts.NewEnvelope("authbus/core", contracts.EventUserCreated, u.ID,
					contracts.UserCreated{User: contracts.User{ID: u.ID, Email: u.Email, Name: u.Name}, Method: "email"})
				if err != nil {
					return err
				}
				sessionCreated, err := contracts.NewEnvelope("authbus/core", contracts.EventSessionCreated, u.ID,
					contracts.SessionCreated{Session: contracts.Session{ID: sess.ID, UserID: u.ID, ExpiresAt: sess.ExpiresAt}})
				if err != nil {
					return err
				}
				return tx.AppendOutbox(ctx, created, sessionCreated)
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
