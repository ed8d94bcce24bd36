package actors_test

import (
	"context"
	"fmt"
	"os"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
)

type tally struct {
	Total int `json:"total"`
}

type added struct {
	N int `json:"n"`
}

func Example() {
	d := actors.Define("tally", func() tally { return tally{} })
	actors.On(d, "added", func(s *tally, e added) { s.Total += e.N })
	actors.Action(d, "add", func(c *actors.Ctx[tally], a added) (tally, error) {
		if a.N <= 0 {
			return tally{}, actors.Invalid("n must be positive")
		}
		err := c.Emit("added", a)
		return tally{Total: c.State().Total + a.N}, err
	})

	dir, _ := os.MkdirTemp("", "actors-example")
	defer os.RemoveAll(dir)
	l, _ := eventlog.Open(dir, eventlog.Options{Logger: quiet()})
	defer l.Close()
	rt := actors.New(l, snapshots.New(l, snapshots.Options{}), actors.NewRegistry(d), actors.Options{Logger: quiet()})
	defer rt.Close(context.Background())

	id := eventlog.ID{Type: "tally", Key: "mine"}
	r, _ := rt.Call(context.Background(), id, "add", actors.JSONArgs([]byte(`{"n": 3}`)), actors.CallOptions{})
	fmt.Println(string(r.Body), "at seq", r.Seq)
	_, err := rt.Call(context.Background(), id, "add", actors.JSONArgs([]byte(`{"n": -1}`)), actors.CallOptions{})
	fmt.Println(actors.CodeOf(err), err)
	// Output:
	// {"total":3} at seq 1
	// invalid_argument actors: n must be positive
}
