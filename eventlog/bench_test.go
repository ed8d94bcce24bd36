package eventlog_test

// Benchmarks of the durable write path and of replay. Results and the
// commands that produced them are in BENCHMARKS.md at the repository root.
//
//	go test ./eventlog -run '^$' -bench 'Append|RawPebble' -benchtime 3s -count 3
//	go test ./eventlog -run '^$' -bench Replay -benchtime 3s -count 3
//
// Every benchmark runs on real Pebble in a temporary directory with the
// default, durable options (no NoSync): an append returns after its fsync.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"
)

// benchCounter is the payload of the benchmark events: a msgpack map
// {count, lastUpdated} of about 40 bytes.
type benchCounter struct {
	Count       int64 `msgpack:"count"`
	LastUpdated int64 `msgpack:"lastUpdated"`
}

func benchEvent(count int64) eventlog.Event {
	data, err := msgpack.Marshal(&benchCounter{Count: count, LastUpdated: time.Now().UnixMilli()})
	if err != nil {
		panic(err)
	}
	return eventlog.Event{Type: "countUpdated", Data: data}
}

// benchWriters is the number of concurrent writers of the parallel
// variants: real goroutines, not b.RunParallel's GOMAXPROCS multiple.
const benchWriters = 64

// runWriters runs op b.N times in total from a fixed pool of writers
// goroutines, which claim operations from a shared counter, and reports
// events/s and the p50 and p99 latency of op in microseconds. op gets the
// writer's index and its own count of operations so far.
func runWriters(b *testing.B, writers int, op func(w, i int) error) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, writers)
	errs := make([]error, writers)
	var start, wg sync.WaitGroup
	start.Add(1)
	for w := range writers {
		lat[w] = make([]time.Duration, 0, b.N/writers+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				t0 := time.Now()
				if err := op(w, i); err != nil {
					errs[w] = err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
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
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(percentile(all, 0.50), "p50-us")
	b.ReportMetric(percentile(all, 0.99), "p99-us")
}

// percentile returns the q-quantile of the sorted durations, in µs.
func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)))
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i]) / float64(time.Microsecond)
}

// BenchmarkAppend measures durable appends of one small event each.
//
//	writers=1         one writer, one actor, ExpectSeq
//	writers=64        64 writers, each on its own actor, ExpectSeq
//	writers=64-oneactor 64 writers on one actor, eventlog.Any
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		writers int
		shared  bool
	}{
		{"writers=1", 1, false},
		{"writers=64", benchWriters, false},
		{"writers=64-oneactor", benchWriters, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := eventlog.Open(b.TempDir(), eventlog.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ids := make([]eventlog.ID, tc.writers)
			for w := range ids {
				ids[w] = eventlog.ID{Type: "counter", Key: fmt.Sprintf("c-%02d", w)}
				if tc.shared {
					ids[w].Key = "shared"
				}
			}
			b.ReportAllocs()
			runWriters(b, tc.writers, func(w, i int) error {
				expected := eventlog.ExpectSeq(uint64(i))
				if tc.shared {
					expected = eventlog.Any
				}
				_, err := l.Append(ctx, ids[w], expected, benchEvent(int64(i+1)))
				return err
			})
		})
	}
}

// BenchmarkRawPebble is the baseline for BenchmarkAppend: the same writers
// each commit, with pebble.Sync, a batch of the two records eventlog writes
// for one event (the event under its stream key and under its feed key,
// byte for byte the same layout), on a bare Pebble with eventlog's cache
// and memtable sizes. eventlog writes two small records more per group
// (the stream record and the last position).
func BenchmarkRawPebble(b *testing.B) {
	for _, writers := range []int{1, benchWriters} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			cache := pebble.NewCache(64 << 20)
			db, err := pebble.Open(b.TempDir(), &pebble.Options{Cache: cache, MemTableSize: 32 << 20, Logger: benchPebbleLogger{}})
			cache.Unref()
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			idKeys := make([][]byte, writers)
			for w := range idKeys {
				idKeys[w] = eventlog.AppendKey(nil, eventlog.ID{Type: "counter", Key: fmt.Sprintf("c-%02d", w)})
			}
			var pos atomic.Uint64
			b.ReportAllocs()
			runWriters(b, writers, func(w, i int) error {
				e := benchEvent(int64(i + 1))
				e.Seq, e.Pos, e.Time = uint64(i+1), pos.Add(1), time.Now().UnixMilli()
				idKey := idKeys[w]
				val := eventlog.AppendEnvelope(append([]byte(nil), idKey...), &e)
				evKey := binary.BigEndian.AppendUint64(append([]byte{0x01}, idKey...), e.Seq)
				feedKey := binary.BigEndian.AppendUint64([]byte{0x02}, e.Pos)
				batch := db.NewBatch()
				defer batch.Close()
				if err := batch.Set(evKey, val[len(idKey):], nil); err != nil {
					return err
				}
				if err := batch.Set(feedKey, val, nil); err != nil {
					return err
				}
				return batch.Commit(pebble.Sync)
			})
		})
	}
}

