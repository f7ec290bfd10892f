package auth

import (
	"context"
	"errors"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/cookie"
	"github.com/authbus/authbus/services/core/internal/jwt"
	"github.com/authbus/authbus/services/core/internal/mail"
	"github.com/authbus/authbus/services/core/internal/password"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/token"
)

// createSession prepares, stores and announces a new session of u.
func (s *Service) createSession(ctx context.Context, u store.User, dontRemember bool) (NewSession, error) {
	p, err := s.prepareSession(ctx, u, dontRemember)
	if err != nil {
		return NewSession{}, err
	}
	var ns NewSession
	err = s.write(ctx, func(w *writer) error {
		var err error
		ns, err = w.insertSession(p)
		return err
	})
	if err != nil {
		return NewSession{}, internal("create session", err)
	}
	s.afterSessionCreate(ctx, u, ns)
	return ns, nil
}

// updateUserFields applies up to u in one transaction with a user.updated
// event listing changed, then runs afterUserUpdate. Store errors are
// returned unwrapped enough for errors.Is (ErrNotFound, ErrConflict).
func (s *Service) updateUserFields(ctx context.Context, u store.User, up store.UserUpdate, changed []string) (store.User, error) {
	up.UpdatedAt = s.now()
	var updated store.User
	err := s.write(ctx, func(w *writer) error {
		var err error
		if updated, err = w.tx.UpdateUser(ctx, u.ID, up); err != nil {
			return err
		}
		return w.emit(contracts.EventUserUpdated, u.ID, contracts.UserUpdated{User: PublicUser(updated), Changed: changed})
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			return store.User{}, err
		}
		return store.User{}, internal("update user", err)
	}
	s.after(ctx, contracts.HookAfterUserUpdate, &contracts.UserEventContext{User: PublicUser(updated), Request: RequestFrom(ctx).Info})
	return updated, nil
}

// ProfileChanges are the profile fields an update sets.
type ProfileChanges struct {
	// Name, when Set, is the new display name.
	Name store.Optional[string]
	// Image, when Set, is the new avatar URL; a nil Value clears it.
	Image store.Optional[*string]
}

// UpdateUser changes the caller's profile (/update-user, contract §1.6).
func (s *Service) UpdateUser(ctx context.Context, cur *Authenticated, ch ProfileChanges) (store.User, error) {
	return s.updateProfile(s.actorCtx(ctx, cur.User.ID), cur.User, ch)
}

// UpdateUserAs changes a user's profile on behalf of actor (a plugin
// calling core.users.update: use PluginActor).
func (s *Service) UpdateUserAs(ctx context.Context, actor, userID string, ch ProfileChanges) (store.User, error) {
	u, err := s.GetUser(ctx, userID)
	if err != nil {
		return store.User{}, err
	}
	return s.updateProfile(WithActor(ctx, actor), u, ch)
}

// updateProfile runs beforeUserUpdate (which may patch the name and image),
// writes and runs afterUserUpdate.
func (s *Service) updateProfile(ctx context.Context, u store.User, ch ProfileChanges) (store.User, error) {
	if !ch.Name.Set && !ch.Image.Set {
		return store.User{}, errNoFieldsToUpdate
	}
	hc := contracts.UserUpdateContext{User: PublicUser(u), Request: RequestFrom(ctx).Info}
	if ch.Name.Set {
		name := ch.Name.Value
		hc.Changes.Name = &name
	}
	if ch.Image.Set {
		hc.Changes.Image = ch.Image.Value
	}
	if err := s.before(ctx, contracts.HookBeforeUserUpdate, &hc); err != nil {
		return store.User{}, err
	}
	var up store.UserUpdate
	var changed []string
	if hc.Changes.Name != nil {
		up.Name = store.Some(*hc.Changes.Name)
		changed = append(changed, "name")
	}
	// A hook cannot express "clear" (null drops the key); a clear stays one
	// unless the hook set a value.
	if hc.Changes.Image != nil || ch.Image.Set {
		up.Image = store.Some(hc.Changes.Image)
		changed = append(changed, "image")
	}
	if len(changed) == 0 {
		return store.User{}, errNoFieldsToUpdate
	}
	var img *string
	if up.Image.Set {
		img = up.Image.Value
	}
	if err := s.checkProfile(up.Name.Value, img); err != nil {
		return store.User{}, err
	}
	updated, err := s.updateUserFields(ctx, u, up, changed)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, contracts.CodeUserNotFound.Err()
	}
	return updated, err
}

