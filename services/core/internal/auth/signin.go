package auth

import (
	"context"
	"errors"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/password"
	"github.com/authbus/authbus/services/core/internal/store"
)

// SignUpInput is a sign-up request.
type SignUpInput struct {
	// Name is the display name (may be empty).
	Name string
	// Email is the address as typed; it is lower-cased.
	Email string
	// Password is the new password.
	Password string
	// Image is an avatar URL, if any.
	Image *string
	// CallbackURL is where the verification link leads after verifying ("" for "/").
	CallbackURL string
	// DontRemember is rememberMe:false.
	DontRemember bool
}

// SignUpResult is a successful sign-up.
type SignUpResult struct {
	// User is the new account (or, when duplicate sign-ups are answered
	// generically, a synthetic one that was not stored).
	User store.User
	// Session is the new session; nil without automatic sign-in.
	Session *NewSession
}

// SignUp creates an account with a credential and, unless automatic sign-in
// is off or email verification is required, a session (contract §1.1).
func (s *Service) SignUp(ctx context.Context, in SignUpInput) (SignUpResult, error) {
	if s.opts.DisableSignUp {
		return SignUpResult{}, contracts.CodeEmailPasswordSignUpDisabled.Err()
	}
	if !ValidEmail(in.Email) {
		return SignUpResult{}, contracts.CodeInvalidEmail.Err()
	}
	if err := s.limits.CheckNew(in.Password); err != nil {
		return SignUpResult{}, err
	}
	if err := s.checkProfile(in.Name, in.Image); err != nil {
		return SignUpResult{}, err
	}
	email := normalizeEmail(in.Email)
	req := RequestFrom(ctx).Info
	genericDuplicate := s.opts.RequireEmailVerification || s.opts.DisableAutoSignIn
	autoSignIn := !genericDuplicate

	hc := contracts.SignUpContext{Email: email, Name: in.Name, Image: in.Image, Request: req}
	if err := s.before(ctx, contracts.HookBeforeSignUp, &hc); err != nil {
		return SignUpResult{}, err
	}
	name, image := hc.Name, hc.Image

	now := s.now()
	synthetic := func() SignUpResult {
		return SignUpResult{User: store.User{ID: store.NewID(), Name: name, Email: email, Image: image, CreatedAt: now, UpdatedAt: now}}
	}
	if _, err := s.store.UserByEmail(ctx, email); err == nil {
		if genericDuplicate {
			// Hash anyway so the answer takes as long as a real sign-up.
			if _, err := s.hasher.Hash(ctx, in.Password); err != nil {
				return SignUpResult{}, internal("sign-up: hash", err)
			}
			return synthetic(), nil
		}
		return SignUpResult{}, contracts.CodeUserAlreadyExistsUseAnotherEmail.Err()
	} else if !errors.Is(err, store.ErrNotFound) {
		return SignUpResult{}, internal("sign-up: find user", err)
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return SignUpResult{}, internal("sign-up: hash", err)
	}

	user := store.User{ID: store.NewID(), Name: name, Email: email, Image: image, Role: store.RoleUser, CreatedAt: now, UpdatedAt: now}
	uc := contracts.UserCreateContext{User: PublicUser(user), Method: "email", Request: req}
	if err := s.before(ctx, contracts.HookBeforeUserCreate, &uc); err != nil {
		return SignUpResult{}, err
	}
	user.Name, user.Image = uc.User.Name, uc.User.Image
	if err := s.checkProfile(user.Name, user.Image); err != nil {
		return SignUpResult{}, err
	}
	var pending *pendingSession
	if autoSignIn {
		p, err := s.prepareSession(ctx, user, in.DontRemember)
		if err != nil {
			return SignUpResult{}, err
		}
		pending = &p
	}

	ctx = s.actorCtx(ctx, user.ID)
	var res SignUpResult
	err = s.write(ctx, func(w *writer) error {
		created, err := w.tx.CreateUser(ctx, user)
		if err != nil {
			return err
		}
		res.User = created
		if _, err := w.tx.CreateAccount(ctx, store.Account{
			AccountID: created.ID, ProviderID: store.CredentialProvider, UserID: created.ID, Password: hash,
			CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			return err
		}
		if err := w.emit(contracts.EventUserCreated, created.ID, contracts.UserCreated{User: PublicUser(created), Method: "email"}); err != nil {
			return err
		}
		if pending != nil {
			ns, err := w.insertSession(*pending)
			if err != nil {
				return err
			}
			res.Session = &ns
		}
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		// Another sign-up took the address between the check and the insert.
		if genericDuplicate {
			return synthetic(), nil
		}
		return SignUpResult{}, contracts.CodeUserAlreadyExistsUseAnotherEmail.Err()
	}
	if err != nil {
		return SignUpResult{}, internal("sign-up", err)
	}

	pub := PublicUser(res.User)
	s.after(ctx, contracts.HookAfterUserCreate, &contracts.UserEventContext{User: pub, Request: req})
	var sessPub *contracts.Session
	if res.Session != nil {
		s.afterSessionCreate(ctx, res.User, *res.Session)
		sessPub = publicSessionPtr(res.Session.Session)
	}
	s.after(ctx, contracts.HookAfterSignUp, &contracts.SessionEventContext{User: pub, Session: sessPub, Request: req})

	if s.opts.SendVerificationOnSignUp || s.opts.RequireEmailVerification {
		s.sendVerification(ctx, res.User, in.CallbackURL)
	}
	return res, nil
}

// SignInInput is a sign-in request.
type SignInInput struct {
	// Email is the address as typed.
	Email string
	// Password is the password to check.
	Password string
	// DontRemember is rememberMe:false.
	DontRemember bool
	// CallbackURL is passed on to a re-sent verification link.
	CallbackURL string
}

// SignInResult is a successful sign-in.
type SignInResult struct {
	// User is who signed in.
	User store.User
	// Session is the new session.
	Session NewSession
}

// SignIn checks an email and password and creates a session (contract
// §1.2). Every refusal after beforeSignIn writes an auth.login.failed event;
// an unknown email costs one scrypt like a wrong password.
func (s *Service) SignIn(ctx context.Context, in SignInInput) (SignInResult, error) {
	if !ValidEmail(in.Email) {
		return SignInResult{}, contracts.CodeInvalidEmail.Err()
	}
	if err := s.limits.CheckMax(in.Password); err != nil {
		return SignInResult{}, err
	}
	email := normalizeEmail(in.Email)
	req := RequestFrom(ctx).Info
	failed := func(userID string, e *contracts.Error) (SignInResult, error) {
		s.emitAlone(ctx, contracts.EventLoginFailed, userID, contracts.LoginFailed{
			Email: email, UserID: userID, Reason: e.Code, Method: "email", IPAddress: req.IPAddress, UserAgent: req.UserAgent,
		})
		return SignInResult{}, e
	}

	hc := contracts.SignInContext{Email: email, RememberMe: !in.DontRemember, Request: req}
	if err := s.before(ctx, contracts.HookBeforeSignIn, &hc); err != nil {
		return failed("", contracts.AsError(err))
	}

	user, account, err := s.store.UserWithCredential(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return SignInResult{}, internal("sign-in: find user", err)
	}
	if err != nil || account == nil || account.Password == "" {
		if err := s.hasher.VerifyDummy(ctx, in.Password); err != nil {
			return SignInResult{}, internal("sign-in: verify", err)
		}
		return failed(user.ID, contracts.CodeInvalidEmailOrPassword.Err())
	}
	ok, err := s.hasher.Verify(ctx, account.Password, in.Password)
	if errors.Is(err, password.ErrMalformedHash) {
		s.log.ErrorContext(ctx, "auth: sign-in: stored password hash is malformed", "user", user.ID)
		ok, err = false, nil
	}
	if err != nil {
		return SignInResult{}, internal("sign-in: verify", err)
	}
	if !ok {
		return failed(user.ID, contracts.CodeInvalidEmailOrPassword.Err())
	}
	if s.opts.RequireEmailVerification && !user.EmailVerified {
		if s.opts.SendVerificationOnSignIn {
			s.sendVerification(ctx, user, in.CallbackURL)
		}
		return failed(user.ID, contracts.CodeEmailNotVerified.Err())
	}

	ctx = s.actorCtx(ctx, user.ID)
	p, err := s.prepareSession(ctx, user, in.DontRemember)
	if err != nil {
		return SignInResult{}, err
	}
	var ns NewSession
	err = s.write(ctx, func(w *writer) error {
		var err error
		if ns, err = w.insertSession(p); err != nil {
			return err
		}
		return w.emit(contracts.EventLoginSucceeded, user.ID, contracts.LoginSucceeded{
			UserID: user.ID, SessionID: ns.Session.ID, Method: "email", IPAddress: req.IPAddress, UserAgent: req.UserAgent,
		})
	})
	if errors.Is(err, store.ErrNotFound) {
		// The user was deleted meanwhile.
		return failed(user.ID, contracts.CodeInvalidEmailOrPassword.Err())
	}
	if err != nil {
		return SignInResult{}, internal("sign-in", err)
	}
	s.afterSessionCreate(ctx, user, ns)
	s.after(ctx, contracts.HookAfterSignIn, &contracts.SessionEventContext{
		User: PublicUser(user), Session: publicSessionPtr(ns.Session), Request: req,
	})
	return SignInResult{User: user, Session: ns}, nil
}

// checkProfile applies the length limits to a name and image.
func (s *Service) checkProfile(name string, image *string) error {
	if password.Length(name) > s.opts.MaxNameLength {
		return tooBig("name", s.opts.MaxNameLength)
	}
	if image != nil && password.Length(*image) > s.opts.MaxImageLength {
		return tooBig("image", s.opts.MaxImageLength)
	}
	return nil
}

// tooBig is zod's message for a string over its .max().
func tooBig(field string, max int) *contracts.Error {
	return contracts.CodeValidationError.Errorf("[body.%s] Too big: expected string to have <=%d characters", field, max)
}
