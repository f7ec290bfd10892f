// Package natsperm derives, from a plugin's granted permissions, the NATS
// permission block its user gets, so the broker itself enforces what the
// plugin may publish, subscribe to and request (nats-notes.md §5). It also
// names the JetStream resources the core creates for a plugin (durable
// consumer, KV bucket), so the runtime and the blocks agree on them.
package natsperm

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/coresvc"
)

// Durable is the name of plugin id's durable consumer on the events stream.
func Durable(id string) string { return "plugin-" + id }

// Bucket is the name of plugin id's own KV bucket: "plugin-<id>", preceded
// by the subject prefix (dots as '_') when there is one.
func Bucket(prefix, id string) string { return bucketPrefix(prefix) + "plugin-" + id }

// RegistryBucket is the name of the registry KV bucket.
func RegistryBucket(prefix string) string { return bucketPrefix(prefix) + "authbus-plugins" }

func bucketPrefix(prefix string) string {
	p := strings.TrimSuffix(prefix, ".")
	if p == "" {
		return ""
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, p) + "_"
}

// InboxPrefix is the inbox prefix plugin id must use (nats.CustomInboxPrefix):
// its user may only subscribe to its own inboxes.
func InboxPrefix(id string) string { return "_INBOX_" + id }

// Options name the installation's subjects and streams.
type Options struct {
	// Prefix is the installation's subject prefix (default none).
	Prefix string
	// Stream is the events stream (default AUTH_EVENTS).
	Stream string
	// ResponseExpires bounds how long after a request the plugin may answer
	// it (default 2m, above the longest hook and gateway deadlines).
	ResponseExpires time.Duration
}

func (o Options) stream() string {
	if o.Stream == "" {
		return bus.DefaultStreamName
	}
	return o.Stream
}

// Block returns plugin id's permission block: everything its SDK needs to
// register, heartbeat, take control messages, serve its hooks, routes,
// invoke methods and gateway bodies, consume its durable and ack, dead-letter,
// use its KV bucket and be discovered ($SRV), plus, per granted permission,
// the exact core service subjects, event subjects it may publish, hook
// points it may call (and the hooks.plan broadcast), and plugins it may
// invoke. Replies to requests it received are allowed once each.
func Block(o Options, id string, granted []contracts.Permission) *server.Permissions {
	p := o.Prefix
	stream := o.stream()
	durable := Durable(id)
	kv := "KV_" + Bucket(p, id)
	pub := []string{
		bus.RegisterSubject(p, id),
		bus.HeartbeatSubject(p, id),
		bus.GatewaySubjects(p, id),
		"$JS.API.CONSUMER.INFO." + stream + "." + durable,
		"$JS.API.CONSUMER.MSG.NEXT." + stream + "." + durable,
		"$JS.ACK." + stream + "." + durable + ".>",
		bus.DeadLetterSubjects(p, durable),
		"$KV." + Bucket(p, id) + ".>",
		"$JS.API.STREAM.INFO." + kv,
		"$JS.API.STREAM.MSG.GET." + kv,
		"$JS.API.STREAM.PURGE." + kv,
		"$JS.API.DIRECT.GET." + kv,
		"$JS.API.DIRECT.GET." + kv + ".>",
		"$JS.API.CONSUMER.CREATE." + kv,
		"$JS.API.CONSUMER.CREATE." + kv + ".>",
		"$JS.API.CONSUMER.DELETE." + kv + ".>",
		"$JS.API.CONSUMER.INFO." + kv + ".>",
		"$JS.FC." + kv + ".>",
	}
	for _, m := range coresvc.AllowedMethods(granted) {
		svc, method := m.Split()
		pub = append(pub, bus.CoreSubject(p, id, svc, method))
	}
	sub := []string{
		InboxPrefix(id) + ".>",
		bus.ControlSubject(p, id),
		bus.HookSubjects(p, id),
		bus.PluginHTTPSubject(p, id),
		bus.InvokeSubject(p, id, ">"),
		bus.GatewaySubjects(p, id),
		"$SRV.*", "$SRV.*." + id, "$SRV.*." + id + ".*",
	}
	callsHooks := false
	for _, g := range granted {
		prefix, arg, ok := g.Scope()
		if !ok {
			continue
		}
		switch prefix {
		case contracts.PermEventsPublish:
			pub = append(pub, bus.EventFilter(p, arg))
		case contracts.PermHooksCall:
			pub = append(pub, bus.HookSubject(p, contracts.HookPoint(arg), "*"))
			callsHooks = true
		case contracts.PermPluginInvoke:
			pub = append(pub, bus.InvokeSubject(p, arg, "*"))
		}
	}
	if callsHooks {
		sub = append(sub, bus.HooksPlanSubject(p))
	}
	expires := o.ResponseExpires
	if expires <= 0 {
		expires = 2 * time.Minute
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: dedupe(pub)},
		Subscribe: &server.SubjectPermission{Allow: dedupe(sub)},
		Response:  &server.ResponsePermission{MaxMsgs: 1, Expires: expires},
	}
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return slices.Compact(out)
}

