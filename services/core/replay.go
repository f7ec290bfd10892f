package core

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/services/core/internal/outbox"
)

// ReplayOptions select the published events ReplayEvents sends again
// (outbox.ReplayOptions: a time range or an outbox sequence range).
type ReplayOptions = outbox.ReplayOptions

// ReplayReport says what ReplayEvents did (outbox.ReplayReport).
type ReplayReport = outbox.ReplayReport

// ReplayEvents publishes again, with their original ids, the events the
// core's outbox already published and still keeps (`authbus events replay`,
// after an incident lost messages from the stream). Events whose id is still
// in the stream's duplicate window are not stored twice — and a purged stream
// keeps those ids, so replay after a purge stores only events older than the
// window. The NATS user must be allowed to publish events (the core's).
func ReplayEvents(ctx context.Context, databaseURL string, natsCfg bus.Config, stream string, o ReplayOptions, logw io.Writer) (ReplayReport, error) {
	if err := o.Validate(); err != nil {
		return ReplayReport{}, err
	}
	st, err := openExisting(ctx, databaseURL)
	if err != nil {
		return ReplayReport{}, err
	}
	defer st.Close()
	history, err := outbox.OpenHistory(ctx, databaseURL)
	if err != nil {
		return ReplayReport{}, fmt.Errorf("read the outbox of %s: %w", RedactDatabaseURL(databaseURL), err)
	}
	defer history.Close()
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nc, err := bus.Connect(ctx, natsCfg, logger, outbox.ConnectOption(), nats.RetryOnFailedConnect(false))
	if err != nil {
		return ReplayReport{}, fmt.Errorf("cannot reach NATS: %w", err)
	}
	defer nc.Close()
	relay, err := outbox.New(st, nc, outbox.Config{}, outbox.Options{
		Prefix: natsCfg.SubjectPrefix, Stream: stream, History: history, Logger: logger,
	})
	if err != nil {
		return ReplayReport{}, err
	}
	return relay.Replay(ctx, o)
}
