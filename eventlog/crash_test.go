package eventlog_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// tag is the data of a crash-test event: which append it belongs to and
// how many events that append had, so that a partial append shows.
type tag struct {
	Writer, Append, Index, Count int
}

func tagEvent(tg tag) eventlog.Event {
	// Data is a msgpack bin of 16 bytes: the four numbers.
	b := make([]byte, 0, 18)
	b = append(b, 0xc4, 16)
	for _, v := range []int{tg.Writer, tg.Append, tg.Index, tg.Count} {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	return eventlog.Event{Type: "tag", Data: b}
}

func readTag(e eventlog.Event) (tag, error) {
	if len(e.Data) != 18 || e.Data[0] != 0xc4 {
		return tag{}, fmt.Errorf("%s seq %d: data %x is not a tag", e.Actor, e.Seq, e.Data)
	}
	d := e.Data[2:]
	u := func(i int) int { return int(binary.BigEndian.Uint32(d[4*i:])) }
	return tag{u(0), u(1), u(2), u(3)}, nil
}

type ack struct {
	writer, append int
	res            eventlog.AppendResult
}

// TestLog_CrashRecovery crashes the store at random points while writers
// append, and checks the store that a crash could leave behind: every
// append acknowledged before the crash is there, whole, at the sequences
// it was given; no append is there in part; streams are gapless; the feed
// agrees with the streams.
func TestLog_CrashRecovery(t *testing.T) {
	iterations := 25
	if testing.Short() {
		iterations = 5
	}
	for it := 0; it < iterations; it++ {
		seed := uint64(time.Now().UnixNano()) + uint64(it)
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { crashOnce(t, seed) })
	}
}

func crashOnce(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	fs := vfs.NewCrashableMem()
	l, err := eventlog.Open("db", eventlog.Options{FS: fs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var (
		mu    sync.Mutex
		acked []ack
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)+2))
			id := eventlog.ID{Type: "counter", Key: fmt.Sprint("w", w)}
			if w%2 == 1 {
				id.Key = "shared" // several writers on one stream
			}
			for a := 0; !stop.Load(); a++ {
				n := 1 + r.IntN(4)
				evs := make([]eventlog.Event, n)
				for i := range evs {
					evs[i] = tagEvent(tag{w, a, i, n})
				}
				res, err := l.Append(context.Background(), id, eventlog.Any, evs...)
				if errors.Is(err, eventlog.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				acked = append(acked, ack{w, a, res})
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(time.Duration(2+rng.IntN(30)) * time.Millisecond)
	mu.Lock()
	durable := append([]ack(nil), acked...)
	mu.Unlock()
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(seed, 0))})
	stop.Store(true)
	wg.Wait()
	l.Close()
	if len(durable) == 0 {
		t.Log("crashed before any append was acknowledged")
	}

	l2, err := eventlog.Open("db", eventlog.Options{FS: crashed, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer l2.Close()
	checkConsistent(t, l2, durable)
}

// checkConsistent verifies a reopened store against the acknowledged
// appends.
func checkConsistent(t *testing.T, l *eventlog.Log, durable []ack) {
	t.Helper()
	ctx := context.Background()
	actors, err := l.ListActors(ctx, eventlog.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ writer, append int }
	seen := map[key][]eventlog.Event{}
	streamEvents := 0
	for _, st := range actors {
		evs, err := eventlog.ReadStream(ctx, l, st.Actor, 1, 1<<20)
		if err != nil {
			t.Fatalf("read %s: %v", st.Actor, err)
		}
		if uint64(len(evs)) != st.Head {
			t.Fatalf("%s: %d events, head %d", st.Actor, len(evs), st.Head)
		}
		for i, e := range evs {
			if e.Seq != uint64(i+1) {
				t.Fatalf("%s: event %d has seq %d: not gapless", st.Actor, i, e.Seq)
			}
			tg, err := readTag(e)
			if err != nil {
				t.Fatal(err)
			}
			seen[key{tg.Writer, tg.Append}] = append(seen[key{tg.Writer, tg.Append}], e)
		}
		streamEvents += len(evs)
	}
	for k, evs := range seen {
		tg, _ := readTag(evs[0])
		if len(evs) != tg.Count {
			t.Fatalf("append %v is partial: %d of %d events", k, len(evs), tg.Count)
		}
		for i, e := range evs {
			if tg2, _ := readTag(e); tg2.Index != i || (i > 0 && e.Seq != evs[i-1].Seq+1) {
				t.Fatalf("append %v is not contiguous and in order", k)
			}
		}
	}
	for _, a := range durable {
		evs, ok := seen[key{a.writer, a.append}]
		if !ok {
			t.Fatalf("acknowledged append (writer %d, append %d, seqs %d..%d) is lost", a.writer, a.append, a.res.First, a.res.Last)
		}
		if evs[0].Seq != a.res.First || evs[len(evs)-1].Seq != a.res.Last || evs[0].Pos != a.res.FirstPos {
			t.Fatalf("acknowledged append moved: got seqs %d.. pos %d, acknowledged %+v", evs[0].Seq, evs[0].Pos, a.res)
		}
	}
	feed, err := eventlog.ReadFeed(ctx, l, 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) != streamEvents {
		t.Fatalf("feed has %d events, streams %d", len(feed), streamEvents)
	}
	for i, e := range feed {
		if e.Pos != uint64(i+1) {
			t.Fatalf("feed position %d at index %d: gap", e.Pos, i)
		}
	}
	// The log goes on where it stopped.
	res, err := l.Append(ctx, eventlog.ID{Type: "counter", Key: "after"}, eventlog.NoStream, tagEvent(tag{99, 0, 0, 1}))
	if err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	if res.FirstPos != uint64(len(feed))+1 {
		t.Fatalf("append after recovery got position %d, want %d", res.FirstPos, len(feed)+1)
	}
}

// A fault is a place where the disk refuses writes: the kind of
// operation and the files it hits. trigger makes the store reach it.
type fault struct {
	name    string
	kinds   []errorfs.OpKind
	suffix  string // of the file's name
	compact bool   // reached by a flush and a compaction, not by an append
}

var faults = []fault{
	{name: "wal-write", kinds: []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt}, suffix: ".log"},
	{name: "wal-sync", kinds: []errorfs.OpKind{errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo}, suffix: ".log"},
	{name: "table-write", kinds: []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpCreate}, suffix: ".sst", compact: true},
	{name: "manifest-write", kinds: []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileSync, errorfs.OpCreate}, suffix: "MANIFEST", compact: true},
}

