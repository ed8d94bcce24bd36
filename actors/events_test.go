package actors_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
)

func TestEvents_Sets(t *testing.T) {
	none := actors.OnlyEvents()
	ab := actors.OnlyEvents("a", "b")
	butA := actors.AllEvents().Without("a")
	cases := []struct {
		name   string
		set    *actors.Events
		has    string // the names of a, b, c it holds
		listed int
	}{
		{"all", actors.AllEvents(), "abc", 0},
		{"none", none, "", 0},
		{"a and b", ab, "ab", 2},
		{"a and b, with c", ab.With("c"), "abc", 3},
		{"a and b, without a and z", ab.Without("a", "z"), "b", 1},
		{"all but a", butA, "bc", 1},
		{"all but a, with a", butA.With("a"), "abc", 0},
		{"all but a, without b", butA.Without("b"), "c", 2},
		{"none, with b", none.With("b"), "b", 1},
		{"all, with b", actors.AllEvents().With("b"), "abc", 0},
	}
	for _, c := range cases {
		got := ""
		for _, n := range []string{"a", "b", "c"} {
			if c.set.Has(n) {
				got += n
			}
		}
		if got != c.has || c.set.Listed() != c.listed {
			t.Errorf("%s: holds %q listing %d, want %q listing %d", c.name, got, c.set.Listed(), c.has, c.listed)
		}
	}
	// Sets are values: editing one leaves it as it was.
	if !ab.Has("a") || ab.Has("c") || !butA.Has("b") || butA.Has("a") {
		t.Fatal("With or Without changed the set they were called on")
	}
	if actors.AllEvents().Without("a").With("a") != nil {
		t.Fatal("every name is the nil set")
	}
}

// countingFrames is wire.Frames, counting the event frames it builds by
// event type.
type countingFrames struct {
	wire.Frames
	mu    sync.Mutex
	built map[string]int
}

func (f *countingFrames) Event(e *eventlog.Event) ([]byte, error) {
	f.mu.Lock()
	f.built[e.Type]++
	f.mu.Unlock()
	return f.Frames.Event(e)
}

func (f *countingFrames) count(typ string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.built[typ]
}

// signals is an actor that emits the event named by its argument, or
// broadcasts it.
func signals() *actors.Def[int] {
	d := actors.Define("signals", func() int { return 0 })
	for _, ev := range []string{"a", "b"} {
		actors.On(d, ev, func(n *int, _ struct{}) { *n++ })
	}
	actors.Action(d, "emit", func(c *actors.Ctx[int], ev string) (int, error) {
		return *c.State() + 1, c.Emit(ev, struct{}{})
	})
	actors.Broadcast[map[string]int](d, "s")
	actors.Action(d, "broadcast", func(c *actors.Ctx[int], name string) (bool, error) {
		c.Broadcast(name, map[string]int{"n": *c.State()})
		return true, nil
	})
	return d
}

// frameTypes reads the types of the frames a connection received until
// it has been quiet for a moment.
func frameTypes(t *testing.T, c *actors.Conn) []string {
	t.Helper()
	var got []string
	for {
		select {
		case f := <-c.Frames():
			var m struct{ Type string }
			if err := json.Unmarshal(f.Data, &m); err != nil {
				t.Fatalf("frame %s: %v", f.Data, err)
			}
			got = append(got, m.Type)
		case <-time.After(100 * time.Millisecond):
			return got
		}
	}
}

