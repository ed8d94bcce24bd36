package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"
)

// second opens another Log on ts's stream, connected to the i-th server
// (modulo their number), as a second node would be; the test closes it.
func second(t *testing.T, ts *testStore, i int) *jetstream.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	srv := ts.s.srv.Server(i % ts.s.n)
	l, err := jetstream.Open(ctx, jetstream.Options{URL: srv.ClientURL(), Stream: ts.name, Prefix: ts.prefix, Replicas: ts.s.n, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestLog_WriterRace: two Logs, as two nodes that both believe they own
// an actor, append with the same expected sequence at the same time,
// round after round. Exactly one wins each round; the other gets a
// *ConflictError naming the winner's head; the stream holds the winners'
// events only, gapless.
func TestLog_WriterRace(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	for _, s := range []*shared{single, three} {
		t.Run(fmt.Sprintf("R%d", s.n), func(t *testing.T) {
			a := open(t, s, jetstream.Options{})
			writers := []eventlog.Store{a.Log, second(t, a, 1)}
			id := eventlog.ID{Type: "counter", Key: "raced"}
			var winners []string
			for round := range rounds {
				var (
					start = make(chan struct{})
					wg    sync.WaitGroup
					errs  [2]error
				)
				for w, l := range writers {
					wg.Go(func() {
						<-start
						_, errs[w] = l.Append(bg, id, eventlog.ExpectSeq(uint64(round)), eventlogtest.Ev("won", fmt.Sprintf("%d/%d", round, w)))
					})
				}
				close(start)
				wg.Wait()
				won := -1
				for w, err := range errs {
					var ce *eventlog.ConflictError
					switch {
					case err == nil && won >= 0:
						t.Fatalf("round %d: both writers won", round)
					case err == nil:
						won = w
					case errors.As(err, &ce):
						if ce.Actual != uint64(round)+1 {
							t.Fatalf("round %d: writer %d lost to head %d, want %d", round, w, ce.Actual, round+1)
						}
					default:
						t.Fatalf("round %d: writer %d: %v", round, w, err)
					}
				}
				if won < 0 {
					t.Fatalf("round %d: no writer won: %v", round, errs)
				}
				winners = append(winners, fmt.Sprintf("%d/%d", round, won))
			}
			evs, err := eventlog.ReadStream(bg, a, id, 1, rounds+1)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != rounds {
				t.Fatalf("the stream holds %d events, want %d", len(evs), rounds)
			}
			for i, e := range evs {
				var got string
				if err := msgpack.Unmarshal(e.Data, &got); err != nil {
					t.Fatal(err)
				}
				if e.Seq != uint64(i)+1 || got != winners[i] {
					t.Fatalf("event %d is seq %d from %q, want seq %d from %q", i, e.Seq, got, i+1, winners[i])
				}
			}
		})
	}
}

// TestLog_RetriedPublishLandsOnce: the acknowledgement of a publish is
// lost after the servers stored it; the Log, hearing nothing, sends the
// same messages again. The write succeeds once, with the sequences and
// positions of the first try, and nothing is stored twice: one event,
// an atomic batch of several, events with records, records alone.
func TestLog_RetriedPublishLandsOnce(t *testing.T) {
	for _, s := range []*shared{single, three} {
		t.Run(fmt.Sprintf("R%d", s.n), func(t *testing.T) {
			s := s.get(t)
			lossy := &jetstreamtest.Lossy{}
			nc, err := nats.Connect(s.srv.URL(), nats.SetCustomDialer(lossy))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			l := open(t, s, jetstream.Options{Conn: nc, RequestTimeout: 300 * time.Millisecond})
			id := eventlog.ID{Type: "counter", Key: "retried"}
			ev := eventlogtest.Ev
			writes := []eventlog.Request{
				{Actor: id, Expected: eventlog.NoStream, Events: []eventlog.Event{ev("x", 1)}},
				{Actor: id, Expected: eventlog.ExpectSeq(1), Events: []eventlog.Event{ev("x", 2), ev("x", 3), ev("x", 4)}},
				{Actor: id, Expected: eventlog.ExpectSeq(4), Events: []eventlog.Event{ev("x", 5)},
					Ops: []eventlog.Op{{Space: eventlog.FirstSpace, Key: []byte("k"), Value: []byte("v")}}},
				{Actor: id, Expected: eventlog.Any, Events: []eventlog.Event{ev("x", 6), ev("x", 7)}},
			}
			var head uint64
			for i, r := range writes {
				lossy.DropAcks(l.name, 1)
				res, err := l.Write(bg, r)
				if err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				if got := lossy.Dropped(); got != i+1 {
					t.Fatalf("write %d: %d acks dropped in all, want %d", i, got, i+1)
				}
				n := uint64(len(r.Events))
				if res.First != head+1 || res.Last != head+n || res.LastPos-res.FirstPos != n-1 {
					t.Fatalf("write %d: result %+v, want seqs %d..%d at contiguous positions", i, res, head+1, head+n)
				}
				head += n
				evs, err := eventlog.ReadStream(bg, l, id, res.First, int(n)+1)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != int(n) || evs[0].Pos != res.FirstPos {
					t.Fatalf("write %d: read %d events from position %d, want %d from %d", i, len(evs), evs[0].Pos, n, res.FirstPos)
				}
			}
			evs, err := eventlog.ReadFeed(bg, l, 1, 100)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range evs {
				var v int
				if err := msgpack.Unmarshal(e.Data, &v); err != nil {
					t.Fatal(err)
				}
				if e.Seq != uint64(i)+1 || v != i+1 {
					t.Fatalf("feed event %d is seq %d holding %d, want seq %d holding %d", i, e.Seq, v, i+1, i+1)
				}
			}
			if len(evs) != int(head) {
				t.Fatalf("the feed holds %d events, want %d", len(evs), head)
			}
			// Records alone: no expectation, the ids alone make the retry
			// land once.
			lossy.DropAcks(l.name, 1)
			if _, err := l.Write(bg, eventlog.Request{Ops: []eventlog.Op{
				{Space: eventlog.FirstSpace, Key: []byte("k2"), Value: []byte("v2")},
				{Space: eventlog.FirstSpace, Key: []byte("k3"), Value: []byte("v3")},
			}}); err != nil {
				t.Fatalf("write of records: %v", err)
			}
			if got, want := lossy.Dropped(), len(writes)+1; got != want {
				t.Fatalf("%d acks dropped in all, want %d", got, want)
			}
			for _, k := range []string{"k", "k2", "k3"} {
				want := "v" + k[1:]
				if v, err := l.Get(bg, eventlog.FirstSpace, []byte(k)); err != nil || string(v) != want {
					t.Fatalf("record %s = %q, %v; want %s", k, v, err, want)
				}
			}
		})
	}
}
