package eventlogtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"go.uber.org/goleak"
)

// RunFaults checks the contract's availability clause: open returns a
// new, empty store and the Faults of its disk; the suite closes the
// store. A store whose disk fails refuses writes with ErrUnavailable, says
// so in Health, goes on serving reads and subscriptions of what is
// durable, and takes writes again by itself once the disk does.
func RunFaults(t *testing.T, open func(t *testing.T) (Store, Faults)) {
	t.Run("Unavailable", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		s, disk := open(t)
		defer s.Close()
		testUnavailable(t, s, disk)
	})
}

func testUnavailable(t *testing.T, s Store, disk Faults) {
	a := id("counter", "faults")
	if h := s.Health(); !h.Writable || h.Reason != "" {
		t.Fatalf("Health of a new store = %+v, want writable", h)
	}
	mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1), Ev("x", 2))
	mustWrite(t, s, put(eventlog.FirstSpace, "k", "v"))
	sub, err := s.SubscribeStream(bg, a, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	disk.Fail()
	_, err = s.Append(bg, a, eventlog.ExpectSeq(2), Ev("x", 3))
	if !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Append on a full disk: %v, want ErrUnavailable", err)
	}
	writes := []struct {
		name string
		call func() error
	}{
		{"Append", func() error { _, err := s.Append(bg, a, eventlog.Any, Ev("x", 3)); return err }},
		{"Write of ops", func() error {
			_, err := s.Write(bg, eventlog.Request{Ops: []eventlog.Op{put(eventlog.FirstSpace, "k", "w")}})
			return err
		}},
		{"Delete", func() error { return s.Delete(bg, a, 1) }},
	}
	for _, w := range writes {
		if err := w.call(); !errors.Is(err, eventlog.ErrUnavailable) {
			t.Errorf("%s while unavailable: %v, want ErrUnavailable", w.name, err)
		}
	}
	h := s.Health()
	if h.Writable || h.Reason != "the disk is full" || h.Since.IsZero() {
		t.Errorf("Health on a full disk = %+v, want not writable, the disk is full, since when", h)
	}
	// Reads of what is durable go on.
	evs, err := eventlog.ReadStream(bg, s, a, 1, 100)
	if err != nil || len(evs) != 2 {
		t.Fatalf("ReadStream while unavailable: %d events, %v; want the 2 durable", len(evs), err)
	}
	if v, err := s.Get(bg, eventlog.FirstSpace, []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get while unavailable: %q, %v; want v", v, err)
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	for want := uint64(1); want <= 2; want++ {
		e, err := sub.Next(ctx)
		if err != nil || e.Seq != want {
			t.Fatalf("subscriber while unavailable: seq %d, %v; want %d", e.Seq, err, want)
		}
	}

	// The disk takes writes again; so does the store, by itself.
	disk.Heal()
	deadline := time.Now().Add(30 * time.Second)
	for !s.Health().Writable {
		if time.Now().After(deadline) {
			t.Fatalf("not writable 30s after the disk healed: %+v", s.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
	head, err := s.Head(bg, a)
	if err != nil {
		t.Fatal(err)
	}
	// A write that failed may have reached the disk, as after a crash:
	// the stream goes on from whatever head it has, gapless.
	res := mustAppend(t, s, a, eventlog.ExpectSeq(head.Head), Ev("x", 4))
	if res.Last != head.Head+1 {
		t.Fatalf("append after healing: last %d, want %d", res.Last, head.Head+1)
	}
	for want := uint64(3); want <= res.Last; want++ {
		e, err := sub.Next(ctx)
		if err != nil || e.Seq != want {
			t.Fatalf("subscriber after healing: seq %d, %v; want %d", e.Seq, err, want)
		}
	}
}
