package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/cookie"
	"github.com/authbus/authbus/services/core/internal/jwt"
	"github.com/authbus/authbus/services/core/internal/mail"
	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/token"
)

// Every email goes Composer → beforeEmailSend → Mailer → afterEmailSend.
// The flows send in the background (bounded by MailTimeout, awaited by
// Close): an answer never waits for, or tells anything by, the delivery.

// MailEnabled reports whether a mailer is configured.
func (s *Service) MailEnabled() bool { return s.opts.Mailer != nil }

// compose writes the message of kind and sends it in the background.
func (s *Service) compose(ctx context.Context, kind string, d mail.Data) {
	if s.opts.Mailer == nil {
		return
	}
	m, err := s.opts.Composer.Compose(kind, d)
	if err != nil {
		s.log.ErrorContext(ctx, "auth: compose email", "kind", kind, "err", err)
		return
	}
	s.sendInBackground(ctx, m)
}

// sendInBackground delivers m after the request, within MailTimeout.
func (s *Service) sendInBackground(ctx context.Context, m contracts.Email) {
	if !s.startBackground() {
		s.log.WarnContext(ctx, "auth: email not sent: shutting down", "kind", m.Kind, "to", m.To)
		return
	}
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer s.endBackground()
		ctx, cancel := context.WithTimeout(ctx, s.opts.MailTimeout)
		defer cancel()
		if err := s.deliver(ctx, m); err != nil {
			s.log.ErrorContext(ctx, "auth: email not sent", "kind", m.Kind, "to", m.To, "err", err)
		}
	}()
}

// deliver runs beforeEmailSend (which may patch the subject and bodies, or
// drop the message by aborting), the mailer and afterEmailSend.
func (s *Service) deliver(ctx context.Context, m contracts.Email) error {
	ec := contracts.EmailContext{Email: m}
	if err := s.before(ctx, contracts.HookBeforeEmailSend, &ec); err != nil {
		return fmt.Errorf("dropped by beforeEmailSend: %w", err)
	}
	m.Subject, m.Text, m.HTML = ec.Email.Subject, ec.Email.Text, ec.Email.HTML
	err := s.opts.Mailer.Send(ctx, m)
	sent := contracts.EmailSentContext{Email: m}
	if err != nil {
		sent.Error = err.Error()
	}
	s.after(ctx, contracts.HookAfterEmailSend, &sent)
	return err
}

