package main

import (
	"context"
	"fmt"
	"io"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/jsondiff"
)

// diffCmd prints what changed in an actor's state between two sequences.
func diffCmd(args []string, stdout, stderr io.Writer) error {
	c := newCommon("diff", stdout, stderr)
	pos, err := c.parse(args, 3, 3, "<type:key> N M [--data DIR | --server URL] [--json]")
	if err != nil {
		return err
	}
	id, err := parseActor(pos[0])
	if err != nil {
		return err
	}
	def, err := definition(id)
	if err != nil {
		return err
	}
	n, err := parseSeq("N", pos[1])
	if err != nil {
		return err
	}
	m, err := parseSeq("M", pos[2])
	if err != nil {
		return err
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
	// Sequence 0 is the initial state, before any event.
	stateAt := func(what string, seq uint64) ([]byte, error) {
		if seq == 0 {
			if st.First > 1 {
				return nil, fmt.Errorf("%s 0 is out of range: %s has seqs %d to %d", what, id, st.First, st.Head)
			}
			return actors.NewFolder(def, id).StateJSON()
		}
		if err := checkSeq(st, what, seq); err != nil {
			return nil, err
		}
		return src.stateAt(ctx, id, seq)
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
	o.printf("%s\n", o.paint(bold, fmt.Sprintf("%s: seq %d -> seq %d", id, n, m)))
	if len(changes) == 0 {
		o.printf("%s\n", o.paint(dim, "(no change)"))
	}
	printChanges(o, "", changes)
	return nil
}
