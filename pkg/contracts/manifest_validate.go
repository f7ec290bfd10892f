package contracts

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Problem is one reason a manifest is invalid.
type Problem struct {
	// Field is the path of the offending field, e.g. "hooks[1].timeout".
	Field string `json:"field"`
	// Message says what is wrong, in words a plugin author can act on.
	Message string `json:"message"`
}

// String renders the problem as "field: message".
func (p Problem) String() string { return p.Field + ": " + p.Message }

// ManifestError lists every problem Manifest.Validate found. It unwraps to
// ErrInvalidManifest.
type ManifestError struct {
	// Problems are in the order of the manifest's fields.
	Problems []Problem `json:"problems"`
}

// Error joins the problems into one line.
func (e *ManifestError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return ErrInvalidManifest.Error() + ": " + strings.Join(parts, "; ")
}

// Unwrap returns ErrInvalidManifest.
func (e *ManifestError) Unwrap() error { return ErrInvalidManifest }

// Patterns of names a manifest declares.
var (
	invokeMethodPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	dbSchemaPattern     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

// routeMethods are the HTTP methods a gateway route may declare.
var routeMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// manifestCheck collects problems in field order.
type manifestCheck struct {
	m        Manifest
	problems []Problem
}

func (c *manifestCheck) add(field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Validate reports every problem of the manifest at once, as a
// *ManifestError, or nil. It checks what can be known from the manifest
// alone; the core also checks the config against configSchema, resolves
// dependencies and compares coreVersion with its own version.
func (m Manifest) Validate() error {
	c := &manifestCheck{m: m}
	if err := ValidatePluginID(m.ID); err != nil {
		c.add("id", "%v", err)
	}
	if strings.TrimSpace(m.Name) == "" {
		c.add("name", "is required: a human-readable name such as \"Rate limiter\"")
	}
	if m.Version == "" {
		c.add("version", "is required: the plugin's semantic version such as \"1.0.0\"")
	} else if _, err := ParseVersion(m.Version); err != nil {
		c.add("version", "%v", err)
	}
	if strings.TrimSpace(m.CoreVersion) == "" {
		c.add("coreVersion", "is required: the core versions the plugin works with, such as \"^0.1.0\"")
	} else if _, err := ParseRange(m.CoreVersion); err != nil {
		c.add("coreVersion", "%v", err)
	}
	c.dependencies()
	c.permissions()
	c.config()
	c.hooks()
	c.events()
	c.routes()
	c.mount()
	c.invoke()
	c.migrations()
	if len(c.problems) == 0 {
		return nil
	}
	return &ManifestError{Problems: c.problems}
}

func (c *manifestCheck) dependencies() {
	uses := map[string]string{}      // id → where it is listed as required or optional
	conflicts := map[string]string{} // id → where it is listed as a conflict
	for _, list := range []struct {
		name string
		refs []DependencyRef
	}{{"required", c.m.Dependencies.Required}, {"optional", c.m.Dependencies.Optional}, {"conflicts", c.m.Dependencies.Conflicts}} {
		for i, ref := range list.refs {
			f := fmt.Sprintf("dependencies.%s[%d]", list.name, i)
			if ref.Version != "" {
				if _, err := ParseRange(ref.Version); err != nil {
					c.add(f+".version", "%v", err)
				}
			}
			if err := ValidatePluginID(ref.ID); err != nil {
				c.add(f, "%v", err)
				continue
			}
			if ref.ID == c.m.ID {
				c.add(f, "a plugin cannot depend on or conflict with itself")
				continue
			}
			if list.name == "conflicts" {
				if prev, ok := conflicts[ref.ID]; ok {
					c.add(f, "%q is already listed at %s; list each plugin once", ref.ID, prev)
				} else if prev, ok := uses[ref.ID]; ok {
					c.add(f, "%q is also a dependency (%s); a plugin cannot both use and conflict with another", ref.ID, prev)
				}
				conflicts[ref.ID] = f
				continue
			}
			if prev, ok := uses[ref.ID]; ok {
				c.add(f, "%q is already listed at %s; list each plugin once", ref.ID, prev)
				continue
			}
			uses[ref.ID] = f
		}
	}
}

func (c *manifestCheck) permissions() {
	seen := map[Permission]int{}
	for i, p := range c.m.Permissions {
		f := fmt.Sprintf("permissions[%d]", i)
		if err := p.Validate(); err != nil {
			c.add(f, "%v", err)
		}
		if j, dup := seen[p]; dup {
			c.add(f, "%q is listed twice (also permissions[%d])", p, j)
			continue
		}
		seen[p] = i
	}
}

// grants reports whether one of the manifest's permissions covers want.
func (c *manifestCheck) grants(want Permission) bool {
	for _, p := range c.m.Permissions {
		if p.Covers(want) {
			return true
		}
	}
	return false
}

func (c *manifestCheck) config() {
	if raw := c.m.ConfigSchema; len(raw) > 0 {
		var schema map[string]any
		switch {
		case !json.Valid(raw):
			c.add("configSchema", "is not valid JSON")
		case json.Unmarshal(raw, &schema) != nil || schema == nil:
			c.add("configSchema", "must be a JSON Schema object such as {\"type\": \"object\", \"properties\": {...}}")
		default:
			if t, ok := schema["type"]; ok && t != "object" {
				got, _ := json.Marshal(t)
				c.add("configSchema", "must describe an object (\"type\": \"object\"), since a plugin's config is a JSON object; got \"type\": %s", got)
			}
		}
	}
	if raw := c.m.DefaultConfig; len(raw) > 0 {
		var obj map[string]json.RawMessage
		switch {
		case !json.Valid(raw):
			c.add("defaultConfig", "is not valid JSON")
		case json.Unmarshal(raw, &obj) != nil || obj == nil:
			c.add("defaultConfig", "must be a JSON object")
		}
	}
}

func (c *manifestCheck) hooks() {
	seen := map[HookPoint]int{}
	for i, h := range c.m.Hooks {
		f := fmt.Sprintf("hooks[%d]", i)
		switch j, dup := seen[h.Point]; {
		case h.Point == "":
			c.add(f+".point", "is required: the hook point served, such as %q", HookBeforeSignIn)
		case !h.Point.Known():
			c.add(f+".point", "unknown hook point %q%s", h.Point, suggestHookPoint(h.Point))
		case dup:
			c.add(f+".point", "%s is declared twice (also hooks[%d]); declare each hook point once", h.Point, j)
		default:
			seen[h.Point] = i
		}
		if h.Order < MinHookOrder || h.Order > MaxHookOrder {
			c.add(f+".order", "%d is outside the allowed range %d..%d", h.Order, MinHookOrder, MaxHookOrder)
		}
		if d := time.Duration(h.Timeout); d < 0 {
			c.add(f+".timeout", "%s is negative; leave it out for the %s default", d, DefaultHookTimeout)
		} else if d > MaxHookTimeout {
			c.add(f+".timeout", "%s is longer than the %s maximum", d, MaxHookTimeout)
		}
		switch h.FailurePolicy {
		case "", FailOpen, FailClosed:
		default:
			c.add(f+".failurePolicy", "%q is not %q or %q", h.FailurePolicy, FailOpen, FailClosed)
		}
	}
}

// suggestHookPoint names the hook point p differs from only in letter case.
func suggestHookPoint(p HookPoint) string {
	for _, h := range hookSpecs {
		if strings.EqualFold(string(h.Point), string(p)) {
			return fmt.Sprintf(" (did you mean %q?)", h.Point)
		}
	}
	return ""
}

func (c *manifestCheck) events() {
	for i, pattern := range c.m.Events {
		f := fmt.Sprintf("events[%d]", i)
		if err := validSubjectPattern(pattern); err != nil {
			c.add(f, "%v", err)
			continue
		}
		if len(EventsMatching(pattern)) == 0 {
			c.add(f, "%q matches no event of the catalog", pattern)
			continue
		}
		if want := Permission(PermEventsSubscribe + pattern); !c.grants(want) {
			c.add(f, "%q is not covered by an %q permission; add %q to permissions", pattern, PermEventsSubscribe, want)
		}
	}
}

func (c *manifestCheck) routes() {
	seen := map[string]int{}
	for i, r := range c.m.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		if !slices.Contains(routeMethods, r.Method) {
			c.add(f+".method", "%q is not one of %s", r.Method, strings.Join(routeMethods, ", "))
		}
		if err := validRoutePath(r.Path); err != nil {
			c.add(f+".path", "%v", err)
		}
		key := r.Method + " " + r.Path
		if j, dup := seen[key]; dup {
			c.add(f, "%s is declared twice (also routes[%d])", key, j)
		} else {
			seen[key] = i
		}
		switch r.Auth {
		case "", AuthNone, AuthSession, AuthAdmin:
		default:
			c.add(f+".auth", "%q is not %q, %q or %q", r.Auth, AuthNone, AuthSession, AuthAdmin)
		}
		if r.MaxBodyBytes < 0 {
			c.add(f+".maxBodyBytes", "%d is negative; leave it out for the default", r.MaxBodyBytes)
		}
	}
}

// validRoutePath checks a route path: it starts with "/", holds no "..",
// "//", query, fragment, space or control character, and uses "*" only as
// a final "/*".
func validRoutePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("is required: a path such as \"/items\"")
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q must start with \"/\"", p)
	case strings.Contains(p, ".."):
		return fmt.Errorf("%q must not contain \"..\"", p)
	case strings.Contains(p, "//"):
		return fmt.Errorf("%q must not contain \"//\"", p)
	case strings.ContainsAny(p, "?#"):
		return fmt.Errorf("%q must not contain a query or fragment (\"?\" or \"#\")", p)
	case strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("%q must not contain spaces or control characters", p)
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && (i != len(p)-1 || !strings.HasSuffix(p, "/*")) {
		return fmt.Errorf("%q may use \"*\" only as a final \"/*\"", p)
	}
	return nil
}

