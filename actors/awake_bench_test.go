package actors_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
)

// rssBytes is the process's resident set, from /proc/self/statm; 0 where
// there is none.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkAwakeMemory measures what an awake counter with no call in
// progress costs: N counters (ACTORLOG_AWAKE, default 100,000; the figure
// in BENCHMARKS.md is of 1,000,000) on an empty store are each
// incremented once from 64 goroutines, with IdleTimeout 1h so that all
// stay awake; then the growth of the Go memory (heap after GC plus
// goroutine stacks) and of the process's RSS, divided by N. The store's
// own growth (its memtable holds the N events) is in the RSS figure and
// not in the Go one (Pebble allocates its memtables outside the Go heap).
//
//	ACTORLOG_AWAKE=1000000 go test ./actors -run '^$' -bench AwakeMemory -benchtime 1x -timeout 30m
func BenchmarkAwakeMemory(b *testing.B) {
	n := 100_000
	if v := os.Getenv("ACTORLOG_AWAKE"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("ACTORLOG_AWAKE=%q: want a count", v)
		}
	}
	for range b.N {
		l, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: quiet(), IdleTimeout: time.Hour, MaxAwake: n + 1})
		// One call first, so that what every runtime has once it has run
		// anything (the workers' first stacks, the store's first writes) is
		// in the baseline.
		if _, err := rt.Call(sbg, eventlog.ID{Type: "counter", Key: "first"}, "increment", actors.Args{}, actors.CallOptions{}); err != nil {
			b.Fatal(err)
		}
		before, rssBefore := readMem(), rssBytes()
		t0 := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Value
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(n) {
						return
					}
					id := eventlog.ID{Type: "counter", Key: fmt.Sprintf("a%07d", i)}
					if _, err := rt.Call(sbg, id, "increment", actors.Args{}, actors.CallOptions{}); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(t0)
		// The workers end once they have nothing to do.
		time.Sleep(100 * time.Millisecond)
		after, rssAfter := readMem(), rssBytes()
		if got := rt.Awake(); got != n+1 {
			b.Fatalf("%d actors awake, want %d", got, n+1)
		}
		b.ReportMetric(float64(after.total()-before.total())/float64(n), "go-B/actor")
		b.ReportMetric(float64(after.heap-before.heap)/float64(n), "heap-B/actor")
		b.ReportMetric(float64(after.stack-before.stack)/float64(n), "stack-B/actor")
		b.ReportMetric(float64(rssAfter-rssBefore)/float64(n), "rss-B/actor")
		b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/actor")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "wakes/s")
		b.Logf("%d awake counters: Go memory %.1f -> %.1f MiB, RSS %.1f -> %.1f MiB, goroutines %d -> %d, in %v",
			n, mib(before.total()), mib(after.total()), mib(rssBefore), mib(rssAfter), before.goroutines, after.goroutines, elapsed.Round(time.Millisecond))
		rt.Close(sbg)
		l.Close()
	}
	runtime.GC()
}
