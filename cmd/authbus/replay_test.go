package main

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/telemetry/telemetrytest"
	"github.com/authbus/authbus/services/core"
)

// After the stream lost its messages, `authbus events replay` publishes the
// core's already published events again, with their original ids.
func TestEventsReplay(t *testing.T) {
	ns, nc := bustest.RunJetStream(t)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "core.db")

	// A real core signs a user up; its relay publishes the events.
	logger, _ := telemetrytest.NewLogger(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := core.Config{Dev: true, BaseURL: "http://" + ln.Addr().String(), DatabaseURL: dbURL}
	cfg.Features.SignUp, cfg.Features.AutoSignIn = true, true
	svc, err := core.New(context.Background(), cfg, core.Options{Logger: logger, NATSServer: ns, HTTPListener: ln})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	<-svc.Ready()
	resp, err := http.Post("http://"+ln.Addr().String()+"/api/auth/sign-up/email", "application/json",
		strings.NewReader(`{"name":"Ada","email":"ada@example.com","password":"correct-horse"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	stream, err := js.Stream(context.Background(), "AUTH_EVENTS")
	require.NoError(t, err)
	userCreated := func() error {
		_, err := stream.GetLastMsgForSubject(context.Background(), string(contracts.EventUserCreated))
		return err
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, userCreated)
	orig, err := stream.GetLastMsgForSubject(context.Background(), string(contracts.EventUserCreated))
	require.NoError(t, err)
	stop()
	require.NoError(t, <-done)

	// An incident: the stream is lost and recreated empty. (A purge would
	// not do: the stream keeps its duplicate-window ids across a purge, so a
	// replay inside the window would store nothing.)
	require.NoError(t, js.DeleteStream(context.Background(), "AUTH_EVENTS"))
	stream, err = bus.EnsureStream(context.Background(), js, bus.StreamConfig{}, "")
	require.NoError(t, err)
	require.Error(t, userCreated())

	out := mustRun(t, "events", "replay", "--database-url", dbURL, "--nats-url", ns.ClientURL())
	require.Contains(t, out, "stored again")
	again, err := stream.GetLastMsgForSubject(context.Background(), string(contracts.EventUserCreated))
	require.NoError(t, err)
	require.Equal(t, orig.Data, again.Data, "the same envelope, same id")
	require.Equal(t, orig.Header.Get(jetstream.MsgIDHeader), again.Header.Get(jetstream.MsgIDHeader))

	// Replaying again within the duplicate window stores nothing twice.
	before, err := stream.Info(context.Background())
	require.NoError(t, err)
	out = mustRun(t, "events", "replay", "--database-url", dbURL, "--nats-url", ns.ClientURL())
	require.Contains(t, out, " 0 stored again")
	after, err := stream.Info(context.Background())
	require.NoError(t, err)
	require.Equal(t, before.State.Msgs, after.State.Msgs)
}
