package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/internal/pgtest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/auth/authtest"
	"github.com/authbus/authbus/services/core/internal/mail"
	"github.com/authbus/authbus/services/core/internal/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixture is a Service on one store with fakes around it.
type fixture struct {
	t      testing.TB
	st     store.Store
	svc    *auth.Service
	hooks  *authtest.Hooks
	hasher *authtest.FastHasher
	clock  *authtest.Clock
	mails  *mailbox
	cur    *auth.Authenticated
}

// mailbox is a Sender that keeps what it is given.
type mailbox struct {
	mu   sync.Mutex
	sent []contracts.Email
}

func (m *mailbox) Send(_ context.Context, e contracts.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, e)
	return nil
}

func (m *mailbox) all() []contracts.Email {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]contracts.Email(nil), m.sent...)
}

var t0 = time.Date(2026, 11, 22, 2, 31, 40, 858_000_000, time.UTC)

// password is the test users' password; no event may ever contain it.
const password = "s3cret-Pa55word-never-logged"

func newFixture(t testing.TB, b authtest.Backend, tune ...func(*auth.Options, *fixture)) *fixture {
	t.Helper()
	f := &fixture{t: t, st: b.Open(t), hooks: &authtest.Hooks{}, hasher: &authtest.FastHasher{}, clock: authtest.NewClock(t0), mails: &mailbox{}}
	o := auth.Options{
		BaseURL: "http://auth.test/api/auth", Secret: authtest.Secret, Hooks: f.hooks, Now: f.clock.Now, Mailer: f.mails,
		DeleteUser: true, ChangeEmail: true,
	}
	st := f.st
	for _, fn := range tune {
		fn(&o, f)
	}
	var err error
	f.svc, err = auth.New(st, f.hasher, o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.svc.Close(context.Background())) })
	return f
}

