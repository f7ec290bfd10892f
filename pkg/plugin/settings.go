package plugin

import (
	"errors"
	"fmt"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/telemetry"
)

// Defaults of Settings.
const (
	// DefaultWorkers caps the hook, route and invoke requests one instance handles at once.
	DefaultWorkers = 64
	// DefaultEventWorkers is how many events one instance handles at once.
	DefaultEventWorkers = 4
	// DefaultEventTimeout bounds one event handler call.
	DefaultEventTimeout = 30 * time.Second
	// DefaultDrainTimeout bounds the wait for in-flight work on shutdown.
	DefaultDrainTimeout = 20 * time.Second
	// DefaultRegisterBackoffMax caps the wait between registration attempts.
	DefaultRegisterBackoffMax = 5 * time.Second
	// DefaultHeartbeatInterval applies when the core names no interval.
	DefaultHeartbeatInterval = 5 * time.Second
)

// Settings is how a plugin process runs, read from the environment with
// prefix AUTHBUS by LoadSettings (the NATS connection from AUTHBUS_NATS_URL
// and the other bus.Config variables), or built in code and given to
// WithSettings. Zero fields of a Settings built in code take the defaults
// below, except OpsAddr: empty there means no ops server.
type Settings struct {
	// Bus is how to reach NATS (AUTHBUS_NATS_URL, …). InboxPrefix defaults
	// to "_INBOX_<plugin id>" and ClientName to the plugin id, matching the
	// NATS permissions the core derives from the manifest.
	Bus bus.Config `ignored:"true"`
	// OpsAddr is where /healthz, /readyz and /metrics are served (env
	// default ":9090"; "off" or empty disables the ops server).
	OpsAddr string `envconfig:"OPS_ADDR" default:":9090"`
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string `envconfig:"LOG_LEVEL" default:"info"`
	// Workers caps the hook, route and invoke requests handled at once (default 64).
	Workers int `envconfig:"PLUGIN_WORKERS" default:"64"`
	// EventWorkers is how many events are handled at once (default 4).
	EventWorkers int `envconfig:"PLUGIN_EVENT_WORKERS" default:"4"`
	// EventTimeout bounds one event handler call (default 30s).
	EventTimeout time.Duration `envconfig:"PLUGIN_EVENT_TIMEOUT" default:"30s"`
	// NakBackoff is the redelivery delay after the 1st, 2nd, … failed
	// delivery of an event; the last value repeats (default 1s,5s,30s,2m).
	NakBackoff []time.Duration `envconfig:"PLUGIN_NAK_BACKOFF" default:"1s,5s,30s,2m"`
	// DrainTimeout bounds the wait for in-flight hooks, routes, invokes and
	// events on shutdown (default 20s).
	DrainTimeout time.Duration `envconfig:"PLUGIN_DRAIN_TIMEOUT" default:"20s"`
	// RegisterBackoffMax caps the wait between registration attempts while
	// the core is absent or asks to retry (default 5s).
	RegisterBackoffMax time.Duration `envconfig:"PLUGIN_REGISTER_BACKOFF_MAX" default:"5s"`
	// PrintManifest makes Main print the manifest as JSON and exit (default false).
	PrintManifest bool `envconfig:"PLUGIN_PRINT_MANIFEST"`
}

// LoadSettings reads Settings from the environment and validates them.
func LoadSettings() (Settings, error) {
	var s Settings
	if err := envconfig.Process("AUTHBUS", &s); err != nil {
		return Settings{}, fmt.Errorf("plugin settings: %w", err)
	}
	if err := envconfig.Process("AUTHBUS", &s.Bus); err != nil {
		return Settings{}, fmt.Errorf("plugin settings: %w", err)
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// WithDefaults returns s with every zero field set to its default.
func (s Settings) WithDefaults() Settings {
	s.Bus = s.Bus.WithDefaults()
	if s.OpsAddr == "off" {
		s.OpsAddr = ""
	}
	if s.LogLevel == "" {
		s.LogLevel = "info"
	}
	if s.Workers == 0 {
		s.Workers = DefaultWorkers
	}
	if s.EventWorkers == 0 {
		s.EventWorkers = DefaultEventWorkers
	}
	if s.EventTimeout == 0 {
		s.EventTimeout = DefaultEventTimeout
	}
	if s.NakBackoff == nil {
		s.NakBackoff = bus.DefaultNakBackoff
	}
	if s.DrainTimeout == 0 {
		s.DrainTimeout = DefaultDrainTimeout
	}
	if s.RegisterBackoffMax == 0 {
		s.RegisterBackoffMax = DefaultRegisterBackoffMax
	}
	return s
}

// Validate reports every problem of s at once.
func (s Settings) Validate() error {
	var errs []error
	if err := s.Bus.WithDefaults().Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.LogLevel != "" {
		if _, err := telemetry.ParseLevel(s.LogLevel); err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
		}
	}
	if s.Workers < 0 {
		errs = append(errs, fmt.Errorf("PLUGIN_WORKERS %d is negative", s.Workers))
	}
	if s.EventWorkers < 0 {
		errs = append(errs, fmt.Errorf("PLUGIN_EVENT_WORKERS %d is negative", s.EventWorkers))
	}
	if s.EventTimeout < 0 {
		errs = append(errs, fmt.Errorf("PLUGIN_EVENT_TIMEOUT %s is negative", s.EventTimeout))
	}
	for _, d := range s.NakBackoff {
		if d < 0 {
			errs = append(errs, fmt.Errorf("PLUGIN_NAK_BACKOFF %s is negative", d))
		}
	}
	if s.NakBackoff != nil && len(s.NakBackoff) == 0 {
		errs = append(errs, errors.New("PLUGIN_NAK_BACKOFF needs at least one delay"))
	}
	if s.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("PLUGIN_DRAIN_TIMEOUT %s is negative", s.DrainTimeout))
	}
	if s.RegisterBackoffMax < 0 {
		errs = append(errs, fmt.Errorf("PLUGIN_REGISTER_BACKOFF_MAX %s is negative", s.RegisterBackoffMax))
	}
	return errors.Join(errs...)
}
