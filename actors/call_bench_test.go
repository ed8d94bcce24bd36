package actors_test

// Throughput of the runtime itself, without HTTP: the counter's increment
// called through Runtime.Call by a fixed pool of goroutines, real Pebble,
// durable, every call returning after its event is synced. With
// BenchmarkFsync, in the same run, as the reference: one writer appending
// one event at a time to the log. These split the API's figures
// (api/bench_test.go) into the runtime's part and HTTP's; results in
// BENCHMARKS.md, section "actors and api".
//
//	go test ./actors -run '^$' -bench 'Call|Fsync' -benchtime 3s -count 3

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
)

// BenchmarkCall: distinct/callers=N, N goroutines each on its own counter;
// hot/callers=64, 64 goroutines on one counter. It checks that the log
// holds one event per call.
func BenchmarkCall(b *testing.B) {
	for _, tc := range []struct {
		name    string
		callers int
		hot     bool
	}{
		{"distinct/callers=1", 1, false},
		{"distinct/callers=64", 64, false},
		{"hot/callers=64", 64, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: quiet()})
			defer rt.Close(context.Background())
			id := func(w int) eventlog.ID {
				if tc.hot {
					return eventlog.ID{Type: "counter", Key: "hot"}
				}
				return eventlog.ID{Type: "counter", Key: "c" + strconv.Itoa(w)}
			}
			ctx := context.Background()
			for w := range tc.callers { // wake them outside the timing
				if _, err := rt.Call(ctx, id(w), "getCount", actors.Args{}, actors.CallOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([][]time.Duration, tc.callers)
			var next sync.Mutex
			claimed := 0
			claim := func() bool {
				next.Lock()
				defer next.Unlock()
				claimed++
				return claimed <= b.N
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := callCPU(b)
			t0 := time.Now()
			var wg sync.WaitGroup
			for w := range tc.callers {
				wg.Go(func() {
					for claim() {
						t := time.Now()
						if _, err := rt.Call(ctx, id(w), "increment", actors.Args{}, actors.CallOptions{}); err != nil {
							b.Error(err)
							return
						}
						lat[w] = append(lat[w], time.Since(t))
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(t0)
			cpu := callCPU(b) - cpu0
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "calls/s")
			b.ReportMetric(callPercentile(all, 0.50), "p50-us")
			b.ReportMetric(callPercentile(all, 0.99), "p99-us")
			b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(len(all)), "cpu-us/op")
			var events uint64
			seen := map[eventlog.ID]bool{}
			for w := range tc.callers {
				if seen[id(w)] {
					continue
				}
				seen[id(w)] = true
				st, err := l.Head(ctx, id(w))
				if err != nil {
					b.Fatal(err)
				}
				events += st.Head
			}
			if events != uint64(len(all)) {
				b.Fatalf("%d calls returned, %d events in the log", len(all), events)
			}
		})
	}
}

// BenchmarkFsync is the reference of BenchmarkCall: one goroutine
// appending one event at a time to one actor, each append waiting for its
// sync.
func BenchmarkFsync(b *testing.B) {
	l, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	id := eventlog.ID{Type: "counter", Key: "single"}
	data := scaleData(map[string]int64{"count": 1, "lastUpdated": time.Now().UnixMilli()})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		t := time.Now()
		if _, err := l.Append(ctx, id, eventlog.ExpectSeq(uint64(i)), eventlog.Event{Type: "countUpdated", Data: data}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(callPercentile(lat, 0.50), "p50-us")
	b.ReportMetric(callPercentile(lat, 0.99), "p99-us")
}

func callPercentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(q*float64(len(sorted))), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Microsecond)
}

// callCPU returns the CPU time, user and system, the process has used
// (getrusage): divided by the calls, it is what a call costs the runtime
// and the log together, the callers' share included.
func callCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
