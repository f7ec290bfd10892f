// Command core runs the authbus core service, configured by AUTHBUS_*
// environment variables (see services/core/config.go).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/authbus/authbus/internal/buildinfo"
	"github.com/authbus/authbus/pkg/telemetry"
	"github.com/authbus/authbus/services/core"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "core:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := core.LoadConfig()
	if err != nil {
		return err
	}
	shutdownTracing, err := telemetry.SetupTracing(ctx, telemetry.Config{ServiceName: "authbus-core", ServiceVersion: buildinfo.Version()})
	if err != nil {
		return err
	}
	defer shutdownTracing(context.Background()) //nolint:errcheck // best effort at exit
	svc, err := core.New(ctx, cfg, core.Options{})
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