// ChangePassword replaces the caller's password after checking the current
// one (contract §1.7). With revokeOthers every session of the user (the
// current one included) is deleted and a new session is returned.
func (s *Service) ChangePassword(ctx context.Context, cur *Authenticated, current, next string, revokeOthers bool) (*NewSession, error) {
	if err := s.limits.CheckNew(next); err != nil {
		return nil, err
	}
	if err := s.limits.CheckMax(current); err != nil {
		return nil, err
	}
	ctx = s.actorCtx(ctx, cur.User.ID)
	if err := s.checkPassword(ctx, cur.User.ID, current); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return nil, internal("change password: hash", err)
	}
	now := s.now()
	var pending *pendingSession
	if revokeOthers {
		live, err := s.store.SessionsOfUser(ctx, cur.User.ID, now)
		if err != nil {
			return nil, internal("change password", err)
		}
		if err := s.beforeDestroy(ctx, live, contracts.RevokePasswordChange); err != nil {
			return nil, err
		}
		p, err := s.prepareSession(ctx, cur.User, false)
		if err != nil {
			return nil, err
		}
		pending = &p
	}
	var (
		deleted []store.Session
		ns      *NewSession
	)
	err = s.write(ctx, func(w *writer) error {
		if revokeOthers {
			var err error
			if deleted, err = w.tx.DeleteUserSessions(ctx, cur.User.ID, ""); err != nil {
				return err
			}
			if err := w.emitRevoked(cur.User.ID, deleted, contracts.RevokePasswordChange); err != nil {
				return err
			}
		}
		if err := w.tx.SetPassword(ctx, cur.User.ID, hash, now); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return contracts.CodeCredentialAccountNotFound.Err()
			}
			return err
		}
		if pending != nil {
			created, err := w.insertSession(*pending)
			if err != nil {
				return err
			}
			ns = &created
		}
		return w.emit(contracts.EventPasswordChanged, cur.User.ID, contracts.PasswordChanged{
			UserID: cur.User.ID, Method: "change", SessionsRevoked: revokeOthers,
		})
	})
	if err != nil {
		return nil, internal("change password", err)
	}
	s.afterDestroy(ctx, deleted, contracts.RevokePasswordChange)
	if ns != nil {
		s.afterSessionCreate(ctx, cur.User, *ns)
	}
	return ns, nil
}

// checkPassword verifies pw against the user's credential:
// CREDENTIAL_ACCOUNT_NOT_FOUND without one, INVALID_PASSWORD on mismatch.
func (s *Service) checkPassword(ctx context.Context, userID, pw string) error {
	acc, err := s.store.CredentialAccount(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && acc.Password == "") {
		return contracts.CodeCredentialAccountNotFound.Err()
	}
	if err != nil {
		return internal("check password", err)
	}
	ok, err := s.hasher.Verify(ctx, acc.Password, pw)
	if errors.Is(err, password.ErrMalformedHash) {
		s.log.ErrorContext(ctx, "auth: stored password hash is malformed", "user", userID)
		ok, err = false, nil
	}
	if err != nil {
		return internal("check password", err)
	}
	if !ok {
		return contracts.CodeInvalidPassword.Err()
	}
	return nil
}

// ChangeEmailResult is a successful /change-email.
type ChangeEmailResult struct {
	// Updated is set when the address changed at once
	// (UpdateEmailWithoutVerification): the session cookie must be issued again.
	Updated *store.User
}

