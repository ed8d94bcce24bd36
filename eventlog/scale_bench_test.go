package eventlog_test

// Disk bytes per event. Results and the command that produced them are in
// BENCHMARKS.md.
//
//	go test ./eventlog -run '^$' -bench DiskBytesPerEvent -benchtime 1x -timeout 30m
//
// Each run builds its store in a b.TempDir with NoSync appends (the bytes
// on disk do not depend on how appends were grouped once compacted),
// reopens it with the default options, compacts it with Log.Compact and
// reports Log.DiskUsage and the files in the directory. Skipped with
// -short.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// diskEvents is the number of events of each BenchmarkDiskBytesPerEvent
// store.
const diskEvents = 1_000_000

// BenchmarkDiskBytesPerEvent appends diskEvents counter events (37 bytes
// of msgpack data each, benchEvent) and measures the store on disk.
//
//	actors=1     one actor, appends of 1000 events
//	actors=10k   10k actors with 100 events each, appends of 100
//	actors=1M    1M actors with one event each, one event per append
//
// Reported: DiskUsage after the appends (the store reopened), then after
// Compact once DiskUsage is steady, each per event; the bytes of .sst
// files per event; and the logical bytes per event (keys and values eventlog
// writes for it: the event under its stream, the event under its global
// position, and a share of the stream record) for comparison.
func BenchmarkDiskBytesPerEvent(b *testing.B) {
	if testing.Short() {
		b.Skip("appends 1M events")
	}
	for _, tc := range []struct {
		name          string
		actors, per   int
		appendsOfEach int
	}{
		{"actors=1", 1, diskEvents, 1000},
		{"actors=10k", 10_000, diskEvents / 10_000, 100},
		{"actors=1M", diskEvents, 1, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				diskRun(b, tc.actors, tc.per, tc.appendsOfEach)
			}
		})
	}
}

func diskActor(i int) eventlog.ID {
	return eventlog.ID{Type: "counter", Key: fmt.Sprintf("c%07d", i)}
}

func diskRun(b *testing.B, actors, per, batch int) {
	ctx := context.Background()
	dir := b.TempDir()
	l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	const builders = 4
	errs := make([]error, builders)
	var wg sync.WaitGroup
	for w := range builders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			events := make([]eventlog.Event, batch)
			for a := w; a < actors; a += builders {
				id := diskActor(a)
				for head := 0; head < per; head += batch {
					n := min(batch, per-head)
					for i := range n {
						events[i] = benchEvent(int64(head + i + 1))
					}
					if _, err := l.Append(ctx, id, eventlog.ExpectSeq(uint64(head)), events[:n]...); err != nil {
						errs[w] = err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	built := time.Since(t0)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	if l, err = eventlog.Open(dir, eventlog.Options{Logger: quietLogger()}); err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if got := l.Durable(); got != diskEvents {
		b.Fatalf("store holds %d events, want %d", got, diskEvents)
	}
	before := steadyUsage(l)
	t1 := time.Now()
	if err := l.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	compact := time.Since(t1)
	after := steadyUsage(l)
	sst, wal, other, err := storeFiles(dir)
	if err != nil {
		b.Fatal(err)
	}

	// The logical bytes of one event, of a middle actor, as eventlog
	// writes them.
	id := diskActor(actors / 2)
	e := benchEvent(int64(per))
	e.Seq, e.Pos, e.Time = uint64(per), diskEvents/2, time.Now().UnixMilli()
	idKey := eventlog.AppendKey(nil, id)
	env := eventlog.AppendEnvelope(nil, &e)
	streamRec := 1 + len(idKey) + 16 // key, and about 16 bytes of uvarints and varints
	logical := float64((1+len(idKey)+8)+len(env)+9+len(idKey)+len(env)) + float64(streamRec*actors)/diskEvents

	b.ReportMetric(float64(len(e.Data)), "data-B/event")
	b.ReportMetric(logical, "logical-B/event")
	b.ReportMetric(float64(before)/diskEvents, "disk-B/event")
	b.ReportMetric(float64(after)/diskEvents, "compacted-B/event")
	b.ReportMetric(float64(sst)/diskEvents, "sst-B/event")
	b.ReportMetric(compact.Seconds(), "compact-s")
	b.Logf("%d events over %d actors appended in %v; DiskUsage %.1f MiB, after Compact %.1f MiB (files: sst %.1f MiB, WAL %.1f MiB, other %.2f MiB)",
		diskEvents, actors, built.Round(time.Millisecond), float64(before)/(1<<20), float64(after)/(1<<20),
		float64(sst)/(1<<20), float64(wal)/(1<<20), float64(other)/(1<<20))
}

// steadyUsage returns Log.DiskUsage once it has not changed for a second
// (at most 2 minutes): it counts obsolete files that Pebble has yet to
// delete.
func steadyUsage(l *eventlog.Log) uint64 {
	last, same := l.DiskUsage(), 0
	for deadline := time.Now().Add(2 * time.Minute); same < 10 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if u := l.DiskUsage(); u == last {
			same++
		} else {
			last, same = u, 0
		}
	}
	return last
}

// storeFiles returns the bytes of the store's tables, WALs and other
// files.
func storeFiles(dir string) (sst, wal, other int64, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		switch filepath.Ext(e.Name()) {
		case ".sst":
			sst += info.Size()
		case ".log":
			wal += info.Size()
		default:
			other += info.Size()
		}
	}
	return sst, wal, other, nil
}
