package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/token"
)

// pendingSession is a session about to be stored: beforeSessionCreate has
// run, the transaction has not.
type pendingSession struct {
	row          store.Session
	token        string
	dontRemember bool
}

// prepareSession builds a session for u and runs beforeSessionCreate, whose
// patched expiresAt may only shorten it.
func (s *Service) prepareSession(ctx context.Context, u store.User, dontRemember bool) (pendingSession, error) {
	now := s.now()
	life := s.opts.ExpiresIn
	if dontRemember {
		life = DontRememberExpiresIn
	}
	tok := token.SessionToken()
	req := RequestFrom(ctx).Info
	row := store.Session{
		ID:        store.NewID(),
		TokenHash: store.HashToken(tok),
		UserID:    u.ID,
		ExpiresAt: now.Add(life),
		IPAddress: req.IPAddress,
		UserAgent: req.UserAgent,
		CreatedAt: now,
		UpdatedAt: now,
	}
	hc := contracts.SessionCreateContext{User: PublicUser(u), Session: PublicSession(row), Request: req}
	if err := s.before(ctx, contracts.HookBeforeSessionCreate, &hc); err != nil {
		return pendingSession{}, err
	}
	if p := hc.Session.ExpiresAt; !p.IsZero() && p.Before(row.ExpiresAt) {
		row.ExpiresAt = p.UTC().Truncate(time.Millisecond)
		if !row.ExpiresAt.After(now) {
			return pendingSession{}, contracts.CodeFailedToCreateSession.Err()
		}
	}
	return pendingSession{row: row, token: tok, dontRemember: dontRemember}, nil
}

// insertSession stores p and announces it.
func (w *writer) insertSession(p pendingSession) (NewSession, error) {
	row, err := w.tx.CreateSession(w.ctx, p.row)
	if err != nil {
		return NewSession{}, internal("create session", err)
	}
	if err := w.emit(contracts.EventSessionCreated, row.UserID, contracts.SessionCreated{Session: PublicSession(row)}); err != nil {
		return NewSession{}, err
	}
	return NewSession{Session: row, Token: p.token, DontRemember: p.dontRemember}, nil
}

// afterSessionCreate runs the after hook of a stored session.
func (s *Service) afterSessionCreate(ctx context.Context, u store.User, ns NewSession) {
	s.after(ctx, contracts.HookAfterSessionCreate, &contracts.SessionEventContext{
		User: PublicUser(u), Session: publicSessionPtr(ns.Session), Request: RequestFrom(ctx).Info,
	})
}

// ResolveOptions tune ResolveSession.
type ResolveOptions struct {
	// DisableRefresh skips the sliding refresh (?disableRefresh).
	DisableRefresh bool
	// DontRemember is set when the request carries the dont_remember cookie:
	// such sessions are never extended.
	DontRemember bool
}

// Resolution is what ResolveSession found.
type Resolution struct {
	// Authenticated is set when the token names a live session.
	*Authenticated
	// Refreshed is set when the session was extended: its cookie must be
	// sent again with a fresh Max-Age.
	Refreshed bool
	// Clear is set when the token names no live session: the session
	// cookies must be expired.
	Clear bool
}

// ResolveSession looks up the session of a raw token: an unknown token
// resolves to nothing (Clear); an expired session is deleted with a
// session.expired event (Clear); a live one passes sessionValidate (whose
// abort is returned) and is extended by ExpiresIn when UpdateAge has passed
// since its last extension, unless refresh is off (DisableSessionRefresh,
// o.DisableRefresh, o.DontRemember).
func (s *Service) ResolveSession(ctx context.Context, rawToken string, o ResolveOptions) (Resolution, error) {
	if rawToken == "" {
		return Resolution{}, nil
	}
	sess, user, err := s.store.SessionByTokenHash(ctx, store.HashToken(rawToken))
	if errors.Is(err, store.ErrNotFound) {
		return Resolution{Clear: true}, nil
	}
	if err != nil {
		return Resolution{}, internal("get session", err)
	}
	now := s.now()
	if !sess.ExpiresAt.After(now) {
		s.expire(ctx, sess)
		return Resolution{Clear: true}, nil
	}
	a := &Authenticated{User: user, Session: sess, Token: rawToken}
	if err := s.ValidateSession(ctx, a); err != nil {
		return Resolution{}, err
	}
	if o.DontRemember || o.DisableRefresh || s.opts.DisableSessionRefresh {
		return Resolution{Authenticated: a}, nil
	}
	if sess.ExpiresAt.Add(-s.opts.ExpiresIn).Add(s.opts.UpdateAge).After(now) {
		return Resolution{Authenticated: a}, nil
	}
	var extended store.Session
	err = s.write(ctx, func(w *writer) error {
		var err error
		extended, err = w.tx.ExtendSession(ctx, sess.ID, now.Add(s.opts.ExpiresIn), now)
		if err != nil {
			return err
		}
		return w.emit(contracts.EventTokenRefreshed, user.ID, contracts.TokenRefreshed{
			UserID: user.ID, SessionID: sess.ID, ExpiresAt: extended.ExpiresAt,
		})
	})
	if errors.Is(err, store.ErrNotFound) {
		// Revoked by a concurrent request.
		return Resolution{Clear: true}, nil
	}
	if err != nil {
		return Resolution{}, internal("refresh session", err)
	}
	a.Session = extended
	return Resolution{Authenticated: a, Refreshed: true}, nil
}

