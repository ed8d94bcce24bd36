package cli

import (
	"fmt"
	"io"

	"github.com/actorlog/actorlog/jsondiff"
)

// diffCmd prints what changed in an actor's state between two sequences.
func (ap *app) diffCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("diff", stdout, stderr)
	var n, m uint64
	t, err := c.openActor(args, actorArgs{
		usage: "<type:key> N M [--data DIR | --server URL] [--json]",
		more:  2,
		def:   true,
		argsOK: func(pos []string) (err error) {
			if n, err = parseSeq("N", pos[1]); err == nil {
				m, err = parseSeq("M", pos[2])
			}
			return err
		},
	})
	if err != nil {
		return err
	}
	defer t.src.close()
	id, st := t.id, t.st
	// Sequence 0 is the initial state, before any event.
	stateAt := func(what string, seq uint64) ([]byte, error) {
		if err := checkStateSeq(st, what, seq); err != nil {
			return nil, err
		}
		return t.src.stateAt(c.ctx, id, seq)
	}
	a, err := stateAt("N", n)
	if err != nil {
		return err
	}
	b, err := stateAt("M", m)
	if err != nil {
		return err
	}
	changes, err := jsondiff.Diff(a, b)
	if err != nil {
		return err
	}
	o := c.output()
	if o.json {
		if changes == nil {
			changes = []jsondiff.Change{}
		}
		return printJSON(o.w, struct {
			Actor   string            `json:"actor"`
			From    uint64            `json:"from"`
			To      uint64            `json:"to"`
			Changes []jsondiff.Change `json:"changes"`
		}{id.String(), n, m, changes})
	}
	o.printf("%s\n", o.paint(bold, fmt.Sprintf("%s: seq %d -> seq %d", escape(id.String()), n, m)))
	if len(changes) == 0 {
		o.printf("%s\n", o.paint(dim, "(no change)"))
	}
	printChanges(o, "", changes)
	return nil
}