func (c *manifestCheck) mount() {
	if c.m.Mount == "" {
		return
	}
	if err := validMount(c.m.Mount); err != nil {
		c.add("mount", "%v", err)
		return
	}
	if want := Permission(PermHTTPMount + c.m.Mount); !c.grants(want) {
		c.add("mount", "%q needs the permission %q; add it to permissions", c.m.Mount, want)
	}
}

func (c *manifestCheck) invoke() {
	seen := map[string]int{}
	for i, name := range c.m.Invoke {
		f := fmt.Sprintf("invoke[%d]", i)
		if !invokeMethodPattern.MatchString(name) {
			c.add(f, "%q must be 1 to 63 characters of a-z, 0-9, '_' and '-', starting with a letter", name)
		}
		if j, dup := seen[name]; dup {
			c.add(f, "%q is listed twice (also invoke[%d])", name, j)
			continue
		}
		seen[name] = i
	}
}

func (c *manifestCheck) migrations() {
	if c.m.Migrations == nil {
		return
	}
	const f = "migrations.schema"
	switch s := c.m.Migrations.Schema; {
	case s == "":
		c.add(f, "is required: the Postgres schema the plugin owns, such as %q", strings.ReplaceAll(c.m.ID, "-", "_"))
	case !dbSchemaPattern.MatchString(s):
		c.add(f, "%q must be a lowercase identifier: a letter, then up to 62 of a-z, 0-9 and '_'", s)
	case s == "core" || s == "public" || s == "information_schema" || strings.HasPrefix(s, "pg_"):
		c.add(f, "%q is reserved; choose a schema named after the plugin", s)
	}
}
