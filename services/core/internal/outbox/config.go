package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authbus/authbus/pkg/bus"
)

// Defaults of Config.
const (
	DefaultPollInterval      = 250 * time.Millisecond
	DefaultNotifyDelay       = 2 * time.Millisecond
	DefaultRetentionDays     = 7
	DefaultBatchSize         = 256
	DefaultWindow            = 256
	DefaultPublishTimeout    = 5 * time.Second
	DefaultRetryMin          = 100 * time.Millisecond
	DefaultRetryMax          = 10 * time.Second
	DefaultLockRetryInterval = time.Second
	DefaultPruneInterval     = time.Hour
)

// maxBatchSize is the most rows one FetchOutbox returns.
const maxBatchSize = 10000

// Config tunes the relay. Its envconfig tags are relative, so the core can
// embed it as `Outbox outbox.Config `envconfig:"OUTBOX"“ and read
// AUTHBUS_OUTBOX_POLL_INTERVAL and so on. Zero fields take their defaults
// (WithDefaults).
type Config struct {
	// PollInterval is how often the relay looks for events it was not told
	// about (committed by other replicas). Default 250ms.
	PollInterval time.Duration `envconfig:"POLL_INTERVAL" default:"250ms"`
	// RetentionDays keeps published events this many days for Replay
	// (`authbus events replay`). Default 7.
	RetentionDays int `envconfig:"RETENTION_DAYS" default:"7"`
	// BatchSize is how many events one fetch reads, at most 10000. Default 256.
	BatchSize int `envconfig:"BATCH_SIZE" default:"256"`
	// Window is how many publishes may await their acknowledgement at once. Default 256.
	Window int `envconfig:"PUBLISH_WINDOW" default:"256"`
	// PublishTimeout bounds the wait for one acknowledgement. Default 5s.
	PublishTimeout time.Duration `envconfig:"PUBLISH_TIMEOUT" default:"5s"`
	// RetryMin is the first back-off after a failure; it doubles, jittered,
	// up to RetryMax. Default 100ms.
	RetryMin time.Duration `envconfig:"RETRY_MIN" default:"100ms"`
	// RetryMax caps the back-off between attempts. Default 10s.
	RetryMax time.Duration `envconfig:"RETRY_MAX" default:"10s"`
	// LockRetryInterval is how often a standby replica tries to become the relay. Default 1s.
	LockRetryInterval time.Duration `envconfig:"LOCK_RETRY_INTERVAL" default:"1s"`
	// PruneInterval is how often the active relay deletes published events
	// older than RetentionDays. Default 1h.
	PruneInterval time.Duration `envconfig:"PRUNE_INTERVAL" default:"1h"`
	// NotifyDelay is how long the relay waits after a Notify before it reads
	// the outbox, so that the request that committed finishes its after-hooks
	// without the relay competing for the CPU and the NATS server, and a burst
	// of commits goes out in one batch. Negative: no wait. Default 2ms.
	NotifyDelay time.Duration `envconfig:"NOTIFY_DELAY" default:"2ms"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.PollInterval, DefaultPollInterval)
	set(&c.PublishTimeout, DefaultPublishTimeout)
	set(&c.RetryMin, DefaultRetryMin)
	set(&c.RetryMax, DefaultRetryMax)
	set(&c.LockRetryInterval, DefaultLockRetryInterval)
	set(&c.PruneInterval, DefaultPruneInterval)
	set(&c.NotifyDelay, DefaultNotifyDelay)
	if c.RetentionDays == 0 {
		c.RetentionDays = DefaultRetentionDays
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	return c
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("OUTBOX_%s %s must be positive", name, d))
		}
	}
	positive("POLL_INTERVAL", c.PollInterval)
	positive("PUBLISH_TIMEOUT", c.PublishTimeout)
	positive("RETRY_MIN", c.RetryMin)
	positive("RETRY_MAX", c.RetryMax)
	positive("LOCK_RETRY_INTERVAL", c.LockRetryInterval)
	positive("PRUNE_INTERVAL", c.PruneInterval)
	if c.RetryMin > 0 && c.RetryMax > 0 && c.RetryMin > c.RetryMax {
		errs = append(errs, fmt.Errorf("OUTBOX_RETRY_MIN %s exceeds OUTBOX_RETRY_MAX %s", c.RetryMin, c.RetryMax))
	}
	if c.RetentionDays < 1 {
		errs = append(errs, fmt.Errorf("OUTBOX_RETENTION_DAYS %d must be at least 1", c.RetentionDays))
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf("OUTBOX_BATCH_SIZE %d must be between 1 and %d", c.BatchSize, maxBatchSize))
	}
	if c.Window < 1 {
		errs = append(errs, fmt.Errorf("OUTBOX_PUBLISH_WINDOW %d must be at least 1", c.Window))
	}
	return errors.Join(errs...)
}

// Retention is how long published events are kept.
func (c Config) Retention() time.Duration {
	return time.Duration(c.RetentionDays) * 24 * time.Hour
}

// Options are what the relay gets from the rest of the core rather than
// from its own configuration.
type Options struct {
	// Prefix is the installation's subject prefix (bus.Config.SubjectPrefix). Default none.
	Prefix string
	// Stream is the stream expected to store the events (bus.StreamConfig.Name).
	// Default AUTH_EVENTS.
	Stream string
	// EnsureStream, when set, creates or updates the stream (bus.EnsureStream).
	// The relay calls it before its first publish as the active relay and
	// again after a publish finds no stream, so events committed while NATS
	// was away reach a stream the core could not create at start-up.
	EnsureStream func(ctx context.Context) error
	// History reads published events for Replay (OpenHistory). Default none:
	// Replay fails with ErrNoHistory.
	History History
	// Logger receives the relay's logs. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults fills the defaults of o.
func (o Options) withDefaults() Options {
	if o.Stream == "" {
		o.Stream = bus.DefaultStreamName
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
