package jetstream_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/eventlog/jetstream"
)

// TestLog_LongScans: scans long enough to read through a consumer rather
// than a message at a time keep their bounds, their order and their
// early stops, over two actors' interleaved events and a deleted prefix.
func TestLog_LongScans(t *testing.T) {
	for _, s := range []*shared{single, three} {
		t.Run(fmt.Sprintf("R%d", s.n), func(t *testing.T) {
			l := open(t, s, jetstream.Options{})
			a, b := eventlog.ID{Type: "counter", Key: "a"}, eventlog.ID{Type: "counter", Key: "b"}
			var posA, posAll []uint64 // positions of a's events, and of all
			for i := range 30 {
				for _, id := range []eventlog.ID{a, b} {
					evs := make([]eventlog.Event, 10)
					for j := range evs {
						evs[j] = eventlogtest.Ev("x", i*10+j+1)
					}
					res, err := l.Append(bg, id, eventlog.ExpectSeq(uint64(i*10)), evs...)
					if err != nil {
						t.Fatal(err)
					}
					for p := res.FirstPos; p <= res.LastPos; p++ {
						posAll = append(posAll, p)
						if id == a {
							posA = append(posA, p)
						}
					}
				}
			}
			stream := func(id eventlog.ID, from, to uint64, stopAt int) ([]uint64, error) {
				var got []uint64
				err := l.ScanStream(bg, id, from, to, func(e *eventlog.Event) error {
					if e.Actor != id || e.Pos != posA[e.Seq-1] && id == a {
						return fmt.Errorf("event %s seq %d at %d", e.Actor, e.Seq, e.Pos)
					}
					got = append(got, e.Seq)
					if len(got) == stopAt {
						return errStop
					}
					return nil
				})
				return got, err
			}
			feed := func(from, to uint64, stopAt int) ([]uint64, error) {
				var got []uint64
				err := l.ScanFeed(bg, from, to, func(e *eventlog.Event) error {
					got = append(got, e.Pos)
					if len(got) == stopAt {
						return errStop
					}
					return nil
				})
				return got, err
			}
			span := func(lo, hi uint64) []uint64 {
				var out []uint64
				for i := lo; i <= hi; i++ {
					out = append(out, i)
				}
				return out
			}
			if got, err := stream(a, 0, 0, 0); err != nil || !slices.Equal(got, span(1, 300)) {
				t.Fatalf("whole stream: %v, %v", got, err)
			}
			if got, err := stream(a, 10, 250, 0); err != nil || !slices.Equal(got, span(10, 250)) {
				t.Fatalf("stream 10..250: %v, %v", got, err)
			}
			if got, err := stream(a, 5, 0, 100); !errors.Is(err, errStop) || !slices.Equal(got, span(5, 104)) {
				t.Fatalf("stream from 5 stopped at 100 events: %v, %v", got, err)
			}
			if got, err := feed(0, 0, 0); err != nil || !slices.Equal(got, posAll) {
				t.Fatalf("whole feed: %v, %v", got, err)
			}
			lo, hi := posAll[17], posAll[480]
			if got, err := feed(lo, hi, 0); err != nil || !slices.Equal(got, posAll[17:481]) {
				t.Fatalf("feed %d..%d: %v, %v", lo, hi, got, err)
			}
			if got, err := feed(lo, 0, 200); !errors.Is(err, errStop) || !slices.Equal(got, posAll[17:217]) {
				t.Fatalf("feed from %d stopped at 200 events: %v, %v", lo, got, err)
			}
			if err := l.Delete(bg, a, 101); err != nil {
				t.Fatal(err)
			}
			if got, err := stream(a, 1, 0, 0); err != nil || !slices.Equal(got, span(101, 300)) {
				t.Fatalf("stream after deleting below 101: %v, %v", got, err)
			}
			var want []uint64
			for _, p := range posAll {
				if !slices.Contains(posA[:100], p) {
					want = append(want, p)
				}
			}
			if got, err := feed(0, 0, 0); err != nil || !slices.Equal(got, want) {
				t.Fatalf("feed after deleting a's first 100: %d events, %v; want %d", len(got), err, len(want))
			}
		})
	}
}

var errStop = errors.New("stop")
