package actors_test

// Scale benchmarks of the runtime: memory of sleeping and awake actors,
// the bound on awake actors, startup time against the size of the store,
// wake time against history length, and retention. Results and the
// commands that produced them are in BENCHMARKS.md.
//
//	go test ./actors -run '^$' -bench ScaleMemory -benchtime 1x -count 2 -timeout 60m
//	go test ./actors -run '^$' -bench ScaleStartup -benchtime 5x -timeout 60m
//	go test ./actors -run '^$' -bench ScaleWake -benchtime 5x -count 3 -timeout 60m
//	go test ./actors -run '^$' -bench ScaleRetention -benchtime 1x -count 3 -timeout 60m
//
// Large stores are built once per test binary with NoSync appends (under
// the system's temporary directory), settled (memtable flushed,
// compactions finished), and reopened with the default, durable options
// for the measurements. TestMain removes them. Every benchmark here is
// skipped with -short.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"
)

var sbg = context.Background()

// scaleData encodes v as the runtime encodes event data: msgpack with the
// `json` struct tags and compact integers.
func scaleData(v any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// counterEvents returns the counter's events with sequences from to
// from+n-1, each setting the count to its sequence.
func counterEvents(from uint64, n int) []eventlog.Event {
	now := time.Now().UnixMilli()
	out := make([]eventlog.Event, n)
	for i := range out {
		out[i] = eventlog.Event{Type: "countUpdated", Data: scaleData(seed.CountUpdated{Count: int64(from) + int64(i), LastUpdated: now})}
	}
	return out
}

// appendCounter appends n counter events to id, whose head is head, in
// appends of at most per events.
func appendCounter(l *eventlog.Log, id eventlog.ID, head uint64, n, per int) error {
	for n > 0 {
		k := min(n, per)
		if _, err := l.Append(sbg, id, eventlog.ExpectSeq(head), counterEvents(head+1, k)...); err != nil {
			return err
		}
		head += uint64(k)
		n -= k
	}
	return nil
}

// scaleBuilders is the number of goroutines appending to a fixture.
const scaleBuilders = 4

// buildCounters appends perActor counter events to each of the actors
// counter:<prefix><i>, i < actors, in appends of at most per events, from
// scaleBuilders goroutines.
func buildCounters(l *eventlog.Log, prefix string, actors, perActor, per int) error {
	errs := make([]error, scaleBuilders)
	var wg sync.WaitGroup
	for w := range scaleBuilders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := w; a < actors; a += scaleBuilders {
				id := eventlog.ID{Type: "counter", Key: fmt.Sprintf("%s%07d", prefix, a)}
				if errs[w] = appendCounter(l, id, 0, perActor, per); errs[w] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// scaleFixture is a store built once per test binary by build, on a log
// opened with NoSync, then settled.
type scaleFixture struct {
	name  string
	build func(l *eventlog.Log) error
	// after, if set, runs on the settled store opened durable.
	after func(l *eventlog.Log) error

	once   sync.Once
	dir    string
	err    error
	events uint64
	size   uint64
}

func (f *scaleFixture) path(b *testing.B) string {
	f.once.Do(func() {
		t0 := time.Now()
		if f.dir, f.err = os.MkdirTemp("", "actors-bench-"+f.name+"-"); f.err != nil {
			return
		}
		l, err := eventlog.Open(f.dir, eventlog.Options{NoSync: true, Logger: quiet()})
		if err != nil {
			f.err = err
			return
		}
		f.err = f.build(l)
		f.events = l.Durable()
		if err := l.Close(); f.err == nil {
			f.err = err
		}
		if f.err != nil {
			return
		}
		built := time.Since(t0)
		t1 := time.Now()
		if f.size, f.err = scaleSettle(f.dir); f.err != nil {
			return
		}
		settled := time.Since(t1)
		var after time.Duration
		if f.after != nil {
			t2 := time.Now()
			if l, f.err = eventlog.Open(f.dir, eventlog.Options{Logger: quiet()}); f.err != nil {
				return
			}
			f.err = f.after(l)
			if err := l.Close(); f.err == nil {
				f.err = err
			}
			if f.err != nil {
				return
			}
			after = time.Since(t2)
		}
		b.Logf("fixture %s: %d events appended in %v, settled in %v (%.1f MiB on disk), prepared in %v",
			f.name, f.events, built.Round(time.Millisecond), settled.Round(time.Millisecond), float64(f.size)/(1<<20), after.Round(time.Millisecond))
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	return f.dir
}

func (f *scaleFixture) remove() {
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

// scaleSettle flushes the memtable of the store in dir and waits until
// Pebble has had no compaction in progress for a second. It returns the
// store's size on disk.
func scaleSettle(dir string) (uint64, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: scalePebbleLogger{}})
	if err != nil {
		return 0, err
	}
	if err := db.Flush(); err != nil {
		db.Close()
		return 0, err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for idle := 0; idle < 10 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if db.Metrics().Compact.NumInProgress == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	size := db.Metrics().DiskSpaceUsage()
	return size, db.Close()
}

type scalePebbleLogger struct{}

func (scalePebbleLogger) Infof(string, ...any)  {}
func (scalePebbleLogger) Errorf(string, ...any) {}
func (scalePebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// catchUpProjections runs the projections `actorlog serve` runs until
// they reach the head, so that their checkpoints are there at the next
// start.
func catchUpProjections(l *eventlog.Log) error {
	r, err := projection.Start(l, projection.Options{Logger: quiet()}, projection.Directory(), seed.ChatRooms())
	if err != nil {
		return err
	}
	defer r.Close(context.Background())
	for _, name := range r.Names() {
		if err := r.WaitFor(sbg, name, l.Durable()); err != nil {
			return err
		}
	}
	return nil
}

var (
	// 1M counters with one event each: counter:m0000000 to m0999999.
	fixSleepers = &scaleFixture{name: "sleepers", build: func(l *eventlog.Log) error {
		return buildCounters(l, "m", 1_000_000, 1, 1)
	}}
	// Stores of 10k, 1M and 10M events for startup: 1000 events per
	// actor, appended 1000 per Append, so 10, 1k and 10k actors; the
	// projections caught up to the head.
	fixStart10k = &scaleFixture{name: "start10k", build: func(l *eventlog.Log) error {
		return buildCounters(l, "s", 10, 1000, 1000)
	}, after: catchUpProjections}
	fixStart1M = &scaleFixture{name: "start1M", build: func(l *eventlog.Log) error {
		return buildCounters(l, "s", 1000, 1000, 1000)
	}, after: catchUpProjections}
	fixStart10M = &scaleFixture{name: "start10M", build: func(l *eventlog.Log) error {
		return buildCounters(l, "s", 10_000, 1000, 1000)
	}, after: catchUpProjections}
	// Actors with long histories, with and without a snapshot.
	fixWake = &scaleFixture{name: "wake", build: buildWake}

	scaleFixtures = []*scaleFixture{fixSleepers, fixStart10k, fixStart1M, fixStart10M, fixWake}
)

// memSnap is the Go memory in use after a full collection.
type memSnap struct {
	heap, stack uint64
	goroutines  int
}

func readMem() memSnap {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSnap{heap: m.HeapAlloc, stack: m.StackInuse, goroutines: runtime.NumGoroutine()}
}

func (m memSnap) total() int64 { return int64(m.heap + m.stack) }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// getCount calls getCount on id and returns the count.
func getCount(ctx context.Context, rt *actors.Runtime, id eventlog.ID) (int64, error) {
	r, err := rt.Call(ctx, id, "getCount", actors.Args{}, actors.CallOptions{})
	if err != nil {
		return 0, err
	}
	var s seed.CounterState
	if err := json.Unmarshal(r.Body, &s); err != nil {
		return 0, err
	}
	return s.Count, nil
}

// callAll calls getCount on counter:m<i> for i in [from, to) from
// workers goroutines and checks each count is 1.
func callAll(rt *actors.Runtime, from, to, workers int, after func()) error {
	var next atomic.Int64
	next.Store(int64(from))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(to) {
					return
				}
				id := eventlog.ID{Type: "counter", Key: fmt.Sprintf("m%07d", i)}
				n, err := getCount(sbg, rt, id)
				if err == nil && n != 1 {
					err = fmt.Errorf("%s: count %d, want 1", id, n)
				}
				if err != nil {
					errs[w] = err
					return
				}
				if after != nil {
					after()
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkScaleMemory measures the Go memory (heap after GC plus
// goroutine stacks) of actors, over a store of 1M counters with one event
// each.
//
//	sleeping=1M   heap after opening the store and starting a runtime over
//	              it, against the same over an empty store: sleeping
//	              actors cost nothing. Then 10k actors are woken (getCount,
//	              IdleTimeout 1h) and the memory per awake idle counter is
//	              the growth divided by 10k (and, to leave out caches the
//	              wakes filled, the drop when the runtime is closed and they
//	              all sleep, divided by 10k).
//	maxAwake=1000 100k distinct actors called with MaxAwake 1000: memory
//	              after each 10k calls, and the most actors awake at once
//	              (sampled every millisecond).
func BenchmarkScaleMemory(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a store of 1M actors")
	}
	b.Run("sleeping=1M", func(b *testing.B) {
		dir := fixSleepers.path(b)
		for range b.N {
			// An empty store first, for comparison.
			empty := readMem()
			le, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			rte := actors.New(le, snapshots.New(le, snapshots.Options{}), seed.Registry(), actors.Options{Logger: quiet()})
			emptyRT := readMem()
			rte.Close(sbg)
			le.Close()

			base := readMem()
			l, err := eventlog.Open(dir, eventlog.Options{Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			opened := readMem()
			rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: quiet(), IdleTimeout: time.Hour})
			started := readMem()
			const awake = 10_000
			t0 := time.Now()
			if err := callAll(rt, 0, awake, 16, nil); err != nil {
				b.Fatal(err)
			}
			wakeTime := time.Since(t0)
			if n := rt.Awake(); n != awake {
				b.Fatalf("%d actors awake, want %d", n, awake)
			}
			woken := readMem()
			rt.Close(sbg)
			closed := readMem()
			l.Close()

			b.ReportMetric(mib(emptyRT.total()-empty.total()), "empty-store-open+runtime-MiB")
			b.ReportMetric(mib(started.total()-base.total()), "1M-store-open+runtime-MiB")
			b.ReportMetric(float64(started.total()-opened.total()), "runtime-over-1M-sleeping-B")
			b.ReportMetric(float64(woken.total()-started.total())/awake, "B/awake-actor")
			b.ReportMetric(float64(woken.heap-started.heap)/awake, "heap-B/awake-actor")
			b.ReportMetric(float64(woken.stack-started.stack)/awake, "stack-B/awake-actor")
			b.ReportMetric(float64(woken.total()-closed.total())/awake, "released-B/actor")
			b.ReportMetric(float64(woken.goroutines-started.goroutines)/awake, "goroutines/actor")
			b.ReportMetric(awake/wakeTime.Seconds(), "wakes/s")
			b.Logf("Go memory (heap+stacks) MiB: before %.2f, store open %.2f, runtime started %.2f, 10k awake %.2f, runtime closed %.2f; empty store: before %.2f, open+runtime %.2f",
				mib(base.total()), mib(opened.total()), mib(started.total()), mib(woken.total()), mib(closed.total()), mib(empty.total()), mib(emptyRT.total()))
		}
	})
	b.Run("maxAwake=1000", func(b *testing.B) {
		dir := fixSleepers.path(b)
		for range b.N {
			l, err := eventlog.Open(dir, eventlog.Options{Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			const maxAwake, calls, step = 1000, 100_000, 10_000
			rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: quiet(), IdleTimeout: time.Hour, MaxAwake: maxAwake})
			var peak atomic.Int64
			stop := make(chan struct{})
			var sampler sync.WaitGroup
			sampler.Add(1)
			go func() {
				defer sampler.Done()
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if n := int64(rt.Awake()); n > peak.Load() {
							peak.Store(n)
						}
					}
				}
			}()
			start := readMem()
			var heaps []float64
			t0 := time.Now()
			for from := 0; from < calls; from += step {
				if err := callAll(rt, from, from+step, 16, nil); err != nil {
					b.Fatal(err)
				}
				m := readMem()
				heaps = append(heaps, mib(m.total()))
			}
			elapsed := time.Since(t0)
			close(stop)
			sampler.Wait()
			awake := rt.Awake()
			rt.Close(sbg)
			l.Close()
			b.ReportMetric(float64(peak.Load()), "max-awake")
			b.ReportMetric(float64(awake), "awake-at-end")
			b.ReportMetric(mib(start.total()), "MiB-at-start")
			b.ReportMetric(heaps[0], "MiB-after-10k")
			b.ReportMetric(heaps[len(heaps)-1], "MiB-after-100k")
			b.ReportMetric(slices.Max(heaps), "MiB-max")
			b.ReportMetric(calls/elapsed.Seconds(), "calls/s")
			b.Logf("Go memory (heap+stacks) MiB after each 10k distinct actors: %.2f", heaps)
		}
	})
}

// BenchmarkScaleStartup times a restart: eventlog.Open (default, durable
// options), snapshots.New, actors.New and projection.Start of the
// directory and chat rooms projections, whose checkpoints are at the head,
// on stores of 10k, 1M and 10M events, and of 1M actors. Each iteration
// opens and closes the store; ns/op is the whole startup. Also reported:
// Open alone, the projections' first WaitFor of the head (nothing to do),
// and the first call (getCount on an actor, a wake).
func BenchmarkScaleStartup(b *testing.B) {
	if testing.Short() {
		b.Skip("builds stores of up to 10M events")
	}
	for _, tc := range []struct {
		name  string
		fix   *scaleFixture
		actor string
	}{
		{"events=10k", fixStart10k, "s0000003"},
		{"events=1M", fixStart1M, "s0000003"},
		{"events=10M", fixStart10M, "s0000003"},
		{"events=1M,actors=1M", fixSleepers, "m0000003"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := tc.fix.path(b)
			if tc.fix == fixSleepers {
				// The projections must be at the head before the timing.
				l, err := eventlog.Open(dir, eventlog.Options{Logger: quiet()})
				if err != nil {
					b.Fatal(err)
				}
				if err := catchUpProjections(l); err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
			if _, kinds, err := dirSize(dir); err == nil {
				b.Logf("store files before the first open (MiB): %s", kinds)
			}
			id := eventlog.ID{Type: "counter", Key: tc.actor}
			var open, ready, caught, first []time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				l, err := eventlog.Open(dir, eventlog.Options{Logger: quiet()})
				if err != nil {
					b.Fatal(err)
				}
				tOpen := time.Since(t0)
				rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: quiet(), SnapshotOnSleep: -1})
				r, err := projection.Start(l, projection.Options{Logger: quiet()}, projection.Directory(), seed.ChatRooms())
				if err != nil {
					b.Fatal(err)
				}
				tReady := time.Since(t0)
				b.StopTimer()
				t1 := time.Now()
				for _, name := range r.Names() {
					if err := r.WaitFor(sbg, name, l.Durable()); err != nil {
						b.Fatal(err)
					}
				}
				tCaught := time.Since(t1)
				t2 := time.Now()
				if _, err := getCount(sbg, rt, id); err != nil {
					b.Fatal(err)
				}
				tFirst := time.Since(t2)
				for _, name := range r.Names() {
					if st, _ := r.StatusOf(name); st.Processed != 0 {
						b.Fatalf("%s processed %d events at start: its checkpoint was not at the head", name, st.Processed)
					}
				}
				r.Close(context.Background())
				rt.Close(sbg)
				l.Close()
				open, ready, caught, first = append(open, tOpen), append(ready, tReady), append(caught, tCaught), append(first, tFirst)
				b.StartTimer()
			}
			b.StopTimer()
			ms := func(ds []time.Duration) float64 {
				var sum time.Duration
				for _, d := range ds {
					sum += d
				}
				return float64(sum) / float64(len(ds)) / 1e6
			}
			b.ReportMetric(ms(open), "open-ms")
			b.ReportMetric(float64(slices.Max(open))/1e6, "open-max-ms")
			b.ReportMetric(ms(ready), "ready-ms")
			b.ReportMetric(float64(slices.Max(ready))/1e6, "ready-max-ms")
			b.ReportMetric(ms(caught), "waitfor-ms")
			b.ReportMetric(ms(first), "first-call-ms")
			b.ReportMetric(float64(tc.fix.events), "events")
			b.Logf("per iteration: open %v; ready %v; first call %v", open, ready, first)
		})
	}
}

// wakeSizes are the history lengths of BenchmarkScaleWake.
var wakeSizes = []int{1_000, 10_000, 100_000, 1_000_000}

// wakeBehind is how many events the snapshot of the snapshot=yes actors
// is behind their head: about half the snapshot interval of the default
// policy (every 1000 events), the mean a wake replays under it.
const wakeBehind = 499

func wakeID(n int, snap bool) eventlog.ID {
	if snap {
		return eventlog.ID{Type: "counter", Key: fmt.Sprintf("snap-%d", n)}
	}
	return eventlog.ID{Type: "counter", Key: fmt.Sprintf("nosnap-%d", n)}
}

// buildWake builds, for each size n, an actor with n events and no
// snapshot, and one with n events and a snapshot at n-wakeBehind, taken by
// the runtime itself (snapshot policy every event, one increment).
func buildWake(l *eventlog.Log) error {
	for _, n := range wakeSizes {
		if err := appendCounter(l, wakeID(n, false), 0, n, 1000); err != nil {
			return err
		}
		if err := appendCounter(l, wakeID(n, true), 0, n-wakeBehind-1, 1000); err != nil {
			return err
		}
	}
	snaps := snapshots.New(l, snapshots.Options{})
	rt := actors.New(l, snaps, seed.Registry(), actors.Options{Logger: quiet(), Snapshots: snapshots.Policy{Every: 1}, SnapshotOnSleep: -1})
	for _, n := range wakeSizes {
		id := wakeID(n, true)
		if _, err := rt.Call(sbg, id, "increment", actors.Args{}, actors.CallOptions{}); err != nil {
			return err
		}
	}
	if err := rt.Close(sbg); err != nil { // waits for the snapshots being saved
		return err
	}
	for _, n := range wakeSizes {
		id := wakeID(n, true)
		list, err := snaps.List(sbg, id)
		if err != nil {
			return err
		}
		if len(list) != 1 || list[0].Seq != uint64(n-wakeBehind) {
			return fmt.Errorf("%s: snapshots %+v, want one at %d", id, list, n-wakeBehind)
		}
		if err := appendCounter(l, id, uint64(n-wakeBehind), wakeBehind, 1000); err != nil {
			return err
		}
	}
	return nil
}

// wakeMetrics records the runtime's wakes.
type wakeMetrics struct {
	mu       sync.Mutex
	replayed int
	d        time.Duration
	wakes    int
}

func (m *wakeMetrics) Wake(_ string, replayed int, d time.Duration) {
	m.mu.Lock()
	m.replayed, m.d = replayed, d
	m.wakes++
	m.mu.Unlock()
}
func (*wakeMetrics) Action(string, string, actors.Code, time.Duration) {}
func (*wakeMetrics) Append(int, time.Duration)                         {}
func (*wakeMetrics) ActiveActors(int)                                  {}
func (*wakeMetrics) Connections(int)                                   {}

// BenchmarkScaleWake times the first call to an actor after a restart,
// which wakes it, for histories of 1k to 1M events, with no snapshot and
// with one wakeBehind events behind the head. Each iteration opens the
// store (durable), starts a runtime with snapshots off (so that nothing
// changes the store), times one getCount, checks the count, and closes
// everything; ns/op is the first call. Also reported: the wake itself as
// the runtime's Metrics.Wake sees it, the events it replayed, and a second
// call (the actor awake).
func BenchmarkScaleWake(b *testing.B) {
	if testing.Short() {
		b.Skip("builds actors with up to 1M events")
	}
	for _, n := range wakeSizes {
		for _, snap := range []bool{false, true} {
			name := fmt.Sprintf("history=%s/snapshot=%s", shortCount(n), map[bool]string{false: "no", true: "yes"}[snap])
			b.Run(name, func(b *testing.B) {
				dir := fixWake.path(b)
				id := wakeID(n, snap)
				var first, wake, second time.Duration
				var replayed int
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					l, err := eventlog.Open(dir, eventlog.Options{Logger: quiet()})
					if err != nil {
						b.Fatal(err)
					}
					m := &wakeMetrics{}
					rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{
						Logger: quiet(), Metrics: m, SnapshotOnSleep: -1,
						Snapshots: snapshots.Policy{Every: -1, EveryBytes: -1},
					})
					b.StartTimer()
					t0 := time.Now()
					count, err := getCount(sbg, rt, id)
					d := time.Since(t0)
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					if count != int64(n) {
						b.Fatalf("%s woke with count %d, want %d", id, count, n)
					}
					t1 := time.Now()
					if _, err := getCount(sbg, rt, id); err != nil {
						b.Fatal(err)
					}
					second += time.Since(t1)
					first += d
					m.mu.Lock()
					if m.wakes != 1 {
						b.Fatalf("%d wakes", m.wakes)
					}
					wake += m.d
					replayed = m.replayed
					m.mu.Unlock()
					rt.Close(sbg)
					l.Close()
					b.StartTimer()
				}
				b.StopTimer()
				b.ReportMetric(float64(first)/float64(b.N)/1e6, "first-call-ms")
				b.ReportMetric(float64(wake)/float64(b.N)/1e6, "wake-ms")
				b.ReportMetric(float64(replayed), "replayed")
				b.ReportMetric(float64(second)/float64(b.N)/1e3, "second-call-us")
			})
		}
	}
}

func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// retentionEvents is how many events BenchmarkScaleRetention drives.
const retentionEvents = 200_000

// BenchmarkScaleRetention drives one counter to retentionEvents events
// (64 goroutines calling increment, durable) with snapshots every 1000
// events, with retention KeepEvents 100 and without retention. A watcher
// reads the actor's head every millisecond and counts any decrease. After
// the runtime is closed it reports DiskUsage, then Log.Compact and
// DiskUsage again, the events still stored, and checks the count after a
// restart.
func BenchmarkScaleRetention(b *testing.B) {
	if testing.Short() {
		b.Skip("drives 200k events")
	}
	for _, tc := range []struct {
		name string
		ret  map[string]actors.Retention
	}{
		{"retention=keep100", map[string]actors.Retention{"counter": {KeepEvents: 100}}},
		{"retention=none", nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				retentionRun(b, tc.ret)
			}
		})
	}
}

