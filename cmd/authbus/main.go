// Command authbus is the one binary a person runs first: `authbus dev` starts
// embedded NATS, the core and the built-in plugins; the other commands
// administer an installation and help plugin teams.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one `authbus <name>` subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is filled by the files of this package, one per command group.
var commands = map[string]command{}

// errUsage marks an error whose usage text was already printed.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "authbus:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "authbus: unknown command %q\n\n", args[0])
		usage(stderr)
		return errUsage
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: authbus <command> [flags]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `authbus <command> -h` for a command's flags.")
}

// newFlagSet returns a flag set that prints its usage to stderr and reports
// -h as errUsage-free success.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: authbus %s\n", synopsis)
		if hasFlags(fs) {
			fmt.Fprintln(stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args, mapping -h to a nil error after printing usage and
// any other parse failure to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, errUsage
	}
	return false, nil
}

// subcommands dispatches `authbus <group> <sub>` to a table of subcommands.
func subcommands(group string, subs map[string]command) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
			names := make([]string, 0, len(subs))
			for n := range subs {
				names = append(names, n)
			}
			sort.Strings(names)
			fmt.Fprintf(stderr, "usage: authbus %s <%s>\n\n", group, strings.Join(names, "|"))
			for _, n := range names {
				fmt.Fprintf(stderr, "  %-16s %s\n", n, subs[n].summary)
			}
			if len(args) == 0 {
				return errUsage
			}
			return nil
		}
		sub, ok := subs[args[0]]
		if !ok {
			fmt.Fprintf(stderr, "authbus %s: unknown command %q\n", group, args[0])
			return errUsage
		}
		return sub.run(ctx, args[1:], stdout, stderr)
	}
}
