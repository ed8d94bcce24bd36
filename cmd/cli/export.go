package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/actorlog/actorlog/archive"
	"github.com/actorlog/actorlog/eventlog"
)

// exportCmd writes an actor's events, or every actor's, as NDJSON (see
// package archive) for "actorlog import".
func (ap *app) exportCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("export", stdout, stderr)
	out := c.fs.String("out", "", "write to this file instead of stdout")
	t, err := c.openActor(args, actorArgs{usage: "[<type:key> | --all] [--out FILE] [--data DIR | --server URL]", all: "export every actor, in feed order"})
	if err != nil {
		return err
	}
	defer t.src.close()
	id, src, st, all := t.id, t.src, t.st, t.all
	var total uint64
	if all {
		if total, err = src.durable(c.ctx); err != nil {
			return err
		}
	} else {
		if st.First > 1 {
			return fmt.Errorf("%s: events before seq %d were erased; an export holds whole streams from seq 1", id, st.First)
		}
		total = st.Head
	}

	dst := stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return err
		}
		dst = f
	}
	w := archive.NewWriter(dst)
	p := newProgress(stderr)
	seen := map[eventlog.ID]bool{}
	err = src.events(c.ctx, id, 1, 0, func(e *eventlog.Event) error {
		if all && !seen[e.Actor] {
			// Only whole streams can be imported back.
			if e.Seq != 1 {
				return fmt.Errorf("%s: events before seq %d were erased; an export holds whole streams from seq 1", e.Actor, e.Seq)
			}
			seen[e.Actor] = true
		}
		if err := w.WriteEvent(e); err != nil {
			return err
		}
		if all {
			p.update("export: position", e.Pos, total)
		} else {
			p.update("export: seq", e.Seq, total)
		}
		return nil
	})
	p.end()
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(*out)
			return err
		}
		o := c.output()
		if o.json {
			return printJSON(o.w, map[string]any{"events": w.Count(), "file": *out})
		}
		o.printf("exported %d events to %s\n", w.Count(), escape(*out))
	}
	return err
}
