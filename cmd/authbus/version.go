package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/authbus/authbus/internal/buildinfo"
)

func init() {
	commands["version"] = command{"print the version of authbus and of the core protocol", runVersion}
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", stderr)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	fmt.Fprintf(stdout, "authbus %s (core protocol %s, %s %s/%s)", buildinfo.Version(), buildinfo.CoreVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if rev := buildinfo.Revision(); rev != "" {
		fmt.Fprintf(stdout, " rev %s", rev)
	}
	fmt.Fprintln(stdout)
	return nil
}
