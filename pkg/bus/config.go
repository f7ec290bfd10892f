package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
)

// Defaults of Config.
const (
	// DefaultURL is the NATS server of a local install.
	DefaultURL = "nats://127.0.0.1:4222"
	// DefaultConnectTimeout bounds one connection attempt.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultRequestTimeout is the deadline of a request whose context has none.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultReconnectWaitMax caps the delay between reconnect attempts.
	DefaultReconnectWaitMax = 10 * time.Second
)

// reconnectWaitMin is the first reconnect delay; later ones double up to the cap.
const reconnectWaitMin = 100 * time.Millisecond

// Config is how a service reaches NATS. Services embed it in their own
// config and process it with envconfig prefix AUTHBUS, so the tag NATS_URL
// reads AUTHBUS_NATS_URL.
type Config struct {
	// URL is the server URL, or several separated by commas
	// (default nats://127.0.0.1:4222). Schemes: nats, tls, ws, wss.
	URL string `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222"`
	// CredentialsFile is a NATS .creds file (user JWT + nkey seed); default none.
	CredentialsFile string `envconfig:"NATS_CREDENTIALS"`
	// User is the user name for user/password auth (dev gives each plugin
	// its own user); default none.
	User string `envconfig:"NATS_USER"`
	// Password goes with User; default none.
	Password string `envconfig:"NATS_PASSWORD"`
	// ClientName names the connection in server monitoring; default the program name.
	ClientName string `envconfig:"NATS_CLIENT_NAME"`
	// ConnectTimeout bounds one connection attempt (default 5s).
	ConnectTimeout time.Duration `envconfig:"NATS_CONNECT_TIMEOUT" default:"5s"`
	// RequestTimeout is the deadline of a request whose context has none (default 5s).
	RequestTimeout time.Duration `envconfig:"NATS_REQUEST_TIMEOUT" default:"5s"`
	// ReconnectWaitMax caps the jittered, doubling delay between reconnect
	// attempts (default 10s). Reconnection never gives up.
	ReconnectWaitMax time.Duration `envconfig:"NATS_RECONNECT_WAIT_MAX" default:"10s"`
	// InboxPrefix replaces "_INBOX" for reply subjects, so a plugin's user may
	// subscribe only to its own inboxes (e.g. "_INBOX_audit"); default "_INBOX".
	InboxPrefix string `envconfig:"NATS_INBOX_PREFIX"`
	// SubjectPrefix is put before every event, hook and control subject, so
	// several installations can share one NATS (e.g. "acme"); default none.
	SubjectPrefix string `envconfig:"SUBJECT_PREFIX"`
}

// WithDefaults returns c with every zero field set to its default, for
// configs built in code rather than by envconfig.
func (c Config) WithDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ReconnectWaitMax == 0 {
		c.ReconnectWaitMax = DefaultReconnectWaitMax
	}
	return c
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.URL) == "" {
		errs = append(errs, errors.New("NATS_URL is required"))
	}
	for raw := range strings.SplitSeq(c.URL, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("NATS_URL %q: %w", raw, err))
			continue
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			errs = append(errs, fmt.Errorf("NATS_URL %q: scheme must be nats, tls, ws or wss", raw))
		}
		if u.Host == "" {
			errs = append(errs, fmt.Errorf("NATS_URL %q: host is missing", raw))
		}
	}
	if c.CredentialsFile != "" && c.User != "" {
		errs = append(errs, errors.New("NATS_CREDENTIALS and NATS_USER are mutually exclusive"))
	}
	if c.Password != "" && c.User == "" {
		errs = append(errs, errors.New("NATS_PASSWORD is set but NATS_USER is empty"))
	}
	if c.CredentialsFile != "" {
		if _, err := os.Stat(c.CredentialsFile); err != nil {
			errs = append(errs, fmt.Errorf("NATS_CREDENTIALS: %w", err))
		}
	}
	if c.ConnectTimeout < 0 {
		errs = append(errs, fmt.Errorf("NATS_CONNECT_TIMEOUT %s is negative", c.ConnectTimeout))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("NATS_REQUEST_TIMEOUT %s is negative", c.RequestTimeout))
	}
	if c.ReconnectWaitMax < 0 {
		errs = append(errs, fmt.Errorf("NATS_RECONNECT_WAIT_MAX %s is negative", c.ReconnectWaitMax))
	}
	if c.InboxPrefix != "" {
		if err := validateLiteralSubject(c.InboxPrefix); err != nil {
			errs = append(errs, fmt.Errorf("NATS_INBOX_PREFIX %q %w", c.InboxPrefix, err))
		}
	}
	if err := ValidateSubjectPrefix(c.SubjectPrefix); err != nil {
		errs = append(errs, fmt.Errorf("SUBJECT_PREFIX: %w", err))
	}
	if strings.IndexFunc(c.ClientName, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		errs = append(errs, errors.New("NATS_CLIENT_NAME has non-printable characters"))
	}
	return errors.Join(errs...)
}

// Options returns the nats.go options Connect uses for c: auth, name,
// timeouts, inbox prefix, reconnect forever with capped jittered back-off,
// retry when the first connect fails, and slog logging of connection events
// and asynchronous errors (permission violations, slow consumers).
func (c Config) Options(logger *slog.Logger) ([]nats.Option, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("bus config: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	name := c.ClientName
	if name == "" && len(os.Args) > 0 {
		name = os.Args[0]
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.Timeout(c.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.IgnoreAuthErrorAbort(),
		nats.CustomReconnectDelay(reconnectDelay(c.ReconnectWaitMax)),
		// Notice a silently dead server within about a minute (default: several).
		nats.PingInterval(20 * time.Second),
		nats.ConnectHandler(func(nc *nats.Conn) {
			logger.Info("nats connected", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "error", err)
			} else {
				logger.Info("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("nats reconnect attempt failed", "error", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			logger.Info("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"error", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			logger.Error("nats async error", attrs...)
		}),
	}
	if c.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredentialsFile))
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	return opts, nil
}

// Connect connects to NATS as cfg says (see Config.Options). It returns at
// once even when NATS is down: the connection keeps retrying in the
// background, publishes are buffered meanwhile, and callers see errors only
// when their own deadlines pass. extra options are applied last (e.g.
// nats.InProcessServer). ctx only aborts Connect itself.
func Connect(ctx context.Context, cfg Config, logger *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nats connect: %w", err)
	}
	opts, err := cfg.Options(logger)
	if err != nil {
		return nil, err
	}
	opts = append(opts, extra...)
	nc, err := nats.Connect(cfg.WithDefaults().URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", redactURL(cfg.WithDefaults().URL), err)
	}
	if err := ctx.Err(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats connect: %w", err)
	}
	return nc, nil
}

// reconnectDelay doubles from reconnectWaitMin up to limit, then picks a
// random delay in [d/2, d] so that many clients do not reconnect in step.
func reconnectDelay(limit time.Duration) func(attempts int) time.Duration {
	if limit <= 0 {
		limit = DefaultReconnectWaitMax
	}
	return func(attempts int) time.Duration { return Backoff(attempts, reconnectWaitMin, limit) }
}

// redactURL hides passwords in a comma-separated URL list.
func redactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, raw := range parts {
		if u, err := url.Parse(strings.TrimSpace(raw)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