// benchPebbleLogger drops Pebble's informational messages, as eventlog's
// logger does at its default level, so that they do not interleave with the
// benchmark output.
type benchPebbleLogger struct{}

func (benchPebbleLogger) Infof(string, ...any) {}

func (benchPebbleLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}

func (benchPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// replayEvents is the length of the replayed stream.
const replayEvents = 1_000_000

var replayID = eventlog.ID{Type: "counter", Key: "replay"}

// replayFixture is one actor with replayEvents events, built once per test
// binary (its build takes a while) and removed by TestMain.
var replayFixture replayFixtureT

type replayFixtureT struct {
	once sync.Once
	dir  string
	log  *eventlog.Log
	err  error
}

// open returns the fixture's log, building it on first use.
func (f *replayFixtureT) open(b *testing.B) *eventlog.Log {
	f.once.Do(func() {
		t0 := time.Now()
		f.dir, f.err = os.MkdirTemp("", "eventlog-bench-replay-")
		if f.err != nil {
			return
		}
		f.log, f.err = eventlog.Open(f.dir, eventlog.Options{})
		if f.err != nil {
			return
		}
		const per = 1000 // at most MaxAppendEvents (default 1024)
		events := make([]eventlog.Event, per)
		ctx := context.Background()
		for head := uint64(0); head < replayEvents; head += per {
			for i := range events {
				events[i] = benchEvent(int64(head) + int64(i) + 1)
			}
			if _, f.err = f.log.Append(ctx, replayID, eventlog.ExpectSeq(head), events...); f.err != nil {
				return
			}
		}
		built := time.Since(t0)
		// Let the LSM settle so that the compactions the build set off do
		// not run during the timed replays, then reopen.
		if f.err = f.log.Close(); f.err != nil {
			return
		}
		f.log = nil
		var size uint64
		if size, f.err = settlePebble(f.dir); f.err != nil {
			return
		}
		if f.log, f.err = eventlog.Open(f.dir, eventlog.Options{}); f.err != nil {
			return
		}
		b.Logf("replay fixture: %d events appended in %v, settled in %v, %.1f MiB on disk",
			replayEvents, built.Round(time.Millisecond), (time.Since(t0) - built).Round(time.Millisecond), float64(size)/(1<<20))
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	return f.log
}

// settlePebble flushes the memtable of the store in dir and waits until
// Pebble has had no compaction in progress for a second. It returns the
// store's size on disk.
func settlePebble(dir string) (uint64, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: benchPebbleLogger{}})
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

func (f *replayFixtureT) close() {
	if f.log != nil {
		f.log.Close()
	}
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

// BenchmarkReplay replays one actor of replayEvents events with ScanStream.
//
//	decode=envelope   envelope decode only (what ScanStream itself does)
//	decode=decoder    plus the event data, with one reused msgpack.Decoder
//	decode=unmarshal  plus the event data, with msgpack.Unmarshal per event
func BenchmarkReplay(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a stream of 1M events")
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// newDecode returns the per-event data decoder of one replay, or
		// nil for none.
		newDecode func() func(data []byte, into *benchCounter) error
	}{
		{"decode=envelope", nil},
		{"decode=decoder", func() func([]byte, *benchCounter) error {
			var rd bytes.Reader
			dec := msgpack.NewDecoder(&rd)
			return func(data []byte, into *benchCounter) error {
				rd.Reset(data)
				return dec.Decode(into)
			}
		}},
		{"decode=unmarshal", func() func([]byte, *benchCounter) error {
			return func(data []byte, into *benchCounter) error { return msgpack.Unmarshal(data, into) }
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := replayFixture.open(b)
			b.ReportAllocs()
			b.ResetTimer()
			t0 := time.Now()
			for range b.N {
				var decode func([]byte, *benchCounter) error
				if tc.newDecode != nil {
					decode = tc.newDecode()
				}
				var n int
				var c benchCounter
				err := l.ScanStream(ctx, replayID, 1, 0, func(e *eventlog.Event) error {
					n++
					if decode == nil {
						return nil
					}
					if err := decode(e.Data, &c); err != nil {
						return err
					}
					if c.Count != int64(e.Seq) {
						return fmt.Errorf("event %d has count %d", e.Seq, c.Count)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				if n != replayEvents {
					b.Fatalf("replayed %d events, want %d", n, replayEvents)
				}
			}
			elapsed := time.Since(t0)
			b.StopTimer()
			b.ReportMetric(float64(b.N)*replayEvents/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(elapsed.Nanoseconds())/(float64(b.N)*replayEvents), "ns/event")
		})
	}
}
