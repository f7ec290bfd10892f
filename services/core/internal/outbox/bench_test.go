package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/outbox"
	"github.com/authbus/authbus/services/core/internal/store"
)

// BenchmarkRelayThroughput measures how fast the relay drains a backlog of
// committed events into a file-backed stream over TCP loopback, with the
// default batch size and window: events/s is the number to read.
//
//	go test -run '^$' -bench RelayThroughput -benchtime 5x ./services/core/internal/outbox/
func BenchmarkRelayThroughput(b *testing.B) {
	for _, be := range backends {
		for _, backlog := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/backlog=%d", be.name, backlog), func(b *testing.B) {
				st := openStore(b, be.url(b))
				_, nc := bustest.RunJetStream(b, relayConn)
				var elapsed time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					appendBacklog(b, st, backlog)
					r := newRelay(b, st, nc, outbox.Config{}, outbox.Options{})
					ctx, cancel := context.WithCancel(context.Background())
					done := make(chan error, 1)
					b.StartTimer()
					began := time.Now()
					go func() { done <- r.Run(ctx) }()
					tick := time.NewTicker(100 * time.Microsecond)
					for r.Published() < backlog {
						<-tick.C
					}
					tick.Stop()
					elapsed += time.Since(began)
					b.StopTimer()
					cancel()
					require.NoError(b, <-done)
					require.Equal(b, backlog, r.Published())
				}
				b.ReportMetric(float64(backlog*b.N)/elapsed.Seconds(), "events/s")
			})
		}
	}
}

// appendBacklog commits n events, 500 per transaction.
func appendBacklog(b *testing.B, st store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	for i := 0; i < n; i += 500 {
		batch := make([]contracts.Envelope, 0, 500)
		for j := i; j < min(i+500, n); j++ {
			batch = append(batch, event(b, j))
		}
		require.NoError(b, st.InTx(ctx, func(tx store.Tx) error { return tx.AppendOutbox(ctx, batch...) }))
	}
}
