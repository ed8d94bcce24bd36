package jetstream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
	"github.com/nats-io/nats.go"
)

// TestLog_TailLosesDelivery: the live tail's consumer delivers the last
// event written and the network loses it, so that no later delivery
// reveals the gap. The Log knows the event is committed (it wrote it), and
// its watchdog starts the tail over within seconds: the subscriber gets
// the event, then the next ones, in order.
func TestLog_TailLosesDelivery(t *testing.T) {
	for _, s := range []*shared{single, three} {
		t.Run(fmt.Sprintf("R%d", s.n), func(t *testing.T) {
			s := s.get(t)
			lossy := &jetstreamtest.Lossy{}
			nc, err := nats.Connect(s.srv.URL(), nats.SetCustomDialer(lossy))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			l := open(t, s, jetstream.Options{Conn: nc})
			id := eventlog.ID{Type: "counter", Key: "tailed"}
			sub, err := l.SubscribeStream(bg, id, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if b, err := sub.TryNextBatch(bg, 10); len(b) != 0 || err != nil {
				t.Fatalf("TryNextBatch on an empty stream = %d events, %v", len(b), err)
			}
			lossy.DropDeliveries(l.prefix+".a.counter.tailed.", 1)
			if _, err := l.Append(bg, id, eventlog.NoStream, eventlogtest.Ev("x", 1)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(bg, 10*time.Second)
			defer cancel()
			start := time.Now()
			e, err := sub.Next(ctx)
			if err != nil || e.Seq != 1 {
				t.Fatalf("Next after a lost delivery = seq %d, %v; want seq 1", e.Seq, err)
			}
			if lossy.DroppedDeliveries() != 1 {
				t.Fatalf("%d deliveries dropped, want 1", lossy.DroppedDeliveries())
			}
			t.Logf("delivered %v after the loss", time.Since(start).Round(time.Millisecond))
			if _, err := l.Append(bg, id, eventlog.ExpectSeq(1), eventlogtest.Ev("x", 2)); err != nil {
				t.Fatal(err)
			}
			if e, err := sub.Next(ctx); err != nil || e.Seq != 2 {
				t.Fatalf("Next = seq %d, %v; want seq 2", e.Seq, err)
			}
		})
	}
}
