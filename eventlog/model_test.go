package eventlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/cockroachdb/pebble/v2/vfs"
	"pgregory.net/rapid"
)

// TestLog_MatchesModel runs random sequences of operations against the
// Pebble log and the in-memory model and requires identical answers:
// results, errors, events and listings. rapid shrinks any failure to a
// short sequence.
func TestLog_MatchesModel(t *testing.T) {
	// rapid runs 100 cases by default (-rapid.checks), each a sequence of
	// up to -rapid.steps operations.
	total := 0
	rapid.Check(t, func(rt *rapid.T) {
		l, err := eventlog.Open("db", eventlog.Options{FS: vfs.NewMem(), Logger: quietLogger()})
		if err != nil {
			rt.Fatal(err)
		}
		defer l.Close()
		m := eventlogtest.NewMemory()
		ctx := context.Background()
		ids := []eventlog.ID{{Type: "a", Key: "x"}, {Type: "a", Key: "x\x00"}, {Type: "a", Key: "x|y"}, {Type: "b", Key: "x"}, {Type: "bb", Key: "é"}}
		pickID := func(rt *rapid.T) eventlog.ID { return rapid.SampledFrom(ids).Draw(rt, "id") }
		time := int64(1)
		genEvents := func(rt *rapid.T) []eventlog.Event {
			n := rapid.IntRange(1, 4).Draw(rt, "n")
			evs := make([]eventlog.Event, n)
			for i := range evs {
				time++
				evs[i] = eventlogtest.Ev(rapid.SampledFrom([]string{"t1", "t2"}).Draw(rt, "type"), rapid.IntRange(-1000, 1000).Draw(rt, "v"))
				evs[i].Time = time
				if rapid.Bool().Draw(rt, "meta") {
					evs[i].Meta = eventlog.Metadata{Causation: "act", IdempotencyKey: fmt.Sprint(time)}
				}
			}
			return evs
		}
		rt.Repeat(map[string]func(*rapid.T){
			"append": func(rt *rapid.T) {
				id := pickID(rt)
				h, _ := m.Head(ctx, id)
				exp := rapid.SampledFrom([]eventlog.Expected{eventlog.Any, eventlog.NoStream, eventlog.ExpectSeq(h.Head), eventlog.ExpectSeq(h.Head + 1)}).Draw(rt, "expected")
				evs := genEvents(rt)
				r1, e1 := l.Append(ctx, id, exp, evs...)
				r2, e2 := m.Append(ctx, id, exp, evs...)
				sameErr(rt, e1, e2)
				if r1 != r2 {
					rt.Fatalf("append result: log %+v, model %+v", r1, r2)
				}
			},
			"delete": func(rt *rapid.T) {
				id := pickID(rt)
				h, _ := m.Head(ctx, id)
				before := rapid.Uint64Range(0, h.Head+2).Draw(rt, "before")
				sameErr(rt, l.Delete(ctx, id, before), m.Delete(ctx, id, before))
			},
			"readStream": func(rt *rapid.T) {
				id := pickID(rt)
				from := rapid.Uint64Range(0, 20).Draw(rt, "from")
				limit := rapid.IntRange(0, 10).Draw(rt, "limit")
				a, e1 := eventlog.ReadStream(ctx, l, id, from, limit)
				b, e2 := eventlog.ReadStream(ctx, m, id, from, limit)
				sameErr(rt, e1, e2)
				sameEvents(rt, a, b)
			},
			"readFeed": func(rt *rapid.T) {
				from := rapid.Uint64Range(0, 60).Draw(rt, "from")
				limit := rapid.IntRange(0, 100).Draw(rt, "limit")
				a, e1 := eventlog.ReadFeed(ctx, l, from, limit)
				b, e2 := eventlog.ReadFeed(ctx, m, from, limit)
				sameErr(rt, e1, e2)
				sameEvents(rt, a, b)
			},
			"head": func(rt *rapid.T) {
				id := pickID(rt)
				a, e1 := l.Head(ctx, id)
				b, e2 := m.Head(ctx, id)
				sameErr(rt, e1, e2)
				if a != b {
					rt.Fatalf("head: log %+v, model %+v", a, b)
				}
			},
			"list": func(rt *rapid.T) {
				o := eventlog.ListOptions{Type: rapid.SampledFrom([]string{"", "a", "b", "bb"}).Draw(rt, "type"), Limit: rapid.IntRange(1, 6).Draw(rt, "limit")}
				if rapid.Bool().Draw(rt, "after") {
					o.After = pickID(rt)
				}
				a, e1 := l.ListActors(ctx, o)
				b, e2 := m.ListActors(ctx, o)
				sameErr(rt, e1, e2)
				if fmt.Sprint(a) != fmt.Sprint(b) {
					rt.Fatalf("list %+v: log %v, model %v", o, a, b)
				}
			},
			"": func(rt *rapid.T) { total++ },
		})
	})
	t.Logf("%d operations compared", total)
	if total < 1000 {
		t.Fatalf("only %d operations compared", total)
	}
}

func sameErr(rt *rapid.T, a, b error) {
	rt.Helper()
	if (a == nil) != (b == nil) {
		rt.Fatalf("errors differ: log %v, model %v", a, b)
	}
	var ca, cb *eventlog.ConflictError
	if errors.As(a, &ca) != errors.As(b, &cb) || ca != nil && *ca != *cb {
		rt.Fatalf("conflicts differ: log %v, model %v", a, b)
	}
	for _, s := range []error{eventlog.ErrBadRange, eventlog.ErrInvalidEvent, eventlog.ErrInvalidType, eventlog.ErrInvalidKey} {
		if errors.Is(a, s) != errors.Is(b, s) {
			rt.Fatalf("error classes differ: log %v, model %v", a, b)
		}
	}
}

func sameEvents(rt *rapid.T, a, b []eventlog.Event) {
	rt.Helper()
	if len(a) != len(b) {
		rt.Fatalf("log returned %d events, model %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Actor != y.Actor || x.Seq != y.Seq || x.Pos != y.Pos || x.Type != y.Type || !bytes.Equal(x.Data, y.Data) || x.Time != y.Time || x.Meta != y.Meta {
			rt.Fatalf("event %d: log %+v, model %+v", i, x, y)
		}
	}
}