func (f fault) hits(op errorfs.Op) bool {
	if !strings.Contains(op.Path, f.suffix) {
		return false
	}
	for _, k := range f.kinds {
		if op.Kind == k {
			return true
		}
	}
	return false
}

// TestLog_WriteErrors makes the disk refuse writes at each fault point:
// the write that hits it fails, later writes are refused with
// ErrUnavailable while reads of what is durable go on, and once the disk
// takes writes again the log recovers by itself and goes on where it
// stopped; the store is consistent with every acknowledged append.
func TestLog_WriteErrors(t *testing.T) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			var failing atomic.Bool
			inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
				if failing.Load() && f.hits(op) {
					return errorfs.ErrInjected
				}
				return nil
			})
			l, err := eventlog.Open("db", eventlog.Options{FS: errorfs.Wrap(mem, inj), Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			id := eventlog.ID{Type: "counter", Key: "e"}
			// A subscriber follows the feed through the failure.
			sub, err := l.SubscribeFeed(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			var durable []ack
			appendOne := func(a int) error {
				res, err := l.Append(context.Background(), id, eventlog.Any, tagEvent(tag{0, a, 0, 1}))
				if err == nil {
					durable = append(durable, ack{0, a, res})
				}
				return err
			}
			for a := 0; a < 20; a++ {
				if err := appendOne(a); err != nil {
					t.Fatal(err)
				}
			}
			failing.Store(true)
			if f.compact {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := l.Compact(ctx)
				cancel()
				if err == nil || errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("compact with failing %s: err = %v, want a failure at once", f.name, err)
				}
				// The failure is in the background; the log stops
				// taking writes at once all the same.
				if err := appendOne(20); !errors.Is(err, eventlog.ErrUnavailable) {
					t.Fatalf("append after a failed flush: err = %v, want ErrUnavailable", err)
				}
			} else if err := appendOne(20); !errors.Is(err, eventlog.ErrUnavailable) {
				t.Fatalf("append with failing %s: err = %v, want ErrUnavailable", f.name, err)
			}
			if err := appendOne(21); !errors.Is(err, eventlog.ErrUnavailable) {
				t.Fatalf("append after a failure: err = %v, want ErrUnavailable", err)
			}
			if h := l.Health(); h.Writable || h.Reason == "" {
				t.Fatalf("health after a failure = %+v, want not writable, with a reason", h)
			}
			// Reads still work and show only durable events.
			evs, err := eventlog.ReadStream(context.Background(), l, id, 1, 100)
			if err != nil || len(evs) != 20 {
				t.Fatalf("read after failure: %d events, %v; want the 20 acknowledged", len(evs), err)
			}
			// The disk takes writes again: the log takes them too, by
			// itself, and goes on where it stopped.
			failing.Store(false)
			deadline := time.Now().Add(30 * time.Second)
			for !l.Health().Writable {
				if time.Now().After(deadline) {
					t.Fatalf("not writable 30s after the disk recovered: %+v", l.Health())
				}
				time.Sleep(20 * time.Millisecond)
			}
			for a := 22; a < 30; a++ {
				if err := appendOne(a); err != nil {
					t.Fatalf("append after recovery: %v", err)
				}
			}
			if err := l.Compact(context.Background()); err != nil {
				t.Fatalf("compact after recovery: %v", err)
			}
			// The subscriber saw the feed as it is on the disk: gapless,
			// whatever the failed writes left there included, in order.
			feed, err := eventlog.ReadFeed(context.Background(), l, 1, 1000)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i, want := range feed {
				got, err := sub.Next(ctx)
				if err != nil {
					t.Fatalf("subscriber, event %d of %d: %v", i+1, len(feed), err)
				}
				if got.Pos != want.Pos || got.Seq != want.Seq || string(got.Data) != string(want.Data) {
					t.Fatalf("subscriber event %d = pos %d seq %d, want pos %d seq %d", i+1, got.Pos, got.Seq, want.Pos, want.Seq)
				}
			}
			closed := make(chan error, 1)
			go func() { closed <- l.Close() }()
			select {
			case <-closed:
			case <-time.After(20 * time.Second):
				t.Fatal("Close hung after a write failure")
			}
			l2, err := eventlog.Open("db", eventlog.Options{FS: mem.CrashClone(vfs.CrashCloneCfg{}), Logger: quietLogger()})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer l2.Close()
			checkConsistent(t, l2, durable)
		})
	}
}
