package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
)

// PrintManifestFlag is the command-line flag that makes Main print the
// manifest and exit (`authbus dev` runs a plugin binary with it to derive
// the plugin's NATS permissions before starting it).
const PrintManifestFlag = "--print-manifest"

// Main runs p as a program's main function. With the argument
// --print-manifest, or AUTHBUS_PLUGIN_PRINT_MANIFEST=true, it prints the
// manifest as JSON on stdout and exits. Otherwise it runs p (reading
// Settings from the environment unless opts say otherwise) until SIGINT or
// SIGTERM, and exits 0 after a clean stop or a replacement by a newer
// version, 1 when Run fails.
func Main[Cfg any](p *Plugin[Cfg], opts ...Option) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := mainCode(ctx, p, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, opts)
	stop()
	os.Exit(code)
}

// mainCode is Main without the process: it returns the exit code.
func mainCode[Cfg any](ctx context.Context, p *Plugin[Cfg], args []string, getenv func(string) string, stdout, stderr io.Writer, opts []Option) int {
	printManifest, _ := strconv.ParseBool(getenv("AUTHBUS_PLUGIN_PRINT_MANIFEST"))
	if printManifest || slices.Contains(args, PrintManifestFlag) {
		b, err := p.ManifestJSON()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		_, _ = stdout.Write(b)
		return 0
	}
	err := p.Run(ctx, opts...)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrReplaced):
		fmt.Fprintln(stderr, err)
		return 0
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}
