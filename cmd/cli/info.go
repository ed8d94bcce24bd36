package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/actorlog/actorlog/eventlog"
)

func (ap *app) info(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("info", stderr)
	data := fs.String("data", "./data", "data directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	l, err := eventlog.Open(*data, eventlog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer l.Close()
	ctx := context.Background()
	var n int
	var events uint64
	after := eventlog.ID{}
	for {
		page, err := l.ListActors(ctx, eventlog.ListOptions{After: after, Limit: 1000})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, st := range page {
			n++
			events += st.Len()
		}
		after = page[len(page)-1].Actor
	}
	fmt.Fprintf(stdout, "%s: %d actors, %d events, last position %d\n", escape(*data), n, events, l.Durable())
	return nil
}
