package actors_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/snapshots"
)

// TestRuntime_StoreUnavailable fills the disk under a runtime: calls that
// write are refused with unavailable, saying why, and none claims a count
// that was not stored; calls that only read go on, awake actors and
// sleeping ones alike; due timers wait; and once the disk has room the
// runtime writes again, by itself, from exactly what was acknowledged.
func TestRuntime_StoreUnavailable(t *testing.T) {
	dir := t.TempDir()
	h := &hookLog{}
	reg := actors.NewRegistry(probe(h), seed.Counter())
	l, disk := eventlogtest.OpenFaulty(t, dir, eventlog.Options{Logger: quiet()})
	newRuntime := func() *actors.Runtime {
		return actors.New(l, snapshots.New(l, snapshots.Options{}), reg, actors.Options{Logger: quiet(), Frames: wire.Frames{}})
	}
	counter, asleep := mustID("counter:f"), mustID("counter:asleep")
	// One actor is written by a runtime that has gone: it is asleep.
	rt := newRuntime()
	callAny(t, rt, asleep.String(), "increment", "")
	if err := rt.Close(bg); err != nil {
		t.Fatal(err)
	}
	rt = newRuntime()
	defer rt.Close(bg)
	for i := 0; i < 5; i++ {
		callAny(t, rt, counter.String(), "increment", "")
	}
	callAny(t, rt, "probe:timer", "later", `{"ms": 300, "tag": "held"}`)

	disk.Fail()
	for i := 0; i < 3; i++ {
		r, err := rt.Call(bg, counter, "increment", actors.Args{}, actors.CallOptions{})
		var e *actors.Error
		if !errors.As(err, &e) || e.Code != actors.CodeUnavailable || !strings.Contains(e.Message, "the disk is full") {
			t.Fatalf("increment on a full disk: %s, %v; want unavailable, saying the disk is full", r.Body, err)
		}
	}
	// A call that writes no event but a record (a timer) is not
	// answered before its record is stored either.
	if r, err := rt.Call(bg, mustID("probe:timer"), "later", actors.JSONArgs([]byte(`{"ms": 10, "tag": "lost"}`)), actors.CallOptions{}); actors.CodeOf(err) != actors.CodeUnavailable {
		t.Fatalf("setting a timer on a full disk: %s, %v; want unavailable", r.Body, err)
	}
	if got := call(t, rt, counter.String(), "getCount", "")["count"]; got != 5.0 {
		t.Fatalf("awake actor's count on a full disk = %v, want the 5 acknowledged", got)
	}
	if got := call(t, rt, asleep.String(), "getCount", "")["count"]; got != 1.0 {
		t.Fatalf("sleeping actor's count on a full disk = %v, want 1", got)
	}
	// The timer falls due while the disk is full: it does not fire (its
	// events could not be stored) until the disk takes writes.
	time.Sleep(time.Second)
	if h.has("fire:held") {
		t.Fatal("a timer fired while the store could not write")
	}

	disk.Heal()
	deadline := time.Now().Add(30 * time.Second)
	for !l.Health().Writable {
		if time.Now().After(deadline) {
			t.Fatalf("store not writable 30s after the disk healed: %+v", l.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := call(t, rt, counter.String(), "increment", "")["count"]; got != 6.0 {
		t.Fatalf("first increment after healing = %v, want 6", got)
	}
	for !h.has("fire:held") {
		if time.Now().After(deadline) {
			t.Fatal("the held timer did not fire once the store wrote again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h.has("fire:lost") {
		t.Fatal("a timer whose setting was refused fired")
	}
}

// TestRuntime_ConflictRebuilds has another writer append to an awake
// actor's stream: the actor's next append conflicts, its caller gets a
// conflict error, and the actor rebuilds from the log, the other
// writer's event included.
func TestRuntime_ConflictRebuilds(t *testing.T) {
	e := start(t, t.TempDir(), seed.Registry(), actors.Options{})
	id := mustID("counter:c")
	call(t, e.rt, "counter:c", "increment", "")
	ev := eventlog.Event{Type: "countUpdated", Data: []byte{0x82, 0xa5, 'c', 'o', 'u', 'n', 't', 0x0a, 0xab, 'l', 'a', 's', 't', 'U', 'p', 'd', 'a', 't', 'e', 'd', 0x01}}
	if _, err := e.log.Append(bg, id, eventlog.ExpectSeq(1), ev); err != nil {
		t.Fatal(err)
	}
	_, err := e.rt.Call(bg, id, "increment", actors.Args{}, actors.CallOptions{})
	if actors.CodeOf(err) != actors.CodeConflict {
		t.Fatalf("call racing another writer: err = %v, want conflict", err)
	}
	if got := call(t, e.rt, "counter:c", "increment", "")["count"]; got != 11.0 {
		t.Fatalf("after the rebuild count = %v, want 11 (the other writer set 10)", got)
	}
}

// TestRuntime_LogMovedDropsConns: two runtimes over one store write the
// same actor, as two owners of a cluster may for a moment. The one whose
// append fails with a conflict reloads the actor from the log; its
// connections, which never got the other's events, end (resume with
// since) instead of going on past a gap.
func TestRuntime_LogMovedDropsConns(t *testing.T) {
	l := eventlogtest.Open(t, t.TempDir(), eventlog.Options{Logger: quiet()})
	newRuntime := func() *actors.Runtime {
		return actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: quiet(), Frames: wire.Frames{}})
	}
	a, b := newRuntime(), newRuntime()
	defer a.Close(bg)
	defer b.Close(bg)
	id := mustID("counter:two")
	callAny(t, a, id.String(), "increment", "")
	conn, init, err := a.Connect(bg, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if init.Seq != 1 {
		t.Fatalf("init at %d, want 1", init.Seq)
	}
	callAny(t, b, id.String(), "increment", "") // seq 2, unseen by a
	// a's increment conflicts, a reloads, and the call is refused or
	// answered from the reloaded state; either way conn must not go on to
	// seq 3 without seq 2.
	a.Call(bg, id, "increment", actors.Args{}, actors.CallOptions{})
	callAny(t, a, id.String(), "increment", "")
	timeout := time.After(5 * time.Second)
	last := init.Seq
	for {
		select {
		case f := <-conn.Frames():
			if f.Seq != 0 && f.Seq != last+1 {
				t.Fatalf("frame of seq %d after %d: a gap", f.Seq, last)
			}
			if f.Seq != 0 {
				last = f.Seq
			}
		case <-conn.Done():
			if !errors.Is(conn.Err(), actors.ErrActorStopped) {
				t.Fatalf("connection ended with %v, want ErrActorStopped", conn.Err())
			}
			return
		case <-timeout:
			t.Fatalf("the connection neither ended nor got every event (last %d)", last)
		}
	}
}