// TestConn_Events: a connection receives the events and broadcasts it
// chose, by name; its choice changes while the actor delivers; an event's
// frame is built once, and not at all if no connection receives it; state
// frames are not filtered.
func TestConn_Events(t *testing.T) {
	frames := &countingFrames{built: map[string]int{}}
	e := start(t, t.TempDir(), actors.NewRegistry(signals()), actors.Options{Frames: frames})
	id := mustID("signals:x")
	connect := func(events *actors.Events, params map[string]string) *actors.Conn {
		t.Helper()
		c, _, err := e.rt.ConnectWith(bg, id, actors.ConnectOptions{Params: params, Events: events})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	onlyA := connect(actors.OnlyEvents("a"), nil)
	none := connect(actors.OnlyEvents(), nil)
	butB := connect(actors.AllEvents().Without("b"), nil)
	all := connect(nil, nil)
	stateOnly := connect(actors.OnlyEvents(), map[string]string{"state": "1"})
	for _, a := range []struct{ action, arg string }{{"emit", `"a"`}, {"emit", `"b"`}, {"broadcast", `"s"`}, {"emit", `"a"`}} {
		callAny(t, e.rt, "signals:x", a.action, a.arg)
	}
	for _, c := range []struct {
		name string
		conn *actors.Conn
		want string
	}{
		{"only a", onlyA, "[a a]"},
		{"none", none, "[]"},
		{"all but b", butB, "[a s a]"},
		{"all", all, "[a b s a]"},
	} {
		if got := frameTypes(t, c.conn); fmtList(got) != c.want {
			t.Errorf("%s: got frames %v, want %s", c.name, got, c.want)
		}
	}
	// State frames (after each lull: one per call here) are not filtered.
	if got := frameTypes(t, stateOnly); len(got) == 0 || slices.ContainsFunc(got, func(typ string) bool { return typ != "state" }) {
		t.Errorf("state frames only: got frames %v, want state frames", got)
	}
	if a, b := frames.count("a"), frames.count("b"); a != 2 || b != 1 {
		t.Fatalf("frames built: a %d, b %d; want each event's once", a, b)
	}
	// Without a connection that receives it, no frame is built.
	all.SetEvents(actors.OnlyEvents("a"))
	callAny(t, e.rt, "signals:x", "emit", `"b"`)
	if b := frames.count("b"); b != 1 {
		t.Fatalf("a frame of b was built with no connection receiving b (%d built)", b)
	}
	// A set changed while the actor delivers (for the race detector).
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			if i%2 == 0 {
				none.SetEvents(none.Events().With("b"))
			} else {
				none.SetEvents(none.Events().Without("b"))
			}
		}
	})
	for range 20 {
		callAny(t, e.rt, "signals:x", "emit", `"b"`)
	}
	wg.Wait()
	none.SetEvents(actors.OnlyEvents("b"))
	frameTypes(t, none)
	callAny(t, e.rt, "signals:x", "emit", `"b"`)
	if got := frameTypes(t, none); fmtList(got) != "[b]" {
		t.Fatalf("after subscribing to b: frames %v", got)
	}
}

func fmtList(l []string) string { return "[" + strings.Join(l, " ") + "]" }

// whoami is an actor whose action returns the id of the connection it
// was called over, 0 for none.
func whoami() *actors.Def[struct{}] {
	d := actors.Define("whoami", func() struct{} { return struct{}{} })
	actors.Action(d, "who", func(c *actors.Ctx[struct{}], _ actors.NoArgs) (uint64, error) {
		if c.Conn() == nil {
			return 0, nil
		}
		return c.Conn().ID, nil
	})
	return d
}

// TestCtx_Conn: an action called over a connection sees it; over none, nil.
// A call over a connection that is closed, or is another actor's, fails
// without running.
func TestCtx_Conn(t *testing.T) {
	e := start(t, t.TempDir(), actors.NewRegistry(whoami()), actors.Options{})
	who := func(id string, c *actors.Conn) (string, error) {
		r, err := e.rt.Call(bg, mustID(id), "who", actors.Args{}, actors.CallOptions{Conn: c})
		return string(r.Body), err
	}
	if got, err := who("whoami:a", nil); got != "0" || err != nil {
		t.Fatalf("without a connection: %s %v", got, err)
	}
	conn, _, err := e.rt.Connect(bg, mustID("whoami:a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := who("whoami:a", conn); got != fmt.Sprint(conn.ID) || err != nil {
		t.Fatalf("over connection %d: %s %v", conn.ID, got, err)
	}
	if _, err := who("whoami:b", conn); actors.CodeOf(err) != actors.CodeUnavailable {
		t.Fatalf("over another actor's connection: %v", err)
	}
	conn.Close()
	if _, err := who("whoami:a", conn); actors.CodeOf(err) != actors.CodeUnavailable {
		t.Fatalf("over a closed connection: %v", err)
	}
}

// TestConn_HookWritesFlushed: what OnConnect and OnDisconnect emit is
// appended at once, not when a call comes next (nor never: the runtime
// then could not stop).
func TestConn_HookWritesFlushed(t *testing.T) {
	d := actors.Define("lobby", func() int { return 0 })
	actors.On(d, "came", func(n *int, _ struct{}) { *n++ })
	actors.On(d, "went", func(n *int, _ struct{}) { *n-- })
	d.OnConnect = func(c *actors.Ctx[int], _ *actors.Conn) { c.Emit("came", struct{}{}) }
	d.OnDisconnect = func(c *actors.Ctx[int], _ *actors.Conn) { c.Emit("went", struct{}{}) }
	e := start(t, t.TempDir(), actors.NewRegistry(d), actors.Options{})
	id := mustID("lobby:x")
	waitHead := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			head, err := e.log.Head(bg, id)
			if err != nil {
				t.Fatal(err)
			}
			if head.Head == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("head %d, want %d", head.Head, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	conn, _, err := e.rt.Connect(bg, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitHead(1)
	conn.Close()
	waitHead(2)
}
