// Command actorlog is the actorlog server and its debugging tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/actorlog/actorlog/eventlog"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "actorlog:", err)
		os.Exit(1)
	}
}

const usage = `usage: actorlog <command> [flags]

commands:
  info    report what a data directory holds
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "info":
		return info(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func info(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	data := fs.String("data", "./data", "data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := eventlog.Open(*data, eventlog.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer l.Close()
	ctx := context.Background()
	var n int
	var events uint64
	after := eventlog.ID{}
	for {
		page, err := l.ListActors(ctx, eventlog.ListOptions{After: after, Limit: 1000})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, st := range page {
			n++
			events += st.Len()
		}
		after = page[len(page)-1].Actor
	}
	fmt.Fprintf(stdout, "%s: %d actors, %d events, last position %d\n", *data, n, events, l.Durable())
	return nil
}
