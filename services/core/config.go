package core

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/services/core/internal/mail"
	"github.com/authbus/authbus/services/core/internal/outbox"
)

// EnvPrefix is the prefix of every environment variable the core reads.
const EnvPrefix = "AUTHBUS"

// MinSecretBytes is the shortest secret accepted outside dev mode.
const MinSecretBytes = 32

// Config is the core's configuration, read from AUTHBUS_* environment
// variables (LoadConfig). The zero value is not usable: LoadConfig fills
// the defaults stated on each field.
type Config struct {
	// Dev relaxes what only matters in production: a missing secret is
	// generated, the log mailer is the default. Default false; `authbus dev` sets it.
	Dev bool `envconfig:"DEV"`
	// Secret signs cookies and tokens and derives the plugin encryption key;
	// at least 32 bytes. Required unless Dev.
	Secret string `envconfig:"SECRET"`
	// BaseURL is the public origin of the core, e.g. https://auth.example.com.
	// Default http://localhost:8080. An https URL switches cookies to __Secure- names.
	BaseURL string `envconfig:"BASE_URL" default:"http://localhost:8080"`
	// TrustedOrigins are extra origins (patterns allowed) browsers may call
	// from, comma-separated. Default none: only BaseURL's origin.
	TrustedOrigins []string `envconfig:"TRUSTED_ORIGINS"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed, comma-separated.
	// Default none: the client address is the TCP peer.
	TrustedProxies []string `envconfig:"TRUSTED_PROXIES"`
	// HTTPAddr is where the API listens. Default :8080.
	HTTPAddr string `envconfig:"HTTP_ADDR" default:":8080"`
	// OpsAddr is where /healthz, /readyz and /metrics listen; empty serves them on HTTPAddr. Default :9090.
	OpsAddr string `envconfig:"OPS_ADDR" default:":9090"`
	// DatabaseURL is postgres://… or a SQLite path (sqlite:path, a file path, or :memory:). Required.
	DatabaseURL string `envconfig:"DATABASE_URL"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `envconfig:"LOG_LEVEL" default:"info"`
	// MaxBodyBytes caps request bodies of the auth API. Default 1 MiB.
	MaxBodyBytes int64 `envconfig:"MAX_BODY_BYTES" default:"1048576"`
	// PasswordWorkers bounds concurrent password hashes; 0 means the number of CPUs. Default 0.
	PasswordWorkers int `envconfig:"PASSWORD_WORKERS" default:"0"`

	// Config is the connection to NATS (AUTHBUS_NATS_URL, AUTHBUS_NATS_USER, …);
	// embedded so its variables keep their own names.
	bus.Config
	// NATSEmbedded runs a NATS server with JetStream inside the core, for
	// single-node installs; AUTHBUS_NATS_URL is then ignored. Default false.
	NATSEmbedded bool `envconfig:"NATS_EMBEDDED"`
	// NATSStoreDir is the embedded server's JetStream directory. Default data/nats.
	NATSStoreDir string `envconfig:"NATS_STORE_DIR" default:"data/nats"`
	// NATSListen is where the embedded server accepts clients (plugins); empty
	// serves the core only, in-process. Default 127.0.0.1:4222.
	NATSListen string `envconfig:"NATS_LISTEN" default:"127.0.0.1:4222"`
	// StreamConfig configures the AUTH_EVENTS stream (AUTHBUS_STREAM_REPLICAS, …).
	bus.StreamConfig

	// Session holds session lifetimes and cookie settings.
	Session SessionConfig `envconfig:"SESSION"`
	// Features switches optional flows on and off.
	Features FeatureConfig `envconfig:"FEATURE"`

	// MailMode is "smtp" or "log" (prints links; for development). Default smtp, log when Dev.
	MailMode string `envconfig:"MAIL_MODE"`
	// AppName names the application in emails. Default "authbus".
	AppName string `envconfig:"APP_NAME" default:"authbus"`
	// SMTP configures the SMTP mailer (AUTHBUS_SMTP_HOST, …).
	SMTP mail.SMTPConfig `envconfig:"SMTP"`

	// Outbox tunes the event relay (AUTHBUS_OUTBOX_POLL_INTERVAL, …_RETENTION_DAYS, …).
	Outbox outbox.Config `envconfig:"OUTBOX"`

	// PluginsFile is the operator's plugin configuration (YAML). Default none:
	// no plugin may register outside Dev; in Dev every plugin is granted what it asks.
	PluginsFile string `envconfig:"PLUGINS_FILE"`
}