// ctx is a request context like the API builds.
func ctx() context.Context {
	return auth.WithRequest(context.Background(), auth.Request{Info: contracts.RequestInfo{
		Method: "POST", Path: "/api/auth/test", IPAddress: "203.0.113.7", UserAgent: "authtest/1.0",
	}, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
}

func (f *fixture) signUp(email string) auth.SignUpResult {
	f.t.Helper()
	res, err := f.svc.SignUp(ctx(), auth.SignUpInput{Name: "Ada", Email: email, Password: password})
	require.NoError(f.t, err)
	return res
}

func (f *fixture) authenticated(res auth.SignUpResult) *auth.Authenticated {
	return &auth.Authenticated{User: res.User, Session: res.Session.Session, Token: res.Session.Token}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b authtest.Backend)) {
	for _, b := range authtest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

// state is what a failed flow must leave untouched.
type state struct {
	users  int
	events int
}

func (f *fixture) state() state {
	page, err := f.st.ListUsers(context.Background(), store.ListUsersOptions{Limit: 1000})
	require.NoError(f.t, err)
	return state{users: page.Total, events: len(authtest.Outbox(f.t, f.st))}
}

func TestHookPointsPerFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		f := newFixture(t, b, func(o *auth.Options, _ *fixture) { o.SendVerificationOnSignUp = true })
		up := f.signUp("Ada@Example.com")
		require.NoError(t, f.svc.Idle(context.Background()))
		require.Equal(t, []contracts.HookPoint{
			contracts.HookBeforeSignUp, contracts.HookBeforeUserCreate, contracts.HookBeforeSessionCreate,
			contracts.HookAfterUserCreate, contracts.HookAfterSessionCreate, contracts.HookAfterSignUp,
			contracts.HookBeforeEmailSend, contracts.HookAfterEmailSend,
		}, f.hooks.Points())
		su := f.hooks.Last(contracts.HookBeforeSignUp).(contracts.SignUpContext)
		require.Equal(t, "ada@example.com", su.Email)
		require.Equal(t, "Ada", su.Name)
		require.Equal(t, "203.0.113.7", su.Request.IPAddress)
		uc := f.hooks.Last(contracts.HookBeforeUserCreate).(contracts.UserCreateContext)
		require.Equal(t, "email", uc.Method)
		require.Equal(t, up.User.ID, uc.User.ID)
		sc := f.hooks.Last(contracts.HookBeforeSessionCreate).(contracts.SessionCreateContext)
		require.Equal(t, up.Session.Session.ID, sc.Session.ID)
		require.Equal(t, t0.Add(auth.DefaultExpiresIn), sc.Session.ExpiresAt)
		as := f.hooks.Last(contracts.HookAfterSignUp).(contracts.SessionEventContext)
		require.Equal(t, up.Session.Session.ID, as.Session.ID)
		sent := f.hooks.Last(contracts.HookAfterEmailSend).(contracts.EmailSentContext)
		require.Equal(t, contracts.EmailVerification, sent.Email.Kind)
		require.Empty(t, sent.Error)

		cases := []struct {
			name string
			run  func(a *auth.Authenticated) error
			want []contracts.HookPoint
		}{
			{"sign-in", func(*auth.Authenticated) error {
				_, err := f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: password})
				return err
			}, []contracts.HookPoint{contracts.HookBeforeSignIn, contracts.HookBeforeSessionCreate, contracts.HookAfterSessionCreate, contracts.HookAfterSignIn}},
			{"resolve", func(a *auth.Authenticated) error {
				_, err := f.svc.ResolveSession(ctx(), a.Token, auth.ResolveOptions{})
				return err
			}, []contracts.HookPoint{contracts.HookSessionValidate}},
			{"update-user", func(a *auth.Authenticated) error {
				_, err := f.svc.UpdateUser(ctx(), a, auth.ProfileChanges{Name: store.Some("Ada L.")})
				return err
			}, []contracts.HookPoint{contracts.HookBeforeUserUpdate, contracts.HookAfterUserUpdate}},
			{"revoke-session", func(a *auth.Authenticated) error {
				_, err := f.svc.RevokeSession(ctx(), a, a.Token)
				return err
			}, []contracts.HookPoint{contracts.HookBeforeSessionDestroy, contracts.HookAfterSessionDestroy}},
			{"sign-out", func(a *auth.Authenticated) error { return f.svc.SignOut(ctx(), a.Token) },
				[]contracts.HookPoint{contracts.HookBeforeSignOut, contracts.HookBeforeSessionDestroy, contracts.HookAfterSessionDestroy, contracts.HookAfterSignOut}},
			{"delete-user", func(a *auth.Authenticated) error {
				_, err := f.svc.DeleteUser(ctx(), a, auth.DeleteUserInput{Password: password})
				return err
			}, []contracts.HookPoint{contracts.HookBeforeUserDelete, contracts.HookAfterUserDelete}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				in, err := f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: password})
				require.NoError(t, err)
				f.hooks.Reset()
				require.NoError(t, tc.run(&auth.Authenticated{User: in.User, Session: in.Session.Session, Token: in.Session.Token}))
				require.Equal(t, tc.want, f.hooks.Points())
			})
		}
	})
}