func retentionRun(b *testing.B, ret map[string]actors.Retention) {
	dir := b.TempDir()
	l, err := eventlog.Open(dir, eventlog.Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	opts := actors.Options{Logger: quiet(), Snapshots: snapshots.Policy{Every: 1000}, Retention: ret}
	snaps := snapshots.New(l, snapshots.Options{})
	rt := actors.New(l, snaps, seed.Registry(), opts)
	id := eventlog.ID{Type: "counter", Key: "retained"}

	var decreases, samples atomic.Int64
	var maxFirst atomic.Uint64
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		var last uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			h, err := l.Head(sbg, id)
			if err != nil {
				continue
			}
			samples.Add(1)
			if h.Head < last {
				decreases.Add(1)
			}
			last = h.Head
			if h.First > maxFirst.Load() {
				maxFirst.Store(h.First)
			}
		}
	}()

	var next atomic.Int64
	errs := make([]error, 64)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= retentionEvents {
				if _, err := rt.Call(sbg, id, "increment", actors.Args{}, actors.CallOptions{}); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	drive := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := rt.Close(sbg); err != nil { // waits for the last snapshot and trim
		b.Fatal(err)
	}
	close(stop)
	watcher.Wait()

	head, err := l.Head(sbg, id)
	if err != nil {
		b.Fatal(err)
	}
	if head.Head != retentionEvents {
		b.Fatalf("head %d, want %d", head.Head, retentionEvents)
	}
	before, beforeNow := settledUsage(l)
	_, kindsBefore, err := dirSize(dir)
	if err != nil {
		b.Fatal(err)
	}
	t1 := time.Now()
	if err := l.Compact(sbg); err != nil {
		b.Fatal(err)
	}
	compact := time.Since(t1)
	after, afterNow := settledUsage(l)
	files, kinds, err := dirSize(dir)
	if err != nil {
		b.Fatal(err)
	}
	list, err := snaps.List(sbg, id)
	if err != nil {
		b.Fatal(err)
	}

	// The state is whole after a restart.
	rt = actors.New(l, snaps, seed.Registry(), opts)
	count, err := getCount(sbg, rt, id)
	rt.Close(sbg)
	if err != nil {
		b.Fatal(err)
	}
	if count != retentionEvents {
		b.Fatalf("count %d after restart, want %d", count, retentionEvents)
	}
	if h2, _ := l.Head(sbg, id); h2.Head != head.Head {
		b.Fatalf("head went from %d to %d", head.Head, h2.Head)
	}

	b.ReportMetric(float64(retentionEvents)/drive.Seconds(), "calls/s")
	b.ReportMetric(mib(int64(before)), "disk-before-compact-MiB")
	b.ReportMetric(mib(int64(after)), "disk-after-compact-MiB")
	b.ReportMetric(mib(int64(afterNow)), "disk-just-after-compact-MiB")
	b.ReportMetric(mib(files), "files-after-compact-MiB")
	b.ReportMetric(float64(after)/retentionEvents, "disk-B/appended-event")
	b.ReportMetric(float64(head.Len()), "events-stored")
	b.ReportMetric(float64(decreases.Load()), "head-decreases")
	b.ReportMetric(compact.Seconds()*1e3, "compact-ms")
	b.Logf("head %d, first %d (max first seen by the watcher %d, %d samples), snapshots %+v; DiskUsage MiB: before compact %.2f (settled %.2f; files: %s), just after compact %.2f (settled %.2f), files %.2f (%s)",
		head.Head, head.First, maxFirst.Load(), samples.Load(), list, mib(int64(beforeNow)), mib(int64(before)), kindsBefore, mib(int64(afterNow)), mib(int64(after)), mib(files), kinds)
}

// settledUsage returns Log.DiskUsage once it has not changed for a second
// (at most 2 minutes), and the value it had when called: DiskUsage counts
// obsolete files that Pebble has yet to delete, and WALs.
func settledUsage(l *eventlog.Log) (settled, now uint64) {
	now = l.DiskUsage()
	last, same := now, 0
	for deadline := time.Now().Add(2 * time.Minute); same < 10 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		u := l.DiskUsage()
		if u == last {
			same++
		} else {
			last, same = u, 0
		}
	}
	return last, now
}

// dirSize returns the sum of the sizes of the files in dir, and the
// sizes by kind of file (Pebble's tables, WALs, the rest) in MiB.
func dirSize(dir string) (int64, string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, "", err
	}
	var n int64
	kinds := map[string]int64{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		n += info.Size()
		switch ext := filepath.Ext(e.Name()); ext {
		case ".sst", ".log":
			kinds[ext] += info.Size()
		default:
			kinds["other"] += info.Size()
		}
	}
	return n, fmt.Sprintf("sst %.2f, log %.2f, other %.2f", mib(kinds[".sst"]), mib(kinds[".log"]), mib(kinds["other"])), nil
}
