package projection_test

// Benchmarks of projection catch-up from zero and of projection lag under
// load. Results and the commands that produced them are in
// BENCHMARKS.md.
//
//	go test ./projection -run '^$' -bench CatchUp -benchtime 1x -count 3 -timeout 60m
//	go test ./projection -run '^$' -bench LagUnderLoad -benchtime 1x -count 3
//
// The catch-up fixtures (1M events each) are built once per test binary
// with NoSync appends, settled (memtable flushed, compactions finished),
// then reopened with the default, durable options for the measurement.
// TestMain removes them. Every benchmark is skipped with -short.

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
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

// benchData encodes v as the actors runtime encodes event data: msgpack
// with the `json` struct tags and compact integers.
func benchData(v any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// benchFixture is a store of actors*perActor events, built once per test
// binary. Events are appended one per Append, round-robin over the
// actors, so that in the feed consecutive events belong to different
// actors: the directory's handler must read each actor's record back from
// the store (the worst case for it) rather than from its batch.
type benchFixture struct {
	name     string
	actors   int
	perActor int
	// event returns the actor and the event with sequence seq (from 1).
	event func(actor, seq int) (eventlog.ID, eventlog.Event)

	once  sync.Once
	dir   string
	err   error
	built time.Duration
	size  uint64
}

func (f *benchFixture) events() uint64 { return uint64(f.actors) * uint64(f.perActor) }

// benchBuilders is the number of goroutines appending to a fixture; each
// owns the actors a with a%benchBuilders == its index.
const benchBuilders = 4

// path returns the settled fixture's directory, building it on first use.
func (f *benchFixture) path(b *testing.B) string {
	f.once.Do(func() {
		t0 := time.Now()
		if f.dir, f.err = os.MkdirTemp("", "projection-bench-"+f.name+"-"); f.err != nil {
			return
		}
		l, err := eventlog.Open(f.dir, eventlog.Options{NoSync: true, Logger: quiet()})
		if err != nil {
			f.err = err
			return
		}
		errs := make([]error, benchBuilders)
		var wg sync.WaitGroup
		for w := range benchBuilders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := 1; seq <= f.perActor; seq++ {
					for a := w; a < f.actors; a += benchBuilders {
						id, e := f.event(a, seq)
						if _, err := l.Append(bg, id, eventlog.ExpectSeq(uint64(seq-1)), e); err != nil {
							errs[w] = err
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
		for _, err := range errs {
			if err != nil {
				f.err = err
				return
			}
		}
		f.built = time.Since(t0)
		t1 := time.Now()
		if f.size, f.err = settle(f.dir); f.err != nil {
			return
		}
		b.Logf("fixture %s: %d events (%d actors x %d) appended in %v, settled in %v, %.1f MiB on disk",
			f.name, f.events(), f.actors, f.perActor, f.built.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond), float64(f.size)/(1<<20))
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	return f.dir
}

func (f *benchFixture) remove() {
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

// settle flushes the memtable of the store in dir and waits until Pebble
// has had no compaction in progress for a second, so that the build's
// compactions do not run during the measurement. It returns the store's
// size on disk.
func settle(dir string) (uint64, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: silentPebble{}})
	if err != nil {
		return 0, err
	}
	if err := db.Flush(); err != nil {
		db.Close()
		return 0, err
	}
	deadline := time.Now().Add(5 * time.Minute)
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

type silentPebble struct{}

func (silentPebble) Infof(string, ...any)  {}
func (silentPebble) Errorf(string, ...any) {}
func (silentPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

func counterEvent(typ string) func(a, seq int) (eventlog.ID, eventlog.Event) {
	return func(a, seq int) (eventlog.ID, eventlog.Event) {
		id := eventlog.ID{Type: typ, Key: fmt.Sprintf("c%07d", a)}
		data := benchData(seed.CountUpdated{Count: int64(seq), LastUpdated: time.Now().UnixMilli()})
		return id, eventlog.Event{Type: "countUpdated", Data: data}
	}
}

func chatEvent(a, seq int) (eventlog.ID, eventlog.Event) {
	id := eventlog.ID{Type: "chatRoom", Key: fmt.Sprintf("room-%05d", a)}
	user := fmt.Sprintf("user-%05d", a)
	if seq == 1 {
		return id, eventlog.Event{Type: "userJoined", Data: benchData(seed.Presence{Username: user, ParticipantCount: 1})}
	}
	m := seed.Message{
		ID:        fmt.Sprintf("%08x-0000-4000-8000-%012x", a, seq),
		Username:  user,
		Text:      fmt.Sprintf("message %d in room %d, hello", seq, a),
		Timestamp: time.Now().UnixMilli(),
	}
	return id, eventlog.Event{Type: "newMessage", Data: benchData(m)}
}

var (
	// 1M counter events over 10k actors, 100 each, interleaved.
	fixDir10k = &benchFixture{name: "dir10k", actors: 10_000, perActor: 100, event: counterEvent("counter")}
	// 1M counter events, one each for 1M actors.
	fixDir1M = &benchFixture{name: "dir1M", actors: 1_000_000, perActor: 1, event: counterEvent("counter")}
	// 1M chatRoom events over 10k rooms: a userJoined, then 99 newMessage
	// events of about 100 bytes each.
	fixChat = &benchFixture{name: "chat", actors: 10_000, perActor: 100, event: chatEvent}

	catchUpFixtures = []*benchFixture{fixDir10k, fixDir1M, fixChat}
)

// BenchmarkCatchUp times a projection catching up from zero over a store
// of 1M events: projection.Start, then WaitFor the durable head. The view
// and checkpoint are dropped before each iteration (untimed). The store is
// reopened, durable, for each benchmark, so the block cache starts empty;
// the OS page cache holds the fixture.
//
//	directory/actors=10k   projection.Directory(), 10k actors x 100 events
//	directory/actors=1M    projection.Directory(), 1M actors x 1 event
//	chatRooms/rooms=10k    seed.ChatRooms(), 10k rooms x 100 events
func BenchmarkCatchUp(b *testing.B) {
	if testing.Short() {
		b.Skip("builds stores of 1M events")
	}
	for _, tc := range []struct {
		name  string
		fix   *benchFixture
		def   func() projection.Def
		check func(b *testing.B, r *projection.Runner, f *benchFixture)
	}{
		{"directory/actors=10k", fixDir10k, projection.Directory, checkDirectory},
		{"directory/actors=1M", fixDir1M, projection.Directory, checkDirectory},
		{"chatRooms/rooms=10k", fixChat, seed.ChatRooms, checkRooms},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := tc.fix.path(b)
			l, err := eventlog.Open(dir, eventlog.Options{Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			head := l.Durable()
			if head != tc.fix.events() {
				b.Fatalf("fixture holds %d events, want %d", head, tc.fix.events())
			}
			def := tc.def()
			var elapsed time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if err := projection.Drop(bg, l, def.Name); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				r, err := projection.Start(l, projection.Options{Logger: quiet()}, def)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.WaitFor(bg, def.Name, head); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(t0)
				b.StopTimer()
				tc.check(b, r, tc.fix)
				r.Close(context.Background())
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)*float64(head)/elapsed.Seconds(), "events/s")
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/catchup")
		})
	}
}

// checkDirectory checks a few actors of the directory and that it lists
// them all.
func checkDirectory(b *testing.B, r *projection.Runner, f *benchFixture) {
	v, err := r.View(projection.DirectoryName)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	var after eventlog.ID
	for {
		list, err := projection.ListActors(bg, v, eventlog.ListOptions{After: after, Limit: 100_000})
		if err != nil {
			b.Fatal(err)
		}
		if len(list) == 0 {
			break
		}
		for _, a := range list {
			if a.Head != uint64(f.perActor) || a.Created == 0 {
				b.Fatalf("directory: %+v, want head %d", a, f.perActor)
			}
		}
		n += len(list)
		after = list[len(list)-1].Actor
	}
	if n != f.actors {
		b.Fatalf("directory lists %d actors, want %d", n, f.actors)
	}
}

func checkRooms(b *testing.B, r *projection.Runner, f *benchFixture) {
	v, err := r.View(seed.RoomsName)
	if err != nil {
		b.Fatal(err)
	}
	rooms, err := seed.ListRooms(bg, v, f.actors+1)
	if err != nil {
		b.Fatal(err)
	}
	if len(rooms) != f.actors {
		b.Fatalf("chat rooms view lists %d rooms, want %d", len(rooms), f.actors)
	}
	for _, room := range rooms {
		if room.MessageCount != uint64(f.perActor-1) || room.ParticipantCount != 1 {
			b.Fatalf("room %+v, want %d messages and 1 participant", room, f.perActor-1)
		}
	}
}

// lagLoad is how long BenchmarkLagUnderLoad drives the runtime.
const lagLoad = 5 * time.Second

// lagClients is the number of concurrent callers, each on its own counter.
const lagClients = 64

// BenchmarkLagUnderLoad drives the actors runtime with lagClients
// goroutines, each calling increment on its own counter (durable, one
// event per call) for lagLoad, while the directory and chat rooms
// projections run, as in `actorlog serve`. Every 10ms it samples the
// directory's Status. It reports the runtime's calls/s and the
// directory's lag: in events (Status.LagEvents), in time as Status.LagTime
// reports it (time since the view was last current), and in time as
// "behind" (how long ago the first event the view has not processed
// became durable, from the sampled history of the durable head: an upper
// bound, within the 10ms between samples; 0 when the view is at the
// head). After the load it reports how long the view takes to
// reach the head. projections=off is the same load with no projection,
// for the calls/s the projections cost.
func BenchmarkLagUnderLoad(b *testing.B) {
	if testing.Short() {
		b.Skip("runs a load for several seconds")
	}
	for _, on := range []bool{true, false} {
		name := "projections=on"
		if !on {
			name = "projections=off"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				lagRun(b, on)
			}
		})
	}
}

type lagSample struct {
	at      time.Duration // since the load started
	head    uint64        // durable head
	pos     uint64        // directory's position
	lagEv   uint64
	lagTime time.Duration
}

func lagRun(b *testing.B, projections bool) {
	lg := quiet()
	l, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: lg})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: lg})
	defer rt.Close(bg)
	var r *projection.Runner
	if projections {
		if r, err = projection.Start(l, projection.Options{Logger: lg}, projection.Directory(), seed.ChatRooms()); err != nil {
			b.Fatal(err)
		}
		defer r.Close(context.Background())
	}

	var calls atomic.Int64
	lat := make([][]time.Duration, lagClients)
	errs := make([]error, lagClients)
	ctx, stop := context.WithTimeout(bg, lagLoad)
	defer stop()
	var wg sync.WaitGroup
	t0 := time.Now()
	for c := range lagClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := eventlog.ID{Type: "counter", Key: fmt.Sprintf("lag-%02d", c)}
			for ctx.Err() == nil {
				s := time.Now()
				if _, err := rt.Call(bg, id, "increment", actors.Args{}, actors.CallOptions{}); err != nil {
					errs[c] = err
					return
				}
				lat[c] = append(lat[c], time.Since(s))
				calls.Add(1)
			}
		}()
	}
	var samples []lagSample
	if projections {
		tick := time.NewTicker(10 * time.Millisecond)
	sampling:
		for {
			select {
			case <-ctx.Done():
				break sampling
			case <-tick.C:
				st, err := r.StatusOf(projection.DirectoryName)
				if err != nil {
					b.Fatal(err)
				}
				samples = append(samples, lagSample{at: time.Since(t0), head: st.Head, pos: st.Position, lagEv: st.LagEvents, lagTime: st.LagTime})
			}
		}
		tick.Stop()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	var drain time.Duration
	if projections {
		t1 := time.Now()
		if err := r.WaitFor(bg, projection.DirectoryName, l.Durable()); err != nil {
			b.Fatal(err)
		}
		drain = time.Since(t1)
		if st, _ := r.StatusOf(seed.RoomsName); st.State != "running" {
			b.Fatalf("chat rooms projection: %+v", st)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(calls.Load())/elapsed.Seconds(), "calls/s")
	b.ReportMetric(durPct(all, 0.99).Seconds()*1e3, "call-p99-ms")
	if !projections {
		return
	}
	if len(samples) == 0 {
		b.Fatal("no samples")
	}
	// behind: for each sample, how long ago the durable head first passed
	// the view's position (0 when the view is at the head).
	lagEv := make([]float64, len(samples))
	lagTime := make([]time.Duration, len(samples))
	behind := make([]time.Duration, len(samples))
	for j, s := range samples {
		lagEv[j] = float64(s.lagEv)
		lagTime[j] = s.lagTime
		if s.head > s.pos {
			i, _ := slices.BinarySearchFunc(samples[:j+1], s.pos+1, func(x lagSample, p uint64) int {
				switch {
				case x.head < p:
					return -1
				case x.head > p:
					return 1
				}
				return 0
			})
			// It passed between samples i-1 and i: take the upper bound.
			since := time.Duration(0)
			if i > 0 {
				since = samples[i-1].at
			}
			behind[j] = s.at - since
		}
	}
	slices.Sort(lagEv)
	slices.Sort(lagTime)
	slices.Sort(behind)
	b.ReportMetric(fltPct(lagEv, 0.50), "lag-p50-events")
	b.ReportMetric(fltPct(lagEv, 0.99), "lag-p99-events")
	b.ReportMetric(lagEv[len(lagEv)-1], "lag-max-events")
	b.ReportMetric(durPct(lagTime, 0.50).Seconds()*1e3, "lagtime-p50-ms")
	b.ReportMetric(durPct(lagTime, 0.99).Seconds()*1e3, "lagtime-p99-ms")
	b.ReportMetric(lagTime[len(lagTime)-1].Seconds()*1e3, "lagtime-max-ms")
	b.ReportMetric(durPct(behind, 0.50).Seconds()*1e3, "behind-p50-ms")
	b.ReportMetric(durPct(behind, 0.99).Seconds()*1e3, "behind-p99-ms")
	b.ReportMetric(behind[len(behind)-1].Seconds()*1e3, "behind-max-ms")
	b.ReportMetric(drain.Seconds()*1e3, "drain-ms")
	b.ReportMetric(float64(len(samples)), "samples")
}

func durPct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

func fltPct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}