// Account is a NATS user to create: a plugin's id, user name, password and
// granted permissions.
type Account struct {
	// PluginID is the plugin id.
	PluginID string
	// User is the NATS user name (default PluginID).
	User string
	// Password is the user's password (or bcrypt hash for a server config).
	Password string
	// Granted lists the permissions granted to the plugin.
	Granted []contracts.Permission
}

func (a Account) user() string {
	if a.User != "" {
		return a.User
	}
	return a.PluginID
}

// Users returns the users of an embedded server (authbus dev): the core's
// user with every right, then one user per plugin with its block.
func Users(o Options, coreUser, corePassword string, plugins []Account) []*server.User {
	users := []*server.User{{Username: coreUser, Password: corePassword}}
	for _, a := range plugins {
		users = append(users, &server.User{Username: a.user(), Password: a.Password, Permissions: Block(o, a.PluginID, a.Granted)})
	}
	return users
}

// Config renders the plugins' users as a nats-server configuration
// fragment (an authorization block) an operator includes in their server
// configuration; the core's own user is added with full rights when
// coreUser is set. A missing password is written as a ${VAR} reference the
// server resolves from its environment.
func Config(o Options, coreUser, corePassword string, plugins []Account) string {
	var b strings.Builder
	b.WriteString("# authbus plugin users, generated by `authbus plugin nats-config`.\n")
	b.WriteString("# Each plugin connects with its user and nats.CustomInboxPrefix(\"_INBOX_<id>\").\n")
	b.WriteString("authorization {\n  users = [\n")
	if coreUser != "" {
		fmt.Fprintf(&b, "    # the authbus core: every right\n    { user: %s, password: %s }\n", quote(coreUser), passwordValue(corePassword, "AUTHBUS_CORE_NATS_PASSWORD"))
	}
	for _, a := range plugins {
		perm := Block(o, a.PluginID, a.Granted)
		envName := "AUTHBUS_" + strings.ToUpper(strings.ReplaceAll(a.PluginID, "-", "_")) + "_NATS_PASSWORD"
		fmt.Fprintf(&b, "    # plugin %s\n    {\n      user: %s\n      password: %s\n      permissions: {\n", a.PluginID, quote(a.user()), passwordValue(a.Password, envName))
		writeList(&b, "publish", perm.Publish.Allow)
		writeList(&b, "subscribe", perm.Subscribe.Allow)
		fmt.Fprintf(&b, "        allow_responses: { max: %d, expires: %q }\n", perm.Response.MaxMsgs, perm.Response.Expires.String())
		b.WriteString("      }\n    }\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

func writeList(b *strings.Builder, name string, allow []string) {
	fmt.Fprintf(b, "        %s: {\n          allow: [\n", name)
	for _, s := range allow {
		fmt.Fprintf(b, "            %s\n", quote(s))
	}
	b.WriteString("          ]\n        }\n")
}

func passwordValue(pw, envName string) string {
	if pw == "" {
		return "$" + envName
	}
	return quote(pw)
}

// quote writes s as a double-quoted nats-server config string.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
