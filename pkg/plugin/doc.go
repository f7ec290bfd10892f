// Package plugin is the SDK for writing an authbus plugin: a service of its
// own, owned by its own team, that the core calls at hook points, that
// consumes the core's events, that serves HTTP routes through the core's
// gateway, and that other plugins can invoke — all over NATS.
//
// A plugin is its manifest (contracts.Manifest: written in code, or
// plugin.json loaded with LoadManifest or contracts.ParseManifest) plus
// typed handlers:
//
//   - OnHook: a decision at a hook point — Continue, Patch (the SDK
//     computes the merge patch), Abort with status, code and message, or
//     Fail (the caller's failure policy applies);
//   - OnEvent: events by subject pattern, from the plugin's durable
//     consumer shared by its replicas; nil acks, an error redelivers after
//     a back-off, Permanent or too many deliveries dead-letters;
//   - Plugin.Route: net/http handlers for the gateway, with the caller's
//     user and session (UserFrom, SessionFrom) and streamed bodies;
//   - OnInvoke: methods other plugins call with Context.Invoke.
//
// Every handler gets a *Context: the typed, validated config, a logger,
// clients of the core's services (Users, Sessions, Email, Crypto), the
// plugin's key-value bucket, Invoke, and Env. Run (or Main) does the rest:
// registration with back-off until the core accepts, heartbeats, a bounded
// pool serving requests concurrently within each caller's deadline,
// tracing that continues the caller's trace, /healthz, /readyz and
// /metrics, and a drain on SIGTERM or when the core says stop. Lifecycle
// steps (Init, Start, Stop) are optional interfaces of a value given to
// WithLifecycle. Package plugintest runs a plugin against an in-process
// NATS and a fake core, and checks it with Conformance.
//
// A complete plugin that refuses sign-ups from one domain and logs every
// new user:
//
//	package main
//
//	import (
//		"context"
//		"encoding/json"
//		"net/http"
//		"strings"
//
//		"github.com/authbus/authbus/pkg/contracts"
//		"github.com/authbus/authbus/pkg/plugin"
//	)
//
//	type Config struct {
//		Blocked string `json:"blocked"` // a domain nobody may sign up from
//	}
//
//	func main() {
//		p := plugin.New[Config](contracts.Manifest{
//			ID: "no-spam", Name: "No spam", Version: "1.0.0", CoreVersion: "^0.1.0",
//			Permissions:   []contracts.Permission{"events:subscribe:user.created"},
//			DefaultConfig: json.RawMessage(`{"blocked": "spam.test"}`),
//			Hooks:         []contracts.HookDecl{{Point: contracts.HookBeforeSignUp}},
//			Events:        []string{"user.created"},
//		})
//		plugin.OnHook(p, contracts.HookBeforeSignUp,
//			func(ctx context.Context, c *plugin.Context[Config], in contracts.SignUpContext) plugin.Decision {
//				if strings.HasSuffix(in.Email, "@"+c.Config.Blocked) {
//					return plugin.Abort(http.StatusForbidden, "DOMAIN_BLOCKED", "This domain may not sign up")
//				}
//				return plugin.Continue()
//			})
//		plugin.OnEvent(p, "user.created",
//			func(ctx context.Context, c *plugin.Context[Config], ev plugin.Event[contracts.UserCreated]) error {
//				c.Logger.InfoContext(ctx, "new user", "id", ev.Data.User.ID)
//				return nil
//			})
//		plugin.Main(p)
//	}
//
// Run it with AUTHBUS_NATS_URL pointing at the installation's NATS (or
// under `authbus dev --plugins-dir`); `--print-manifest` prints its
// manifest. Settings lists every variable it reads. examples/signup-allowlist
// is a fuller plugin, with its tests.
package plugin
