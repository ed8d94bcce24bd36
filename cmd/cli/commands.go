package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// command is one subcommand: it parses its own flags from args.
type command struct {
	name, summary string
	run           func(a *app, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the server", (*app).serve},
		{"info", "report what a data directory holds", (*app).info},
		{"load", "generate load against a server and report", (*app).loadCmd},
		{"actors", "list the actors with their head, last event and snapshot", (*app).actorsCmd},
		{"log", "print an actor's events as JSON", (*app).logCmd},
		{"state", "print an actor's state at a sequence or a time", (*app).stateCmd},
		{"replay", "step through an actor's history with what each event changed", (*app).replayCmd},
		{"diff", "print what changed in an actor's state between two sequences", (*app).diffCmd},
		{"tail", "follow an actor's events, or every actor's, as they are committed", (*app).tailCmd},
		{"verify", "check the store: gapless streams, decodable events, feed, snapshots", (*app).verifyCmd},
		{"export", "write actors' events as NDJSON", (*app).exportCmd},
		{"import", "append the actors of an export to a data directory or a cluster's JetStream", (*app).importCmd},
		{"cluster", "show a cluster's nodes, shard owners and stream copies (--server)", (*app).clusterCmd},
		{"projections", "show the read models' status, or reset one", (*app).projectionsCmd},
		{"schema", "print the actor types' description: JSON Schema of state, actions, events", (*app).schemaCmd},
		{"gen", "gen ts: write the actor types' TypeScript types for @actorlog/client", (*app).genCmd},
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

// run runs the command line (without the program's name) and returns the
// exit status. Errors are one line on stderr.
func (a *app) run(args []string, stdout, stderr io.Writer) int {
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
			err := c.run(a, args[1:], stdout, stderr)
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
