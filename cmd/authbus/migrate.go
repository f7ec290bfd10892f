package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/authbus/authbus/services/core"
)

func init() {
	commands["migrate"] = command{"apply the core's database migrations", runMigrate}
}

// envDatabaseURL is where the core, and these commands by default, find the database.
const envDatabaseURL = "AUTHBUS_DATABASE_URL"

// databaseURLFlag adds --database-url; its value defaults to $AUTHBUS_DATABASE_URL
// after parsing (not in the flag's default, which -h would print with its password).
func databaseURLFlag(fs *flag.FlagSet) func() string {
	v := fs.String("database-url", "", "the core's database: postgres://USER:PASSWORD@HOST/DB or a SQLite file (default $"+envDatabaseURL+")")
	return func() string {
		if *v != "" {
			return *v
		}
		return os.Getenv(envDatabaseURL)
	}
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "migrate [--database-url URL] [--timeout 1m]", stderr)
	dbURL := databaseURLFlag(fs)
	timeout := fs.Duration("timeout", time.Minute, "give up connecting and migrating after this long")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "authbus migrate: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	url := dbURL()
	rep, err := core.Migrate(ctx, url)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintf(stdout, "database %s (%s)\n", core.RedactDatabaseURL(url), rep.Backend)
	if rep.Created {
		fmt.Fprintln(stdout, "created the database file")
	}
	for _, m := range rep.Applied {
		fmt.Fprintf(stdout, "applied %s\n", m)
	}
	if len(rep.Applied) == 0 {
		fmt.Fprintf(stdout, "up to date: %d migration(s) already applied (%s)\n", len(rep.All), strings.Join(rep.All, ", "))
	} else {
		fmt.Fprintf(stdout, "%d migration(s) applied now, %d in all\n", len(rep.Applied), len(rep.All))
	}
	return nil
}
