package main

import (
	"context"
	"fmt"
	"io"

	"github.com/authbus/authbus/internal/devstack"
)

func init() {
	commands["dev"] = command{"run embedded NATS, the core and the plugins on SQLite under ./.authbus", runDev}
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", "dev [--dir .authbus] [--http 127.0.0.1:8080] [--nats 127.0.0.1:4222] [--plugins-dir DIR]", stderr)
	var o devstack.Options
	fs.StringVar(&o.Dir, "dir", devstack.DefaultDir, "directory for the SQLite database, JetStream data and the secret")
	fs.StringVar(&o.HTTPAddr, "http", devstack.DefaultHTTPAddr, "address of the auth API")
	fs.StringVar(&o.NATSAddr, "nats", devstack.DefaultNATSAddr, "address of the embedded NATS server")
	fs.StringVar(&o.PluginsDir, "plugins-dir", "", "directory of external plugins to build and run (one per subdirectory)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	stack, err := devstack.Start(ctx, o)
	if err != nil {
		return err
	}
	stack.Describe(stdout)
	if err := stack.Wait(); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	fmt.Fprintln(stdout, "authbus dev stopped")
	return nil
}
