package projection_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/projection"
	"github.com/cockroachdb/pebble/v2/vfs"
)

var bg = context.Background()

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// counting counts the events of each actor and in all, under "n/<actor>"
// and "total": a view where a lost or doubled event shows.
func counting(name string, types ...string) projection.Def {
	return projection.Def{
		Name:       name,
		Version:    1,
		ActorTypes: types,
		Handle: func(tx *projection.Tx, e *eventlog.Event) error {
			for _, k := range [][]byte{[]byte("n/" + e.Actor.String()), []byte("total")} {
				b, _, err := tx.Get(k)
				if err != nil {
					return err
				}
				var n uint64
				if len(b) == 8 {
					n = binary.BigEndian.Uint64(b)
				}
				tx.Put(k, binary.BigEndian.AppendUint64(nil, n+1))
			}
			return nil
		},
	}
}

func count(t *testing.T, v *projection.View, key string) uint64 {
	t.Helper()
	b, ok, err := v.Get(bg, []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func openLog(t *testing.T, dir string, fs vfs.FS) eventlog.Store {
	t.Helper()
	return eventlogtest.Open(t, dir, eventlog.Options{FS: fs, Logger: quiet()})
}

func start(t *testing.T, l eventlog.Store, defs ...projection.Def) *projection.Runner {
	t.Helper()
	r, err := projection.Start(l, projection.Options{Logger: quiet(), MaxBackoff: 200 * time.Millisecond}, defs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func waitCaughtUp(t *testing.T, r *projection.Runner, l eventlog.Store, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, name, l.Durable()); err != nil {
		st, _ := r.StatusOf(name)
		t.Fatalf("%s did not catch up to %d: %v (status %+v)", name, l.Durable(), err, st)
	}
}

func appendN(t *testing.T, l eventlog.Store, id eventlog.ID, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := l.Append(bg, id, eventlog.Any, eventlogtest.Ev("x", i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunner_CountsAndFilters(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	defer l.Close()
	r := start(t, l, counting("all"), counting("rooms", "chatRoom"), projection.Directory())
	defer r.Close(context.Background())
	a, b := eventlog.ID{Type: "counter", Key: "a"}, eventlog.ID{Type: "chatRoom", Key: "lobby"}
	appendN(t, l, a, 30)
	appendN(t, l, b, 12)
	for _, n := range []string{"all", "rooms", projection.DirectoryName} {
		waitCaughtUp(t, r, l, n)
	}
	all, _ := r.View("all")
	rooms, _ := r.View("rooms")
	if got := count(t, all, "total"); got != 42 {
		t.Fatalf("all/total = %d, want 42", got)
	}
	if got := count(t, rooms, "total"); got != 12 {
		t.Fatalf("rooms/total = %d, want 12 (only chatRoom events)", got)
	}
	if got := count(t, rooms, "n/counter:a"); got != 0 {
		t.Fatalf("rooms counted a counter's events: %d", got)
	}
	dir, _ := r.View(projection.DirectoryName)
	list, err := projection.ListActors(bg, dir, eventlog.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Actor != b || list[0].Head != 12 || list[1].Actor != a || list[1].Head != 30 || list[1].Created == 0 || list[1].Updated < list[1].Created {
		t.Fatalf("directory = %+v", list)
	}
	typed, _ := projection.ListActors(bg, dir, eventlog.ListOptions{Type: "counter"})
	if len(typed) != 1 || typed[0].Actor != a {
		t.Fatalf("directory of counters = %+v", typed)
	}
	st, _ := r.StatusOf("all")
	if st.Position != l.Durable() || st.LagEvents != 0 || st.State != "running" || st.Processed != 42 {
		t.Fatalf("status = %+v", st)
	}
}

// TestRunner_ExactlyOnceAcrossCrashes crashes the store at random points
// while writers append and projections run, reopens it, lets the
// projections catch up, and requires each count to equal exactly the
// events in the log: nothing lost, nothing counted twice.
func TestRunner_ExactlyOnceAcrossCrashes(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d", seed)
	fs := vfs.NewCrashableMem()
	ids := []eventlog.ID{{Type: "counter", Key: "a"}, {Type: "counter", Key: "b"}, {Type: "chatRoom", Key: "c"}}
	for round := 0; round < rounds; round++ {
		l := openLog(t, "db", fs)
		r, err := projection.Start(l, projection.Options{Logger: quiet(), BatchSize: 1 + rng.IntN(64)}, counting("all"), counting("rooms", "chatRoom"))
		if err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					if _, err := l.Append(bg, ids[w], eventlog.Any, eventlogtest.Ev("x", 1)); err != nil {
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(5+rng.IntN(40)) * time.Millisecond)
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(seed, uint64(round)))})
		stop.Store(true)
		wg.Wait()
		r.Close(context.Background())
		l.Close()
		fs = crashed

		// Recover and check.
		l = openLog(t, "db", fs)
		r = start(t, l, counting("all"), counting("rooms", "chatRoom"))
		waitCaughtUp(t, r, l, "all")
		waitCaughtUp(t, r, l, "rooms")
		all, _ := r.View("all")
		rooms, _ := r.View("rooms")
		var total uint64
		for _, id := range ids {
			h, _ := l.Head(bg, id)
			total += h.Head
			if got := count(t, all, "n/"+id.String()); got != h.Head {
				t.Fatalf("round %d: %s counted %d times, log holds %d events", round, id, got, h.Head)
			}
		}
		if got := count(t, all, "total"); got != total {
			t.Fatalf("round %d: total %d, log holds %d", round, got, total)
		}
		hc, _ := l.Head(bg, ids[2])
		if got := count(t, rooms, "total"); got != hc.Head {
			t.Fatalf("round %d: rooms total %d, want %d", round, got, hc.Head)
		}
		r.Close(context.Background())
		l.Close()
	}
}

func dump(t *testing.T, v *projection.View) string {
	t.Helper()
	var buf bytes.Buffer
	err := v.Scan(bg, nil, nil, false, func(k, val []byte) error {
		fmt.Fprintf(&buf, "%q=%x\n", k, val)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestRunner_ResetRebuildsIdentical(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	defer l.Close()
	r := start(t, l, counting("all"), projection.Directory())
	defer r.Close(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				l.Append(bg, eventlog.ID{Type: "counter", Key: fmt.Sprint("k", (w*7+i)%9)}, eventlog.Any, eventlogtest.Ev("x", i))
			}
		}()
	}
	wg.Wait()
	for _, name := range []string{"all", projection.DirectoryName} {
		waitCaughtUp(t, r, l, name)
		v, _ := r.View(name)
		before := dump(t, v)
		if err := r.Reset(bg, name); err != nil {
			t.Fatal(err)
		}
		waitCaughtUp(t, r, l, name)
		if after := dump(t, v); after != before {
			t.Fatalf("%s rebuilt from zero differs:\nincremental:\n%s\nrebuilt:\n%s", name, before, after)
		}
	}
}

func TestRunner_HandlerErrorIsolated(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	defer l.Close()
	var broken atomic.Bool
	broken.Store(true)
	flaky := counting("flaky")
	inner := flaky.Handle
	flaky.Handle = func(tx *projection.Tx, e *eventlog.Event) error {
		if broken.Load() && e.Seq == 3 {
			return errors.New("cannot handle seq 3")
		}
		return inner(tx, e)
	}
	r := start(t, l, flaky, counting("good"))
	defer r.Close(context.Background())
	appendN(t, l, eventlog.ID{Type: "counter", Key: "a"}, 5)
	waitCaughtUp(t, r, l, "good")
	deadline := time.Now().Add(10 * time.Second)
	var st projection.Status
	for time.Now().Before(deadline) {
		st, _ = r.StatusOf("flaky")
		if st.State == "failing" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// It stopped just after seq 2: at its position, which is 2 on a store
	// whose positions are dense, more where records take positions too.
	var pos2 uint64
	if err := l.ScanStream(bg, eventlog.ID{Type: "counter", Key: "a"}, 2, 2, func(e *eventlog.Event) error { pos2 = e.Pos; return nil }); err != nil || pos2 == 0 {
		t.Fatalf("position of seq 2: %d %v", pos2, err)
	}
	if st.State != "failing" || st.Position != pos2 || st.LastError == "" {
		t.Fatalf("flaky status = %+v; want failing at position %d (seq 2) with an error", st, pos2)
	}
	good, _ := r.View("good")
	if got := count(t, good, "total"); got != 5 {
		t.Fatalf("the other projection counted %d, want 5", got)
	}
	broken.Store(false)
	waitCaughtUp(t, r, l, "flaky")
	fv, _ := r.View("flaky")
	if got := count(t, fv, "total"); got != 5 {
		t.Fatalf("after recovery flaky counted %d, want 5", got)
	}
	if st, _ := r.StatusOf("flaky"); st.State != "running" {
		t.Fatalf("after recovery state = %s", st.State)
	}
}

func TestRunner_PauseResumeAndErased(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	defer l.Close()
	r := start(t, l, counting("all"))
	defer r.Close(context.Background())
	a, b := eventlog.ID{Type: "counter", Key: "a"}, eventlog.ID{Type: "counter", Key: "b"}
	appendN(t, l, a, 3)
	waitCaughtUp(t, r, l, "all")
	if err := r.Pause("all"); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, b, 4)
	appendN(t, l, a, 2)
	time.Sleep(50 * time.Millisecond)
	st, _ := r.StatusOf("all")
	// Paused after a's third event: its position is 3 on a store whose
	// positions are dense, more where records take positions too.
	var pos3 uint64
	if err := l.ScanStream(bg, a, 3, 3, func(e *eventlog.Event) error { pos3 = e.Pos; return nil }); err != nil || pos3 == 0 {
		t.Fatalf("position of a's seq 3: %d %v", pos3, err)
	}
	// LagEvents counts positions: 6 events, and on stores whose records
	// take positions (JetStream) more.
	if st.State != "paused" || st.Position != pos3 || st.LagEvents != st.Head-st.Position || st.LagEvents < 6 || st.LagTime < 40*time.Millisecond || st.LagTime > 10*time.Second {
		t.Fatalf("paused status = %+v", st)
	}
	// Erase b's events while paused: the projection must notice the
	// positions are gone, not skip them blindly.
	if err := l.Delete(bg, b, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Resume("all"); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, r, l, "all")
	st, _ = r.StatusOf("all")
	v, _ := r.View("all")
	// Processed counts the events delivered (3, then a's 2), not the
	// positions passed (b's 4 erased ones among them).
	if got := count(t, v, "total"); got != 5 || st.Processed != 5 {
		t.Fatalf("after resume: total %d processed %d; want 5 and 5", got, st.Processed)
	}
	if err := r.Pause("nope"); !errors.Is(err, projection.ErrUnknown) {
		t.Fatalf("pause of an unknown projection: %v", err)
	}
}

func TestRunner_VersionBumpRebuilds(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	r := start(t, l, counting("all"))
	appendN(t, l, eventlog.ID{Type: "counter", Key: "a"}, 4)
	waitCaughtUp(t, r, l, "all")
	r.Close(context.Background())
	v2 := counting("all")
	v2.Version = 2
	inner := v2.Handle
	v2.Handle = func(tx *projection.Tx, e *eventlog.Event) error {
		if err := inner(tx, e); err != nil {
			return err
		}
		return inner(tx, e) // version 2 counts each event twice
	}
	r = start(t, l, v2)
	defer func() { r.Close(context.Background()); l.Close() }()
	waitCaughtUp(t, r, l, "all")
	v, _ := r.View("all")
	if got := count(t, v, "total"); got != 8 {
		t.Fatalf("after a version bump total = %d, want 8 (rebuilt with the new handler)", got)
	}
	pos, ver, err := projection.ReadCheckpoint(bg, l, "all")
	if err != nil || pos != l.Durable() || ver != 2 {
		t.Fatalf("checkpoint = %d v%d, %v; want %d v2", pos, ver, err, l.Durable())
	}
}

func TestStart_RejectsBadDefs(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	defer l.Close()
	for _, d := range []projection.Def{{Name: "", Handle: counting("x").Handle}, {Name: "a b", Handle: counting("x").Handle}, {Name: "ok"}} {
		if _, err := projection.Start(l, projection.Options{}, d); err == nil {
			t.Errorf("Start accepted %+v", d.Name)
		}
	}
	if _, err := projection.Start(l, projection.Options{}, counting("a"), counting("a")); err == nil {
		t.Error("Start accepted a duplicate name")
	}
}

// TestRunner_StoreUnavailable fills the disk while a projection has events
// to catch up on: it cannot commit, shows failing with the store's reason,
// and once the disk takes writes it catches up by itself, every event
// counted once.
func TestRunner_StoreUnavailable(t *testing.T) {
	l, disk := eventlogtest.OpenFaulty(t, t.TempDir(), eventlog.Options{Logger: quiet()})
	r := start(t, l, counting("all"))
	defer r.Close(context.Background())
	if err := r.Pause("all"); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, eventlog.ID{Type: "counter", Key: "a"}, 50)
	disk.Fail()
	// A write fails, as writes do on a full disk; the projection's
	// first commit may be that write.
	l.Append(bg, eventlog.ID{Type: "counter", Key: "b"}, eventlog.Any, eventlogtest.Ev("x", 0))
	if err := r.Resume("all"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var st projection.Status
	for st.State != "failing" {
		if time.Now().After(deadline) {
			t.Fatalf("status on a full disk = %+v, want failing", st)
		}
		time.Sleep(10 * time.Millisecond)
		st, _ = r.StatusOf("all")
	}
	if !strings.Contains(st.LastError, "the disk is full") {
		t.Errorf("last error on a full disk = %q, want the store's reason", st.LastError)
	}
	disk.Heal()
	waitCaughtUp(t, r, l, "all")
	v, _ := r.View("all")
	if got := count(t, v, "total"); got != 50 {
		t.Fatalf("after the disk healed the projection counted %d, want 50", got)
	}
}
