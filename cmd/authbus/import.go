package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/authbus/authbus/services/core"
)

func init() {
	commands["import"] = command{"import users from another auth system (better-auth)", subcommands("import", map[string]command{
		"better-auth": {"copy users, accounts and verifications from a better-auth database", runImportBetterAuth},
	})}
}

func runImportBetterAuth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import better-auth", "import better-auth --from URL [--database-url URL] [--dry-run]", stderr)
	from := fs.String("from", "", "the better-auth database: postgres://… (tables found through its search_path) or a SQLite file (required)")
	dbURL := databaseURLFlag(fs)
	dryRun := fs.Bool("dry-run", false, "check and count everything, write nothing")
	batch := fs.Int("batch-size", 100, "users per transaction (at most 500)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "authbus import better-auth: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *from == "" {
		fmt.Fprintln(stderr, "authbus import better-auth: --from is required")
		fs.Usage()
		return errUsage
	}
	url := dbURL()
	rep, err := core.ImportBetterAuth(ctx, *from, url, core.ImportOptions{
		DryRun:    *dryRun,
		BatchSize: *batch,
		Logger:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("import better-auth: %w", err)
	}
	printImportReport(stdout, *from, url, rep)
	return nil
}

// printImportReport writes what the import did, then each row left out and why.
func printImportReport(w io.Writer, from, to string, rep core.ImportReport) {
	verb := "imported"
	if rep.DryRun {
		verb = "would import"
		fmt.Fprintln(w, "dry run: nothing was written")
	}
	fmt.Fprintf(w, "from %s\ninto %s\n\n", core.RedactDatabaseURL(from), core.RedactDatabaseURL(to))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tread\t%s\talready present\tduplicates\tskipped\t\n", verb)
	for _, row := range []struct {
		name string
		c    core.ImportCounts
	}{{"users", rep.Users}, {"accounts", rep.Accounts}, {"verifications", rep.Verifications}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", row.name, row.c.Read, row.c.Imported, row.c.Present, row.c.Duplicates, row.c.Skipped)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if rep.ExpiredVerifications > 0 {
		fmt.Fprintf(w, "%d of the verifications had already expired (the core deletes them)\n", rep.ExpiredVerifications)
	}
	written := "written"
	if rep.DryRun {
		written = "would be written"
	}
	fmt.Fprintf(w, "%d user.created event(s) %s to the outbox (the running core publishes them)\n", rep.Events, written)
	fmt.Fprintf(w, "%d session(s) not carried: those users sign in again, with their old passwords\n", rep.SessionsNotCarried)
	if len(rep.Issues) == 0 {
		return
	}
	fmt.Fprintf(w, "\nleft out:\n")
	for _, is := range rep.Issues {
		kind := "skipped"
		if is.Duplicate {
			kind = "duplicate"
		}
		fmt.Fprintf(w, "  %s %s %s: %s\n", kind, is.Table, is.ID, is.Reason)
	}
	if rep.IssuesDropped > 0 {
		fmt.Fprintf(w, "  … and %d more\n", rep.IssuesDropped)
	}
}
