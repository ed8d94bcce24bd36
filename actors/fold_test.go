package actors_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/vmihailenco/msgpack/v5"
)

func foldData(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFolder(t *testing.T) {
	id := eventlog.ID{Type: "counter", Key: "f"}
	f := actors.NewFolder(seed.Counter(), id)
	if s, _ := f.StateJSON(); string(s) != `{"count":0,"lastUpdated":0}` || f.Seq() != 0 {
		t.Fatalf("initial state %s at %d", s, f.Seq())
	}
	ev := func(seq uint64, count int64) *eventlog.Event {
		return &eventlog.Event{Seq: seq, Type: "countUpdated", Data: foldData(t, seed.CountUpdated{Count: count, LastUpdated: 7})}
	}
	if err := f.Apply(ev(1, 5)); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(ev(3, 6)); err == nil || !strings.Contains(err.Error(), "does not follow seq 1") {
		t.Errorf("a gap: got %v", err)
	}
	bad := ev(2, 0)
	bad.Data = foldData(t, "text")
	if err := f.Apply(bad); err == nil {
		t.Error("data of another shape applied")
	}
	unknown := ev(2, 0)
	unknown.Type = "nope"
	if err := f.Apply(unknown); err == nil || !strings.Contains(err.Error(), "no applier") {
		t.Errorf("unknown event type: got %v", err)
	}
	if err := f.Apply(ev(2, 9)); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.StateJSON(); string(s) != `{"count":9,"lastUpdated":7}` || f.Seq() != 2 {
		t.Errorf("state %s at %d, want count 9 at 2", s, f.Seq())
	}

	// A snapshot of it restores into another folder, which goes on.
	snap, err := f.EncodeState()
	if err != nil {
		t.Fatal(err)
	}
	g := actors.NewFolder(seed.Counter(), id)
	if err := g.Restore(snap, 2); err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(ev(3, 10)); err != nil {
		t.Fatal(err)
	}
	if s, _ := g.StateJSON(); string(s) != `{"count":10,"lastUpdated":7}` || g.Seq() != 3 || g.Schema() != 1 {
		t.Errorf("restored: state %s at %d schema %d", s, g.Seq(), g.Schema())
	}
	if err := g.Restore([]byte{0xc1}, 4); err == nil || g.Seq() != 0 {
		t.Errorf("a snapshot that does not decode: got %v, seq %d", err, g.Seq())
	}
}
