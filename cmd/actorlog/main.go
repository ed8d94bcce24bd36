// Command actorlog is the actorlog server and its tools for inspecting
// actors' histories.
//
//	actorlog serve [flags]        run the server
//	actorlog info [--data DIR]    report what a data directory holds
//
// Run "actorlog help" for every command.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand: it parses its own flags from args.
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the server", serve},
		{"info", "report what a data directory holds", info},
		{"load", "generate load against a server and report", loadCmd},
		{"actors", "list the actors with their head, last event and snapshot", actorsCmd},
		{"log", "print an actor's events as JSON", logCmd},
		{"state", "print an actor's state at a sequence or a time", stateCmd},
		{"replay", "step through an actor's history with what each event changed", replayCmd},
		{"diff", "print what changed in an actor's state between two sequences", diffCmd},
		{"tail", "follow an actor's events, or every actor's, as they are committed", tailCmd},
		{"verify", "check the store: gapless streams, decodable events, feed, snapshots", verifyCmd},
		{"export", "write actors' events as NDJSON", exportCmd},
		{"import", "append the actors of an export to a data directory", importCmd},
		{"projections", "show the read models' status, or reset one", projectionsCmd},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: actorlog <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "actorlog <command> -h" for its flags.`)
}

// run runs the command line and returns the exit status. Errors are one
// line on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			}
			// The message may quote keys, event types, file names and the
			// server's words: escape them.
			fmt.Fprintln(stderr, "actorlog "+c.name+":", escape(err.Error()))
			return 1
		}
	}
	fmt.Fprintf(stderr, "actorlog: unknown command %q; run \"actorlog help\"\n", args[0])
	return 2
}

// errUsage is returned for bad flags, which the flag package has already
// reported.
var errUsage = errors.New("usage")

// newFlags returns a flag set that reports errors to stderr and returns
// errUsage.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("actorlog "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}