// SendEmail delivers a plugin's message now (the core.email.send service):
// Kind is forced to "plugin"; a message the mailer would refuse is a 400.
func (s *Service) SendEmail(ctx context.Context, m contracts.Email) error {
	if s.opts.Mailer == nil {
		return contracts.CodeServiceUnavailable.Errorf("Email is not configured")
	}
	m.Kind = contracts.EmailPluginMessage
	if err := mail.CheckMessage(m); err != nil {
		return contracts.CodeValidationError.Errorf("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.MailTimeout)
	defer cancel()
	if err := s.deliver(ctx, m); err != nil {
		var ce *contracts.Error
		if errors.As(err, &ce) {
			return ce
		}
		s.log.ErrorContext(ctx, "auth: plugin email not sent", "to", m.To, "err", err)
		return contracts.CodeServiceUnavailable.Errorf("The email could not be sent")
	}
	return nil
}

// verifyLink is better-auth's verification URL.
func (s *Service) verifyLink(tok, callbackURL string) string {
	if callbackURL == "" {
		callbackURL = "/"
	}
	return s.opts.BaseURL + "/verify-email?token=" + tok + "&callbackURL=" + cookie.EncodeURIComponent(callbackURL)
}

// verificationToken signs an email-verification JWT.
func (s *Service) verificationToken(c jwt.Claims) (string, error) {
	return jwt.SignAt(s.opts.Secret, c, s.opts.Now(), s.opts.EmailVerificationExpiresIn)
}

// sendVerification emails u a link that verifies u.Email.
func (s *Service) sendVerification(ctx context.Context, u store.User, callbackURL string) {
	if s.opts.Mailer == nil {
		return
	}
	tok, err := s.verificationToken(jwt.Claims{Email: u.Email, UserID: u.ID})
	if err != nil {
		s.log.ErrorContext(ctx, "auth: sign verification token", "err", err)
		return
	}
	s.compose(ctx, contracts.EmailVerification, mail.Data{
		To: u.Email, UserID: u.ID, URL: s.verifyLink(tok, callbackURL), ExpiresIn: s.opts.EmailVerificationExpiresIn,
	})
}

// SendVerificationEmail is /send-verification-email (contract §1.10). With a
// session, email must be the session's unverified address. Without one the
// answer is always success and takes at least VerificationEmailMinDuration
// (a timer, not a busy wait), whatever the address.
func (s *Service) SendVerificationEmail(ctx context.Context, cur *Authenticated, email, callbackURL string) error {
	if s.opts.Mailer == nil {
		return contracts.CodeVerificationEmailNotEnabled.Err()
	}
	if cur != nil {
		if normalizeEmail(email) != normalizeEmail(cur.User.Email) {
			return contracts.CodeEmailMismatch.Err()
		}
		if cur.User.EmailVerified {
			return contracts.CodeEmailAlreadyVerified.Err()
		}
		s.sendVerification(ctx, cur.User, callbackURL)
		return nil
	}
	timer := time.NewTimer(s.opts.VerificationEmailMinDuration)
	defer timer.Stop()
	u, err := s.store.UserByEmail(ctx, normalizeEmail(email))
	switch {
	case err == nil && !u.EmailVerified:
		s.sendVerification(ctx, u, callbackURL)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		s.log.ErrorContext(ctx, "auth: send-verification-email: find user", "err", err)
	}
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// VerifyEmailResult is a successful /verify-email.
type VerifyEmailResult struct {
	// User is the updated user of a change-email token (answered in the body),
	// nil for a plain verification.
	User *store.User
	// NewSession is set when AutoSignInAfterVerification created a session
	// (for SessionUser).
	NewSession *NewSession
	// SessionUser is the user whose session cookie must be set: the new
	// session's, or else the caller's own session (issued again because the
	// user changed).
	SessionUser *store.User
}

// verifyError is /verify-email's error: better-auth answers all of them 401
// (or redirects with ?error=<code>).
func verifyError(code contracts.Code) *contracts.Error {
	return code.Err().WithStatus(http.StatusUnauthorized)
}

// VerifyEmail consumes an email-verification token (contract §1.10): it
// marks the address verified, or for change-email tokens moves the user to
// the new address (sending the next link of a confirmation first; its
// callback is callbackURL). Errors are *contracts.Error with status 401, as
// /verify-email answers them.
func (s *Service) VerifyEmail(ctx context.Context, cur *Authenticated, tok, callbackURL string) (VerifyEmailResult, error) {
	claims, err := jwt.Verify(s.opts.Secret, tok, s.opts.Now())
	if errors.Is(err, jwt.ErrExpired) {
		return VerifyEmailResult{}, verifyError(contracts.CodeTokenExpired)
	}
	if err != nil || !ValidEmail(claims.Email) {
		return VerifyEmailResult{}, verifyError(contracts.CodeInvalidToken)
	}
	if claims.UpdateTo != "" {
		return s.verifyEmailChange(ctx, cur, claims, callbackURL)
	}
	u, err := s.store.UserByEmail(ctx, claims.Email)
	if errors.Is(err, store.ErrNotFound) {
		return VerifyEmailResult{}, verifyError(contracts.CodeUserNotFound)
	}
	if err != nil {
		return VerifyEmailResult{}, internal("verify email", err)
	}
	if claims.UserID != "" && claims.UserID != u.ID {
		return VerifyEmailResult{}, verifyError(contracts.CodeInvalidToken)
	}
	if u.EmailVerified {
		return VerifyEmailResult{}, nil
	}
	ctx = s.actorCtx(ctx, u.ID)
	updated, err := s.updateUserFields(ctx, u, store.UserUpdate{EmailVerified: store.Some(true)}, []string{"emailVerified"})
	if errors.Is(err, store.ErrNotFound) {
		return VerifyEmailResult{}, verifyError(contracts.CodeUserNotFound)
	}
	if err != nil {
		return VerifyEmailResult{}, err
	}
	var res VerifyEmailResult
	if s.opts.AutoSignInAfterVerification {
		if cur == nil || cur.User.Email != claims.Email {
			ns, err := s.createSession(ctx, updated, false)
			if err != nil {
				return VerifyEmailResult{}, err
			}
			res.NewSession = &ns
			res.SessionUser = &updated
		} else {
			res.SessionUser = &updated
		}
	}
	return res, nil
}

// verifyEmailChange handles a token carrying updateTo.
func (s *Service) verifyEmailChange(ctx context.Context, cur *Authenticated, c jwt.Claims, callbackURL string) (VerifyEmailResult, error) {
	if c.UserID == "" {
		return VerifyEmailResult{}, verifyError(contracts.CodeInvalidToken)
	}
	bound, err := s.store.UserByID(ctx, c.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return VerifyEmailResult{}, verifyError(contracts.CodeUserNotFound)
	}
	if err != nil {
		return VerifyEmailResult{}, internal("verify email", err)
	}
	if normalizeEmail(bound.Email) != c.Email {
		return VerifyEmailResult{}, verifyError(contracts.CodeInvalidToken)
	}
	if cur != nil && cur.User.ID != bound.ID {
		return VerifyEmailResult{}, verifyError(contracts.CodeInvalidUser)
	}
	ctx = s.actorCtx(ctx, bound.ID)
	newEmail := normalizeEmail(c.UpdateTo)
	switch c.RequestType {
	case jwt.RequestChangeEmailConfirmation:
		// The old address approved: now verify the new one.
		s.sendChangeEmailVerification(ctx, bound, newEmail, callbackURL)
		return VerifyEmailResult{}, nil
	case jwt.RequestChangeEmailVerification:
		updated, err := s.updateUserFields(ctx, bound, store.UserUpdate{
			Email: store.Some(newEmail), EmailVerified: store.Some(bound.EmailVerified),
		}, []string{"email"})
		if err != nil {
			return VerifyEmailResult{}, s.changeEmailError(err)
		}
		res := VerifyEmailResult{User: &updated}
		if cur != nil {
			res.SessionUser = &updated
		}
		return res, nil
	default:
		updated, err := s.updateUserFields(ctx, bound, store.UserUpdate{
			Email: store.Some(newEmail), EmailVerified: store.Some(false),
		}, []string{"email", "emailVerified"})
		if err != nil {
			return VerifyEmailResult{}, s.changeEmailError(err)
		}
		s.sendVerification(ctx, updated, callbackURL)
		res := VerifyEmailResult{User: &updated}
		if cur != nil {
			res.SessionUser = &updated
		}
		return res, nil
	}
}

func (s *Service) changeEmailError(err error) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return verifyError(contracts.CodeUserAlreadyExistsUseAnotherEmail).WithStatus(http.StatusUnprocessableEntity)
	case errors.Is(err, store.ErrNotFound):
		return verifyError(contracts.CodeUserNotFound)
	}
	return err
}

// sendChangeEmailVerification emails newEmail the link that completes a change.
func (s *Service) sendChangeEmailVerification(ctx context.Context, u store.User, newEmail, callbackURL string) {
	if s.opts.Mailer == nil {
		return
	}
	tok, err := s.verificationToken(jwt.Claims{
		Email: u.Email, UpdateTo: newEmail, RequestType: jwt.RequestChangeEmailVerification, UserID: u.ID,
	})
	if err != nil {
		s.log.ErrorContext(ctx, "auth: sign change-email token", "err", err)
		return
	}
	s.compose(ctx, contracts.EmailChangeEmail, mail.Data{
		To: newEmail, UserID: u.ID, URL: s.verifyLink(tok, callbackURL), NewEmail: newEmail, ExpiresIn: s.opts.EmailVerificationExpiresIn,
	})
}

// resetIdentifier is the verification identifier of a reset token: its hash,
// so the table never holds a usable token.
func resetIdentifier(tok string) string { return "reset-password:" + token.Hash(tok) }

// RequestPasswordReset emails a reset link to a known address (contract
// §1.11); an unknown address is not an error.
func (s *Service) RequestPasswordReset(ctx context.Context, email, redirectTo string) error {
	if s.opts.Mailer == nil {
		return contracts.CodeResetPasswordDisabled.Err()
	}
	u, err := s.store.UserByEmail(ctx, normalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return internal("request password reset", err)
	}
	tok := token.ResetToken()
	now := s.now()
	err = s.write(ctx, func(w *writer) error {
		_, err := w.tx.CreateVerification(ctx, store.Verification{
			Identifier: resetIdentifier(tok), Value: u.ID, ExpiresAt: now.Add(s.opts.ResetPasswordExpiresIn), CreatedAt: now, UpdatedAt: now,
		})
		return err
	})
	if err != nil {
		return internal("request password reset", err)
	}
	callback := ""
	if redirectTo != "" {
		callback = cookie.EncodeURIComponent(redirectTo)
	}
	s.compose(ctx, contracts.EmailPasswordReset, mail.Data{
		To: u.Email, UserID: u.ID, URL: s.opts.BaseURL + "/reset-password/" + tok + "?callbackURL=" + callback,
		ExpiresIn: s.opts.ResetPasswordExpiresIn,
	})
	return nil
}

// ResetTokenValid reports whether a reset token is known and unexpired
// (GET /reset-password/:token; it does not consume it).
func (s *Service) ResetTokenValid(ctx context.Context, tok string) (bool, error) {
	if tok == "" {
		return false, nil
	}
	v, err := s.store.VerificationByIdentifier(ctx, resetIdentifier(tok))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, internal("check reset token", err)
	}
	return v.ExpiresAt.After(s.now()), nil
}

