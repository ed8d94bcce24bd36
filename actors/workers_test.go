package actors_test

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
)

// TestRuntime_IdleActorsHaveNoGoroutine: a thousand awake actors with
// nothing to do cost no goroutine; called again, each answers in order.
func TestRuntime_IdleActorsHaveNoGoroutine(t *testing.T) {
	e := start(t, t.TempDir(), seed.Registry(), actors.Options{IdleTimeout: time.Hour})
	const n = 1000
	before := runtime.NumGoroutine()
	for i := range n {
		call(t, e.rt, fmt.Sprintf("counter:g%d", i), "increment", `{}`)
	}
	if got := e.rt.Awake(); got != n {
		t.Fatalf("%d actors awake, want %d", got, n)
	}
	// The workers end once the queue is empty; give them a moment.
	var now int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if now = runtime.NumGoroutine(); now-before < 20 {
			break
		}
	}
	if now-before >= 20 {
		t.Fatalf("%d goroutines more with %d idle actors awake, want none per actor", now-before, n)
	}
	for i := range n {
		if got := call(t, e.rt, fmt.Sprintf("counter:g%d", i), "increment", `{}`)["count"]; got != float64(2) {
			t.Fatalf("counter:g%d: %v, want 2", i, got)
		}
	}
}

// TestRuntime_WorkersBounded: with more actors busy than workers, every
// call is answered, in order for each actor, and no more actions run at
// once than Options.Workers.
func TestRuntime_WorkersBounded(t *testing.T) {
	type st struct{ N int }
	var running, peak atomic.Int64
	d := actors.Define("busy", func() st { return st{} })
	actors.On(d, "did", func(s *st, _ struct{}) { s.N++ })
	actors.Action(d, "do", func(c *actors.Ctx[st], _ actors.NoArgs) (int, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(time.Millisecond)
		return c.State().N + 1, c.Emit("did", struct{}{})
	})
	e := start(t, t.TempDir(), actors.NewRegistry(d), actors.Options{Workers: 2})
	const actorsN, calls = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, actorsN)
	for i := range actorsN {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, _ := eventlog.ParseID(fmt.Sprintf("busy:w%d", i))
			for j := 1; j <= calls; j++ {
				r, err := e.rt.Call(bg, id, "do", actors.Args{}, actors.CallOptions{})
				if err != nil {
					errs <- err
					return
				}
				if got := string(r.Body); got != strconv.Itoa(j) {
					errs <- fmt.Errorf("%s: %s at call %d", id, got, j)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("%d actions ran at once with 2 workers", p)
	}
}
