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
// results, errors, events, listings and records. rapid shrinks any failure to a
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
		pickExpected := func(rt *rapid.T, id eventlog.ID) eventlog.Expected {
			h, _ := m.Head(ctx, id)
			return rapid.SampledFrom([]eventlog.Expected{eventlog.Any, eventlog.NoStream, eventlog.ExpectSeq(h.Head), eventlog.ExpectSeq(h.Head + 1)}).Draw(rt, "expected")
		}
		// Records: a few spaces, the last one included, and now and then a
		// reserved one, which both must refuse; keys that sort at the
		// edges of a space.
		pickSpace := func(rt *rapid.T) eventlog.Space {
			if rapid.IntRange(0, 20).Draw(rt, "reserved") == 0 {
				return eventlog.FirstSpace - 1
			}
			return rapid.SampledFrom([]eventlog.Space{eventlog.FirstSpace, eventlog.FirstSpace + 1, 0xFF}).Draw(rt, "space")
		}
		pickKey := func(rt *rapid.T, label string) []byte {
			return []byte(rapid.SampledFrom([]string{"", "\x00", "a", "ab", "b", "\xff", "\xff\xff"}).Draw(rt, label))
		}
		genOp := func(rt *rapid.T) eventlog.Op {
			op := eventlog.Op{Space: pickSpace(rt), Key: pickKey(rt, "key")}
			switch rapid.IntRange(0, 3).Draw(rt, "kind") {
			case 0:
				op.Delete = true
			case 1:
				op.Delete, op.End = true, pickKey(rt, "end")
			default:
				op.Value = rapid.SliceOfN(rapid.Byte(), 0, 6).Draw(rt, "value")
			}
			return op
		}
		rt.Repeat(map[string]func(*rapid.T){
			"append": func(rt *rapid.T) {
				id := pickID(rt)
				exp := pickExpected(rt, id)
				evs := genEvents(rt)
				r1, e1 := l.Append(ctx, id, exp, evs...)
				r2, e2 := m.Append(ctx, id, exp, evs...)
				same(rt, "append result", r1, r2, e1, e2)
			},
			"write": func(rt *rapid.T) {
				var r eventlog.Request
				switch rapid.IntRange(0, 2).Draw(rt, "with") {
				case 0: // events and ops
					r.Actor = pickID(rt)
					r.Expected = pickExpected(rt, r.Actor)
					r.Events = genEvents(rt)
				case 1: // ops with an actor, whose head is not checked
					r.Actor = pickID(rt)
					r.Expected = eventlog.ExpectSeq(rapid.Uint64Range(0, 5).Draw(rt, "expected"))
				}
				r.Ops = rapid.SliceOfN(rapid.Custom(genOp), 0, 4).Draw(rt, "ops")
				r1, e1 := l.Write(ctx, r)
				r2, e2 := m.Write(ctx, r)
				same(rt, "write result", r1, r2, e1, e2)
			},
			"get": func(rt *rapid.T) {
				sp, key := pickSpace(rt), pickKey(rt, "key")
				a, e1 := l.Get(ctx, sp, key)
				b, e2 := m.Get(ctx, sp, key)
				sameErr(rt, e1, e2)
				if !bytes.Equal(a, b) {
					rt.Fatalf("Get(%#x, %q): log %q, model %q", sp, key, a, b)
				}
				a, e1 = l.Peek(sp, key)
				b, e2 = m.Peek(sp, key)
				sameErr(rt, e1, e2)
				if !bytes.Equal(a, b) {
					rt.Fatalf("Peek(%#x, %q): log %q, model %q", sp, key, a, b)
				}
			},
			"scan": func(rt *rapid.T) {
				sp := pickSpace(rt)
				var lo, hi []byte
				if rapid.Bool().Draw(rt, "lo") {
					lo = pickKey(rt, "lo")
				}
				if rapid.Bool().Draw(rt, "hi") {
					hi = pickKey(rt, "hi")
				}
				reverse := rapid.Bool().Draw(rt, "reverse")
				a, e1 := scanRecords(ctx, l, sp, lo, hi, reverse)
				b, e2 := scanRecords(ctx, m, sp, lo, hi, reverse)
				sameErr(rt, e1, e2)
				if fmt.Sprint(a) != fmt.Sprint(b) {
					rt.Fatalf("Scan(%#x, %q, %q, reverse %v): log %q, model %q", sp, lo, hi, reverse, a, b)
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
				same(rt, "head", a, b, e1, e2)
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
	// rapid runs a fifth of the cases with -short.
	if floor := 1000; total < floor && !testing.Short() || total < floor/5 {
		t.Fatalf("only %d operations compared", total)
	}
}

// same fails unless the log's and the model's answers agree.
func same[T comparable](rt *rapid.T, what string, a, b T, e1, e2 error) {
	rt.Helper()
	sameErr(rt, e1, e2)
	if a != b {
		rt.Fatalf("%s: log %+v, model %+v", what, a, b)
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
	for _, s := range []error{eventlog.ErrBadRange, eventlog.ErrInvalidEvent, eventlog.ErrInvalidType, eventlog.ErrInvalidKey, eventlog.ErrNotFound} {
		if errors.Is(a, s) != errors.Is(b, s) {
			rt.Fatalf("error classes differ: log %v, model %v", a, b)
		}
	}
}

// scanRecords returns the records a Scan visits, as "key=value".
func scanRecords(ctx context.Context, r eventlog.Records, sp eventlog.Space, lo, hi []byte, reverse bool) ([]string, error) {
	var out []string
	err := r.Scan(ctx, sp, lo, hi, reverse, func(k, v []byte) error {
		out = append(out, fmt.Sprintf("%q=%q", k, v))
		return nil
	})
	return out, err
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
