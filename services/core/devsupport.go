package core

import (
	"github.com/nats-io/nats-server/v2/server"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/natsperm"
)

// PluginAccount is a plugin's NATS user for an embedded server: its id, user
// name and password, and the permissions granted to it.
type PluginAccount = natsperm.Account

// PluginNATSUsers returns the users of an embedded NATS server (authbus dev):
// the core's user with every right, then one user per plugin whose
// permissions the broker enforces (derived from its granted permissions).
func PluginNATSUsers(prefix, coreUser, corePassword string, plugins []PluginAccount) []*server.User {
	return natsperm.Users(natsperm.Options{Prefix: prefix}, coreUser, corePassword, plugins)
}

// PluginInboxPrefix is the inbox prefix a plugin's NATS connection must use
// (its permissions allow replies only there).
func PluginInboxPrefix(pluginID string) string { return natsperm.InboxPrefix(pluginID) }

// DevGrants is what `authbus dev` grants a plugin: everything its manifest asks for.
func DevGrants(m contracts.Manifest) []contracts.Permission {
	return append([]contracts.Permission(nil), m.Permissions...)
}
