package actors_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/snapshots"
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

// TestRuntime_CallTimeout: CallOptions.Timeout bounds a call as a
// deadline on its context does: the wait for its reply, and the wait for
// room in a full mailbox, each with CodeUnavailable and
// context.DeadlineExceeded; the calls it did not bound are answered.
func TestRuntime_CallTimeout(t *testing.T) {
	type st struct{ N int }
	started, release := make(chan struct{}, 4), make(chan struct{})
	d := actors.Define("slow", func() st { return st{} })
	actors.On(d, "did", func(s *st, _ struct{}) { s.N++ })
	actors.Action(d, "wait", func(c *actors.Ctx[st], _ actors.NoArgs) (int, error) {
		started <- struct{}{}
		<-release
		return c.State().N + 1, c.Emit("did", struct{}{})
	})
	e := start(t, t.TempDir(), actors.NewRegistry(d), actors.Options{MailboxSize: 1})
	id, _ := eventlog.ParseID("slow:one")
	first := make(chan error, 1)
	go func() {
		_, err := e.rt.Call(bg, id, "wait", actors.Args{}, actors.CallOptions{})
		first <- err
	}()
	<-started
	// The second waits in the mailbox behind the first, which holds the
	// actor: its reply cannot come within the timeout.
	t0 := time.Now()
	_, err := e.rt.Call(bg, id, "wait", actors.Args{}, actors.CallOptions{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || actors.CodeOf(err) != actors.CodeUnavailable {
		t.Fatalf("a call past its timeout: %v, want unavailable and DeadlineExceeded", err)
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Fatalf("a call with a 50ms timeout took %v", took)
	}
	// The abandoned call is still in the mailbox (it is run, unanswered):
	// the mailbox of one is full, and a third call waits for room.
	_, err = e.rt.Call(bg, id, "wait", actors.Args{}, actors.CallOptions{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for the actor") {
		t.Fatalf("a call waiting for room past its timeout: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	r, err := e.rt.Call(bg, id, "wait", actors.Args{}, actors.CallOptions{Timeout: 5 * time.Second})
	if err != nil || string(r.Body) != "3" {
		t.Fatalf("after the release: %s %v, want 3 (the abandoned call ran)", r.Body, err)
	}
}

// TestRuntime_StalledAppendHoldsNoWorker: a worker that makes its actor's
// append itself leaves the pool while it waits for the sync, so an append
// held by a stalled disk does not keep the pool's only worker from the
// other actors; once the disk answers, the held call is answered too.
func TestRuntime_StalledAppendHoldsNoWorker(t *testing.T) {
	disk := eventlogtest.NewDisk(nil)
	l := eventlogtest.Open(t, t.TempDir(), eventlog.Options{Logger: quiet(), FS: disk.FS()})
	rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Workers: 1, Logger: quiet(), Frames: wire.Frames{}})
	defer func() {
		disk.Resume()
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Error(err)
		}
		l.Close()
	}()
	call(t, rt, "counter:other", "getCount", `{}`) // awake before the stall

	disk.Stall()
	held := make(chan error, 1)
	go func() {
		_, err := rt.Call(bg, eventlog.ID{Type: "counter", Key: "held"}, "increment", actors.JSONArgs([]byte(`{}`)), actors.CallOptions{})
		held <- err
	}()
	// Wait until the held call's append waits for its sync.
	deadline := time.Now().Add(5 * time.Second)
	for disk.Held() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the append never reached the log")
		}
		time.Sleep(time.Millisecond)
	}
	r, err := rt.Call(bg, eventlog.ID{Type: "counter", Key: "other"}, "getCount", actors.Args{}, actors.CallOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("a read on another actor while an append is stalled: %v (the append holds the only worker)", err)
	}
	if !strings.Contains(string(r.Body), `"count":0`) {
		t.Fatalf("counter:other: %s", r.Body)
	}
	select {
	case err := <-held:
		t.Fatalf("the held call was answered before its sync: %v", err)
	default:
	}
	disk.Resume()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}
