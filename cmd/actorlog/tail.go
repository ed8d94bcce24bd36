package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/actorlog/actorlog/eventlog"
)

// tailCmd prints the last events of an actor, or of every actor, and then
// follows new ones as they are committed.
func tailCmd(args []string, stdout, stderr io.Writer) error {
	c := newCommon("tail", stdout, stderr)
	all := c.fs.Bool("all", false, "follow every actor: the global feed")
	from := c.fs.Uint64("from", 0, "start at this sequence (or, with --all, this feed position) instead of the last -n events")
	last := c.fs.Uint64("n", 10, "print the last n events first")
	maxEvents := c.fs.Uint64("max", 0, "stop after printing this many events (default: follow until interrupted)")
	pos, err := c.parse(args, 0, 1, "[<type:key> | --all] [--from N] [-n K] [--max M] [--data DIR | --server URL] [--json]")
	if err != nil {
		return err
	}
	id, err := c.actorOrAll(pos, *all)
	if err != nil {
		return err
	}
	src, err := c.open()
	if err != nil {
		return err
	}
	defer src.close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Where to start, and the width of the sequence column.
	var start, end uint64
	if *all {
		if end, err = src.durable(ctx); err != nil {
			return err
		}
		if c.isSet("from") && *from > end+1 {
			return fmt.Errorf("--from %d is out of range: the feed ends at position %d", *from, end)
		}
		start = max(end+1, *last+1) - *last
	} else {
		st, err := src.head(ctx, id)
		if err != nil {
			return err
		}
		if !st.Exists() {
			// A new actor may be followed; an unknown type may not.
			if _, err := definition(id); err != nil {
				return err
			}
		}
		if c.isSet("from") && (*from > st.Head+1 || *from < st.First && st.Exists()) {
			return fmt.Errorf("--from %d is out of range: %s has seqs %d to %d (and %d next)", *from, id, st.First, st.Head, st.Head+1)
		}
		end = st.Head
		start = max(st.First, max(end+1, *last+1)-*last)
	}
	if c.isSet("from") {
		start = max(*from, 1)
	}
	def, _ := registry.Lookup(id.Type)
	o := c.output()
	line := newEventLine(o, max(end, 999), def)
	line.actor = *all
	var n uint64
	errDone := errors.New("done")
	err = src.follow(ctx, id, start, func(e *eventlog.Event) error {
		ej, err := eventJSON(e)
		if err != nil {
			return err
		}
		line.print(ej)
		if n++; *maxEvents > 0 && n >= *maxEvents {
			return errDone
		}
		return nil
	})
	switch {
	case errors.Is(err, errNotLive):
		fmt.Fprintf(stderr, "actorlog tail: not following: no server writes to %s while tail reads it offline; use --server URL to follow a running server\n", c.data)
		return nil
	case errors.Is(err, errDone), ctx.Err() != nil:
		return nil
	}
	return err
}
