package snapshots_test

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/snapshots"
)

var bg = context.Background()

func open(t *testing.T, opts snapshots.Options) (eventlog.Store, *snapshots.Store) {
	t.Helper()
	l := eventlogtest.Open(t, t.TempDir(), eventlog.Options{})
	return l, snapshots.New(l, opts)
}

var a = eventlog.ID{Type: "counter", Key: "a"}

func save(t *testing.T, s *snapshots.Store, id eventlog.ID, seq uint64, schema uint32, state string) {
	t.Helper()
	if err := s.Save(bg, snapshots.Snapshot{Actor: id, Seq: seq, Schema: schema, State: []byte(state)}); err != nil {
		t.Fatal(err)
	}
}

func TestStore_SaveLoad(t *testing.T) {
	_, s := open(t, snapshots.Options{Keep: 3})
	if _, err := s.Load(bg, a, 0, 1); !errors.Is(err, snapshots.ErrNotFound) {
		t.Fatalf("load with none: err = %v", err)
	}
	save(t, s, a, 10, 1, "ten")
	save(t, s, a, 20, 1, "twenty")
	save(t, s, a, 30, 1, "thirty")
	// Neighbour keys must not leak into a's range.
	save(t, s, eventlog.ID{Type: "counter", Key: "a\x00"}, 40, 1, "other")
	save(t, s, eventlog.ID{Type: "counter", Key: "ab"}, 50, 1, "other")
	cases := []struct {
		at   uint64
		want string
		seq  uint64
	}{{0, "thirty", 30}, {35, "thirty", 30}, {30, "thirty", 30}, {29, "twenty", 20}, {10, "ten", 10}}
	for _, c := range cases {
		snap, err := s.Load(bg, a, c.at, 1)
		if err != nil || string(snap.State) != c.want || snap.Seq != c.seq || snap.Actor != a || snap.Time == 0 {
			t.Errorf("Load(at %d) = %+v, %v; want %q at %d", c.at, snap, err, c.want, c.seq)
		}
	}
	if _, err := s.Load(bg, a, 9, 1); !errors.Is(err, snapshots.ErrNotFound) {
		t.Errorf("load below the oldest: err = %v", err)
	}
}

func TestStore_Keep(t *testing.T) {
	_, s := open(t, snapshots.Options{Keep: 2})
	for seq := uint64(1); seq <= 5; seq++ {
		save(t, s, a, seq*10, 1, "x")
	}
	list, err := s.List(bg, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Seq != 40 || list[1].Seq != 50 {
		t.Fatalf("kept %+v, want seqs 40 and 50", list)
	}
}

func TestStore_Unusable(t *testing.T) {
	l, s := open(t, snapshots.Options{Keep: 5})
	save(t, s, a, 10, 1, "old schema")
	if _, err := s.Load(bg, a, 0, 2); !errors.Is(err, snapshots.ErrUnusable) {
		t.Fatalf("other schema: err = %v, want ErrUnusable", err)
	}
	var ue *snapshots.UnusableError
	if _, err := s.Load(bg, a, 0, 2); !errors.As(err, &ue) || ue.Seq != 10 {
		t.Fatalf("other schema: err = %v, want UnusableError at 10", err)
	}
	save(t, s, a, 20, 2, "good")
	// Corrupt a newer one by writing bytes at its key directly.
	k := binary.BigEndian.AppendUint64(eventlog.AppendKey(nil, a), 30)
	for _, bad := range [][]byte{{}, {9, 9, 9}, {1, 2, 0, 0, 0, 0, 0, 'x'}} {
		if _, err := l.Write(bg, eventlog.Request{Ops: []eventlog.Op{{Space: snapshots.Space, Key: k, Value: bad}}}); err != nil {
			t.Fatal(err)
		}
		snap, err := s.Load(bg, a, 0, 2)
		if err != nil || snap.Seq != 20 || string(snap.State) != "good" {
			t.Fatalf("with a corrupt newest (%x): %+v, %v; want the usable one at 20", bad, snap, err)
		}
		if _, err := s.Load(bg, a, 0, 1); !errors.Is(err, snapshots.ErrUnusable) {
			// Schema 1 exists at 10, so it is found past the corrupt and
			// the schema-2 ones.
			if err != nil {
				t.Fatalf("schema 1: %v", err)
			}
		}
	}
	// A flipped state byte is caught by the checksum.
	v := []byte{1, 2, 0}
	v = binary.BigEndian.AppendUint32(v, 0)
	v = append(v, "flipped"...)
	l.Write(bg, eventlog.Request{Ops: []eventlog.Op{{Space: snapshots.Space, Key: k, Value: v}}})
	list, _ := s.List(bg, a)
	if last := list[len(list)-1]; last.Seq != 30 || last.Err == nil {
		t.Fatalf("List shows %+v for a corrupt snapshot, want an error", last)
	}
}

func TestStore_DeleteAndLimits(t *testing.T) {
	_, s := open(t, snapshots.Options{MaxStateSize: 8})
	save(t, s, a, 1, 1, "x")
	b := eventlog.ID{Type: "counter", Key: "b"}
	save(t, s, b, 1, 1, "y")
	if err := s.Delete(bg, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(bg, a, 0, 1); !errors.Is(err, snapshots.ErrNotFound) {
		t.Fatalf("after delete: err = %v", err)
	}
	if _, err := s.Load(bg, b, 0, 1); err != nil {
		t.Fatalf("neighbour after delete: %v", err)
	}
	if err := s.Save(bg, snapshots.Snapshot{Actor: a, Seq: 2, State: []byte("123456789")}); !errors.Is(err, snapshots.ErrTooLarge) {
		t.Fatalf("oversize state: err = %v", err)
	}
	if err := s.Save(bg, snapshots.Snapshot{Actor: a, Seq: 0, State: []byte("x")}); err == nil {
		t.Fatal("snapshot at seq 0 accepted")
	}
	if err := s.Save(bg, snapshots.Snapshot{Actor: eventlog.ID{Type: "9", Key: "x"}, Seq: 1}); !errors.Is(err, eventlog.ErrInvalidType) {
		t.Fatalf("bad actor: err = %v", err)
	}
}

func TestPolicy_Due(t *testing.T) {
	cases := []struct {
		p      snapshots.Policy
		events int
		bytes  int64
		want   bool
	}{
		{snapshots.Policy{}, 999, 100, false},
		{snapshots.Policy{}, 1000, 100, true},
		{snapshots.Policy{}, 1, 1 << 20, true},
		{snapshots.Policy{Every: 10}, 10, 0, true},
		{snapshots.Policy{Every: 10}, 9, 0, false},
		{snapshots.Policy{Every: -1, EveryBytes: -1}, 1 << 30, 1 << 40, false},
		{snapshots.Policy{Every: -1, EveryBytes: 100}, 1 << 30, 99, false},
		{snapshots.Policy{Every: -1, EveryBytes: 100}, 0, 100, true},
	}
	for _, c := range cases {
		if got := c.p.Due(c.events, c.bytes); got != c.want {
			t.Errorf("%+v.Due(%d, %d) = %v, want %v", c.p, c.events, c.bytes, got, c.want)
		}
	}
}
