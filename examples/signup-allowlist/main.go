// Command signup-allowlist is an authbus plugin written only with the SDK
// (pkg/plugin): it refuses sign-ups whose email domain is not on its
// allowlist (hook beforeSignUp) and sends every new user a welcome email
// through the core's mailer (event user.created).
//
// Run it next to a core: `authbus dev --plugins-dir ./examples`, or build it
// and start it with AUTHBUS_NATS_URL pointing at the installation's NATS.
// `signup-allowlist --print-manifest` prints plugin.json.
package main

import "github.com/authbus/authbus/pkg/plugin"

func main() {
	plugin.Main(New())
}
