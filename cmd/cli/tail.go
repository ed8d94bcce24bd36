package cli

import (
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
func (ap *app) tailCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("tail", stdout, stderr)
	from := c.fs.Uint64("from", 0, "start at this sequence (or, with --all, this feed position) instead of the last -n events")
	last := c.fs.Uint64("n", 10, "print the last n events first")
	maxEvents := c.fs.Uint64("max", 0, "stop after this many new events, those committed after tail started following; the events printed first (-n, --from) do not count (default: follow until interrupted)")
	// A new actor may be followed; an unknown type may not.
	t, err := c.openActor(args, actorArgs{
		usage: "[<type:key> | --all] [--from N] [-n K] [--max M] [--data DIR | --server URL] [--json]",
		all:   "follow every actor: the global feed",
		fresh: true,
	})
	if err != nil {
		return err
	}
	defer t.src.close()
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	id, src, all := t.id, t.src, t.all

	// Where to start, where the backlog ends (the events after it are new,
	// and counted by --max), and the width of the sequence column.
	var start, end uint64
	if all {
		if end, err = src.durable(ctx); err != nil {
			return err
		}
		if c.isSet("from") && *from > end+1 {
			return fmt.Errorf("--from %d is out of range: the feed ends at position %d", *from, end)
		}
		start = max(end+1, *last+1) - *last
	} else {
		st := t.st
		if c.isSet("from") && (*from > st.Head+1 || *from < st.First && st.Exists()) {
			return fmt.Errorf("--from %d is out of range: %s has seqs %d to %d (and %d next)", *from, id, st.First, st.Head, st.Head+1)
		}
		end = st.Head
		start = max(st.First, max(end+1, *last+1)-*last)
	}
	if c.isSet("from") {
		start = max(*from, 1)
	}
	o := c.output()
	line := newEventLine(o, max(end, 999), t.def)
	line.actor = all
	var n uint64
	errDone := errors.New("done")
	err = src.follow(ctx, id, start, func(e *eventlog.Event) error {
		ej, err := eventJSON(e)
		if err != nil {
			return err
		}
		line.print(ej)
		at := e.Seq
		if all {
			at = e.Pos
		}
		if at <= end {
			return nil
		}
		if n++; *maxEvents > 0 && n >= *maxEvents {
			return errDone
		}
		return nil
	})
	switch {
	case errors.Is(err, errNotLive):
		fmt.Fprintf(stderr, "actorlog tail: not following: no server writes to %s while tail reads it offline; use --server URL to follow a running server\n", escape(c.data))
		return nil
	case errors.Is(err, errDone), ctx.Err() != nil:
		return nil
	}
	return err
}
