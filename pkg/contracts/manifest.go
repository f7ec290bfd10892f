package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidManifest is wrapped by every manifest validation error.
var ErrInvalidManifest = errors.New("invalid plugin manifest")

// Manifest describes a plugin: who it is, what it needs, what it may do and
// what it serves. It is the content of plugin.json, or built in code with
// the SDK, and is sent to the core on plugin.register.
type Manifest struct {
	// ID is the plugin's unique id: lowercase letters, digits and hyphens,
	// 2–63 characters, starting with a letter. It names subjects, the durable
	// consumer, the queue group and the NATS user.
	ID string `json:"id"`
	// Name is a human-readable name.
	Name string `json:"name"`
	// Version is the plugin's semantic version (semver 2.0).
	Version string `json:"version"`
	// Description says what the plugin does.
	Description string `json:"description,omitempty"`
	// Author is the owning team or person.
	Author string `json:"author,omitempty"`
	// License is an SPDX license id.
	License string `json:"license,omitempty"`
	// Tags are free-form keywords.
	Tags []string `json:"tags,omitempty"`
	// CoreVersion is the range of core versions the plugin works with, e.g. "^0.1.0".
	CoreVersion string `json:"coreVersion"`
	// Dependencies are other plugins this one needs, may use, or cannot run with.
	Dependencies Dependencies `json:"dependencies,omitzero"`
	// Permissions are what the plugin asks to be granted (see Permission).
	Permissions []Permission `json:"permissions,omitempty"`
	// ConfigSchema is a JSON Schema (draft 2020-12) for the plugin's config object.
	ConfigSchema json.RawMessage `json:"configSchema,omitempty"`
	// DefaultConfig is the config used where the operator sets nothing.
	DefaultConfig json.RawMessage `json:"defaultConfig,omitempty"`
	// Hooks are the hook points the plugin serves.
	Hooks []HookDecl `json:"hooks,omitempty"`
	// Events are subject patterns of catalog events the plugin consumes.
	Events []string `json:"events,omitempty"`
	// Routes are HTTP routes the core's gateway forwards to the plugin.
	Routes []RouteDecl `json:"routes,omitempty"`
	// Mount is an optional path prefix, outside /api/plugins/<id>, under which
	// the routes are served (needs the permission "http:mount:<prefix>").
	Mount string `json:"mount,omitempty"`
	// Invoke lists the methods other plugins may call on plugin.<id>.invoke.<method>.
	Invoke []string `json:"invoke,omitempty"`
	// Migrations names the database schema the plugin owns, if any.
	Migrations *Migrations `json:"migrations,omitempty"`
}

// Dependencies lists plugins by id with optional semver ranges.
type Dependencies struct {
	// Required plugins must be active before this one starts.
	Required []DependencyRef `json:"required,omitempty"`
	// Optional plugins are ordered before this one when present.
	Optional []DependencyRef `json:"optional,omitempty"`
	// Conflicts cannot be active together with this one.
	Conflicts []DependencyRef `json:"conflicts,omitempty"`
}

// IsZero reports whether no dependency of any kind is declared.
func (d Dependencies) IsZero() bool {
	return len(d.Required) == 0 && len(d.Optional) == 0 && len(d.Conflicts) == 0
}

// DependencyRef names a plugin and, optionally, the versions accepted. In
// JSON it is either "id", "id@range" or {"id": ..., "version": ...}.
type DependencyRef struct {
	// ID is the other plugin's id.
	ID string `json:"id"`
	// Version is a semver range; empty accepts any version.
	Version string `json:"version,omitempty"`
}

// String renders the reference as "id" or "id@range".
func (d DependencyRef) String() string {
	if d.Version == "" {
		return d.ID
	}
	return d.ID + "@" + d.Version
}

// MarshalJSON writes the string form, "id" or "id@range".
func (d DependencyRef) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON accepts the string and the object forms.
func (d *DependencyRef) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		id, ver, _ := strings.Cut(s, "@")
		*d = DependencyRef{ID: id, Version: ver}
		return nil
	}
	type plain DependencyRef
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a typo such as "verison" must not pass silently
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("dependency must be \"id\", \"id@range\" or {\"id\",\"version\"}: %w", err)
	}
	*d = DependencyRef(p)
	return nil
}

