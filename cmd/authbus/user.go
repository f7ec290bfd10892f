package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/authbus/authbus/services/core"
)

func init() {
	commands["user"] = command{"administer users (promote, demote)", subcommands("user", map[string]command{
		"promote": {"make a user an admin", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runSetRole(ctx, "promote", "admin", args, stdout, stderr)
		}},
		"demote": {"make an admin a plain user", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runSetRole(ctx, "demote", "user", args, stdout, stderr)
		}},
	})}
}

func runSetRole(ctx context.Context, name, role string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("user "+name, "user "+name+" <email> [--database-url URL]", stderr)
	dbURL := databaseURLFlag(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	pos, help, err := parseInterspersed(fs, args)
	if help || err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "authbus user %s: give exactly one email\n", name)
		fs.Usage()
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ch, err := core.SetUserRole(ctx, dbURL(), pos[0], role)
	if err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	if ch.EventID == "" {
		fmt.Fprintf(stdout, "%s (%s) is already %s: nothing changed\n", ch.Email, ch.UserID, article(role))
		return nil
	}
	fmt.Fprintf(stdout, "%s (%s) is now %s (was %s); event user.updated %s written to the outbox\n",
		ch.Email, ch.UserID, article(role), ch.From, ch.EventID)
	return nil
}

func article(role string) string {
	if role == "admin" {
		return "an admin"
	}
	return "a user"
}

// parseInterspersed parses flags placed before, between or after the
// positional arguments (flag.Parse stops at the first positional one) and
// returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) (positional []string, help bool, err error) {
	for {
		if help, err := parseFlags(fs, args); help || err != nil {
			return nil, help, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, false, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), false, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