// ResetPassword sets a new password with a single-use reset token (contract
// §1.11), creating the credential account if the user had none.
func (s *Service) ResetPassword(ctx context.Context, tok, newPassword string) error {
	if tok == "" {
		return contracts.CodeInvalidToken.Err()
	}
	if err := s.limits.CheckNew(newPassword); err != nil {
		return err
	}
	now := s.now()
	v, err := s.store.VerificationByIdentifier(ctx, resetIdentifier(tok))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !v.ExpiresAt.After(now)) {
		return contracts.CodeInvalidToken.Err()
	}
	if err != nil {
		return internal("reset password", err)
	}
	u, err := s.store.UserByID(ctx, v.Value)
	if errors.Is(err, store.ErrNotFound) {
		return contracts.CodeUserNotFound.Err()
	}
	if err != nil {
		return internal("reset password", err)
	}
	ctx = s.actorCtx(ctx, u.ID)
	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return internal("reset password: hash", err)
	}
	var targets []store.Session
	if s.opts.RevokeSessionsOnPasswordReset {
		if targets, err = s.store.SessionsOfUser(ctx, u.ID, now); err != nil {
			return internal("reset password", err)
		}
		if err := s.beforeDestroy(ctx, targets, contracts.RevokePasswordReset); err != nil {
			return err
		}
	}
	var deleted []store.Session
	err = s.write(ctx, func(w *writer) error {
		consumed, err := w.tx.ConsumeVerification(ctx, resetIdentifier(tok))
		if errors.Is(err, store.ErrNotFound) || (err == nil && !consumed.ExpiresAt.After(now)) {
			return contracts.CodeInvalidToken.Err()
		}
		if err != nil {
			return err
		}
		if s.opts.RevokeSessionsOnPasswordReset {
			if deleted, err = w.tx.DeleteUserSessions(ctx, u.ID, ""); err != nil {
				return err
			}
			if err := w.emitRevoked(u.ID, deleted, contracts.RevokePasswordReset); err != nil {
				return err
			}
		}
		if err := w.setPassword(u.ID, hash, now); err != nil {
			return err
		}
		return w.emit(contracts.EventPasswordChanged, u.ID, contracts.PasswordChanged{
			UserID: u.ID, Method: "reset", SessionsRevoked: s.opts.RevokeSessionsOnPasswordReset,
		})
	})
	if err != nil {
		return internal("reset password", err)
	}
	s.afterDestroy(ctx, deleted, contracts.RevokePasswordReset)
	return nil
}

// setPassword replaces the credential's hash, creating the credential account
// when the user has none.
func (w *writer) setPassword(userID, hash string, now time.Time) error {
	err := w.tx.SetPassword(w.ctx, userID, hash, now)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err = w.tx.CreateAccount(w.ctx, store.Account{
		AccountID: userID, ProviderID: store.CredentialProvider, UserID: userID, Password: hash, CreatedAt: now, UpdatedAt: now,
	})
	return err
}
