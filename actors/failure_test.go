package actors_test

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestRuntime_AppendFailure makes the disk fail a sync: the calls whose
// events were in that append get errors, no reply claims a count that was
// not stored, the actor rebuilds its state from the log, and after a
// reopen the state is exactly what was acknowledged.
func TestRuntime_AppendFailure(t *testing.T) {
	mem := vfs.NewCrashableMem()
	var fail atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		isSync := op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo
		if fail.Load() && isSync && strings.HasSuffix(op.Path, ".log") {
			return errorfs.ErrInjected
		}
		return nil
	})
	l, err := eventlog.Open("db", eventlog.Options{FS: errorfs.Wrap(mem, inj), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: quiet()})
	id := mustID("counter:f")
	acked := 0
	for i := 0; i < 5; i++ {
		if _, err := rt.Call(bg, id, "increment", actors.Args{}, actors.CallOptions{}); err != nil {
			t.Fatal(err)
		}
		acked++
	}
	fail.Store(true)
	_, err = rt.Call(bg, id, "increment", actors.Args{}, actors.CallOptions{})
	if actors.CodeOf(err) != actors.CodeInternal {
		t.Fatalf("call whose append failed: err = %v, want internal", err)
	}
	// The store refuses writes until it is reopened: every call fails
	// with an error, none hangs, none claims an unstored count.
	for i := 0; i < 3; i++ {
		if r, err := rt.Call(bg, id, "increment", actors.Args{}, actors.CallOptions{}); err == nil {
			t.Fatalf("a write succeeded on a failed store: %s", r.Body)
		}
	}
	if err := rt.Close(bg); err != nil {
		t.Fatal(err)
	}
	l.Close()

	fail.Store(false)
	l, err = eventlog.Open("db", eventlog.Options{FS: mem.CrashClone(vfs.CrashCloneCfg{}), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rt = actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: quiet()})
	defer rt.Close(bg)
	r, err := rt.Call(bg, id, "getCount", actors.Args{}, actors.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var s seed.CounterState
	json.Unmarshal(r.Body, &s)
	if s.Count != int64(acked) {
		t.Fatalf("after reopen count = %d, want the %d acknowledged", s.Count, acked)
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
