package contracts

import (
	"errors"
	"fmt"
	"strings"
)

// Permission is something a plugin asks for in its manifest and an operator
// grants in configuration. The core enforces each at the broker (NATS
// permissions) and again when a core service is called.
//
// Fixed permissions: user:read, user:write, session:read, session:write,
// email:send, crypto:use. Scoped permissions carry an argument after their
// prefix: events:subscribe:<subject pattern>, events:publish:<subject
// pattern>, hooks:call:<hook point>, plugin:invoke:<plugin id>,
// http:mount:<path prefix>.
type Permission string

// Fixed permissions.
const (
	// PermUserRead allows core.users.get and core.users.list.
	PermUserRead Permission = "user:read"
	// PermUserWrite allows core.users.update.
	PermUserWrite Permission = "user:write"
	// PermSessionRead allows core.sessions.get.
	PermSessionRead Permission = "session:read"
	// PermSessionWrite allows core.sessions.revoke and core.sessions.set-field.
	PermSessionWrite Permission = "session:write"
	// PermEmailSend allows core.email.send.
	PermEmailSend Permission = "email:send"
	// PermCryptoUse allows core.crypto.encrypt and core.crypto.decrypt.
	PermCryptoUse Permission = "crypto:use"
)

// Prefixes of scoped permissions.
const (
	// PermEventsSubscribe + pattern allows consuming catalog events matching the pattern.
	PermEventsSubscribe = "events:subscribe:"
	// PermEventsPublish + pattern allows publishing catalog events matching the pattern.
	PermEventsPublish = "events:publish:"
	// PermHooksCall + point allows calling other plugins on a hook point the plugin exposes.
	PermHooksCall = "hooks:call:"
	// PermPluginInvoke + id allows calling plugin.<id>.invoke.<method>.
	PermPluginInvoke = "plugin:invoke:"
	// PermHTTPMount + prefix allows serving routes under that path prefix.
	PermHTTPMount = "http:mount:"
)

var fixedPermissions = map[Permission]string{
	PermUserRead:     "read users (core.users.get, core.users.list)",
	PermUserWrite:    "update users (core.users.update)",
	PermSessionRead:  "read sessions (core.sessions.get)",
	PermSessionWrite: "revoke sessions and set per-session fields",
	PermEmailSend:    "send email through the core's mailer",
	PermCryptoUse:    "encrypt and decrypt with the core's key",
}

// Scope splits a scoped permission into its prefix and argument; ok is
// false for a fixed or unknown permission.
func (p Permission) Scope() (prefix, arg string, ok bool) {
	for _, pre := range []string{PermEventsSubscribe, PermEventsPublish, PermHooksCall, PermPluginInvoke, PermHTTPMount} {
		if rest, found := strings.CutPrefix(string(p), pre); found {
			return pre, rest, true
		}
	}
	return "", "", false
}

// Validate checks that p is a known fixed permission or a scoped one with a
// well-formed argument.
func (p Permission) Validate() error {
	if _, ok := fixedPermissions[p]; ok {
		return nil
	}
	prefix, arg, ok := p.Scope()
	if !ok {
		return fmt.Errorf("unknown permission %q (known: user:read, user:write, session:read, session:write, email:send, crypto:use, events:subscribe:<pattern>, events:publish:<pattern>, hooks:call:<point>, plugin:invoke:<id>, http:mount:<prefix>)", p)
	}
	if arg == "" {
		return fmt.Errorf("permission %q needs an argument after %q", p, prefix)
	}
	switch prefix {
	case PermEventsSubscribe, PermEventsPublish:
		if err := validSubjectPattern(arg); err != nil {
			return fmt.Errorf("permission %q: %w", p, err)
		}
		if len(EventsMatching(arg)) == 0 {
			return fmt.Errorf("permission %q matches no event of the catalog", p)
		}
	case PermHooksCall:
		if !HookPoint(arg).Known() {
			return fmt.Errorf("permission %q: unknown hook point %q", p, arg)
		}
	case PermPluginInvoke:
		if err := ValidatePluginID(arg); err != nil {
			return fmt.Errorf("permission %q: %w", p, err)
		}
	case PermHTTPMount:
		if err := validMount(arg); err != nil {
			return fmt.Errorf("permission %q: %w", p, err)
		}
	}
	return nil
}

