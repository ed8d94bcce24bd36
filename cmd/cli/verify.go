package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/actorlog/actorlog/verify"
)

// verifyCmd checks the store and exits non-zero on any problem, with a
// report of each.
func (ap *app) verifyCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("verify", stdout, stderr)
	t, err := c.openActor(args, actorArgs{usage: "[<type:key> | --all] [--data DIR | --server URL] [--json]", all: "check every actor and the whole feed"})
	if err != nil {
		return err
	}
	defer t.src.close()
	p := newProgress(stderr)
	rep, err := t.src.verify(c.ctx, t.id, func(v verify.Progress) {
		p.update("verify: "+v.Phase+": position", v.Done, v.Total)
	})
	p.end()
	if err != nil {
		return err
	}
	o := c.output()
	if o.json {
		if err := printJSON(o.w, rep); err != nil {
			return err
		}
	} else {
		printReport(o, rep)
	}
	if n := len(rep.Problems) + rep.Omitted; n > 0 {
		return fmt.Errorf("%d %s found", n, plural(n, "problem", "problems"))
	}
	return nil
}

func count(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func printReport(o *output, rep *verify.Report) {
	checked := fmt.Sprintf("checked %s, %s, %s and %s, up to position %d",
		count(rep.Actors, "actor", "actors"), count(rep.Events, "event", "events"), count(rep.Snapshots, "snapshot", "snapshots"), count(rep.FeedEvents, "feed entry", "feed entries"), rep.Durable)
	if rep.OK() {
		o.printf("%s\n%s\n", checked, o.paint(green, "no problems"))
	} else {
		wa, ww := 0, 0
		actor, where := make([]string, len(rep.Problems)), make([]string, len(rep.Problems))
		for i, p := range rep.Problems {
			actor[i], where[i] = escape(p.Actor), problemPlace(p)
			if actor[i] == "" {
				actor[i] = "-"
			}
			wa, ww = max(wa, width(actor[i])), max(ww, width(where[i]))
		}
		for i, p := range rep.Problems {
			o.printf("%s  %s  %s  %s\n", o.paint(cyan, pad(actor[i], wa, false)), pad(where[i], ww, false), o.paint(red, escape(string(p.Kind))), escape(p.Message))
		}
		if rep.Omitted > 0 {
			o.printf("... and %d more problems\n", rep.Omitted)
		}
		n := len(rep.Problems) + rep.Omitted
		o.printf("%s\n%s\n", checked, o.paint(red, fmt.Sprintf("%d %s", n, plural(n, "problem", "problems"))))
	}
	for _, n := range rep.Notes {
		o.printf("%s\n", o.paint(dim, "note: "+escape(n)))
	}
}

// problemPlace says where a problem is: "seq 3", "seqs 4-6", "pos 12".
func problemPlace(p verify.Problem) string {
	var parts []string
	switch {
	case p.To > p.Seq:
		parts = append(parts, fmt.Sprintf("seqs %d-%d", p.Seq, p.To))
	case p.Seq > 0:
		parts = append(parts, fmt.Sprintf("seq %d", p.Seq))
	}
	if p.Pos > 0 {
		parts = append(parts, fmt.Sprintf("pos %d", p.Pos))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
