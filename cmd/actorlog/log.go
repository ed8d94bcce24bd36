package main

import (
	"context"
	"errors"
	"io"

	"github.com/actorlog/actorlog/api"
)

// logCmd prints an actor's events, decoded into JSON.
func logCmd(args []string, stdout, stderr io.Writer) error {
	c := newCommon("log", stdout, stderr)
	from := c.fs.Uint64("from", 0, "first sequence to print (default: the first)")
	to := c.fs.Uint64("to", 0, "last sequence to print (default: the head)")
	limit := c.fs.Int("limit", 0, "print at most this many events (default: all)")
	pos, err := c.parse(args, 1, 1, "<type:key> [--from N] [--to M] [--limit K] [--data DIR | --server URL] [--json]")
	if err != nil {
		return err
	}
	id, err := parseActor(pos[0])
	if err != nil {
		return err
	}
	if *limit < 0 {
		return c.usageErr("--limit must be 0 or more")
	}
	src, err := c.open()
	if err != nil {
		return err
	}
	defer src.close()
	ctx := context.Background()
	st, err := existing(ctx, src, id)
	if err != nil {
		return err
	}
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
	def, _ := registry.Lookup(id.Type)
	o := c.output()
	line := newEventLine(o, st.Head, def)
	if !o.json {
		line.header()
	}
	n := 0
	errEnough := errors.New("enough")
	err = src.history(ctx, id, *from, *to, func(e *api.EventJSON) error {
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
