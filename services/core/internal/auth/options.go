package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/authbus/authbus/services/core/internal/mail"
)

// Defaults of Options (better-auth's where it has one).
const (
	// DefaultExpiresIn is session.expiresIn: a session lives 7 days.
	DefaultExpiresIn = 7 * 24 * time.Hour
	// DefaultUpdateAge is session.updateAge: a session is extended at most once a day.
	DefaultUpdateAge = 24 * time.Hour
	// DefaultFreshAge is session.freshAge: list-sessions and password-less
	// delete-user need a session created within the last day.
	DefaultFreshAge = 24 * time.Hour
	// DontRememberExpiresIn is the lifetime of a rememberMe:false session (fixed in better-auth).
	DontRememberExpiresIn = 24 * time.Hour
	// DefaultEmailVerificationExpiresIn is emailVerification.expiresIn.
	DefaultEmailVerificationExpiresIn = time.Hour
	// DefaultResetPasswordExpiresIn is emailAndPassword.resetPasswordTokenExpiresIn.
	DefaultResetPasswordExpiresIn = time.Hour
	// DefaultDeleteTokenExpiresIn is user.deleteUser.deleteTokenExpiresIn.
	DefaultDeleteTokenExpiresIn = 24 * time.Hour
	// DefaultVerificationEmailMinDuration is how long send-verification-email
	// without a session takes at least, whatever the address.
	DefaultVerificationEmailMinDuration = 500 * time.Millisecond
	// DefaultMailTimeout bounds the delivery of one email.
	DefaultMailTimeout = 30 * time.Second
	// DefaultMaxNameLength is the longest user name accepted (UTF-16 units).
	DefaultMaxNameLength = 256
	// DefaultMaxImageLength is the longest image URL accepted (UTF-16 units).
	DefaultMaxImageLength = 4096
	// MaxEmailLength is the longest email address accepted (RFC 5321's path limit).
	MaxEmailLength = 254
	// MinSecretLength is the shortest secret accepted.
	MinSecretLength = 32
	// EventSource is the CloudEvents source of the core's events.
	EventSource = "authbus/core"
)

