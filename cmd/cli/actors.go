package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
)

// actorsCmd lists the actors with their head, last event time and newest
// snapshot.
func (ap *app) actorsCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("actors", stdout, stderr)
	const usage = "[--type T] [--data DIR | --server URL] [--json]"
	typ := c.fs.String("type", "", "list only actors of this type")
	if _, err := c.parse(args, 0, 0, usage); err != nil {
		return err
	}
	if *typ != "" {
		if err := eventlog.ValidateType(*typ); err != nil {
			return fmt.Errorf("--type %q is not an actor type", *typ)
		}
	}
	src, err := c.open()
	if err != nil {
		return err
	}
	defer src.close()
	o := c.output()
	var rows []*wire.ActorInfo
	err = src.listActors(context.Background(), *typ, func(a *wire.ActorInfo) error {
		if o.json {
			return printJSON(o.w, a)
		}
		rows = append(rows, a)
		return nil
	})
	if err != nil || o.json {
		return err
	}
	if len(rows) == 0 {
		if *typ != "" {
			o.printf("no actors of type %s\n", *typ)
		} else {
			o.printf("no actors\n")
		}
		return nil
	}
	// Columns: actor, head, events, last event, snapshot.
	cells := make([][5]string, len(rows))
	w := [5]int{len("ACTOR"), len("HEAD"), len("EVENTS"), len("LAST EVENT"), len("SNAPSHOT")}
	var events uint64
	for i, a := range rows {
		st := eventlog.StreamInfo{Head: a.Head, First: a.First}
		events += st.Len()
		snap := "-"
		if s := a.Snapshot; s != nil {
			snap = "seq " + strconv.FormatUint(s.Seq, 10)
			if s.Error != "" {
				snap += " (unusable: " + escape(s.Error) + ")"
			}
		}
		cells[i] = [5]string{escape(a.Actor), strconv.FormatUint(a.Head, 10), strconv.FormatUint(st.Len(), 10), formatTime(a.Updated), snap}
		for j, s := range cells[i] {
			w[j] = max(w[j], width(s))
		}
	}
	o.printf("%s\n", o.paint(bold, pad("ACTOR", w[0], false)+"  "+pad("HEAD", w[1], true)+"  "+pad("EVENTS", w[2], true)+"  "+pad("LAST EVENT", w[3], false)+"  SNAPSHOT"))
	for _, r := range cells {
		o.printf("%s  %s  %s  %s  %s\n", o.paint(cyan, pad(r[0], w[0], false)), pad(r[1], w[1], true), pad(r[2], w[2], true), o.paint(dim, r[3]), r[4])
	}
	o.printf("%d actors, %d events\n", len(rows), events)
	return nil
}