// Covers reports whether holding p grants want. Scoped event permissions
// cover narrower patterns ("events:subscribe:user.>" covers
// "events:subscribe:user.created"); everything else must match exactly.
func (p Permission) Covers(want Permission) bool {
	if p == want {
		return true
	}
	pp, pa, ok1 := p.Scope()
	wp, wa, ok2 := want.Scope()
	if !ok1 || !ok2 || pp != wp {
		return false
	}
	if pp != PermEventsSubscribe && pp != PermEventsPublish {
		return false
	}
	// Every catalog event the wanted pattern matches must be matched by p.
	matched := EventsMatching(wa)
	if len(matched) == 0 {
		return false
	}
	for _, t := range matched {
		if !SubjectMatches(pa, string(t)) {
			return false
		}
	}
	return true
}

// validSubjectPattern checks a NATS subject pattern: dot-separated non-empty
// tokens of [a-z0-9_-], "*" as a whole token, ">" only as the last token.
func validSubjectPattern(s string) error {
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("subject pattern %q has an empty token", s)
		case t == ">":
			if i != len(toks)-1 {
				return fmt.Errorf("subject pattern %q: \">\" must be the last token", s)
			}
		case t == "*":
		default:
			for _, r := range t {
				if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
					return fmt.Errorf("subject pattern %q: token %q may only hold a-z, 0-9, '_' and '-'", s, t)
				}
			}
		}
	}
	return nil
}

// validMount checks a mount prefix: under /api/, no trailing slash, no
// "..", and not a prefix the core serves itself.
func validMount(m string) error {
	if !strings.HasPrefix(m, "/api/") || strings.HasSuffix(m, "/") || strings.Contains(m, "..") || strings.Contains(m, "//") {
		return fmt.Errorf("%q must start with \"/api/\", not end with \"/\", and hold no \"..\" or \"//\"", m)
	}
	if strings.ContainsAny(m, "?#*") || strings.ContainsFunc(m, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%q must not contain \"?\", \"#\", \"*\", spaces or control characters", m)
	}
	for _, reserved := range []string{"/api/admin", "/api/plugins"} {
		if m == reserved || strings.HasPrefix(m, reserved+"/") {
			return fmt.Errorf("%q is inside %s, which the core serves", m, reserved)
		}
	}
	return nil
}

// ValidatePluginID checks a plugin id: 2–63 characters of lowercase letters,
// digits and single hyphens, starting with a letter and not ending with a
// hyphen; "core", "admin", "authbus" and "system" are reserved.
func ValidatePluginID(id string) error {
	switch {
	case id == "":
		return errors.New("plugin id is empty: use 2 to 63 lowercase letters, digits and hyphens, such as \"rate-limit\"")
	case len(id) < 2 || len(id) > 63:
		return fmt.Errorf("plugin id %q must be 2 to 63 characters long", id)
	case id[0] < 'a' || id[0] > 'z':
		return fmt.Errorf("plugin id %q must start with a lowercase letter", id)
	case strings.ContainsFunc(id, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') }):
		return fmt.Errorf("plugin id %q may only hold lowercase letters, digits and hyphens", id)
	case id[len(id)-1] == '-' || strings.Contains(id, "--"):
		return fmt.Errorf("plugin id %q must not end with a hyphen or contain \"--\"", id)
	}
	switch id {
	case "core", "admin", "authbus", "system":
		return fmt.Errorf("plugin id %q is reserved", id)
	}
	return nil
}