// FailurePolicy says what the caller does when a plugin does not answer a
// hook in time or has no live instance.
type FailurePolicy string

const (
	// FailClosed aborts the flow with 503 PLUGIN_UNAVAILABLE.
	FailClosed FailurePolicy = "closed"
	// FailOpen skips the plugin, logs and counts the failure.
	FailOpen FailurePolicy = "open"
)

// Limits on hook declarations.
const (
	// DefaultHookTimeout applies when a hook declaration sets none.
	DefaultHookTimeout = 500 * time.Millisecond
	// MaxHookTimeout is the longest deadline a plugin may ask for.
	MaxHookTimeout = 30 * time.Second
	// MinHookOrder and MaxHookOrder bound HookDecl.Order.
	MinHookOrder, MaxHookOrder = -1000, 1000
)

// HookDecl declares that a plugin serves a hook point.
type HookDecl struct {
	// Point is the hook point.
	Point HookPoint `json:"point"`
	// Order breaks ties between plugins that do not depend on each other:
	// lower runs first (default 0).
	Order int `json:"order,omitempty"`
	// Timeout is the plugin's deadline per call (default 500ms, at most 30s).
	Timeout Duration `json:"timeout,omitempty"`
	// FailurePolicy is "closed" (default) or "open".
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`
}

// EffectiveTimeout returns Timeout or the default.
func (h HookDecl) EffectiveTimeout() time.Duration {
	if h.Timeout <= 0 {
		return DefaultHookTimeout
	}
	return time.Duration(h.Timeout)
}

// EffectivePolicy returns FailurePolicy or the default (closed).
func (h HookDecl) EffectivePolicy() FailurePolicy {
	if h.FailurePolicy == "" {
		return FailClosed
	}
	return h.FailurePolicy
}

// RouteAuth is the authentication a gateway route requires.
type RouteAuth string

const (
	// AuthNone serves anyone; the session is still resolved and forwarded when present.
	AuthNone RouteAuth = "none"
	// AuthSession requires a valid session (401 otherwise).
	AuthSession RouteAuth = "session"
	// AuthAdmin requires a session of a user with role admin (403 otherwise).
	AuthAdmin RouteAuth = "admin"
)

// RouteDecl declares an HTTP route served by the plugin through the gateway.
type RouteDecl struct {
	// Method is GET, POST, PUT, PATCH or DELETE.
	Method string `json:"method"`
	// Path starts with "/", is relative to the plugin's mount, and may end
	// with "/*" to match every path below it.
	Path string `json:"path"`
	// Auth is none, session (default) or admin.
	Auth RouteAuth `json:"auth,omitempty"`
	// MaxBodyBytes caps the request body (default DefaultRouteMaxBodyBytes, 1 MiB);
	// bodies above GatewayInlineBodyLimit reach the plugin streamed in chunks.
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
}

// EffectiveAuth returns Auth or the default (session).
func (r RouteDecl) EffectiveAuth() RouteAuth {
	if r.Auth == "" {
		return AuthSession
	}
	return r.Auth
}

// Migrations declares the database schema a plugin owns.
type Migrations struct {
	// Schema is the Postgres schema name (lowercase identifier).
	Schema string `json:"schema"`
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("250ms", "2s"); a bare number is read as milliseconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a number of milliseconds; null
// leaves d unchanged.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	ms, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration must be a string like \"500ms\" or a number of milliseconds, got %s", b)
	}
	if math.Abs(ms) > float64(math.MaxInt64/int64(time.Millisecond)) {
		return fmt.Errorf("duration of %s milliseconds is out of range", b)
	}
	*d = Duration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// ParseManifest decodes a plugin.json document. Unknown fields are an error
// (a typo in a manifest should not pass silently). It does not validate.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Manifest{}, fmt.Errorf("%w: trailing data after the manifest object", ErrInvalidManifest)
	}
	return m, nil
}
