package actors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/snapshots"
)

var bg = context.Background()

type env struct {
	dir   string
	log   eventlog.Store
	snaps *snapshots.Store
	rt    *actors.Runtime
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t *testing.T, dir string, reg *actors.Registry, opts actors.Options) *env {
	t.Helper()
	l := eventlogtest.Open(t, dir, eventlog.Options{Logger: quiet()})
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	if opts.Frames == nil {
		opts.Frames = wire.Frames{}
	}
	e := &env{dir: dir, log: l, snaps: snapshots.New(l, snapshots.Options{})}
	e.rt = actors.New(l, e.snaps, reg, opts)
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	if e.rt != nil {
		e.rt.Close(bg)
		e.log.Close()
		e.rt = nil
	}
}

func call(t *testing.T, rt *actors.Runtime, id, action, args string) map[string]any {
	t.Helper()
	var m map[string]any
	callInto(t, rt, id, action, args, &m)
	return m
}

func callInto(t *testing.T, rt *actors.Runtime, id, action, args string, v any) {
	t.Helper()
	r, err := rt.Call(bg, mustID(id), action, actors.JSONArgs([]byte(args)), actors.CallOptions{})
	if err != nil {
		t.Fatalf("%s.%s(%s): %v", id, action, args, err)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s.%s reply %q: %v", id, action, r.Body, err)
	}
}

func callAny(t *testing.T, rt *actors.Runtime, id, action, args string) any {
	t.Helper()
	var v any
	callInto(t, rt, id, action, args, &v)
	return v
}

func mustID(s string) eventlog.ID {
	id, err := eventlog.ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

func TestRuntime_CounterPersists(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir, seed.Registry(), actors.Options{})
	for i := 0; i < 5; i++ {
		call(t, e.rt, "counter:a", "increment", "")
	}
	if got := call(t, e.rt, "counter:a", "add", `{"value": 10}`)["count"]; got != 15.0 {
		t.Fatalf("after add: count = %v, want 15", got)
	}
	call(t, e.rt, "counter:a", "decrement", "{}")
	e.stop()
	e = start(t, dir, seed.Registry(), actors.Options{})
	got := call(t, e.rt, "counter:a", "getCount", "")
	if got["count"] != 14.0 || got["lastUpdated"].(float64) == 0 {
		t.Fatalf("after restart: %v, want count 14", got)
	}
	evs, _ := eventlog.ReadStream(bg, e.log, mustID("counter:a"), 1, 100)
	if len(evs) != 7 {
		t.Fatalf("log holds %d events, want 7 (getCount appends none)", len(evs))
	}
	if evs[0].Type != "countUpdated" || evs[0].Meta.Causation != "increment" {
		t.Fatalf("first event %+v", evs[0])
	}
}

func TestRuntime_Errors(t *testing.T) {
	e := start(t, t.TempDir(), seed.Registry(), actors.Options{})
	cases := []struct {
		id, action, args string
		code             actors.Code
	}{
		{"nope:a", "x", "", actors.CodeNotFound},
		{"counter:a", "nope", "", actors.CodeNotFound},
		{"counter:a", "add", `{}`, actors.CodeInvalid},
		{"counter:a", "add", `{"value": "x"}`, actors.CodeBadRequest},
		{"counter:a", "add", `{"value": 1.5}`, actors.CodeBadRequest},
		{"counter:a", "add", `{"value": 1`, actors.CodeBadRequest},
		{"counter:a", "add", `[1]`, actors.CodeBadRequest},
		{"chatRoom:a", "sendMessage", `{"username": "", "text": "x"}`, actors.CodeInvalid},
		{"chatRoom:a", "sendMessage", `{"username": "ann", "text": "  "}`, actors.CodeInvalid},
		{"chatRoom:a", "getMessages", `{"limit": 0}`, actors.CodeInvalid},
		{"serverTime:a", "setTimezone", `{"timezone": "Mars/Olympus"}`, actors.CodeInvalid},
	}
	for _, c := range cases {
		id, err := eventlog.ParseID(c.id)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.rt.Call(bg, id, c.action, actors.JSONArgs([]byte(c.args)), actors.CallOptions{})
		if actors.CodeOf(err) != c.code {
			t.Errorf("%s.%s(%s): err = %v, want code %s", c.id, c.action, c.args, err, c.code)
		}
	}
	if head, _ := e.log.Head(bg, mustID("counter:a")); head.Head != 0 {
		t.Fatalf("failed calls appended %d events", head.Head)
	}
}