// ValidateSession runs sessionValidate for a resolved session (also for one
// answered from the cookie cache).
func (s *Service) ValidateSession(ctx context.Context, a *Authenticated) error {
	return s.before(ctx, contracts.HookSessionValidate, &contracts.SessionEventContext{
		User: PublicUser(a.User), Session: publicSessionPtr(a.Session), Request: RequestFrom(ctx).Info,
	})
}

// expire deletes an expired session and announces it; failures are logged
// (the session is unusable either way).
func (s *Service) expire(ctx context.Context, sess store.Session) {
	err := s.write(ctx, func(w *writer) error {
		if _, err := w.tx.DeleteSession(ctx, sess.UserID, sess.ID); err != nil {
			return err
		}
		return w.emit(contracts.EventSessionExpired, sess.UserID, contracts.SessionExpired{
			SessionID: sess.ID, UserID: sess.UserID, ExpiredAt: sess.ExpiresAt,
		})
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "auth: delete expired session", "session", sess.ID, "err", err)
	}
}

// SessionEntry is one session in ListSessions' answer.
type SessionEntry struct {
	// Session is the row.
	Session store.Session
	// Token is the current session's own token, or for any other session an
	// opaque revocation handle that RevokeSession accepts.
	Token string
}

// ListSessions returns the caller's live sessions, oldest first.
func (s *Service) ListSessions(ctx context.Context, cur *Authenticated) ([]SessionEntry, error) {
	rows, err := s.store.SessionsOfUser(ctx, cur.User.ID, s.now())
	if err != nil {
		return nil, internal("list sessions", err)
	}
	out := make([]SessionEntry, len(rows))
	for i, r := range rows {
		tok := s.revocationHandle(r.ID)
		if r.ID == cur.Session.ID {
			tok = cur.Token
		}
		out[i] = SessionEntry{Session: r, Token: tok}
	}
	return out, nil
}

// findOwnSession finds, among the caller's live sessions, the one a token
// or revocation handle names.
func (s *Service) findOwnSession(ctx context.Context, cur *Authenticated, tokenOrHandle string) (store.Session, bool, error) {
	if tokenOrHandle == "" {
		return store.Session{}, false, nil
	}
	if tokenOrHandle == cur.Token {
		return cur.Session, true, nil
	}
	rows, err := s.store.SessionsOfUser(ctx, cur.User.ID, s.now())
	if err != nil {
		return store.Session{}, false, internal("list sessions", err)
	}
	hash := store.HashToken(tokenOrHandle)
	for _, r := range rows {
		if subtle.ConstantTimeCompare([]byte(r.TokenHash), []byte(hash)) == 1 ||
			subtle.ConstantTimeCompare([]byte(s.revocationHandle(r.ID)), []byte(tokenOrHandle)) == 1 {
			return r, true, nil
		}
	}
	return store.Session{}, false, nil
}

