package bus_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
)

// transports are the two ways a service reaches the bus.
var transports = []struct {
	name string
	opts []bustest.Option
}{
	{"in-process", []bustest.Option{bustest.InProcess()}},
	{"tcp", nil},
}

func BenchmarkEventMsg(b *testing.B) {
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), spanContext(b))
	env := envelope(b, "u1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bus.EventMsg(ctx, "acme", env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, tr := range transports {
		for _, storage := range []string{"memory", "file"} {
			b.Run(tr.name+"/"+storage, func(b *testing.B) {
				_, nc := bustest.RunJetStream(b, tr.opts...)
				js := bustest.JetStream(b, nc)
				if _, err := bus.EnsureStream(context.Background(), js, bus.StreamConfig{Storage: storage}, ""); err != nil {
					b.Fatal(err)
				}
				ctx := trace.ContextWithRemoteSpanContext(context.Background(), spanContext(b))
				env := envelope(b, "u1")
				b.ReportAllocs()
				for b.Loop() {
					env.ID = contracts.NewUUIDv7()
					if _, err := bus.Publish(ctx, js, "", env); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	for _, tr := range transports {
		b.Run(tr.name, func(b *testing.B) {
			s, nc := bustest.RunJetStream(b, tr.opts...)
			server := bustest.Connect(b, s, tr.opts...)
			svc, err := micro.AddService(server, micro.Config{Name: "core", Version: "1.0.0"})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = svc.Stop() })
			subject := bus.CoreSubject("", "audit", "users", "get")
			err = svc.AddEndpoint("get", micro.HandlerFunc(func(r micro.Request) { _ = r.Respond(r.Data()) }),
				micro.WithEndpointSubject(subject))
			if err != nil {
				b.Fatal(err)
			}
			// The endpoint subscribes on another connection: wait until the server has it.
			if err := server.Flush(); err != nil {
				b.Fatal(err)
			}
			ctx := trace.ContextWithRemoteSpanContext(context.Background(), spanContext(b))
			payload := make([]byte, 128)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bus.Request(ctx, nc, subject, payload, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