// SessionConfig holds session lifetimes and cookie settings.
type SessionConfig struct {
	// ExpiresIn is a session's lifetime. Default 168h (7 days).
	ExpiresIn time.Duration `envconfig:"EXPIRES_IN" default:"168h"`
	// UpdateAge is how old a session's last refresh must be before use extends it. Default 24h.
	UpdateAge time.Duration `envconfig:"UPDATE_AGE" default:"24h"`
	// FreshAge is how recent a sign-in must be for sensitive actions; 0 disables. Default 24h.
	FreshAge time.Duration `envconfig:"FRESH_AGE" default:"24h"`
	// DisableRefresh turns the sliding refresh off. Default false.
	DisableRefresh bool `envconfig:"DISABLE_REFRESH"`
	// CookieCache enables the signed session_data cookie cache. Default false.
	CookieCache bool `envconfig:"COOKIE_CACHE"`
	// CookieCacheMaxAge is the cache cookie's lifetime. Default 5m.
	CookieCacheMaxAge time.Duration `envconfig:"COOKIE_CACHE_MAX_AGE" default:"5m"`
	// CookiePrefix prefixes cookie names. Default "better-auth" (what the client expects).
	CookiePrefix string `envconfig:"COOKIE_PREFIX" default:"better-auth"`
	// CookieDomain, when set, is sent as the cookies' Domain (cross-subdomain sessions). Default none.
	CookieDomain string `envconfig:"COOKIE_DOMAIN"`
	// BearerRequireSignature refuses raw, unsigned bearer tokens. Default false.
	BearerRequireSignature bool `envconfig:"BEARER_REQUIRE_SIGNATURE"`
}

// FeatureConfig switches optional flows on and off.
type FeatureConfig struct {
	// SignUp allows email+password sign-up. Default true.
	SignUp bool `envconfig:"SIGN_UP" default:"true"`
	// RequireEmailVerification refuses sign-in until the email is verified and
	// sends the verification mail on sign-up. Default false.
	RequireEmailVerification bool `envconfig:"REQUIRE_EMAIL_VERIFICATION"`
	// AutoSignIn signs a new user in on sign-up. Default true.
	AutoSignIn bool `envconfig:"AUTO_SIGN_IN" default:"true"`
	// AutoSignInAfterVerification signs the user in when they verify their email. Default false.
	AutoSignInAfterVerification bool `envconfig:"AUTO_SIGN_IN_AFTER_VERIFICATION"`
	// ChangeEmail enables /change-email. Default false.
	ChangeEmail bool `envconfig:"CHANGE_EMAIL"`
	// ChangeEmailWithoutVerification updates an unverified user's email at once. Default false.
	ChangeEmailWithoutVerification bool `envconfig:"CHANGE_EMAIL_WITHOUT_VERIFICATION"`
	// DeleteUser enables /delete-user. Default false.
	DeleteUser bool `envconfig:"DELETE_USER"`
	// DeleteUserVerification requires an emailed confirmation to delete an account. Default false.
	DeleteUserVerification bool `envconfig:"DELETE_USER_VERIFICATION"`
	// RevokeSessionsOnPasswordReset signs every session out after a password reset. Default false.
	RevokeSessionsOnPasswordReset bool `envconfig:"REVOKE_SESSIONS_ON_PASSWORD_RESET"`
}

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var c Config
	if err := envconfig.Process(EnvPrefix, &c); err != nil {
		return Config{}, fmt.Errorf("core config: %w", err)
	}
	return c, c.Validate()
}