func TestHookAbortReachesCallerAndWritesNothing(t *testing.T) {
	refuse := &contracts.Error{Status: 429, Code: contracts.CodeRateLimited, Message: "slow down, plugin says"}
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		cases := []struct {
			point contracts.HookPoint
			run   func(f *fixture) error
			// events that may be written although the flow was refused
			allowed []contracts.EventType
		}{
			{contracts.HookBeforeSignUp, func(f *fixture) error {
				_, err := f.svc.SignUp(ctx(), auth.SignUpInput{Name: "X", Email: "new@example.com", Password: password})
				return err
			}, nil},
			{contracts.HookBeforeUserCreate, func(f *fixture) error {
				_, err := f.svc.SignUp(ctx(), auth.SignUpInput{Name: "X", Email: "new@example.com", Password: password})
				return err
			}, nil},
			{contracts.HookBeforeSessionCreate, func(f *fixture) error {
				_, err := f.svc.SignUp(ctx(), auth.SignUpInput{Name: "X", Email: "new@example.com", Password: password})
				return err
			}, nil},
			{contracts.HookBeforeSignIn, func(f *fixture) error {
				_, err := f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: password})
				return err
			}, []contracts.EventType{contracts.EventLoginFailed}},
			{contracts.HookSessionValidate, func(f *fixture) error {
				a := f.current()
				_, err := f.svc.ResolveSession(ctx(), a.Token, auth.ResolveOptions{})
				return err
			}, nil},
			{contracts.HookBeforeUserUpdate, func(f *fixture) error {
				_, err := f.svc.UpdateUser(ctx(), f.current(), auth.ProfileChanges{Name: store.Some("Mallory")})
				return err
			}, nil},
			{contracts.HookBeforeSignOut, func(f *fixture) error { return f.svc.SignOut(ctx(), f.current().Token) }, nil},
			{contracts.HookBeforeSessionDestroy, func(f *fixture) error { return f.svc.RevokeSessions(ctx(), f.current()) }, nil},
			{contracts.HookBeforeUserDelete, func(f *fixture) error {
				_, err := f.svc.DeleteUser(ctx(), f.current(), auth.DeleteUserInput{Password: password})
				return err
			}, nil},
		}
		for _, tc := range cases {
			t.Run(string(tc.point), func(t *testing.T) {
				f := newFixture(t, b)
				up := f.signUp("ada@example.com")
				f.cur = f.authenticated(up)
				before := f.state()
				beforeUser := f.user(up.User.ID)
				f.hooks.Abort(tc.point, refuse)
				err := tc.run(f)
				require.Error(t, err)
				var ce *contracts.Error
				require.ErrorAs(t, err, &ce)
				require.Equal(t, *refuse, *ce, "the abort reaches the caller unchanged")
				after := f.state()
				require.Equal(t, before.users, after.users)
				events := authtest.Outbox(t, f.st)[before.events:]
				for _, e := range events {
					require.Contains(t, tc.allowed, e.Type)
				}
				require.Equal(t, beforeUser, f.user(up.User.ID))
				live, err := f.st.SessionsOfUser(context.Background(), up.User.ID, t0)
				require.NoError(t, err)
				require.Len(t, live, 1, "the session is still there")
			})
		}
	})
}

// cur is the fixture's signed-in session for the abort table.
func (f *fixture) current() *auth.Authenticated { return f.cur }

func (f *fixture) user(id string) store.User {
	u, err := f.st.UserByID(context.Background(), id)
	require.NoError(f.t, err)
	return u
}

func TestHookPatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		t.Run("beforeSignUp and beforeUserCreate patch the name", func(t *testing.T) {
			f := newFixture(t, b)
			f.hooks.Patch(contracts.HookBeforeSignUp, func(c any) { c.(*contracts.SignUpContext).Name = "Patched" })
			img := "https://img.example/p.png"
			f.hooks.Patch(contracts.HookBeforeUserCreate, func(c any) { c.(*contracts.UserCreateContext).User.Image = &img })
			up := f.signUp("ada@example.com")
			u := f.user(up.User.ID)
			require.Equal(t, "Patched", u.Name)
			require.Equal(t, &img, u.Image)
		})
		t.Run("beforeSessionCreate may only shorten", func(t *testing.T) {
			f := newFixture(t, b)
			f.hooks.Patch(contracts.HookBeforeSessionCreate, func(c any) {
				c.(*contracts.SessionCreateContext).Session.ExpiresAt = t0.Add(time.Hour)
			})
			up := f.signUp("ada@example.com")
			require.Equal(t, t0.Add(time.Hour), up.Session.Session.ExpiresAt)
			f.hooks.Patch(contracts.HookBeforeSessionCreate, func(c any) {
				c.(*contracts.SessionCreateContext).Session.ExpiresAt = t0.Add(365 * 24 * time.Hour)
			})
			in, err := f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: password})
			require.NoError(t, err)
			require.Equal(t, t0.Add(auth.DefaultExpiresIn), in.Session.Session.ExpiresAt, "a longer expiry is ignored")
		})
		t.Run("beforeUserUpdate patches the changes", func(t *testing.T) {
			f := newFixture(t, b)
			a := f.authenticated(f.signUp("ada@example.com"))
			f.hooks.Patch(contracts.HookBeforeUserUpdate, func(c any) {
				n := "Moderated"
				c.(*contracts.UserUpdateContext).Changes.Name = &n
			})
			u, err := f.svc.UpdateUser(ctx(), a, auth.ProfileChanges{Name: store.Some("rude name")})
			require.NoError(t, err)
			require.Equal(t, "Moderated", u.Name)
			require.Equal(t, "Moderated", f.user(a.User.ID).Name)
		})
		t.Run("beforeEmailSend patches the subject or drops the message", func(t *testing.T) {
			f := newFixture(t, b)
			f.signUp("ada@example.com")
			f.hooks.Patch(contracts.HookBeforeEmailSend, func(c any) { c.(*contracts.EmailContext).Email.Subject = "Branded subject" })
			require.NoError(t, f.svc.RequestPasswordReset(ctx(), "ada@example.com", "/reset"))
			require.NoError(t, f.svc.Idle(context.Background()))
			sent := f.mails.all()
			require.Len(t, sent, 1)
			require.Equal(t, "Branded subject", sent[0].Subject)
			require.Equal(t, "ada@example.com", sent[0].To)

			f.hooks.Abort(contracts.HookBeforeEmailSend, &contracts.Error{Status: 403, Code: "BLOCKED", Message: "no"})
			require.NoError(t, f.svc.RequestPasswordReset(ctx(), "ada@example.com", "/reset"))
			require.NoError(t, f.svc.Idle(context.Background()))
			require.Len(t, f.mails.all(), 1, "the aborted message was dropped")
		})
	})
}

