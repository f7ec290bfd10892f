package hooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/hooks"
)

// BenchmarkBefore measures a beforeSignIn dispatch with 0, 1 and 3
// plugins answering "continue" from their own connections, in-process and
// over loopback TCP. "none" is a point nobody serves: it must cost nothing.
func BenchmarkBefore(b *testing.B) {
	for _, transport := range []string{"inprocess", "tcp"} {
		for _, n := range []int{0, 1, 3} {
			b.Run(fmt.Sprintf("%s/plugins=%d", transport, n), func(b *testing.B) {
				var opts []bustest.Option
				if transport == "inprocess" {
					opts = append(opts, bustest.InProcess())
				}
				srv, caller := bustest.RunJetStream(b, opts...)
				plan := &contracts.HookPlan{Points: map[contracts.HookPoint][]contracts.HookTarget{}}
				reply, _ := json.Marshal(contracts.HookReply{Action: contracts.ActionContinue})
				for i := range n {
					id := fmt.Sprintf("p%d", i)
					nc := bustest.Connect(b, srv, opts...)
					if _, err := nc.QueueSubscribe(bus.HookSubject("", contracts.HookBeforeSignIn, id), id, func(m *nats.Msg) {
						_ = m.Respond(reply)
					}); err != nil {
						b.Fatal(err)
					}
					if err := nc.Flush(); err != nil {
						b.Fatal(err)
					}
					plan.Points[contracts.HookBeforeSignIn] = append(plan.Points[contracts.HookBeforeSignIn],
						contracts.HookTarget{Plugin: id, Timeout: contracts.Duration(time.Second), FailurePolicy: contracts.FailClosed})
				}
				d, err := hooks.New(hooks.Config{Conn: caller, Plan: hooks.StaticPlan(plan), Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
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
				if n > 0 {
					s := d.Stats()[0]
					b.ReportMetric(float64(time.Duration(s.P50).Microseconds()), "p50-µs/plugin")
					b.ReportMetric(float64(time.Duration(s.P99).Microseconds()), "p99-µs/plugin")
				}
			})
		}
	}
}

// BenchmarkBeforeNoPlugins is a point nobody serves, on its own: no
// allocation, no round trip.
func BenchmarkBeforeNoPlugins(b *testing.B) {
	d, err := hooks.New(hooks.Config{Conn: &nats.Conn{}, Plan: hooks.StaticPlan(&contracts.HookPlan{})})
	if err != nil {
		b.Fatal(err)
	}
	c := &contracts.SignInContext{Email: "ada@example.com"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Before(ctx, contracts.HookBeforeSignIn, c); err != nil {
			b.Fatal(err)
		}
	}
}
