package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
)

// BenchmarkInspectLarge times "actorlog state --at" and "actorlog verify"
// end to end (open the directory read-only, work, close) on two stores it
// builds first, which takes a minute or so:
//
//   - one actor, counter:big, with 1,000,000 events and the two snapshots
//     the runtime would have kept (at seqs 999,000 and 1,000,000);
//   - 100,000 counters of 10 events each (1,000,000 events in all), the
//     feed interleaving them.
//
// Run it with
//
//	go test ./cmd/cli -run '^$' -bench InspectLarge -benchtime 3x -timeout 30m
//
// Set ACTORLOG_BENCH_DIR to keep the stores there between runs.
func BenchmarkInspectLarge(b *testing.B) {
	root := os.Getenv("ACTORLOG_BENCH_DIR")
	if root == "" {
		root = b.TempDir()
	}
	one := benchStore(b, root+"/one-actor", func(l *eventlog.Log) { benchOneActor(b, l, 1_000_000) })
	many := benchStore(b, root+"/many-actors", func(l *eventlog.Log) { benchManyActors(b, l, 100_000, 10) })

	for _, bc := range []struct {
		name, dir string
		args      []string
	}{
		{"state-at-head/1M-events", one, []string{"state", "counter:big"}},
		{"state-at-middle/1M-events", one, []string{"state", "counter:big", "--at", "500000"}},
		{"state-at-start/1M-events", one, []string{"state", "counter:big", "--at", "10"}},
		{"verify-actor/1M-events", one, []string{"verify", "counter:big"}},
		{"verify-all/1M-events", one, []string{"verify", "--all"}},
		{"state-at/100k-actors", many, []string{"state", "counter:k50000", "--at", "5"}},
		{"verify-actor/100k-actors", many, []string{"verify", "counter:k50000"}},
		{"verify-all/100k-actors", many, []string{"verify", "--all"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			args := append(bc.args, "--data", bc.dir)
			for i := 0; i < b.N; i++ {
				if code := run(args, io.Discard, io.Discard); code != 0 {
					b.Fatalf("actorlog %v: exit %d", args, code)
				}
			}
		})
	}
}

// benchStore returns dir, built by fill unless it holds a store already.
func benchStore(b *testing.B, dir string, fill func(l *eventlog.Log)) string {
	b.Helper()
	if _, err := os.Stat(dir + "/CURRENT"); err == nil {
		return dir
	}
	l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: inspQuiet()})
	if err != nil {
		b.Fatal(err)
	}
	fill(l)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

func benchEvent(b *testing.B, count int64) eventlog.Event {
	return eventlog.Event{Type: "countUpdated", Data: inspMsgpack(b, seed.CountUpdated{Count: count, LastUpdated: t0 + count}), Time: t0 + count, Meta: eventlog.Metadata{Causation: "increment"}}
}

func benchOneActor(b *testing.B, l *eventlog.Log, n int) {
	id := eventlog.ID{Type: "counter", Key: "big"}
	snaps := snapshots.New(l, snapshots.Options{})
	f := actors.NewFolder(seed.Counter(), id)
	batch := make([]eventlog.Event, 0, 1000)
	for i := 1; i <= n; i++ {
		batch = append(batch, benchEvent(b, int64(i)))
		if len(batch) == cap(batch) || i == n {
			res, err := l.Append(inspBG, id, eventlog.Any, batch...)
			if err != nil {
				b.Fatal(err)
			}
			for j := range batch {
				batch[j].Seq = res.First + uint64(j)
				if err := f.Apply(&batch[j]); err != nil {
					b.Fatal(err)
				}
			}
			if last := res.Last; last >= uint64(n)-1000 {
				st, _ := f.EncodeState()
				if err := snaps.Save(inspBG, snapshots.Snapshot{Actor: id, Seq: last, Schema: f.Schema(), State: st}); err != nil {
					b.Fatal(err)
				}
			}
			batch = batch[:0]
		}
	}
}

func benchManyActors(b *testing.B, l *eventlog.Log, actorsN, events int) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for round := 1; round <= events; round++ {
				for k := w; k < actorsN; k += 16 {
					id := eventlog.ID{Type: "counter", Key: "k" + strconv.Itoa(k)}
					if _, err := l.Append(inspBG, id, eventlog.ExpectSeq(uint64(round-1)), benchEvent(b, int64(round))); err != nil {
						errs <- fmt.Errorf("%s: %w", id, err)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}