func TestRuntime_HotActorSharesAppends(t *testing.T) {
	e := start(t, t.TempDir(), seed.Registry(), actors.Options{})
	const callers, each = 32, 20
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := e.rt.Call(bg, mustID("counter:hot"), "increment", actors.Args{}, actors.CallOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := call(t, e.rt, "counter:hot", "getCount", "")
	if got["count"] != float64(callers*each) {
		t.Fatalf("count = %v, want %d", got["count"], callers*each)
	}
	evs, _ := eventlog.ReadStream(bg, e.log, mustID("counter:hot"), 1, 10000)
	for i, ev := range evs {
		var s seed.CountUpdated
		if err := msgpackDecode(ev.Data, &s); err != nil || s.Count != int64(i+1) {
			t.Fatalf("event %d: count %d (%v), want %d", i, s.Count, err, i+1)
		}
	}
}

func TestRuntime_Idempotency(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir, seed.Registry(), actors.Options{})
	opts := actors.CallOptions{IdempotencyKey: "k1"}
	r1, err := e.rt.Call(bg, mustID("counter:i"), "increment", actors.Args{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.rt.Call(bg, mustID("counter:i"), "increment", actors.Args{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if string(r1.Body) != string(r2.Body) || !r2.Replayed {
		t.Fatalf("retry replied %s (replayed %v), first %s", r2.Body, r2.Replayed, r1.Body)
	}
	// Concurrent retries while the first is in flight.
	var wg sync.WaitGroup
	bodies := make([]string, 8)
	for i := range bodies {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := e.rt.Call(bg, mustID("counter:i"), "increment", actors.Args{}, actors.CallOptions{IdempotencyKey: "k2"})
			if err != nil {
				t.Error(err)
			}
			bodies[i] = string(r.Body)
		}(i)
	}
	wg.Wait()
	for _, b := range bodies {
		if b != `{"count":2}` {
			t.Fatalf("concurrent retries replied %v, want all {\"count\":2}", bodies)
		}
	}
	e.stop()
	e = start(t, dir, seed.Registry(), actors.Options{})
	r3, err := e.rt.Call(bg, mustID("counter:i"), "increment", actors.Args{}, actors.CallOptions{IdempotencyKey: "k1", Format: actors.JSON})
	if err != nil || string(r3.Body) != `{"count":1}` {
		t.Fatalf("retry after restart: %s, %v", r3.Body, err)
	}
	if head, _ := e.log.Head(bg, mustID("counter:i")); head.Head != 2 {
		t.Fatalf("head = %d, want 2: retries appended", head.Head)
	}
}

// probe is a test actor with a panicking action, timers and hooks.
type probeState struct {
	N     int      `json:"n"`
	Fired []string `json:"fired"`
}

type hookLog struct {
	mu    sync.Mutex
	hooks []string
}

func (h *hookLog) add(s string) {
	h.mu.Lock()
	h.hooks = append(h.hooks, s)
	h.mu.Unlock()
}

func (h *hookLog) has(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range h.hooks {
		if x == s {
			return true
		}
	}
	return false
}

func probe(h *hookLog) *actors.Def[probeState] {
	d := actors.Define("probe", func() probeState { return probeState{} })
	actors.On(d, "added", func(s *probeState, n int) { s.N += n })
	actors.On(d, "fired", func(s *probeState, tag string) { s.Fired = append(s.Fired, tag) })
	actors.Action(d, "add", func(c *actors.Ctx[probeState], n int) (int, error) {
		return c.State().N + n, c.Emit("added", n)
	})
	actors.Action(d, "get", func(c *actors.Ctx[probeState], _ actors.NoArgs) (probeState, error) {
		return *c.State(), nil
	})
	actors.Action(d, "boom", func(c *actors.Ctx[probeState], _ actors.NoArgs) (int, error) {
		c.Emit("added", 1000)
		panic("boom")
	})
	actors.Action(d, "failAfterEmit", func(c *actors.Ctx[probeState], _ actors.NoArgs) (int, error) {
		c.Emit("added", 1000)
		return 0, actors.Invalid("no")
	})
	actors.Action(d, "later", func(c *actors.Ctx[probeState], a struct {
		Ms  int    `json:"ms"`
		Tag string `json:"tag"`
	}) (string, error) {
		return c.Schedule(time.Duration(a.Ms)*time.Millisecond, "fire", a.Tag)
	})
	actors.Action(d, "fire", func(c *actors.Ctx[probeState], tag string) (bool, error) {
		h.add("fire:" + tag)
		return true, c.Emit("fired", tag)
	})
	d.OnWake = func(c *actors.Ctx[probeState]) { h.add("wake") }
	d.OnSleep = func(c *actors.Ctx[probeState]) { h.add("sleep") }
	d.OnStateChange = func(c *actors.Ctx[probeState]) { h.add("change") }
	d.OnBeforeConnect = func(c *actors.Ctx[probeState], p map[string]string) error {
		if p["token"] != "ok" {
			return errors.New("bad token")
		}
		return nil
	}
	return d
}

func TestRuntime_PanicRebuilds(t *testing.T) {
	h := &hookLog{}
	e := start(t, t.TempDir(), actors.NewRegistry(probe(h)), actors.Options{})
	callAny(t, e.rt, "probe:p", "add", "2")
	_, err := e.rt.Call(bg, mustID("probe:p"), "boom", actors.Args{}, actors.CallOptions{})
	if actors.CodeOf(err) != actors.CodeInternal {
		t.Fatalf("panicking action: err = %v, want internal", err)
	}
	_, err = e.rt.Call(bg, mustID("probe:p"), "failAfterEmit", actors.Args{}, actors.CallOptions{})
	if actors.CodeOf(err) != actors.CodeInvalid {
		t.Fatalf("failing action: err = %v", err)
	}
	if got := call(t, e.rt, "probe:p", "get", "")["n"]; got != 2.0 {
		t.Fatalf("state after panic and failure: n = %v, want 2", got)
	}
	if head, _ := e.log.Head(bg, mustID("probe:p")); head.Head != 1 {
		t.Fatalf("head = %d, want 1", head.Head)
	}
	if !h.has("change") || !h.has("wake") {
		t.Fatalf("hooks run: %v", h.hooks)
	}
}

func TestRuntime_SleepAndTimers(t *testing.T) {
	dir := t.TempDir()
	h := &hookLog{}
	e := start(t, dir, actors.NewRegistry(probe(h)), actors.Options{IdleTimeout: 50 * time.Millisecond})
	callAny(t, e.rt, "probe:t", "later", `{"ms": 300, "tag": "a"}`)
	callAny(t, e.rt, "probe:t", "later", `{"ms": 60000, "tag": "restart"}`)
	deadline := time.Now().Add(5 * time.Second)
	for !h.has("sleep") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !h.has("sleep") || e.rt.Awake() != 0 {
		t.Fatalf("actor did not sleep: hooks %v, awake %d", h.hooks, e.rt.Awake())
	}
	for !h.has("fire:a") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !h.has("fire:a") {
		t.Fatalf("timer did not fire and wake the actor: %v", h.hooks)
	}
	if got := call(t, e.rt, "probe:t", "get", "")["fired"]; fmt.Sprint(got) != "[a]" {
		t.Fatalf("fired = %v, want [a]", got)
	}
	e.stop()
	// A timer set before a restart fires after it: move it to now by
	// setting a new one that is due at once.
	h2 := &hookLog{}
	e = start(t, dir, actors.NewRegistry(probe(h2)), actors.Options{})
	callAny(t, e.rt, "probe:t2", "later", `{"ms": 0, "tag": "b"}`)
	for !h2.has("fire:b") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !h2.has("fire:b") {
		t.Fatal("timer due at once did not fire")
	}
}

func TestRuntime_ConnectAndFrames(t *testing.T) {
	h := &hookLog{}
	e := start(t, t.TempDir(), actors.NewRegistry(probe(h)), actors.Options{})
	if _, _, err := e.rt.Connect(bg, mustID("probe:c"), map[string]string{"token": "no"}); actors.CodeOf(err) != actors.CodeForbidden {
		t.Fatalf("refused connect: err = %v", err)
	}
	callAny(t, e.rt, "probe:c", "add", "1")
	conn, init, err := e.rt.Connect(bg, mustID("probe:c"), map[string]string{"token": "ok"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if init.Seq != 1 || string(init.State) != `{"n":1,"fired":null}` {
		t.Fatalf("init = %d %s", init.Seq, init.State)
	}
	for i := 0; i < 3; i++ {
		callAny(t, e.rt, "probe:c", "add", "5")
	}
	for want := uint64(2); want <= 4; want++ {
		select {
		case f := <-conn.Frames():
			if f.Seq != want || string(f.Data) != fmt.Sprintf(`{"data":5,"seq":%d,"type":"added"}`, want) {
				t.Fatalf("frame %d: %d %s", want, f.Seq, f.Data)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no frame")
		}
	}
}

func TestRuntime_SlowConsumerDropped(t *testing.T) {
	h := &hookLog{}
	e := start(t, t.TempDir(), actors.NewRegistry(probe(h)), actors.Options{ConnBuffer: 4})
	conn, _, err := e.rt.Connect(bg, mustID("probe:s"), map[string]string{"token": "ok"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		callAny(t, e.rt, "probe:s", "add", "1")
	}
	select {
	case <-conn.Done():
		if !errors.Is(conn.Err(), actors.ErrSlowConsumer) {
			t.Fatalf("dropped with %v", conn.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow consumer not dropped")
	}
	// The actor keeps serving.
	if got := call(t, e.rt, "probe:s", "get", "")["n"]; got != 10.0 {
		t.Fatalf("n = %v", got)
	}
}

func TestRuntime_StateAtAndSnapshots(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir, seed.Registry(), actors.Options{Snapshots: snapshots.Policy{Every: 10}})
	for i := 0; i < 35; i++ {
		call(t, e.rt, "counter:s", "increment", "")
	}
	def, _ := e.rt.Registry().Lookup("counter")
	for _, at := range []uint64{1, 9, 10, 11, 20, 35} {
		b, seq, err := actors.StateAt(bg, e.log, e.snaps, def, mustID("counter:s"), at)
		if err != nil || seq != at {
			t.Fatalf("StateAt(%d): seq %d, %v", at, seq, err)
		}
		var s seed.CounterState
		json.Unmarshal(b, &s)
		if s.Count != int64(at) {
			t.Fatalf("StateAt(%d) count = %d", at, s.Count)
		}
	}
	time.Sleep(100 * time.Millisecond)
	list, _ := e.snaps.List(bg, mustID("counter:s"))
	if len(list) == 0 {
		t.Fatal("no snapshot taken with policy every 10")
	}
	if _, _, err := actors.StateAt(bg, e.log, e.snaps, def, mustID("counter:s"), 36); actors.CodeOf(err) != actors.CodeNotFound {
		t.Fatalf("StateAt past head: %v", err)
	}
}

func TestRuntime_StateFrames(t *testing.T) {
	e := start(t, t.TempDir(), seed.Registry(), actors.Options{})
	conn, init, err := e.rt.Connect(bg, mustID("counter:sf"), map[string]string{"state": "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if init.Seq != 0 {
		t.Fatalf("init seq %d", init.Seq)
	}
	plain, _, err := e.rt.Connect(bg, mustID("counter:sf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for i := 0; i < 3; i++ {
		call(t, e.rt, "counter:sf", "increment", "")
	}
	// Event frames, in order, then a state frame once the actor is idle;
	// the last state frame holds the final count.
	deadline := time.After(5 * time.Second)
	var last map[string]any
	events := 0
	for last == nil || last["seq"] != 3.0 {
		select {
		case f := <-conn.Frames():
			var m map[string]any
			json.Unmarshal(f.Data, &m)
			switch m["type"] {
			case "countUpdated":
				events++
				if last != nil && last["seq"].(float64) >= m["seq"].(float64) {
					t.Fatalf("event %v after a state frame at %v", m["seq"], last["seq"])
				}
			case "state":
				last = m
			default:
				t.Fatalf("unexpected frame %s", f.Data)
			}
		case <-deadline:
			t.Fatalf("no state frame at seq 3; last %v", last)
		}
	}
	if events != 3 || last["state"].(map[string]any)["count"] != 3.0 {
		t.Fatalf("events %d, state %v", events, last)
	}
	// A connection that did not ask gets events only.
	for i := 0; i < 3; i++ {
		select {
		case f := <-plain.Frames():
			if !strings.Contains(string(f.Data), `"countUpdated"`) {
				t.Fatalf("plain connection got %s", f.Data)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("plain connection got no events")
		}
	}
	select {
	case f := <-plain.Frames():
		t.Fatalf("plain connection got an extra frame %s", f.Data)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRuntime_MaxAwakeBoundsMemory(t *testing.T) {
	e := start(t, t.TempDir(), seed.Registry(), actors.Options{MaxAwake: 10})
	for i := 0; i < 200; i++ {
		call(t, e.rt, fmt.Sprintf("counter:m%d", i), "increment", "")
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.rt.Awake() > 11 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := e.rt.Awake(); n > 11 {
		t.Fatalf("%d actors awake with MaxAwake 10", n)
	}
	// The evicted ones wake again with their state.
	for i := 0; i < 200; i += 37 {
		if got := call(t, e.rt, fmt.Sprintf("counter:m%d", i), "increment", "")["count"]; got != 2.0 {
			t.Fatalf("counter:m%d = %v after eviction, want 2", i, got)
		}
	}
	// An actor with a connection is in use: it is not evicted.
	conn, _, err := e.rt.Connect(bg, mustID("counter:held"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < 50; i++ {
		call(t, e.rt, fmt.Sprintf("counter:n%d", i), "increment", "")
	}
	select {
	case <-conn.Done():
		t.Fatalf("a connected actor was evicted: %v", conn.Err())
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRuntime_Retention(t *testing.T) {
	dir := t.TempDir()
	opts := actors.Options{
		Snapshots: snapshots.Policy{Every: 10},
		Retention: map[string]actors.Retention{"counter": {KeepEvents: 5}},
	}
	e := start(t, dir, seed.Registry(), opts)
	for i := 0; i < 100; i++ {
		call(t, e.rt, "counter:r", "increment", "")
		call(t, e.rt, "chatRoom:kept", "sendMessage", `{"username":"a","text":"x"}`)
	}
	id := mustID("counter:r")
	deadline := time.Now().Add(5 * time.Second)
	var head eventlog.StreamInfo
	for time.Now().Before(deadline) {
		head, _ = e.log.Head(bg, id)
		if head.First > 90 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if head.Head != 100 || head.First <= 90 || head.First > 96 {
		t.Fatalf("head %d first %d: want head 100 and only the events after the last snapshot's cut kept", head.Head, head.First)
	}
	if kept, _ := e.log.Head(bg, mustID("chatRoom:kept")); kept.First != 1 {
		t.Fatalf("a type without retention lost events: first %d", kept.First)
	}
	def, _ := e.rt.Registry().Lookup("counter")
	if _, _, err := actors.StateAt(bg, e.log, e.snaps, def, id, 3); actors.CodeOf(err) != actors.CodeNotFound {
		t.Fatalf("state at a dropped sequence: %v", err)
	}
	e.stop()
	e = start(t, dir, seed.Registry(), opts)
	if got := call(t, e.rt, "counter:r", "increment", "")["count"]; got != 101.0 {
		t.Fatalf("after restart count = %v, want 101: the state is whole", got)
	}
}

func TestRuntime_IdempotencyTTL(t *testing.T) {
	e := start(t, t.TempDir(), seed.Registry(), actors.Options{IdempotencyTTL: 200 * time.Millisecond})
	opts := actors.CallOptions{IdempotencyKey: "k"}
	r1, err := e.rt.Call(bg, mustID("counter:ttl"), "increment", actors.Args{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r2, _ := e.rt.Call(bg, mustID("counter:ttl"), "increment", actors.Args{}, opts); string(r2.Body) != string(r1.Body) || !r2.Replayed {
		t.Fatalf("retry within the TTL: %s replayed %v", r2.Body, r2.Replayed)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		r4, err := e.rt.Call(bg, mustID("counter:ttl"), "increment", actors.Args{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !r4.Replayed {
			return // swept: the key runs the action again
		}
	}
	t.Fatal("the idempotency record outlived its TTL by seconds")
}

type sleeperState struct {
	Slept int `json:"slept"`
}

// TestRuntime_SleepEventsInSnapshot has OnSleep emit an event and a
// snapshot taken at every sleep: the snapshot holds the event, so that the
// actor wakes with it folded in, once.
func TestRuntime_SleepEventsInSnapshot(t *testing.T) {
	d := actors.Define("sleeper", func() sleeperState { return sleeperState{} })
	actors.On(d, "slept", func(s *sleeperState, _ actors.NoArgs) { s.Slept++ })
	actors.Action(d, "get", func(c *actors.Ctx[sleeperState], _ actors.NoArgs) (sleeperState, error) {
		return *c.State(), nil
	})
	d.OnSleep = func(c *actors.Ctx[sleeperState]) { c.Emit("slept", actors.NoArgs{}) }
	e := start(t, t.TempDir(), actors.NewRegistry(d), actors.Options{IdleTimeout: 20 * time.Millisecond, SnapshotOnSleep: 1})
	for want := 0; want < 3; want++ {
		if got := call(t, e.rt, "sleeper:s", "get", "")["slept"]; got != float64(want) {
			t.Fatalf("wake %d: slept = %v, want %d", want, got, want)
		}
		deadline := time.Now().Add(5 * time.Second)
		for e.rt.Awake() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the actor did not sleep")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	infos, err := e.snaps.List(bg, mustID("sleeper:s"))
	if err != nil || len(infos) == 0 || infos[len(infos)-1].Seq != 3 {
		t.Fatalf("snapshots: %+v, %v; want the latest at seq 3, after the third sleep", infos, err)
	}
}
