// Package operator reads the operator's plugin configuration: which plugins
// may run, their configuration, the permissions granted to each, the NATS
// credentials used by `authbus plugin nats-config`, and optional hook
// overrides. It is a YAML file named by AUTHBUS_PLUGINS_FILE, with
// ${ENV_VAR} and ${ENV_VAR:-default} expanded in values:
//
//	plugins:
//	  audit:
//	    permissions: [user:read, "events:subscribe:user.>"]
//	    config:
//	      retentionDays: ${AUDIT_RETENTION_DAYS:-30}
//	    nats: {user: audit, password: "${AUDIT_NATS_PASSWORD}"}
//	    hooks:
//	      beforeSignIn: {order: 10, timeout: 200ms, failurePolicy: open}
//
// Policy without a file: production (FromEnv with dev false) enables no
// plugin, so every registration is refused with a reason naming
// AUTHBUS_PLUGINS_FILE; `authbus dev` (dev true) uses Dev(), which enables
// every plugin and grants every permission its manifest asks for. A file may
// also say `dev: true` to get the same permissive behaviour for plugins it
// does not list (never use it in production).
package operator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authbus/authbus/pkg/contracts"
)

// EnvFile is the environment variable naming the operator configuration file.
const EnvFile = "AUTHBUS_PLUGINS_FILE"

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid plugin configuration")

// Config is the operator's plugin configuration.
type Config struct {
	// Source says where the configuration came from (a path, or a
	// description); it appears in refusal reasons so a person knows where to
	// grant what is missing.
	Source string `yaml:"-"`
	// Dev enables every plugin that is not listed and grants it every
	// permission its manifest asks for (default false). For `authbus dev` only.
	Dev bool `yaml:"dev"`
	// Plugins maps a plugin id to its entry (default none).
	Plugins map[string]Plugin `yaml:"plugins"`
}

// Plugin is one plugin's entry.
type Plugin struct {
	// Enabled says whether the plugin may run (default true when listed).
	Enabled *bool `yaml:"enabled"`
	// Config is the operator's configuration object, merged over the
	// manifest's defaultConfig (default none).
	Config json.RawMessage `yaml:"-"`
	// Permissions are the permissions granted (default none). A scoped event
	// permission covers narrower patterns ("events:subscribe:user.>" grants
	// "events:subscribe:user.created").
	Permissions []contracts.Permission `yaml:"permissions"`
	// NATS are the credentials of the plugin's NATS user, printed by
	// `authbus plugin nats-config` (default none).
	NATS NATSCredentials `yaml:"nats"`
	// Hooks override the manifest's hook declarations per point (default none).
	Hooks map[contracts.HookPoint]HookOverride `yaml:"hooks"`
}

// IsEnabled reports whether the entry lets the plugin run.
func (p Plugin) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// NATSCredentials name a plugin's NATS user.
type NATSCredentials struct {
	// User is the NATS user name (default the plugin id).
	User string `yaml:"user"`
	// Password is the user's password, or a bcrypt hash of it (nats-server
	// accepts both); default none.
	Password string `yaml:"password"`
}

// HookOverride changes how the core calls one of a plugin's hook points.
type HookOverride struct {
	// Order replaces the manifest's order (default: keep it).
	Order *int `yaml:"order"`
	// Timeout replaces the manifest's timeout, e.g. "200ms" (default: keep it).
	Timeout Duration `yaml:"timeout"`
	// FailurePolicy replaces the manifest's policy: open or closed (default: keep it).
	FailurePolicy contracts.FailurePolicy `yaml:"failurePolicy"`
}

// Duration is a time.Duration written as "250ms" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as \"250ms\"", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// None is the configuration used in production when no file is given: no
// plugin may run.
func None() *Config {
	return &Config{Source: "no plugin configuration (set " + EnvFile + " to a YAML file listing the plugins to enable)"}
}

// Dev is the permissive configuration of `authbus dev`: every plugin is
// enabled with every permission it asks for.
func Dev() *Config {
	return &Config{Source: "authbus dev defaults (every plugin enabled, every requested permission granted)", Dev: true}
}

// FromEnv loads the file named by AUTHBUS_PLUGINS_FILE; without one it
// returns Dev() when dev is true and None() otherwise.
func FromEnv(dev bool) (*Config, error) {
	path := os.Getenv(EnvFile)
	switch {
	case path != "":
		return Load(path)
	case dev:
		return Dev(), nil
	}
	return None(), nil
}

// Load reads, expands and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plugin configuration: %w", err)
	}
	return Parse(b, path, os.LookupEnv)
}

// rawConfig is the file's shape before the plugin configs become JSON.
type rawConfig struct {
	Dev     bool                 `yaml:"dev"`
	Plugins map[string]rawPlugin `yaml:"plugins"`
}

type rawPlugin struct {
	Enabled     *bool                                `yaml:"enabled"`
	Config      yaml.Node                            `yaml:"config"`
	Permissions []contracts.Permission               `yaml:"permissions"`
	NATS        NATSCredentials                      `yaml:"nats"`
	Hooks       map[contracts.HookPoint]HookOverride `yaml:"hooks"`
}

