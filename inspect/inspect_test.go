package inspect_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/inspect"
	"github.com/actorlog/actorlog/projection"
	"github.com/actorlog/actorlog/snapshots"
	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind, once the
// JetStream server of ACTORLOG_TEST_STORE=jetstream, if any, is stopped.
func TestMain(m *testing.M) {
	code := m.Run()
	eventlogtest.StopServers()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var bg = context.Background()

// TestActors: the listing is the same whether the actor directory answers
// (current) or the log's stream records do (no directory, or a stale
// one), and carries each actor's stored range and newest snapshot.
func TestActors(t *testing.T) {
	l := eventlogtest.Open(t, t.TempDir(), eventlog.Options{})
	snaps := snapshots.New(l, snapshots.Options{})
	a, b := eventlog.ID{Type: "counter", Key: "a"}, eventlog.ID{Type: "counter", Key: "b"}
	for i := 0; i < 3; i++ {
		for _, id := range []eventlog.ID{a, b} {
			if _, err := l.Append(bg, id, eventlog.Any, eventlogtest.Ev("x", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Delete(bg, b, 2); err != nil {
		t.Fatal(err)
	}
	if err := snaps.Save(bg, snapshots.Snapshot{Actor: a, Seq: 2, Schema: 1, State: []byte{0x80}}); err != nil {
		t.Fatal(err)
	}
	check := func(how string) {
		t.Helper()
		got, err := inspect.Actors(bg, l, snaps, eventlog.ListOptions{Type: "counter"})
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if len(got) != 2 || got[0].Actor != "counter:a" || got[1].Actor != "counter:b" {
			t.Fatalf("%s: listed %+v", how, got)
		}
		if got[0].Head != 3 || got[0].First != 1 || got[0].Snapshot == nil || got[0].Snapshot.Seq != 2 || got[0].LastPos != 5 {
			t.Errorf("%s: counter:a = %+v (snapshot %+v)", how, got[0], got[0].Snapshot)
		}
		if got[1].Head != 3 || got[1].First != 2 || got[1].Snapshot != nil || got[1].LastPos != 6 {
			t.Errorf("%s: counter:b = %+v", how, got[1])
		}
	}
	check("from the stream records")

	r, err := projection.Start(l, projection.Options{}, projection.Directory())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, projection.DirectoryName, l.Durable()); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(bg); err != nil {
		t.Fatal(err)
	}
	check("from the directory")

	// An event the directory has not seen: the log answers, exactly.
	if _, err := l.Append(bg, a, eventlog.Any, eventlogtest.Ev("x", 9)); err != nil {
		t.Fatal(err)
	}
	got, err := inspect.Actors(bg, l, nil, eventlog.ListOptions{Type: "counter", Limit: 1})
	if err != nil || len(got) != 1 || got[0].Head != 4 || got[0].Snapshot != nil {
		t.Fatalf("stale directory: %+v, %v", got, err)
	}
}
