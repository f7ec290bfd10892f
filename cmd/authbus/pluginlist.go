package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authbus/authbus/services/core"
)

func init() {
	pluginSubcommands["list"] = command{"show the live plugin registry: state, instances, last heartbeat, reasons", runPluginList}
}

func runPluginList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin list", "plugin list [--nats-url URL] [--prefix P] [--json]", stderr)
	nf := addNATSFlags(fs)
	bucket := fs.String("bucket", "", "the registry's KV bucket (default authbus-plugins, named after --prefix)")
	asJSON := fs.Bool("json", false, "print the registry records (manifests included) as JSON")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "authbus plugin list: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	nc, js, cfg, err := nf.connect(ctx, stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if *bucket == "" {
		*bucket = core.PluginRegistryBucket(cfg.SubjectPrefix)
	}
	rctx, cancel := context.WithTimeout(ctx, *nf.timeout)
	defer cancel()
	kv, err := js.KeyValue(rctx, *bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("no plugin registry on %s: the KV bucket %s does not exist (is the core running? `authbus dev` starts one; check --prefix)",
			nc.ConnectedUrlRedacted(), *bucket)
	}
	if err != nil {
		return fmt.Errorf("plugin registry %s: %w", *bucket, err)
	}
	recs, err := core.ReadPluginRegistry(rctx, kv)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if recs == nil {
			recs = []core.PluginRecord{}
		}
		return enc.Encode(recs)
	}
	if len(recs) == 0 {
		fmt.Fprintf(stdout, "no plugin has registered with the core (registry %s on %s)\n", *bucket, nc.ConnectedUrlRedacted())
		return nil
	}
	writeRegistryTable(stdout, recs, time.Now())
	return nil
}

// writeRegistryTable prints one row per plugin.
func writeRegistryTable(w io.Writer, recs []core.PluginRecord, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVERSION\tSTATE\tINSTANCES\tLAST HEARTBEAT\tREASONS")
	for _, r := range recs {
		state := string(r.State)
		if state == "" {
			state = "?"
		}
		version := r.Version
		if version == "" {
			version = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, version, state, len(r.Instances), ago(now, r.LastHeartbeat), reasons(r))
	}
	_ = tw.Flush()
}

// ago says how long before now t was, to the second ("-" for the zero time).
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t).Round(time.Second)
	if d < time.Second {
		return "just now"
	}
	return d.String() + " ago"
}

// reasons is why a plugin is not simply active, in one cell.
func reasons(r core.PluginRecord) string {
	var parts []string
	if len(r.WaitingOn) > 0 {
		parts = append(parts, "waiting on "+strings.Join(r.WaitingOn, ", "))
	}
	for _, p := range r.Reasons {
		parts = append(parts, p.String())
	}
	if r.Retryable {
		parts = append(parts, "(retrying)")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}