func TestEventsOfFlows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		f := newFixture(t, b)
		up := f.signUp("Ada@Example.com")
		uid := up.User.ID
		_, err := f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: "wrong-password"})
		require.Error(t, err)
		_, err = f.svc.SignIn(ctx(), auth.SignInInput{Email: "nobody@example.com", Password: password})
		require.Error(t, err)
		in, err := f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: password})
		require.NoError(t, err)
		a := &auth.Authenticated{User: in.User, Session: in.Session.Session, Token: in.Session.Token}
		_, err = f.svc.UpdateUser(ctx(), a, auth.ProfileChanges{Name: store.Some("Ada L.")})
		require.NoError(t, err)
		ns, err := f.svc.ChangePassword(ctx(), a, password, password+"-2", true)
		require.NoError(t, err)
		a = &auth.Authenticated{User: in.User, Session: ns.Session, Token: ns.Token}
		require.NoError(t, f.svc.SignOut(ctx(), a.Token))
		in, err = f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: password + "-2"})
		require.NoError(t, err)
		a = &auth.Authenticated{User: in.User, Session: in.Session.Session, Token: in.Session.Token}
		_, err = f.svc.DeleteUser(ctx(), a, auth.DeleteUserInput{Password: password + "-2"})
		require.NoError(t, err)

		events := authtest.Outbox(t, f.st)
		require.Equal(t, []contracts.EventType{
			contracts.EventUserCreated, contracts.EventSessionCreated, // sign-up
			contracts.EventLoginFailed, contracts.EventLoginFailed, // wrong password, unknown email
			contracts.EventSessionCreated, contracts.EventLoginSucceeded, // sign-in
			contracts.EventUserUpdated,
			contracts.EventSessionRevoked, contracts.EventSessionRevoked, contracts.EventSessionCreated, contracts.EventPasswordChanged,
			contracts.EventLogout, contracts.EventSessionRevoked, // sign-out
			contracts.EventSessionCreated, contracts.EventLoginSucceeded,
			contracts.EventSessionRevoked, contracts.EventUserDeleted,
		}, authtest.Types(events))
		for _, e := range events {
			require.NoError(t, e.Validate())
			require.Equal(t, auth.EventSource, e.Source)
			require.Equal(t, "203.0.113.7", e.IP)
			require.Equal(t, "authtest/1.0", e.UserAgent)
			require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", e.TraceParent)
			raw, err := json.Marshal(e)
			require.NoError(t, err)
			require.NotContains(t, string(raw), password, "%s carries the password", e.Type)
			require.NotContains(t, string(raw), in.Session.Token, "%s carries a session token", e.Type)
			if e.Type == contracts.EventLoginFailed {
				continue
			}
			require.Equal(t, uid, e.Subject, "%s", e.Type)
			require.Equal(t, uid, e.ActorID, "%s", e.Type)
		}
		var failedWrong, failedUnknown contracts.LoginFailed
		require.NoError(t, events[2].DecodeData(&failedWrong))
		require.NoError(t, events[3].DecodeData(&failedUnknown))
		require.Equal(t, contracts.LoginFailed{Email: "ada@example.com", UserID: uid, Reason: contracts.CodeInvalidEmailOrPassword,
			Method: "email", IPAddress: "203.0.113.7", UserAgent: "authtest/1.0"}, failedWrong)
		require.Equal(t, "nobody@example.com", failedUnknown.Email)
		require.Empty(t, failedUnknown.UserID)
		require.Equal(t, contracts.CodeInvalidEmailOrPassword, failedUnknown.Reason)
		require.Empty(t, events[3].Subject)

		var created contracts.UserCreated
		require.NoError(t, events[0].DecodeData(&created))
		require.Equal(t, "ada@example.com", created.User.Email)
		require.Equal(t, "email", created.Method)
		var updated contracts.UserUpdated
		require.NoError(t, events[6].DecodeData(&updated))
		require.Equal(t, []string{"name"}, updated.Changed)
		require.Equal(t, "Ada L.", updated.User.Name)
		var revoked contracts.SessionRevoked
		require.NoError(t, events[7].DecodeData(&revoked))
		require.Equal(t, contracts.RevokePasswordChange, revoked.Reason)
		var changed contracts.PasswordChanged
		require.NoError(t, events[10].DecodeData(&changed))
		require.Equal(t, contracts.PasswordChanged{UserID: uid, Method: "change", SessionsRevoked: true}, changed)
		require.NoError(t, events[12].DecodeData(&revoked))
		require.Equal(t, contracts.RevokeSignOut, revoked.Reason)
		require.NoError(t, events[15].DecodeData(&revoked))
		require.Equal(t, contracts.RevokeUserDeleted, revoked.Reason)
		var deleted contracts.UserDeleted
		require.NoError(t, events[16].DecodeData(&deleted))
		require.Equal(t, contracts.UserDeleted{UserID: uid, Email: "ada@example.com"}, deleted)
	})
}

func TestSlidingRefreshAndExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		f := newFixture(t, b)
		a := f.authenticated(f.signUp("ada@example.com"))
		events := len(authtest.Outbox(t, f.st))

		f.clock.Advance(auth.DefaultUpdateAge - time.Second)
		res, err := f.svc.ResolveSession(ctx(), a.Token, auth.ResolveOptions{})
		require.NoError(t, err)
		require.False(t, res.Refreshed, "younger than updateAge")
		require.Equal(t, t0.Add(auth.DefaultExpiresIn), res.Session.ExpiresAt)

		f.clock.Advance(time.Second)
		for _, o := range []auth.ResolveOptions{{DisableRefresh: true}, {DontRemember: true}} {
			res, err = f.svc.ResolveSession(ctx(), a.Token, o)
			require.NoError(t, err)
			require.False(t, res.Refreshed, "%+v", o)
		}
		res, err = f.svc.ResolveSession(ctx(), a.Token, auth.ResolveOptions{})
		require.NoError(t, err)
		require.True(t, res.Refreshed)
		now := t0.Add(auth.DefaultUpdateAge)
		require.Equal(t, now.Add(auth.DefaultExpiresIn), res.Session.ExpiresAt)
		require.Equal(t, now, res.Session.UpdatedAt)
		got := authtest.Outbox(t, f.st)[events:]
		require.Equal(t, []contracts.EventType{contracts.EventTokenRefreshed}, authtest.Types(got))

		f.clock.Advance(auth.DefaultExpiresIn)
		res, err = f.svc.ResolveSession(ctx(), a.Token, auth.ResolveOptions{})
		require.NoError(t, err)
		require.Nil(t, res.Authenticated)
		require.True(t, res.Clear)
		_, _, err = f.st.SessionByTokenHash(context.Background(), store.HashToken(a.Token))
		require.ErrorIs(t, err, store.ErrNotFound, "the expired session was deleted")
		last := authtest.Outbox(t, f.st)
		var exp contracts.SessionExpired
		require.Equal(t, contracts.EventSessionExpired, last[len(last)-1].Type)
		require.NoError(t, last[len(last)-1].DecodeData(&exp))
		require.Equal(t, a.Session.ID, exp.SessionID)

		res, err = f.svc.ResolveSession(ctx(), "unknown-token", auth.ResolveOptions{})
		require.NoError(t, err)
		require.True(t, res.Clear)
	})
}

// failingStore makes one kind of write fail inside the transaction.
type failingStore struct {
	store.Store
	failOn string
}

func (s *failingStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.InTx(ctx, func(tx store.Tx) error { return fn(&failingTx{Tx: tx, failOn: s.failOn}) })
}

type failingTx struct {
	store.Tx
	failOn string
}

var errInjected = errors.New("injected failure")

func (t *failingTx) CreateSession(ctx context.Context, s store.Session) (store.Session, error) {
	if t.failOn == "CreateSession" {
		return store.Session{}, errInjected
	}
	return t.Tx.CreateSession(ctx, s)
}

func (t *failingTx) AppendOutbox(ctx context.Context, events ...contracts.Envelope) error {
	if t.failOn == "AppendOutbox" {
		return errInjected
	}
	return t.Tx.AppendOutbox(ctx, events...)
}

func (t *failingTx) SetPassword(ctx context.Context, userID, hash string, at time.Time) error {
	if t.failOn == "SetPassword" {
		return errInjected
	}
	return t.Tx.SetPassword(ctx, userID, hash, at)
}

func TestFailedFlowWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		for _, failOn := range []string{"CreateSession", "AppendOutbox"} {
			t.Run("sign-up/"+failOn, func(t *testing.T) {
				f := newFixture(t, b, func(o *auth.Options, f *fixture) {})
				svc, err := auth.New(&failingStore{Store: f.st, failOn: failOn}, f.hasher, auth.Options{
					BaseURL: "http://auth.test/api/auth", Secret: authtest.Secret, Now: f.clock.Now,
				})
				require.NoError(t, err)
				_, err = svc.SignUp(ctx(), auth.SignUpInput{Name: "X", Email: "x@example.com", Password: password})
				require.ErrorIs(t, err, errInjected)
				_, err = f.st.UserByEmail(context.Background(), "x@example.com")
				require.ErrorIs(t, err, store.ErrNotFound, "the user row was rolled back")
				require.Empty(t, authtest.Outbox(t, f.st), "no event escaped")
			})
		}
		t.Run("change-password with revocation", func(t *testing.T) {
			f := newFixture(t, b)
			a := f.authenticated(f.signUp("ada@example.com"))
			before := authtest.Outbox(t, f.st)
			svc, err := auth.New(&failingStore{Store: f.st, failOn: "SetPassword"}, f.hasher, auth.Options{
				BaseURL: "http://auth.test/api/auth", Secret: authtest.Secret, Now: f.clock.Now,
			})
			require.NoError(t, err)
			_, err = svc.ChangePassword(ctx(), a, password, "a-new-password", true)
			require.ErrorIs(t, err, errInjected)
			require.Equal(t, before, authtest.Outbox(t, f.st))
			live, err := f.st.SessionsOfUser(context.Background(), a.User.ID, t0)
			require.NoError(t, err)
			require.Len(t, live, 1, "the revocation was rolled back with the password change")
			_, err = f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: password})
			require.NoError(t, err, "the old password still works")
		})
	})
}