// Parse reads a configuration document; source names it in messages and
// lookup resolves ${VAR} references. Every problem is reported at once.
func Parse(data []byte, source string, lookup LookupFunc) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, source, err)
	}
	if errs := expandNode(&doc, lookup); len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, source, errors.Join(errs...))
	}
	var raw rawConfig
	if len(doc.Content) > 0 {
		// Round-trip through the encoder so KnownFields catches typos.
		b, err := yaml.Marshal(&doc)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, source, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, source, err)
		}
	}
	c := &Config{Source: source, Dev: raw.Dev, Plugins: make(map[string]Plugin, len(raw.Plugins))}
	var errs []error
	for id, rp := range raw.Plugins {
		p := Plugin{Enabled: rp.Enabled, Permissions: rp.Permissions, NATS: rp.NATS, Hooks: rp.Hooks}
		if rp.Config.Kind != 0 {
			v, err := nodeToJSON(&rp.Config)
			if err != nil {
				errs = append(errs, fmt.Errorf("plugins.%s.config: %w", id, err))
			} else if _, ok := v.(map[string]any); !ok && v != nil {
				errs = append(errs, fmt.Errorf("plugins.%s.config: must be a mapping of settings", id))
			} else if v != nil {
				b, err := json.Marshal(v)
				if err != nil {
					errs = append(errs, fmt.Errorf("plugins.%s.config: %w", id, err))
				}
				p.Config = b
			}
		}
		c.Plugins[id] = p
	}
	if err := errors.Join(append(errs, c.Validate())...); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, source, err)
	}
	return c, nil
}

// nodeToJSON turns a YAML node into a value encoding/json can write:
// mappings need string keys.
func nodeToJSON(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeToJSON(n.Content[0])
	case yaml.AliasNode:
		return nodeToJSON(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: keys must be plain strings", k.Line)
			}
			v, err := nodeToJSON(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeToJSON(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		switch t := v.(type) {
		case time.Time:
			return t.Format(time.RFC3339Nano), nil
		case float64:
			if math.IsNaN(t) || math.IsInf(t, 0) {
				return nil, fmt.Errorf("line %d: %s is not a JSON number", n.Line, n.Value)
			}
			return json.Number(strconv.FormatFloat(t, 'g', -1, 64)), nil
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	ids := make([]string, 0, len(c.Plugins))
	for id := range c.Plugins {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	users := map[string]string{}
	for _, id := range ids {
		p := c.Plugins[id]
		f := "plugins." + id
		if err := contracts.ValidatePluginID(id); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
		for i, perm := range p.Permissions {
			if err := perm.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s.permissions[%d]: %w", f, i, err))
			}
			if j := slices.Index(p.Permissions, perm); j < i {
				errs = append(errs, fmt.Errorf("%s.permissions[%d]: %q is listed twice", f, i, perm))
			}
		}
		for point, h := range p.Hooks {
			hf := fmt.Sprintf("%s.hooks.%s", f, point)
			if !point.Known() {
				errs = append(errs, fmt.Errorf("%s: unknown hook point %q", hf, point))
			}
			if h.Order != nil && (*h.Order < contracts.MinHookOrder || *h.Order > contracts.MaxHookOrder) {
				errs = append(errs, fmt.Errorf("%s.order: %d is outside %d..%d", hf, *h.Order, contracts.MinHookOrder, contracts.MaxHookOrder))
			}
			if d := time.Duration(h.Timeout); d < 0 || d > contracts.MaxHookTimeout {
				errs = append(errs, fmt.Errorf("%s.timeout: %s is outside 0..%s", hf, d, contracts.MaxHookTimeout))
			}
			switch h.FailurePolicy {
			case "", contracts.FailOpen, contracts.FailClosed:
			default:
				errs = append(errs, fmt.Errorf("%s.failurePolicy: %q is not open or closed", hf, h.FailurePolicy))
			}
		}
		if p.NATS.Password != "" || p.NATS.User != "" {
			u := p.NATSUser(id)
			if prev, dup := users[u]; dup {
				errs = append(errs, fmt.Errorf("%s.nats.user: %q is also the NATS user of plugin %q", f, u, prev))
			}
			users[u] = id
		}
	}
	return errors.Join(errs...)
}

// NATSUser is the plugin's NATS user name: nats.user, or the plugin id.
func (p Plugin) NATSUser(id string) string {
	if p.NATS.User != "" {
		return p.NATS.User
	}
	return id
}

// Entry returns the plugin's entry and whether it may run. In dev mode an
// unlisted plugin is enabled with an empty entry.
func (c *Config) Entry(id string) (p Plugin, listed, enabled bool) {
	p, listed = c.Plugins[id]
	switch {
	case listed:
		return p, true, p.IsEnabled()
	case c.Dev:
		return Plugin{}, false, true
	}
	return Plugin{}, false, false
}

// Grants returns, of the permissions requested, those the operator granted
// and those it did not. In dev mode every request is granted.
func (c *Config) Grants(id string, requested []contracts.Permission) (granted, missing []contracts.Permission) {
	p, listed := c.Plugins[id]
	for _, want := range requested {
		ok := c.Dev && !listed
		if c.Dev && listed && len(p.Permissions) == 0 {
			ok = true
		}
		for _, have := range p.Permissions {
			if have.Covers(want) {
				ok = true
				break
			}
		}
		if ok {
			granted = append(granted, want)
		} else {
			missing = append(missing, want)
		}
	}
	return granted, missing
}

// IDs lists the configured plugin ids, sorted.
func (c *Config) IDs() []string {
	ids := make([]string, 0, len(c.Plugins))
	for id := range c.Plugins {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
