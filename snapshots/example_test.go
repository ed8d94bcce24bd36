package snapshots_test

import (
	"context"
	"fmt"
	"os"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
)

func Example() {
	dir, _ := os.MkdirTemp("", "snapshots-example")
	defer os.RemoveAll(dir)
	l, _ := eventlog.Open(dir, eventlog.Options{})
	defer l.Close()
	ctx := context.Background()
	store := snapshots.New(l, snapshots.Options{Keep: 2})
	id := eventlog.ID{Type: "counter", Key: "default"}

	store.Save(ctx, snapshots.Snapshot{Actor: id, Seq: 1000, Schema: 1, State: []byte("state at 1000")})
	snap, err := store.Load(ctx, id, 0, 1)
	fmt.Println(snap.Seq, string(snap.State), err)

	// A caller with a newer state schema cannot use it: it replays.
	_, err = store.Load(ctx, id, 0, 2)
	fmt.Println(err)
	// Output:
	// 1000 state at 1000 <nil>
	// snapshots: counter:default at seq 1000 unusable: schema 1, want 2
}
