package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
)

// projectionsCmd shows the projections' status, or resets one.
func (ap *app) projectionsCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("projections", stdout, stderr)
	const usage = "[status | reset NAME] [--data DIR | --server URL] [--json]"
	pos, err := c.parse(args, 0, 2, usage)
	if err != nil {
		return err
	}
	op := "status"
	if len(pos) > 0 {
		op = pos[0]
	}
	ctx := context.Background()
	switch {
	case op == "status" && len(pos) <= 1:
		var sts []wire.Status
		if c.server != "" {
			r, err := newRemote(c.server, c.token)
			if err != nil {
				return err
			}
			var reply struct {
				Projections []wire.Status `json:"projections"`
			}
			if err := r.get(ctx, "/projections", nil, &reply); err != nil {
				return err
			}
			sts = reply.Projections
		} else if sts, err = c.app.offlineStatus(ctx, c.data); err != nil {
			return err
		}
		return printStatus(c.output(), sts, c.server == "")
	case op == "reset" && len(pos) == 2:
		name := pos[1]
		if c.server != "" {
			r, err := newRemote(c.server, c.token)
			if err != nil {
				return err
			}
			var st wire.Status
			if err := r.post(ctx, "/projections/"+name+"/reset", &st); err != nil {
				return err
			}
			return printReset(c.output(), name, "the server is rebuilding it from the first event")
		}
		if !slices.Contains(c.app.projNames, name) {
			if len(c.app.projNames) == 0 {
				return fmt.Errorf("no projection named %q; the server runs none", name)
			}
			return fmt.Errorf("no projection named %q; the server runs %s", name, strings.Join(c.app.projNames, " and "))
		}
		l, err := eventlog.Open(c.data, eventlog.Options{Logger: quietLogger()})
		if err != nil {
			return openError(c.data, err)
		}
		defer l.Close()
		if err := projection.Drop(ctx, l, name); err != nil {
			return err
		}
		return printReset(c.output(), name, "the next `actorlog serve` rebuilds it from the first event")
	}
	return c.usageErr("usage: actorlog projections %s", usage)
}

func (a *app) offlineStatus(ctx context.Context, dir string) ([]wire.Status, error) {
	src, err := a.openLocal(dir)
	if err != nil {
		return nil, err
	}
	defer src.close()
	head := src.log.Durable()
	var out []wire.Status
	for _, name := range a.projNames {
		pos, ver, err := projection.ReadCheckpoint(ctx, src.log, name)
		if err != nil {
			return nil, err
		}
		st := projection.Status{Name: name, Version: ver, State: "stopped", Position: pos, Head: head}
		if head > pos {
			st.LagEvents = head - pos
		}
		out = append(out, wire.Status{Status: st})
	}
	return out, nil
}

func printStatus(o *output, sts []wire.Status, offline bool) error {
	if o.json {
		for i := range sts {
			if err := printJSON(o.w, &sts[i]); err != nil {
				return err
			}
		}
		return nil
	}
	rows := [][]string{{"PROJECTION", "STATE", "POSITION", "HEAD", "LAG", "ERROR"}}
	for _, s := range sts {
		lag := strconv.FormatUint(s.LagEvents, 10)
		if s.LagMs > 0 {
			lag += " (" + (time.Duration(s.LagMs) * time.Millisecond).String() + ")"
		}
		rows = append(rows, []string{escape(s.Name), escape(s.State), strconv.FormatUint(s.Position, 10), strconv.FormatUint(s.Head, 10), lag, escape(s.LastError)})
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], width(cell))
		}
	}
	for n, r := range rows {
		var b strings.Builder
		for i, cell := range r {
			if i == len(r)-1 {
				b.WriteString(cell)
				break
			}
			b.WriteString(pad(cell, widths[i], i >= 2 && i <= 5 && n > 0))
			b.WriteString("  ")
		}
		line := strings.TrimRight(b.String(), " ")
		if n == 0 {
			line = o.paint("bold", line)
		}
		o.printf("%s\n", line)
	}
	if offline {
		o.printf("read from the data directory; the server updates these while it runs\n")
	}
	return nil
}

func printReset(o *output, name, what string) error {
	if o.json {
		return printJSON(o.w, map[string]string{"reset": name})
	}
	o.printf("reset %s: %s\n", escape(name), what)
	return nil
}

// post sends POST path and decodes the JSON reply into v.
func (r *remote) post(ctx context.Context, path string, v any) error {
	res, err := r.send(ctx, http.MethodPost, path, nil)
	if err != nil {
		return fmt.Errorf("cannot reach the server at %s: %v", r.base, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		var e errorReply
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return &apiError{status: res.StatusCode, code: e.Error.Code, message: e.Error.Message}
		}
		return fmt.Errorf("server at %s: %s", r.base, res.Status)
	}
	return json.Unmarshal(body, v)
}
