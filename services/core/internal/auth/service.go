// Package auth is the core's email+password authentication: sign-up,
// sign-in, sessions (sliding refresh, revocation), profile and password
// changes, email verification, password reset and account deletion, with
// better-auth 1.7.25's rules (contract §1–§4). It has no HTTP: the api
// package maps requests onto these flows, and the core services offered to
// plugins call them too.
//
// Every change is one store transaction that also appends the events
// announcing it to the outbox; nothing is half-written when a flow fails.
// before* hook points run before that transaction (never while it is open)
// and may abort or patch; after* points run after the commit.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/password"
	"github.com/authbus/authbus/services/core/internal/store"
)

// PasswordHasher hashes and verifies passwords; *password.Hasher (the
// bounded scrypt pool) is the implementation.
type PasswordHasher interface {
	// Hash returns a new hash of pw.
	Hash(ctx context.Context, pw string) (string, error)
	// Verify reports whether pw matches stored.
	Verify(ctx context.Context, stored, pw string) (bool, error)
	// VerifyDummy costs what Verify costs and always fails.
	VerifyDummy(ctx context.Context, pw string) error
}

var _ PasswordHasher = (*password.Hasher)(nil)

// Service runs the flows. It is safe for concurrent use.
type Service struct {
	store  store.Store
	hasher PasswordHasher
	opts   Options
	hooks  Hooks
	log    *slog.Logger
	limits password.Limits
	secret []byte

	mu      sync.Mutex
	closed  bool
	pending int             // background emails in flight
	waiters []chan struct{} // closed when pending drops to 0
}

// New returns a Service over st, hashing with hasher.
func New(st store.Store, hasher PasswordHasher, opts Options) (*Service, error) {
	var errs []error
	if st == nil {
		errs = append(errs, errors.New("auth: store is nil"))
	}
	if hasher == nil {
		errs = append(errs, errors.New("auth: password hasher is nil"))
	}
	if err := opts.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	return &Service{
		store:  st,
		hasher: hasher,
		opts:   opts,
		hooks:  opts.Hooks,
		log:    opts.Logger,
		limits: password.Limits{Min: opts.MinPasswordLength, Max: opts.MaxPasswordLength},
		secret: []byte(opts.Secret),
	}, nil
}

// Options returns the options in effect (defaults filled in).
func (s *Service) Options() Options { return s.opts }

// Now is the Service's clock.
func (s *Service) Now() time.Time { return s.opts.Now() }

// Store is the store the Service writes to.
func (s *Service) Store() store.Store { return s.store }

// Hooks is the hook dispatcher the Service calls.
func (s *Service) Hooks() Hooks { return s.hooks }

// PasswordLimits are the password length rules in effect.
func (s *Service) PasswordLimits() password.Limits { return s.limits }

// Close waits, until ctx is done, for the emails still being sent in the
// background; later flows send no more email.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err := s.Idle(ctx); err != nil {
		return fmt.Errorf("auth: close: emails still being sent: %w", err)
	}
	return nil
}

// Idle waits, until ctx is done, until no email is being sent in the background.
func (s *Service) Idle(ctx context.Context) error {
	s.mu.Lock()
	if s.pending == 0 {
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startBackground counts a background task in; false once closed.
func (s *Service) startBackground() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.pending++
	return true
}

// endBackground counts a background task out.
func (s *Service) endBackground() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending--
	if s.pending == 0 {
		for _, ch := range s.waiters {
			close(ch)
		}
		s.waiters = nil
	}
}

// now is the current time at the store's precision.
func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// emailPattern is zod 4's z.email() pattern (contract §1.1).
var emailPattern = regexp.MustCompile(`^(?:[A-Za-z0-9_'+\-]+\.)*[A-Za-z0-9_'+\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`)

// ValidEmail reports whether s passes better-auth's email check (zod's z.email()).
func ValidEmail(s string) bool { return len(s) <= 1024 && emailPattern.MatchString(s) }

