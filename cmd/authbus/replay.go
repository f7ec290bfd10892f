package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/services/core"
)

func init() {
	eventsSubcommands["replay"] = command{"publish again the events the core already published (same ids; after an incident)", runEventsReplay}
}

func runEventsReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events replay", "events replay [--since 24h | --from-seq N --to-seq M] [--database-url URL] [flags]", stderr)
	dbURL := databaseURLFlag(fs)
	since := fs.Duration("since", 0, "replay events committed within this recent past (default: every event still kept)")
	fromSeq := fs.Int64("from-seq", 0, "first outbox sequence number to replay")
	toSeq := fs.Int64("to-seq", 0, "last outbox sequence number to replay")
	streamDefault := os.Getenv("AUTHBUS_STREAM_NAME")
	if streamDefault == "" {
		streamDefault = bus.DefaultStreamName
	}
	stream := fs.String("stream", streamDefault, "the events stream (default $AUTHBUS_STREAM_NAME, else AUTH_EVENTS)")
	nf := addNATSFlags(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "authbus events replay: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	natsCfg, err := nf.config()
	if err != nil {
		return err
	}
	o := core.ReplayOptions{FromSeq: *fromSeq, ToSeq: *toSeq}
	if *since > 0 {
		o.Since = time.Now().Add(-*since)
	}
	rep, err := core.ReplayEvents(ctx, dbURL(), natsCfg, *stream, o, stderr)
	if err != nil {
		return fmt.Errorf("events replay: %w", err)
	}
	fmt.Fprintf(stdout, "replayed %d events (outbox seq %d..%d): %d stored again, %d already in the stream\n",
		rep.Sent, rep.FirstSeq, rep.LastSeq, rep.Stored(), rep.Duplicates)
	return nil
}
