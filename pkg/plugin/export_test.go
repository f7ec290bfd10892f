package plugin

import (
	"context"
	"io"
)

// MainCode exposes Main's logic without exiting the test process.
func MainCode[Cfg any](ctx context.Context, p *Plugin[Cfg], args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return mainCode(ctx, p, args, getenv, stdout, stderr, nil)
}