// TestUnknownEmailCostsOneVerification: signing in with an unknown address
// does the same scrypt work as with a wrong password.
func TestUnknownEmailCostsOneVerification(t *testing.T) {
	f := newFixture(t, authtest.Backends()[0])
	f.signUp("ada@example.com")
	for _, tc := range []struct{ name, email, password string }{
		{"unknown email", "nobody@example.com", password},
		{"wrong password", "ada@example.com", "wrong-password"},
		{"right password", "ada@example.com", password},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h0, v0 := f.hasher.Work()
			_, _ = f.svc.SignIn(ctx(), auth.SignInInput{Email: tc.email, Password: tc.password})
			h1, v1 := f.hasher.Work()
			require.Equal(t, int64(0), h1-h0, "hashes")
			require.Equal(t, int64(1), v1-v0, "verifications")
		})
	}
}

func TestRevocationHandles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		f := newFixture(t, b)
		a := f.authenticated(f.signUp("ada@example.com"))
		other, err := f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: password})
		require.NoError(t, err)
		mallory := f.authenticated(f.signUp("mallory@example.com"))

		list, err := f.svc.ListSessions(ctx(), a)
		require.NoError(t, err)
		require.Len(t, list, 2)
		var handle string
		for _, e := range list {
			if e.Session.ID == a.Session.ID {
				require.Equal(t, a.Token, e.Token, "the current session shows its own token")
				continue
			}
			handle = e.Token
			require.NotEqual(t, other.Session.Token, handle, "another session's token is never shown")
		}
		res, err := f.svc.ResolveSession(ctx(), handle, auth.ResolveOptions{})
		require.NoError(t, err)
		require.Nil(t, res.Authenticated, "a handle does not authenticate")

		current, err := f.svc.RevokeSession(ctx(), mallory, handle)
		require.NoError(t, err)
		require.False(t, current)
		live, err := f.st.SessionsOfUser(context.Background(), a.User.ID, t0)
		require.NoError(t, err)
		require.Len(t, live, 2, "another user's handle revokes nothing")

		current, err = f.svc.RevokeSession(ctx(), a, handle)
		require.NoError(t, err)
		require.False(t, current)
		live, err = f.st.SessionsOfUser(context.Background(), a.User.ID, t0)
		require.NoError(t, err)
		require.Len(t, live, 1)
		require.Equal(t, a.Session.ID, live[0].ID)

		current, err = f.svc.RevokeSession(ctx(), a, a.Token)
		require.NoError(t, err)
		require.True(t, current)
	})
}

func TestResetTokenIsStoredHashed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		f := newFixture(t, b)
		f.signUp("ada@example.com")
		require.NoError(t, f.svc.RequestPasswordReset(ctx(), "ada@example.com", ""))
		require.NoError(t, f.svc.Idle(context.Background()))
		sent := f.mails.all()
		require.Len(t, sent, 1)
		require.Equal(t, contracts.EmailPasswordReset, sent[0].Kind)
		tok := sent[0].URL[strings.LastIndex(sent[0].URL, "/")+1 : strings.Index(sent[0].URL, "?")]
		require.Len(t, tok, 24)
		_, err := f.st.VerificationByIdentifier(context.Background(), "reset-password:"+tok)
		require.ErrorIs(t, err, store.ErrNotFound, "the token is not stored in clear")

		require.NoError(t, f.svc.ResetPassword(ctx(), tok, "a-brand-new-password"))
		err = f.svc.ResetPassword(ctx(), tok, "yet-another-password")
		require.ErrorIs(t, err, contracts.CodeInvalidToken.Err(), "single use")
		_, err = f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: "a-brand-new-password"})
		require.NoError(t, err)
		types := authtest.Types(authtest.Outbox(t, f.st))
		require.Contains(t, types, contracts.EventPasswordChanged)
	})
}