// Options configure the flows. The zero value of every field but BaseURL and
// Secret is the documented default.
type Options struct {
	// BaseURL is the public URL of the auth API including its base path, e.g.
	// "https://auth.example.com/api/auth": every emailed link starts with it.
	// Required.
	BaseURL string
	// Secret signs email-verification tokens and session revocation handles
	// (its UTF-8 bytes, like better-auth's secret). Required, at least 32 bytes.
	Secret string

	// ExpiresIn is a session's lifetime (session.expiresIn). Default: 7 days.
	ExpiresIn time.Duration
	// UpdateAge is how old a session's expiry may get before a request
	// extends it by ExpiresIn again (session.updateAge). Default: 1 day.
	UpdateAge time.Duration
	// FreshAge is how recently a session must have been created for
	// list-sessions and password-less delete-user (session.freshAge).
	// Default: 1 day; negative disables the check (better-auth's freshAge: 0).
	FreshAge time.Duration
	// DisableSessionRefresh turns the sliding refresh off. Default: false.
	DisableSessionRefresh bool

	// MinPasswordLength is the shortest new password (UTF-16 units). Default: 8.
	MinPasswordLength int
	// MaxPasswordLength is the longest password (UTF-16 units). Default: 128.
	MaxPasswordLength int
	// MaxNameLength is the longest user name (UTF-16 units). Default: 256.
	MaxNameLength int
	// MaxImageLength is the longest image URL (UTF-16 units). Default: 4096.
	MaxImageLength int

	// DisableSignUp refuses sign-up (EMAIL_PASSWORD_SIGN_UP_DISABLED). Default: false.
	DisableSignUp bool
	// DisableAutoSignIn makes sign-up return no session (autoSignIn: false);
	// duplicate sign-ups then get a synthetic answer. Default: false.
	DisableAutoSignIn bool
	// RequireEmailVerification refuses sign-in until the email is verified,
	// returns no session on sign-up and sends the verification email on
	// sign-up. Default: false.
	RequireEmailVerification bool
	// SendVerificationOnSignUp sends the verification email on sign-up even
	// without RequireEmailVerification. Default: false.
	SendVerificationOnSignUp bool
	// SendVerificationOnSignIn re-sends the verification email when an
	// unverified user signs in under RequireEmailVerification. Default: false.
	SendVerificationOnSignIn bool
	// AutoSignInAfterVerification creates a session when an email is
	// verified. Default: false.
	AutoSignInAfterVerification bool
	// EmailVerificationExpiresIn is the lifetime of a verification link. Default: 1 hour.
	EmailVerificationExpiresIn time.Duration
	// ResetPasswordExpiresIn is the lifetime of a password-reset link. Default: 1 hour.
	ResetPasswordExpiresIn time.Duration
	// RevokeSessionsOnPasswordReset deletes every session of the user when a
	// password is reset. Default: false.
	RevokeSessionsOnPasswordReset bool

	// ChangeEmail enables /change-email (user.changeEmail.enabled). Default: false.
	ChangeEmail bool
	// UpdateEmailWithoutVerification changes an unverified user's email at
	// once. Default: false.
	UpdateEmailWithoutVerification bool
	// SendChangeEmailConfirmation asks a verified user to approve a change
	// from the old address first. Default: false.
	SendChangeEmailConfirmation bool

	// DeleteUser enables /delete-user (user.deleteUser.enabled). Default: false.
	DeleteUser bool
	// SendDeleteAccountVerification makes /delete-user email a confirmation
	// link instead of deleting at once. Default: false.
	SendDeleteAccountVerification bool
	// DeleteTokenExpiresIn is the lifetime of a delete confirmation link. Default: 1 day.
	DeleteTokenExpiresIn time.Duration

	// VerificationEmailMinDuration is the least time send-verification-email
	// without a session takes, so its timing tells nothing about the address.
	// Default: 500 ms.
	VerificationEmailMinDuration time.Duration
	// MailTimeout bounds the delivery of one email. Default: 30 s.
	MailTimeout time.Duration

	// Hooks calls the plugins at the hook points. Default: NoHooks.
	Hooks Hooks
	// Mailer delivers email. Default: nil, which disables everything that
	// needs email (verification, password reset, change-email verification,
	// delete confirmation), as better-auth does without its callbacks.
	Mailer mail.Sender
	// Composer writes the messages. Default: the zero Composer (app name "authbus").
	Composer mail.Composer
	// Notify is called after every commit that appended events (the outbox
	// relay's wake-up). Default: nothing.
	Notify func()
	// Logger receives errors that are not the client's. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ExpiresIn, DefaultExpiresIn)
	def(&o.UpdateAge, DefaultUpdateAge)
	def(&o.FreshAge, DefaultFreshAge)
	def(&o.EmailVerificationExpiresIn, DefaultEmailVerificationExpiresIn)
	def(&o.ResetPasswordExpiresIn, DefaultResetPasswordExpiresIn)
	def(&o.DeleteTokenExpiresIn, DefaultDeleteTokenExpiresIn)
	def(&o.VerificationEmailMinDuration, DefaultVerificationEmailMinDuration)
	def(&o.MailTimeout, DefaultMailTimeout)
	if o.MaxNameLength == 0 {
		o.MaxNameLength = DefaultMaxNameLength
	}
	if o.MaxImageLength == 0 {
		o.MaxImageLength = DefaultMaxImageLength
	}
	if o.Hooks == nil {
		o.Hooks = NoHooks{}
	}
	if o.Notify == nil {
		o.Notify = func() {}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	return o
}

// Validate reports every problem of o at once.
func (o Options) Validate() error {
	var errs []error
	if o.BaseURL == "" {
		errs = append(errs, errors.New("BaseURL is required (the public URL of the auth API, e.g. https://auth.example.com/api/auth)"))
	} else if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("BaseURL %q is not an absolute http(s) URL", o.BaseURL))
	}
	if len(o.Secret) < MinSecretLength {
		errs = append(errs, fmt.Errorf("the Secret option has %d bytes; it needs at least %d", len(o.Secret), MinSecretLength))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ExpiresIn", o.ExpiresIn}, {"UpdateAge", o.UpdateAge}, {"EmailVerificationExpiresIn", o.EmailVerificationExpiresIn},
		{"ResetPasswordExpiresIn", o.ResetPasswordExpiresIn}, {"DeleteTokenExpiresIn", o.DeleteTokenExpiresIn},
		{"VerificationEmailMinDuration", o.VerificationEmailMinDuration}, {"MailTimeout", o.MailTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%s)", d.name, d.v))
		}
	}
	if o.ExpiresIn > 0 && o.ExpiresIn < time.Second {
		errs = append(errs, fmt.Errorf("ExpiresIn %s is shorter than a second", o.ExpiresIn))
	}
	if o.EmailVerificationExpiresIn > 0 && o.EmailVerificationExpiresIn < time.Second {
		errs = append(errs, fmt.Errorf("EmailVerificationExpiresIn %s is shorter than a second", o.EmailVerificationExpiresIn))
	}
	if o.MinPasswordLength < 0 || o.MaxPasswordLength < 0 {
		errs = append(errs, errors.New("password lengths must not be negative"))
	}
	if o.MinPasswordLength > 0 && o.MaxPasswordLength > 0 && o.MinPasswordLength > o.MaxPasswordLength {
		errs = append(errs, fmt.Errorf("MinPasswordLength %d exceeds MaxPasswordLength %d", o.MinPasswordLength, o.MaxPasswordLength))
	}
	if o.MaxNameLength < 0 || o.MaxImageLength < 0 {
		errs = append(errs, errors.New("MaxNameLength and MaxImageLength must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("auth: options: %w", err)
	}
	return nil
}