// ChangeEmail starts (or, for an unverified user with
// UpdateEmailWithoutVerification, performs) a change of the caller's email
// (contract §1.8). An address that already belongs to someone is answered
// like success, and nothing happens.
func (s *Service) ChangeEmail(ctx context.Context, cur *Authenticated, newEmail, callbackURL string) (ChangeEmailResult, error) {
	if !s.opts.ChangeEmail {
		return ChangeEmailResult{}, contracts.CodeChangeEmailDisabled.Err()
	}
	if !ValidEmail(newEmail) {
		return ChangeEmailResult{}, contracts.CodeInvalidEmail.Err()
	}
	newEmail = normalizeEmail(newEmail)
	u := cur.User
	if newEmail == u.Email {
		return ChangeEmailResult{}, errEmailIsTheSame
	}
	withoutVerification := !u.EmailVerified && s.opts.UpdateEmailWithoutVerification
	canVerify := s.opts.Mailer != nil
	canConfirm := canVerify && u.EmailVerified && s.opts.SendChangeEmailConfirmation
	if !withoutVerification && !canVerify {
		return ChangeEmailResult{}, errVerificationNotEnabled
	}
	if _, err := s.store.UserByEmail(ctx, newEmail); err == nil {
		return ChangeEmailResult{}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return ChangeEmailResult{}, internal("change email", err)
	}
	ctx = s.actorCtx(ctx, u.ID)
	switch {
	case withoutVerification:
		updated, err := s.updateUserFields(ctx, u, store.UserUpdate{Email: store.Some(newEmail)}, []string{"email"})
		if errors.Is(err, store.ErrConflict) {
			return ChangeEmailResult{}, nil
		}
		if err != nil {
			return ChangeEmailResult{}, internal("change email", err)
		}
		if canVerify {
			s.sendVerification(ctx, updated, callbackURL)
		}
		return ChangeEmailResult{Updated: &updated}, nil
	case canConfirm:
		tok, err := s.verificationToken(jwt.Claims{
			Email: u.Email, UpdateTo: newEmail, RequestType: jwt.RequestChangeEmailConfirmation, UserID: u.ID,
		})
		if err != nil {
			return ChangeEmailResult{}, internal("change email", err)
		}
		s.compose(ctx, contracts.EmailChangeEmailNotice, mail.Data{
			To: u.Email, UserID: u.ID, URL: s.verifyLink(tok, callbackURL), NewEmail: newEmail, ExpiresIn: s.opts.EmailVerificationExpiresIn,
		})
	default:
		s.sendChangeEmailVerification(ctx, u, newEmail, callbackURL)
	}
	return ChangeEmailResult{}, nil
}

// DeleteUserInput is a /delete-user request.
type DeleteUserInput struct {
	// Password, when not empty, must be the caller's password.
	Password string
	// Token, when not empty, is the emailed confirmation token.
	Token string
	// CallbackURL is where the confirmation link leads after deleting ("" for "/").
	CallbackURL string
}

// DeleteUserResult is a successful /delete-user.
type DeleteUserResult struct {
	// Deleted is set when the account is gone (cookies must be expired);
	// otherwise a confirmation email was sent.
	Deleted bool
}

// deleteIdentifier is the verification identifier of a delete-account token
// (hashed, like reset tokens).
func deleteIdentifier(tok string) string { return "delete-account-" + token.Hash(tok) }

