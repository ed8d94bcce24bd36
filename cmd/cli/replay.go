package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/jsondiff"
)

// replayCmd steps through an actor's history, printing each event and
// what it changed in the state.
func (ap *app) replayCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("replay", stdout, stderr)
	showState := c.fs.Bool("state", false, "print the whole state after each event too")
	from, to := c.seqFlags("show", "; the events before it are folded silently")
	t, err := c.openActor(args, actorArgs{usage: "<type:key> [--from N] [--to M] [--state] [--data DIR | --server URL] [--json]", def: true})
	if err != nil {
		return err
	}
	defer t.src.close()
	id, st := t.id, t.st
	if st.First > 1 {
		return fmt.Errorf("%s: events before seq %d were erased; replay folds every event from seq 1", id, st.First)
	}
	if *from == 0 {
		*from = 1
	}
	if *to == 0 {
		*to = st.Head
	}
	if err := checkSeq(st, "--from", *from); err != nil {
		return err
	}
	if err := checkSeq(st, "--to", *to); err != nil {
		return err
	}
	if *to < *from {
		return fmt.Errorf("--to %d is below --from %d", *to, *from)
	}
	o := c.output()
	if !o.json {
		note := "from the initial state"
		if *from > 1 {
			note = fmt.Sprintf("after folding seqs 1 to %d", *from-1)
		}
		o.printf("%s\n", o.paint(bold, fmt.Sprintf("replaying %s seqs %d to %d, %s", escape(id.String()), *from, *to, note)))
	}
	f := actors.NewFolder(t.def, id)
	var prev []byte
	return t.src.events(c.ctx, id, 1, *to, func(e *eventlog.Event) error {
		if e.Seq < *from {
			if err := f.Apply(e); err != nil {
				return notApplied(e, err)
			}
			return nil
		}
		if prev == nil {
			var err error
			if prev, err = f.StateJSON(); err != nil {
				return err
			}
		}
		ej, err := eventJSON(e)
		if err != nil {
			return err
		}
		if err := f.Apply(e); err != nil {
			printStep(o, ej, nil, nil)
			return notApplied(e, err)
		}
		next, err := f.StateJSON()
		if err != nil {
			return err
		}
		changes, err := jsondiff.Diff(prev, next)
		if err != nil {
			return err
		}
		var state []byte
		if *showState {
			state = next
		}
		printStep(o, ej, changes, state)
		prev = next
		return nil
	})
}

// step is an event of replay --json.
type step struct {
	*wire.Event
	Changes []jsondiff.Change `json:"changes"`
	State   json.RawMessage   `json:"state,omitempty"`
}

func printStep(o *output, e *wire.Event, changes []jsondiff.Change, state []byte) {
	if o.json {
		if changes == nil {
			changes = []jsondiff.Change{}
		}
		printJSON(o.w, step{Event: e, Changes: changes, State: state})
		return
	}
	head := o.paint(bold, fmt.Sprintf("#%d", e.Seq)) + "  " + o.paint(dim, formatTime(e.Time)) + "  " + o.paint(yellow, escape(e.Type))
	if m := metaText(e.Meta); m != "" {
		head += "  " + o.paint(dim, "["+m+"]")
	}
	o.printf("%s\n", head)
	o.printf("    %s %s\n", o.paint(dim, "data"), readable(e.Data))
	if changes != nil && len(changes) == 0 {
		o.printf("    %s\n", o.paint(dim, "(no change)"))
	}
	printChanges(o, "    ", changes)
	if state != nil {
		o.printf("    %s %s\n", o.paint(dim, "state"), readable(state))
	}
}

// printChanges prints a field-level diff, one change a line. The paths
// need no escaping: jsondiff writes a key that is not an identifier as a
// Go string literal.
func printChanges(o *output, indent string, changes []jsondiff.Change) {
	for _, ch := range changes {
		path := ch.Path
		if path == jsondiff.RootPath {
			path = "(state)"
		}
		before, after := readable(ch.Old), readable(ch.New)
		switch ch.Op {
		case jsondiff.Added:
			o.printf("%s%s\n", indent, o.paint(green, fmt.Sprintf("+ %s: %s", path, after)))
		case jsondiff.Removed:
			o.printf("%s%s\n", indent, o.paint(red, fmt.Sprintf("- %s: %s", path, before)))
		default:
			o.printf("%s%s\n", indent, o.paint(yellow, fmt.Sprintf("~ %s: %s -> %s", path, before, after)))
		}
	}
}

// notApplied is the error of an event the fold refused.
func notApplied(e *eventlog.Event, err error) error {
	var fe *actors.FoldError
	if errors.As(err, &fe) {
		return fmt.Errorf("seq %d does not apply, so the states after it cannot be shown: %s", e.Seq, fe.Reason)
	}
	return err
}