func TestPluginServices(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		f := newFixture(t, b)
		a := f.authenticated(f.signUp("ada@example.com"))
		_, err := f.svc.GetUser(ctx(), "nope")
		require.ErrorIs(t, err, contracts.CodeUserNotFound.Err())
		u, err := f.svc.UpdateUserAs(ctx(), auth.PluginActor("orgs"), a.User.ID, auth.ProfileChanges{Name: store.Some("Via plugin")})
		require.NoError(t, err)
		require.Equal(t, "Via plugin", u.Name)
		events := authtest.Outbox(t, f.st)
		require.Equal(t, "plugin:orgs", events[len(events)-1].ActorID)

		org := json.RawMessage(`"org_123"`)
		s, err := f.svc.SetSessionField(ctx(), a.Session.ID, auth.SessionFieldActiveOrganization, org)
		require.NoError(t, err)
		require.Equal(t, "org_123", *s.ActiveOrganizationID)
		s, err = f.svc.SetSessionField(ctx(), a.Session.ID, "activeTeamId", json.RawMessage(`"team_1"`))
		require.NoError(t, err)
		require.JSONEq(t, `"team_1"`, string(s.Data["activeTeamId"]))
		_, err = f.svc.SetSessionField(ctx(), a.Session.ID, "token", json.RawMessage(`"x"`))
		require.ErrorIs(t, err, contracts.CodeFieldNotAllowed.Err())
		got, err := f.svc.GetSession(ctx(), a.Session.ID)
		require.NoError(t, err)
		require.Equal(t, "org_123", *got.ActiveOrganizationID)

		require.NoError(t, f.svc.SendEmail(ctx(), contracts.Email{To: "ada@example.com", Subject: "Hi", Text: "from a plugin"}))
		sent := f.mails.all()
		require.Equal(t, contracts.EmailPluginMessage, sent[len(sent)-1].Kind)
		err = f.svc.SendEmail(ctx(), contracts.Email{To: "ada@example.com", Subject: "bad\r\nBcc: x@y.z", Text: "x"})
		require.ErrorIs(t, err, contracts.CodeValidationError.Err())

		require.NoError(t, f.svc.RevokeSessionByID(ctx(), auth.PluginActor("security"), a.Session.ID, ""))
		events = authtest.Outbox(t, f.st)
		var rv contracts.SessionRevoked
		require.NoError(t, events[len(events)-1].DecodeData(&rv))
		require.Equal(t, contracts.RevokeByPlugin, rv.Reason)
		require.Equal(t, "plugin:security", events[len(events)-1].ActorID)
		_, err = f.svc.GetSession(ctx(), a.Session.ID)
		require.ErrorIs(t, err, contracts.CodeNotFound.Err())
	})
}

var _ mail.Sender = (*mailbox)(nil)

func TestNotifyAfterCommitsWithEvents(t *testing.T) {
	var notified atomic.Int64
	f := newFixture(t, authtest.Backends()[0], func(o *auth.Options, _ *fixture) { o.Notify = func() { notified.Add(1) } })
	up := f.signUp("ada@example.com")
	require.Equal(t, int64(1), notified.Load(), "one transaction with events")
	_, err := f.svc.SignIn(ctx(), auth.SignInInput{Email: "ada@example.com", Password: "wrong"})
	require.Error(t, err)
	require.Equal(t, int64(2), notified.Load(), "the failed sign-in's event")
	require.NoError(t, f.svc.RequestPasswordReset(ctx(), "ada@example.com", ""))
	require.Equal(t, int64(2), notified.Load(), "a transaction without events does not wake the relay")
	_, err = f.svc.ResolveSession(ctx(), up.Session.Token, auth.ResolveOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(2), notified.Load(), "reading writes nothing")
}
