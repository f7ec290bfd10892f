package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/authbus/authbus/services/core"
)

// pluginSubcommands are the `authbus plugin` subcommands; other files of
// this package add theirs from init.
var pluginSubcommands = map[string]command{
	"validate-config": {"check an operator plugin configuration file offline (and manifests against it)", runPluginValidateConfig},
	"nats-config":     {"print the NATS users and permissions of the enabled plugins as nats-server config", runPluginNATSConfig},
}

func init() {
	commands["plugin"] = command{"plugin development and administration (`authbus plugin` lists the subcommands)", subcommands("plugin", pluginSubcommands)}
}

func runPluginValidateConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin validate-config", "plugin validate-config [--manifests dir] <file>", stderr)
	manifests := fs.String("manifests", "", "directory of plugin manifests (*.json) to check against the configuration")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	err := core.ValidatePluginConfig(stdout, fs.Arg(0), *manifests)
	if errors.Is(err, core.ErrInvalidPluginConfig) {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	return err
}

func runPluginNATSConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin nats-config", "plugin nats-config [flags]", stderr)
	file := fs.String("config", os.Getenv("AUTHBUS_PLUGINS_FILE"), "operator plugin configuration (default $AUTHBUS_PLUGINS_FILE)")
	manifests := fs.String("manifests", "", "directory of plugin manifests (*.json): grant each plugin only what it asks for")
	prefix := fs.String("prefix", os.Getenv("AUTHBUS_SUBJECT_PREFIX"), "subject prefix of the installation (default $AUTHBUS_SUBJECT_PREFIX)")
	stream := fs.String("stream", "", "events stream name (default AUTH_EVENTS)")
	coreUser := fs.String("core-user", "authbus-core", "NATS user of the core (every right); empty leaves it out")
	corePassword := fs.String("core-password", "", "its password (default: a $AUTHBUS_CORE_NATS_PASSWORD reference)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *file == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "authbus plugin nats-config: give --config or set AUTHBUS_PLUGINS_FILE")
		fs.Usage()
		return errUsage
	}
	return core.PluginNATSConfig(stdout, core.PluginNATSConfigOptions{ConfigPath: *file, ManifestsDir: *manifests,
		Prefix: *prefix, Stream: *stream, CoreUser: *coreUser, CorePassword: *corePassword})
}