// DeleteUser deletes the caller's account (contract §1.9): with a correct
// password, with an emailed token, or with a fresh session; with
// SendDeleteAccountVerification and neither password nor token it emails a
// confirmation link instead.
func (s *Service) DeleteUser(ctx context.Context, cur *Authenticated, in DeleteUserInput) (DeleteUserResult, error) {
	if !s.opts.DeleteUser {
		return DeleteUserResult{}, ErrNotFoundEmpty
	}
	ctx = s.actorCtx(ctx, cur.User.ID)
	if in.Password != "" {
		if err := s.limits.CheckMax(in.Password); err != nil {
			return DeleteUserResult{}, err
		}
		if err := s.checkPassword(ctx, cur.User.ID, in.Password); err != nil {
			return DeleteUserResult{}, err
		}
	}
	if in.Token != "" {
		if err := s.deleteUser(ctx, cur.User, in.Token); err != nil {
			return DeleteUserResult{}, err
		}
		return DeleteUserResult{Deleted: true}, nil
	}
	if s.opts.SendDeleteAccountVerification && s.opts.Mailer != nil {
		tok := token.DeleteToken()
		now := s.now()
		err := s.write(ctx, func(w *writer) error {
			_, err := w.tx.CreateVerification(ctx, store.Verification{
				Identifier: deleteIdentifier(tok), Value: cur.User.ID, ExpiresAt: now.Add(s.opts.DeleteTokenExpiresIn), CreatedAt: now, UpdatedAt: now,
			})
			return err
		})
		if err != nil {
			return DeleteUserResult{}, internal("delete user", err)
		}
		callback := in.CallbackURL
		if callback == "" {
			callback = "/"
		}
		s.compose(ctx, contracts.EmailDeleteAccount, mail.Data{
			To: cur.User.Email, UserID: cur.User.ID, ExpiresIn: s.opts.DeleteTokenExpiresIn,
			URL: s.opts.BaseURL + "/delete-user/callback?token=" + tok + "&callbackURL=" + cookie.EncodeURIComponent(callback),
		})
		return DeleteUserResult{}, nil
	}
	if in.Password == "" && !s.Fresh(cur.Session) {
		return DeleteUserResult{}, contracts.CodeSessionExpired.Err()
	}
	if err := s.deleteUser(ctx, cur.User, ""); err != nil {
		return DeleteUserResult{}, err
	}
	return DeleteUserResult{Deleted: true}, nil
}

// DeleteUserCallback is GET /delete-user/callback: it deletes the caller's
// account with an emailed token.
func (s *Service) DeleteUserCallback(ctx context.Context, cur *Authenticated, tok string) error {
	if !s.opts.DeleteUser {
		return contracts.CodeNotFound.Err().WithMessage("Not found")
	}
	if cur == nil {
		return errFailedToGetUserInfo
	}
	return s.deleteUser(s.actorCtx(ctx, cur.User.ID), cur.User, tok)
}

// Fresh reports whether a session is recent enough for sensitive actions
// (FreshAge; always true when the check is disabled).
func (s *Service) Fresh(sess store.Session) bool {
	if s.opts.FreshAge < 0 {
		return true
	}
	return s.opts.Now().Sub(sess.CreatedAt) < s.opts.FreshAge
}

// deleteUser runs beforeUserDelete, then in one transaction consumes the
// confirmation token (when given; it must be u's), deletes the sessions
// (a session.revoked each) and the user (user.deleted), then runs
// afterUserDelete.
func (s *Service) deleteUser(ctx context.Context, u store.User, tok string) error {
	req := RequestFrom(ctx).Info
	hc := contracts.UserEventContext{User: PublicUser(u), Request: req}
	if err := s.before(ctx, contracts.HookBeforeUserDelete, &hc); err != nil {
		return err
	}
	now := s.now()
	err := s.write(ctx, func(w *writer) error {
		if tok != "" {
			v, err := w.tx.ConsumeVerification(ctx, deleteIdentifier(tok))
			if errors.Is(err, store.ErrNotFound) || (err == nil && (v.Value != u.ID || !v.ExpiresAt.After(now))) {
				return contracts.CodeInvalidToken.Err().WithStatus(404)
			}
			if err != nil {
				return err
			}
		}
		deleted, err := w.tx.DeleteUserSessions(ctx, u.ID, "")
		if err != nil {
			return err
		}
		if err := w.emitRevoked(u.ID, deleted, contracts.RevokeUserDeleted); err != nil {
			return err
		}
		if _, err := w.tx.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		return w.emit(contracts.EventUserDeleted, u.ID, contracts.UserDeleted{UserID: u.ID, Email: u.Email})
	})
	if errors.Is(err, store.ErrNotFound) {
		return contracts.CodeUserNotFound.Err()
	}
	if err != nil {
		return internal("delete user", err)
	}
	s.after(ctx, contracts.HookAfterUserDelete, &hc)
	return nil
}
