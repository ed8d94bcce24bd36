package actors_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/snapshots"
)

// TestRuntime_MemoryBudget: with each awake actor taken to hold 1 MiB
// and a budget of 10 MiB, waking 40 actors leaves at most 9 awake soon
// after, while one of them is kept in use; MaxAwake alone would keep all
// 40. Their state survives their sleep.
func TestRuntime_MemoryBudget(t *testing.T) {
	l := eventlogtest.Open(t, t.TempDir(), eventlog.Options{Logger: quiet()})
	var rt *actors.Runtime
	var gcs atomic.Uint64
	ready := make(chan struct{}) // rt is set
	rt = actors.NewWithMemory(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{MemoryBudget: 10 << 20, Logger: quiet()}, func() (int64, uint64) {
		<-ready
		// Every reading follows a new garbage collection, as if what the
		// actors gone held had been collected at once.
		return int64(rt.Awake()) << 20, gcs.Add(1)
	})
	close(ready)
	t.Cleanup(func() { rt.Close(bg) })
	for i := range 40 {
		call(t, rt, fmt.Sprintf("counter:m%d", i), "increment", "")
	}
	deadline := time.Now().Add(10 * time.Second)
	for rt.Awake() > 9 && time.Now().Before(deadline) {
		call(t, rt, "counter:m39", "getCount", "") // the most recently used
		time.Sleep(20 * time.Millisecond)
	}
	if n := rt.Awake(); n > 9 {
		t.Fatalf("%d actors awake over a budget for 9", n)
	}
	for _, id := range []string{"counter:m0", "counter:m39"} {
		if got := call(t, rt, id, "getCount", "")["count"]; got != 1.0 {
			t.Fatalf("%s = %v, want 1", id, got)
		}
	}
}
