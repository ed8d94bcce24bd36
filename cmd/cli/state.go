package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
)

// stateCmd prints an actor's state at a sequence or a time, rebuilt by
// folding its events; the live actor is not touched.
func (ap *app) stateCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("state", stdout, stderr)
	var until int64 // --at-time, parsed
	at := c.fs.Uint64("at", 0, "sequence to show the state at, 0 being the initial state (default: the head)")
	atTime := c.fs.String("at-time", "", "show the state after the last event at or before this time (RFC 3339 or Unix ms)")
	t, err := c.openActor(args, actorArgs{
		usage: "<type:key> [--at N | --at-time T] [--data DIR | --server URL] [--json]",
		def:   true,
		flagsOK: func() error {
			if c.isSet("at") && *atTime != "" {
				return c.usageErr("--at and --at-time are exclusive")
			}
			return nil
		},
		argsOK: func([]string) (err error) {
			if *atTime != "" {
				until, err = parseTime(*atTime)
			}
			return err
		},
	})
	if err != nil {
		return err
	}
	defer t.src.close()
	ctx, src, id, st := c.ctx, t.src, t.id, t.st
	var seq uint64
	var when int64
	switch {
	case *atTime != "":
		var first *wire.Event
		errPast := errors.New("past")
		err := src.history(ctx, id, st.First, 0, func(e *wire.Event) error {
			if e.Time > until {
				if first == nil {
					first = e
				}
				return errPast
			}
			first = e
			seq, when = e.Seq, e.Time
			return nil
		})
		if err != nil && !errors.Is(err, errPast) {
			return err
		}
		if seq == 0 {
			return fmt.Errorf("%s has no event at or before %s; its first is at %s", id, formatTime(until), formatTime(first.Time))
		}
	case c.isSet("at"):
		if err := checkStateSeq(st, "--at", *at); err != nil {
			return err
		}
		seq = *at
	default:
		seq = st.Head
	}
	state, err := src.stateAt(ctx, id, seq)
	if err != nil {
		return err
	}
	if *atTime == "" && seq > 0 {
		if when, err = eventTime(ctx, src, id, seq); err != nil {
			return err
		}
	}
	o := c.output()
	if o.json {
		return printJSON(o.w, struct {
			Actor string          `json:"actor"`
			Seq   uint64          `json:"seq"`
			Time  int64           `json:"time"`
			State json.RawMessage `json:"state"`
		}{id.String(), seq, when, state})
	}
	label := "(the initial state)"
	if seq > 0 {
		label = "(" + formatTime(when) + ")"
	}
	o.printf("%s at seq %s %s\n", o.paint(cyan, escape(id.String())), o.paint(bold, fmt.Sprint(seq)), o.paint(dim, label))
	return printIndented(o.w, state)
}

// eventTime returns the time of the actor's event seq.
func eventTime(ctx context.Context, src source, id eventlog.ID, seq uint64) (int64, error) {
	var t int64
	err := src.history(ctx, id, seq, seq, func(e *wire.Event) error {
		t = e.Time
		return nil
	})
	return t, err
}