// withDefaults fills the zero fields that have a default (booleans keep
// their value: false cannot be told from unset), so a Config built in code
// behaves like one LoadConfig read from an empty environment.
func (c Config) withDefaults() Config {
	str := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	str(&c.BaseURL, "http://localhost:8080")
	str(&c.HTTPAddr, ":8080")
	str(&c.LogLevel, "info")
	str(&c.AppName, "authbus")
	str(&c.NATSStoreDir, "data/nats")
	str(&c.Session.CookiePrefix, "better-auth")
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	dur(&c.Session.ExpiresIn, 168*time.Hour)
	dur(&c.Session.UpdateAge, 24*time.Hour)
	dur(&c.Session.CookieCacheMaxAge, 5*time.Minute)
	c.Config = c.Config.WithDefaults()
	c.StreamConfig = c.StreamConfig.WithDefaults()
	c.Outbox = c.Outbox.WithDefaults()
	return c
}

// Validate reports every problem at once, each naming its variable and the fix.
func (c Config) Validate() error {
	var errs []error
	bad := func(v, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s_%s: %s", EnvPrefix, v, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.Secret == "" && !c.Dev:
		bad("SECRET", "is required: set it to at least %d random bytes (e.g. `openssl rand -base64 48`)", MinSecretBytes)
	case c.Secret != "" && len(c.Secret) < MinSecretBytes:
		bad("SECRET", "is %d bytes; use at least %d random bytes (e.g. `openssl rand -base64 48`)", len(c.Secret), MinSecretBytes)
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("BASE_URL", "%q is not an http(s) origin like https://auth.example.com", c.BaseURL)
	}
	for _, cidr := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(strings.TrimSpace(cidr)); err != nil {
			bad("TRUSTED_PROXIES", "%q is not a CIDR like 10.0.0.0/8", cidr)
		}
	}
	if c.DatabaseURL == "" {
		bad("DATABASE_URL", "is required: postgres://user:pass@host/db or a SQLite file path")
	}
	if c.MaxBodyBytes <= 0 {
		bad("MAX_BODY_BYTES", "must be positive")
	}
	if c.PasswordWorkers < 0 {
		bad("PASSWORD_WORKERS", "must be 0 (one per CPU) or positive")
	}
	if c.Session.ExpiresIn <= 0 {
		bad("SESSION_EXPIRES_IN", "must be positive, e.g. 168h")
	}
	if c.Session.UpdateAge < 0 || c.Session.UpdateAge > c.Session.ExpiresIn {
		bad("SESSION_UPDATE_AGE", "must be between 0 and SESSION_EXPIRES_IN")
	}
	if c.Session.FreshAge < 0 {
		bad("SESSION_FRESH_AGE", "must be 0 (off) or positive")
	}
	if c.Session.CookieCache && c.Session.CookieCacheMaxAge <= 0 {
		bad("SESSION_COOKIE_CACHE_MAX_AGE", "must be positive when the cookie cache is on")
	}
	switch c.mailMode() {
	case "log":
		if !c.Dev {
			errs = append(errs, fmt.Errorf("%s_MAIL_MODE: log prints links to the log and is for development only; use smtp, or set %s_DEV=true", EnvPrefix, EnvPrefix))
		}
	case "smtp":
		if err := c.SMTP.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s_SMTP_*: %w", EnvPrefix, err))
		}
	default:
		bad("MAIL_MODE", "%q is neither smtp nor log", c.MailMode)
	}
	if err := c.Outbox.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s_OUTBOX_*: %w", EnvPrefix, err))
	}
	if c.NATSEmbedded && c.NATSStoreDir == "" {
		bad("NATS_STORE_DIR", "is required with NATS_EMBEDDED=true")
	}
	if c.NATSEmbedded && c.NATSListen != "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			bad("NATS_LISTEN", "%q is not host:port", c.NATSListen)
		}
	}
	if err := c.Config.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s_NATS_*: %w", EnvPrefix, err))
	}
	if err := c.StreamConfig.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s_STREAM_*: %w", EnvPrefix, err))
	}
	return errors.Join(errs...)
}

// mailMode returns MailMode or its default.
func (c Config) mailMode() string {
	if c.MailMode != "" {
		return c.MailMode
	}
	if c.Dev {
		return "log"
	}
	return "smtp"
}