// RevokeSession deletes the caller's session named by a token or a
// revocation handle; a token naming no session of the caller is not an
// error (better-auth answers {"status":true} anyway). current reports
// whether the caller's own session was revoked.
func (s *Service) RevokeSession(ctx context.Context, cur *Authenticated, tokenOrHandle string) (current bool, err error) {
	ctx = s.actorCtx(ctx, cur.User.ID)
	target, ok, err := s.findOwnSession(ctx, cur, tokenOrHandle)
	if err != nil || !ok {
		return false, err
	}
	if err := s.destroySessions(ctx, cur.User.ID, []store.Session{target}, contracts.RevokeByUser, func(w *writer) ([]store.Session, error) {
		row, err := w.tx.DeleteSession(ctx, cur.User.ID, target.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return []store.Session{row}, err
	}); err != nil {
		return false, err
	}
	return target.ID == cur.Session.ID, nil
}

// RevokeSessions deletes every session of the caller.
func (s *Service) RevokeSessions(ctx context.Context, cur *Authenticated) error {
	return s.revokeAll(s.actorCtx(ctx, cur.User.ID), cur.User.ID, "", contracts.RevokeAll)
}

// RevokeOtherSessions deletes every session of the caller but the current one.
func (s *Service) RevokeOtherSessions(ctx context.Context, cur *Authenticated) error {
	return s.revokeAll(s.actorCtx(ctx, cur.User.ID), cur.User.ID, cur.Session.ID, contracts.RevokeOthers)
}

func (s *Service) revokeAll(ctx context.Context, userID, exceptID, reason string) error {
	live, err := s.store.SessionsOfUser(ctx, userID, s.now())
	if err != nil {
		return internal("list sessions", err)
	}
	targets := live[:0:0]
	for _, r := range live {
		if r.ID != exceptID {
			targets = append(targets, r)
		}
	}
	return s.destroySessions(ctx, userID, targets, reason, func(w *writer) ([]store.Session, error) {
		return w.tx.DeleteUserSessions(ctx, userID, exceptID)
	})
}

// destroySessions runs beforeSessionDestroy for each target (any abort
// stops everything), deletes in one transaction with a session.revoked event
// per deleted session, then runs afterSessionDestroy.
func (s *Service) destroySessions(ctx context.Context, userID string, targets []store.Session, reason string,
	del func(w *writer) ([]store.Session, error)) error {
	if err := s.beforeDestroy(ctx, targets, reason); err != nil {
		return err
	}
	var deleted []store.Session
	err := s.write(ctx, func(w *writer) error {
		var err error
		if deleted, err = del(w); err != nil {
			return err
		}
		return w.emitRevoked(userID, deleted, reason)
	})
	if err != nil {
		return internal("revoke sessions", err)
	}
	s.afterDestroy(ctx, deleted, reason)
	return nil
}

func (s *Service) beforeDestroy(ctx context.Context, targets []store.Session, reason string) error {
	req := RequestFrom(ctx).Info
	for _, t := range targets {
		if err := s.before(ctx, contracts.HookBeforeSessionDestroy, &contracts.SessionDestroyContext{
			Session: PublicSession(t), Reason: reason, Request: req,
		}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) afterDestroy(ctx context.Context, deleted []store.Session, reason string) {
	req := RequestFrom(ctx).Info
	for _, d := range deleted {
		s.after(ctx, contracts.HookAfterSessionDestroy, &contracts.SessionDestroyContext{
			Session: PublicSession(d), Reason: reason, Request: req,
		})
	}
}

// emitRevoked announces each deleted session.
func (w *writer) emitRevoked(userID string, deleted []store.Session, reason string) error {
	for _, d := range deleted {
		if err := w.emit(contracts.EventSessionRevoked, userID, contracts.SessionRevoked{
			SessionID: d.ID, UserID: d.UserID, Reason: reason,
		}); err != nil {
			return err
		}
	}
	return nil
}

// SignOut ends the session of a raw token (nothing when it names none).
// beforeSignOut and beforeSessionDestroy may refuse; store failures are
// logged and not returned, as better-auth ignores them and clears the
// cookies anyway.
func (s *Service) SignOut(ctx context.Context, rawToken string) error {
	if rawToken == "" {
		return nil
	}
	sess, user, err := s.store.SessionByTokenHash(ctx, store.HashToken(rawToken))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "auth: sign-out: read session", "err", err)
		}
		return nil
	}
	ctx = s.actorCtx(ctx, user.ID)
	req := RequestFrom(ctx).Info
	ev := contracts.SessionEventContext{User: PublicUser(user), Session: publicSessionPtr(sess), Request: req}
	if err := s.before(ctx, contracts.HookBeforeSignOut, &ev); err != nil {
		return err
	}
	if err := s.beforeDestroy(ctx, []store.Session{sess}, contracts.RevokeSignOut); err != nil {
		return err
	}
	var deleted []store.Session
	err = s.write(ctx, func(w *writer) error {
		row, err := w.tx.DeleteSession(ctx, user.ID, sess.ID)
		if err != nil {
			return err
		}
		deleted = []store.Session{row}
		if err := w.emit(contracts.EventLogout, user.ID, contracts.Logout{UserID: user.ID, SessionID: sess.ID}); err != nil {
			return err
		}
		return w.emitRevoked(user.ID, deleted, contracts.RevokeSignOut)
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "auth: sign-out: delete session", "err", err)
		}
		return nil
	}
	s.afterDestroy(ctx, deleted, contracts.RevokeSignOut)
	s.after(ctx, contracts.HookAfterSignOut, &ev)
	return nil
}

// actorCtx makes userID the actor unless the request already names one.
func (s *Service) actorCtx(ctx context.Context, userID string) context.Context {
	if RequestFrom(ctx).ActorID != "" {
		return ctx
	}
	return WithActor(ctx, userID)
}
