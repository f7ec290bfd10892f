package core

import (
	"io"

	"github.com/authbus/authbus/services/core/internal/runtime/pluginctl"
)

// The plugin CLI (`authbus plugin validate-config|nats-config`) lives in
// the core's runtime, which cmd/authbus cannot import (it is internal);
// these re-export it.

// ErrInvalidPluginConfig is returned by ValidatePluginConfig when the
// configuration or a manifest would be refused (the report says why).
var ErrInvalidPluginConfig = pluginctl.ErrInvalid

// ValidatePluginConfig checks the operator plugin configuration at path,
// and each manifest under manifestsDir when set, with the code the core
// runs at registration, printing a report to w.
func ValidatePluginConfig(w io.Writer, path, manifestsDir string) error {
	return pluginctl.ValidateConfig(w, path, manifestsDir)
}

// PluginNATSConfigOptions say what PluginNATSConfig renders.
type PluginNATSConfigOptions = pluginctl.NATSConfigOptions

// PluginNATSConfig writes the nats-server authorization block (one user per
// enabled plugin, with its broker-enforced permissions) to w.
func PluginNATSConfig(w io.Writer, o PluginNATSConfigOptions) error {
	return pluginctl.NATSConfig(w, o)
}
