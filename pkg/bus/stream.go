package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of StreamConfig.
const (
	// DefaultStreamName is the events stream.
	DefaultStreamName = "AUTH_EVENTS"
	// DefaultDeadLetterStreamName is the dead-letter stream.
	DefaultDeadLetterStreamName = "AUTH_DLQ"
	// DefaultDuplicateWindow is how long a Nats-Msg-Id is remembered.
	DefaultDuplicateWindow = 10 * time.Minute
	// DefaultMaxAge is how long events are kept.
	DefaultMaxAge = 30 * 24 * time.Hour
)

// metaSubjectPrefix is the stream metadata key recording which installation
// (subject prefix) owns a stream, so that two installations sharing a NATS
// with the same stream name fail loudly instead of taking over each other's stream.
const metaSubjectPrefix = "authbus-subject-prefix"

// StreamConfig configures the events stream and its dead-letter stream
// (envconfig, prefix AUTHBUS). Installations sharing one NATS need distinct
// stream names as well as distinct subject prefixes.
type StreamConfig struct {
	// Name is the events stream (default AUTH_EVENTS).
	Name string `envconfig:"STREAM_NAME" default:"AUTH_EVENTS"`
	// DeadLetterName is the dead-letter stream (default AUTH_DLQ).
	DeadLetterName string `envconfig:"DLQ_STREAM_NAME" default:"AUTH_DLQ"`
	// DuplicateWindow is how long a Nats-Msg-Id is remembered for
	// deduplication (default 10m); it should exceed the outbox relay's retry horizon.
	DuplicateWindow time.Duration `envconfig:"STREAM_DUPLICATE_WINDOW" default:"10m"`
	// MaxAge is how long events and dead letters are kept (default 720h = 30 days).
	MaxAge time.Duration `envconfig:"STREAM_MAX_AGE" default:"720h"`
	// Replicas is the number of copies in a cluster (default 1; 3 in production).
	Replicas int `envconfig:"STREAM_REPLICAS" default:"1"`
	// Storage is "file" (default) or "memory".
	Storage string `envconfig:"STREAM_STORAGE" default:"file"`
}

// WithDefaults returns c with every zero field set to its default.
func (c StreamConfig) WithDefaults() StreamConfig {
	if c.Name == "" {
		c.Name = DefaultStreamName
	}
	if c.DeadLetterName == "" {
		c.DeadLetterName = DefaultDeadLetterStreamName
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Storage == "" {
		c.Storage = "file"
	}
	return c
}

// Validate reports every problem of c at once.
func (c StreamConfig) Validate() error {
	var errs []error
	if err := validateName("STREAM_NAME", c.Name); err != nil {
		errs = append(errs, err)
	}
	if err := validateName("DLQ_STREAM_NAME", c.DeadLetterName); err != nil {
		errs = append(errs, err)
	}
	if c.Name != "" && c.Name == c.DeadLetterName {
		errs = append(errs, fmt.Errorf("STREAM_NAME and DLQ_STREAM_NAME are both %q", c.Name))
	}
	if c.DuplicateWindow <= 0 {
		errs = append(errs, fmt.Errorf("STREAM_DUPLICATE_WINDOW %s must be positive", c.DuplicateWindow))
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("STREAM_MAX_AGE %s is negative", c.MaxAge))
	}
	if c.MaxAge > 0 && c.DuplicateWindow > c.MaxAge {
		errs = append(errs, fmt.Errorf("STREAM_DUPLICATE_WINDOW %s exceeds STREAM_MAX_AGE %s", c.DuplicateWindow, c.MaxAge))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("STREAM_REPLICAS %d must be between 1 and 5", c.Replicas))
	}
	if _, err := c.storage(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// storage maps Storage to the jetstream type.
func (c StreamConfig) storage() (jetstream.StorageType, error) {
	switch c.Storage {
	case "file":
		return jetstream.FileStorage, nil
	case "memory":
		return jetstream.MemoryStorage, nil
	}
	return 0, fmt.Errorf("STREAM_STORAGE %q must be file or memory", c.Storage)
}

// EnsureStream creates or updates the events stream (subjects
// "<prefix><domain>.>" for every catalog domain) and the dead-letter stream
// ("<prefix>dlq.>") as cfg says, and returns the events stream. It refuses
// to touch a stream of the same name owned by another subject prefix.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig, prefix string) (jetstream.Stream, error) {
	cfg = cfg.WithDefaults()
	if err := errors.Join(cfg.Validate(), ValidateSubjectPrefix(prefix)); err != nil {
		return nil, fmt.Errorf("ensure stream: %w", err)
	}
	storage, _ := cfg.storage()
	base := jetstream.StreamConfig{
		Retention:  jetstream.LimitsPolicy,
		Storage:    storage,
		Replicas:   cfg.Replicas,
		MaxAge:     cfg.MaxAge,
		Duplicates: cfg.DuplicateWindow,
		Discard:    jetstream.DiscardOld,
		Metadata:   map[string]string{metaSubjectPrefix: normPrefix(prefix)},
	}
	events := base
	events.Name = cfg.Name
	events.Description = "authbus events (CloudEvents envelopes), one subject per event type"
	events.Subjects = EventStreamSubjects(prefix)
	st, err := ensureStream(ctx, js, events)
	if err != nil {
		return nil, err
	}
	dlq := base
	dlq.Name = cfg.DeadLetterName
	dlq.Description = "authbus dead letters: copies of messages a consumer gave up on"
	dlq.Subjects = DeadLetterStreamSubjects(prefix)
	if _, err := ensureStream(ctx, js, dlq); err != nil {
		return nil, err
	}
	return st, nil
}

// ensureStream creates sc, or updates it when it exists and belongs to the same prefix.
func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) (jetstream.Stream, error) {
	existing, err := js.Stream(ctx, sc.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err := js.CreateStream(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", sc.Name, err)
		}
		return st, nil
	case err != nil:
		return nil, fmt.Errorf("look up stream %s: %w", sc.Name, err)
	}
	cur := existing.CachedInfo().Config
	if owner, ok := cur.Metadata[metaSubjectPrefix]; ok && owner != sc.Metadata[metaSubjectPrefix] {
		return nil, fmt.Errorf("stream %s belongs to the installation with subject prefix %q, not %q: give this installation its own stream names",
			sc.Name, owner, sc.Metadata[metaSubjectPrefix])
	}
	// Keep metadata other tools added; the server manages its own "_nats." keys.
	for k, v := range cur.Metadata {
		if _, ours := sc.Metadata[k]; !ours && !strings.HasPrefix(k, "_nats.") {
			sc.Metadata[k] = v
		}
	}
	if sameStream(cur, sc) {
		return existing, nil
	}
	st, err := js.UpdateStream(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("update stream %s: %w", sc.Name, err)
	}
	return st, nil
}

// sameStream reports whether cur already has every setting of want.
func sameStream(cur, want jetstream.StreamConfig) bool {
	return slices.Equal(cur.Subjects, want.Subjects) && cur.Storage == want.Storage &&
		cur.Replicas == want.Replicas && cur.MaxAge == want.MaxAge &&
		cur.Duplicates == want.Duplicates && cur.Retention == want.Retention &&
		cur.Discard == want.Discard && cur.Description == want.Description &&
		cur.Metadata[metaSubjectPrefix] == want.Metadata[metaSubjectPrefix]
}
