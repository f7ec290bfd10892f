package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
)

// eventsSubcommands are the `authbus events` subcommands; other files of
// this package add theirs from init.
var eventsSubcommands = map[string]command{
	"tail": {"print events of the events stream as they happen (and the recent past with --since)", runEventsTail},
}

func init() {
	commands["events"] = command{"watch the event stream (`authbus events` lists the subcommands)", subcommands("events", eventsSubcommands)}
}

// natsFlags are the connection flags of commands that talk to a running
// installation. Unset, they come from the AUTHBUS_* environment
// (bus.Config), and the URL falls back to the address `authbus dev` listens on.
type natsFlags struct {
	url     *string
	prefix  *string
	timeout *time.Duration
}

func addNATSFlags(fs *flag.FlagSet) natsFlags {
	return natsFlags{
		url: fs.String("nats-url", "", "NATS server `URL` (default $AUTHBUS_NATS_URL, else "+bus.DefaultURL+", where authbus dev listens); "+
			"credentials come from $AUTHBUS_NATS_USER/$AUTHBUS_NATS_PASSWORD or $AUTHBUS_NATS_CREDENTIALS"),
		prefix:  fs.String("prefix", os.Getenv("AUTHBUS_SUBJECT_PREFIX"), "subject prefix of the installation (default $AUTHBUS_SUBJECT_PREFIX)"),
		timeout: fs.Duration("timeout", 5*time.Second, "give up connecting, and each request to NATS, after this long"),
	}
}

// config is the bus configuration the flags and the environment say.
func (f natsFlags) config() (bus.Config, error) {
	var cfg bus.Config
	if err := envconfig.Process("AUTHBUS", &cfg); err != nil {
		return bus.Config{}, fmt.Errorf("NATS settings from the environment: %w", err)
	}
	if *f.url != "" {
		cfg.URL = *f.url
	}
	cfg.SubjectPrefix = *f.prefix
	cfg.ClientName = "authbus-cli"
	if *f.timeout > 0 {
		cfg.ConnectTimeout, cfg.RequestTimeout = *f.timeout, *f.timeout
	}
	return cfg, nil
}

// connect opens a connection that fails at once when NATS is unreachable
// (a command-line tool should say so rather than retry in the background).
func (f natsFlags) connect(ctx context.Context, stderr io.Writer) (*nats.Conn, jetstream.JetStream, bus.Config, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, nil, cfg, err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nc, err := bus.Connect(ctx, cfg, logger, nats.RetryOnFailedConnect(false))
	if err != nil {
		return nil, nil, cfg, fmt.Errorf("cannot reach NATS (is `authbus dev` running, or is AUTHBUS_NATS_URL / --nats-url set?): %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, cfg, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, cfg, nil
}

func runEventsTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events tail", "events tail [--subject 'user.*'] [--since 1h] [--json] [flags]", stderr)
	subject := fs.String("subject", ">", "event types to show: a subject `pattern` of the catalog, without the prefix, such as user.created, user.* or auth.>")
	since := fs.Duration("since", 0, "also show the events of this recent past (default: only events from now on)")
	asJSON := fs.Bool("json", false, "print each event's CloudEvents envelope as one line of JSON")
	count := fs.Int("count", 0, "stop after this many events (default: run until Ctrl-C)")
	streamDefault := os.Getenv("AUTHBUS_STREAM_NAME")
	if streamDefault == "" {
		streamDefault = bus.DefaultStreamName
	}
	stream := fs.String("stream", streamDefault, "the events stream (set $AUTHBUS_STREAM_NAME to change the default)")
	nf := addNATSFlags(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "authbus events tail: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if err := validEventPattern(*subject); err != nil {
		return fmt.Errorf("--subject: %w", err)
	}
	if *since < 0 || *count < 0 {
		return errors.New("--since and --count must not be negative")
	}
	if len(contracts.EventsMatching(*subject)) == 0 {
		fmt.Fprintf(stderr, "note: %q matches no event of the catalog; showing what arrives anyway\n", *subject)
	}
	nc, js, cfg, err := nf.connect(ctx, stderr)
	if err != nil {
		return err
	}
	defer nc.Close()

	occ := jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.EventFilter(cfg.SubjectPrefix, *subject)},
		DeliverPolicy: jetstream.DeliverNewPolicy}
	from := "from now on"
	if *since > 0 {
		start := time.Now().Add(-*since)
		occ.DeliverPolicy, occ.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
		from = "since " + start.Format(time.RFC3339)
	}
	rctx, cancel := context.WithTimeout(ctx, *nf.timeout)
	defer cancel()
	if _, err := js.Stream(rctx, *stream); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("the stream %s does not exist on %s: is the core running (it creates it), or is --stream wrong?", *stream, nc.ConnectedUrlRedacted())
		}
		return fmt.Errorf("stream %s: %w", *stream, err)
	}
	cons, err := js.OrderedConsumer(rctx, *stream, occ)
	if err != nil {
		return fmt.Errorf("consume %s: %w", *stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consume %s: %w", *stream, err)
	}
	defer it.Stop()
	fmt.Fprintf(stderr, "tailing %s on %s at %s %s; Ctrl-C to stop\n", occ.FilterSubjects[0], *stream, nc.ConnectedUrlRedacted(), from)
	go func() {
		<-ctx.Done()
		it.Stop() // unblocks Next
	}()
	for n := 0; *count == 0 || n < *count; n++ {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("consume %s: %w", *stream, err)
		}
		if *asJSON {
			fmt.Fprintf(stdout, "%s\n", strings.TrimSpace(string(msg.Data())))
			continue
		}
		env, err := contracts.DecodeEnvelope(msg.Data())
		if err != nil {
			fmt.Fprintf(stdout, "%-24s  %s (not an event envelope: %v)\n", "?", msg.Subject(), err)
			continue
		}
		fmt.Fprintln(stdout, eventLine(env))
	}
	return nil
}

// validEventPattern checks a subject pattern: dot-separated non-empty
// tokens without spaces, "*" as a whole token, ">" only at the end.
func validEventPattern(p string) error {
	toks := strings.Split(p, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("%q has an empty token; write patterns such as user.created, user.* or auth.>", p)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("%q: \">\" may only be the last token", p)
		case t != "*" && t != ">" && strings.ContainsAny(t, "*> \t\r\n"):
			return fmt.Errorf("%q: token %q mixes wildcards or spaces with text", p, t)
		}
	}
	return nil
}

// maxDataChars caps the data shown on one event line.
const maxDataChars = 120

// eventLine is one event as a line: time, type, subject, id, short data.
func eventLine(env contracts.Envelope) string {
	subject := env.Subject
	if subject == "" {
		subject = "-"
	}
	return fmt.Sprintf("%s  %-22s  %-32s  %s  %s", env.Time.UTC().Format("2006-01-02T15:04:05.000Z"), env.Type, subject, env.ID, shortData(env.Data))
}

// shortData is the event's data as compact JSON, cut to maxDataChars.
func shortData(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	s := buf.String()
	if utf8.RuneCountInString(s) <= maxDataChars {
		return s
	}
	return string([]rune(s)[:maxDataChars-1]) + "…"
}
