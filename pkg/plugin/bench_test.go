package plugin_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

// BenchmarkHookThroughSDK measures what a beforeSignIn point costs the core
// when 1 or 3 plugins written with this SDK serve it (each decoding the
// context, running a handler, validating and sending its decision), in-process and over
// loopback TCP. The per-plugin p50/p99 are the dispatcher's own measurements.
func BenchmarkHookThroughSDK(b *testing.B) {
	for _, transport := range []string{"inprocess", "tcp"} {
		for _, n := range []int{1, 3} {
			b.Run(fmt.Sprintf("%s/plugins=%d", transport, n), func(b *testing.B) {
				var opts []plugintest.Option
				if transport == "tcp" {
					opts = append(opts, plugintest.OverTCP())
				}
				core := plugintest.Start(b, opts...)
				for i := range n {
					id := fmt.Sprintf("limiter-%d", i)
					p := plugin.New[struct{}](contracts.Manifest{ID: id, Name: id, Version: "1.0.0", CoreVersion: "^0.1.0",
						Hooks: []contracts.HookDecl{{Point: contracts.HookBeforeSignIn, Timeout: contracts.Duration(time.Second)}}})
					plugin.OnHook(p, contracts.HookBeforeSignIn, func(_ context.Context, _ *plugin.Context[struct{}], in contracts.SignInContext) plugin.Decision {
						if in.Email == "" {
							return plugin.Abort(400, contracts.CodeInvalidEmail, "no email")
						}
						return plugin.Continue()
					})
					core.Run(b, p, plugin.WithLogger(slog.New(slog.DiscardHandler)))
				}
				d := core.Hooks()
				c := &contracts.SignInContext{Email: "ada@example.com", Request: contracts.RequestInfo{Method: "POST", Path: "/api/auth/sign-in/email"}}
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := d.Before(ctx, contracts.HookBeforeSignIn, c); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				s := d.Stats()[0]
				b.ReportMetric(float64(time.Duration(s.P50).Microseconds()), "p50-µs/plugin")
				b.ReportMetric(float64(time.Duration(s.P99).Microseconds()), "p99-µs/plugin")
			})
		}
	}
}
