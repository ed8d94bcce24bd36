package cli

import (
	"errors"
	"io"

	"github.com/actorlog/actorlog/api/wire"
)

// logCmd prints an actor's events, decoded into JSON.
func (ap *app) logCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("log", stdout, stderr)
	from, to := c.seqFlags("print", "")
	limit := c.fs.Int("limit", 0, "print at most this many events (default: all)")
	t, err := c.openActor(args, actorArgs{
		usage: "<type:key> [--from N] [--to M] [--limit K] [--data DIR | --server URL] [--json]",
		argsOK: func([]string) error {
			if *limit < 0 {
				return c.usageErr("--limit must be 0 or more")
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	defer t.src.close()
	st := t.st
	if *from == 0 {
		*from = st.First
	}
	if err := checkSeq(st, "--from", *from); err != nil {
		return err
	}
	if *to != 0 {
		if err := checkSeq(st, "--to", *to); err != nil {
			return err
		}
		if *to < *from {
			return errors.New("--to must not be below --from")
		}
	}
	o := c.output()
	line := newEventLine(o, st.Head, t.def)
	if !o.json {
		line.header()
	}
	n := 0
	errEnough := errors.New("enough")
	err = t.src.history(c.ctx, t.id, *from, *to, func(e *wire.Event) error {
		line.print(e)
		if n++; *limit > 0 && n >= *limit {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return err
}
