package jetstream_test

// Benchmarks of durable appends on JetStream beside the Pebble log, in
// the same run so that their ratio means something on a noisy machine.
// Results and the command are in BENCHMARKS.md at the repository root:
//
//	go test ./eventlog/jetstream -run '^$' -bench Append -benchtime 2s -count 3
//
// Every store is durable: Pebble with its default options (an append
// returns after its fsync), JetStream with sync_interval: always on file
// storage, on one embedded server (R1) or three (R3), all in this process
// on this machine's cores.

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/vmihailenco/msgpack/v5"
)

// benchEvent is a counter's event: a msgpack map {count, lastUpdated} of
// about 40 bytes, as in eventlog's own benchmarks.
func benchEvent(count int64) eventlog.Event {
	data, err := msgpack.Marshal(map[string]int64{"count": count, "lastUpdated": time.Now().UnixMilli()})
	if err != nil {
		panic(err)
	}
	return eventlog.Event{Type: "countUpdated", Data: data}
}

// BenchmarkAppend measures durable appends on each store:
//
//	writers=1          one writer, one actor, one event per append, ExpectSeq
//	writers=64         64 writers, each on its own actor, one event, ExpectSeq
//	writers=1-batch=10 one writer, one actor, 10 events per append (on
//	                   JetStream an atomic batch), ExpectSeq
//
// b.N counts appends; events/s counts events.
func BenchmarkAppend(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) eventlog.Store
	}{
		{"store=pebble", func(b *testing.B) eventlog.Store {
			l, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			return l
		}},
		{"store=jetstream-R1", func(b *testing.B) eventlog.Store { return open(b, single, jetstream.Options{}) }},
		{"store=jetstream-R3", func(b *testing.B) eventlog.Store { return open(b, three, jetstream.Options{}) }},
	}
	cases := []struct {
		name    string
		writers int
		batch   int
	}{
		{"writers=1", 1, 1},
		{"writers=64", 64, 1},
		{"writers=1-batch=10", 1, 10},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for _, st := range stores {
				b.Run(st.name, func(b *testing.B) {
					s := st.open(b)
					defer s.Close()
					heads := make([]uint64, tc.writers)
					evs := make([]eventlog.Event, tc.batch)
					runWriters(b, tc.writers, tc.batch, func(w int) error {
						id := eventlog.ID{Type: "counter", Key: fmt.Sprintf("c-%02d", w)}
						evs := evs
						if tc.writers > 1 {
							evs = make([]eventlog.Event, tc.batch)
						}
						for i := range evs {
							evs[i] = benchEvent(int64(heads[w]) + int64(i) + 1)
						}
						res, err := s.Append(bg, id, eventlog.ExpectSeq(heads[w]), evs...)
						heads[w] = res.Last
						return err
					})
				})
			}
		})
	}
}

// runWriters runs op b.N times in all from a pool of writers goroutines,
// each op appending events events, and reports events/s and the p50 and
// p99 latency of op in microseconds.
func runWriters(b *testing.B, writers, events int, op func(w int) error) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, writers)
	errs := make([]error, writers)
	var start, wg sync.WaitGroup
	start.Add(1)
	for w := range writers {
		wg.Go(func() {
			start.Wait()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := op(w); err != nil {
					errs[w] = err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	b.ResetTimer()
	t0 := time.Now()
	start.Done()
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N*events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(percentile(all, 0.50), "p50-us")
	b.ReportMetric(percentile(all, 0.99), "p99-us")
}

// percentile returns the q-quantile of the sorted durations, in µs.
func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]) / float64(time.Microsecond)
}

// BenchmarkReplay measures a replay of one actor of 2,000 events
// (ScanStream from 1, data not decoded) and a scan of the feed over the
// same events, on each store. events/s counts events read.
func BenchmarkReplay(b *testing.B) {
	const n = 2000
	stores := []struct {
		name string
		open func(b *testing.B) eventlog.Store
	}{
		{"store=pebble", func(b *testing.B) eventlog.Store {
			l, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			return l
		}},
		{"store=jetstream-R1", func(b *testing.B) eventlog.Store { return open(b, single, jetstream.Options{}) }},
		{"store=jetstream-R3", func(b *testing.B) eventlog.Store { return open(b, three, jetstream.Options{}) }},
	}
	for _, what := range []string{"stream", "feed"} {
		b.Run(what, func(b *testing.B) {
			for _, st := range stores {
				b.Run(st.name, func(b *testing.B) {
					s := st.open(b)
					defer s.Close()
					id := eventlog.ID{Type: "counter", Key: "replayed"}
					evs := make([]eventlog.Event, 500)
					for i := 0; i < n; i += len(evs) {
						for j := range evs {
							evs[j] = benchEvent(int64(i + j + 1))
						}
						if _, err := s.Append(bg, id, eventlog.ExpectSeq(uint64(i)), evs...); err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					t0 := time.Now()
					for range b.N {
						read := 0
						count := func(*eventlog.Event) error { read++; return nil }
						var err error
						if what == "stream" {
							err = s.ScanStream(bg, id, 1, 0, count)
						} else {
							err = s.ScanFeed(bg, 1, 0, count)
						}
						if err != nil || read != n {
							b.Fatalf("read %d events, %v; want %d", read, err, n)
						}
					}
					b.ReportMetric(float64(b.N*n)/time.Since(t0).Seconds(), "events/s")
				})
			}
		})
	}
}