// normalizeEmail lower-cases an address (the pattern admits ASCII only).
func normalizeEmail(s string) string { return strings.ToLower(s) }

// revocationHandle is what list-sessions shows instead of another
// session's token: it names the session to revoke-session but is not a
// credential (it is never looked up as a token).
func (s *Service) revocationHandle(sessionID string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("revoke:"))
	m.Write([]byte(sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// writer is one transaction of a flow with the events it announces.
type writer struct {
	tx     store.Tx
	s      *Service
	ctx    context.Context
	events []contracts.Envelope
}

// write runs fn in one transaction, appends the events fn emitted to the
// outbox in the same transaction and, after the commit, wakes the relay.
func (s *Service) write(ctx context.Context, fn func(w *writer) error) error {
	var emitted int
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		w := &writer{tx: tx, s: s, ctx: ctx}
		if err := fn(w); err != nil {
			return err
		}
		emitted = len(w.events)
		if emitted == 0 {
			return nil
		}
		if err := tx.AppendOutbox(ctx, w.events...); err != nil {
			return fmt.Errorf("auth: append events: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if emitted > 0 {
		s.opts.Notify()
	}
	return nil
}

// emit adds an event about subject (a user id) to the transaction.
func (w *writer) emit(t contracts.EventType, subject string, data any) error {
	env, err := w.s.envelope(w.ctx, t, subject, data)
	if err != nil {
		return err
	}
	w.events = append(w.events, env)
	return nil
}

// envelope builds an event with the request's extensions.
func (s *Service) envelope(ctx context.Context, t contracts.EventType, subject string, data any) (contracts.Envelope, error) {
	env, err := contracts.NewEnvelope(EventSource, t, subject, data)
	if err != nil {
		return contracts.Envelope{}, fmt.Errorf("auth: event: %w", err)
	}
	env.Time = s.now()
	req := RequestFrom(ctx)
	env.ActorID = req.ActorID
	if env.ActorID == "" {
		env.ActorID = subject
	}
	env.IP = req.Info.IPAddress
	env.UserAgent = req.Info.UserAgent
	env.TraceParent = traceParent(ctx)
	return env, nil
}

// emitAlone writes events that announce no change of their own (a failed sign-in).
func (s *Service) emitAlone(ctx context.Context, t contracts.EventType, subject string, data any) {
	err := s.write(ctx, func(w *writer) error { return w.emit(t, subject, data) })
	if err != nil {
		s.log.ErrorContext(ctx, "auth: write event", "type", t, "err", err)
	}
}

// internal wraps an unexpected failure (a store error, a hashing error)
// with the flow's name; the client sees INTERNAL_SERVER_ERROR.
func internal(flow string, err error) error {
	if err == nil {
		return nil
	}
	var ce *contracts.Error
	if errors.As(err, &ce) {
		return ce
	}
	return fmt.Errorf("auth: %s: %w", flow, err)
}

// Errors of the flows that are not in the contracts catalog (or differ from
// its status/message there), as better-auth answers them.
var (
	// ErrNotFoundEmpty is a 404 with an empty body (/delete-user when disabled).
	ErrNotFoundEmpty = &contracts.Error{Status: 404}
	// errEmailIsTheSame is change-email's message-only 400.
	errEmailIsTheSame = &contracts.Error{Status: 400, Message: "Email is the same"}
	// errVerificationNotEnabled is change-email's message-only 400.
	errVerificationNotEnabled = &contracts.Error{Status: 400, Message: "Verification email isn't enabled"}
	// errNoFieldsToUpdate is update-user's message-only 400.
	errNoFieldsToUpdate = &contracts.Error{Status: 400, Message: "No fields to update"}
	// errFailedToGetUserInfo is /delete-user/callback without a session.
	errFailedToGetUserInfo = &contracts.Error{Status: 404, Code: "FAILED_TO_GET_USER_INFO", Message: "Failed to get user info"}
)

// ErrNoFieldsToUpdate is returned by UpdateUser when nothing would change.
var ErrNoFieldsToUpdate = errNoFieldsToUpdate
