package jetstream_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	njs "github.com/nats-io/nats.go/jetstream"
)

// recordSubject is the subject of a record, as the package doc has it.
func recordSubject(prefix string, sp eventlog.Space, key string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s.r.%02x", prefix, byte(sp))
	for _, c := range []byte(key) {
		b.WriteString("." + hex.EncodeToString([]byte{c}))
	}
	return b.String() + ".="
}

// messagesOn returns how many messages the stream holds on subject.
func messagesOn(t *testing.T, ts *testStore, subject string) uint64 {
	t.Helper()
	st, err := ts.s.js.Stream(bg, ts.name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(bg, njs.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// TestLog_LargeRecords: a record value over MaxEventSize (a snapshot
// over the servers' max_payload) is stored as several messages of one
// atomic batch and read back whole; a later version, a deletion and a
// range deletion replace it; the compactor keeps exactly the messages of
// the last version.
func TestLog_LargeRecords(t *testing.T) {
	for _, s := range []*shared{single, three} {
		t.Run(fmt.Sprintf("R%d", s.n), func(t *testing.T) {
			const size = 1000
			l := open(t, s, jetstream.Options{MaxEventSize: size, MaxAppendEvents: 8, MaxRecordSize: 7 * size})
			sp := eventlog.FirstSpace
			big := func(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }
			want := func(key string, v []byte) {
				t.Helper()
				got, err := l.Get(bg, sp, []byte(key))
				if err != nil || !bytes.Equal(got, v) {
					t.Fatalf("Get(%s) = %d bytes, %v; want %d bytes", key, len(got), err, len(v))
				}
			}
			compacted := func(key string, n uint64) {
				t.Helper()
				subj := recordSubject(l.prefix, sp, key)
				deadline := time.Now().Add(10 * time.Second)
				for messagesOn(t, l, subj) != n {
					if time.Now().After(deadline) {
						t.Fatalf("%s holds %d messages, want %d", subj, messagesOn(t, l, subj), n)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}

			v1 := big(3*size+500, 'a') // 4 messages
			if _, err := l.Write(bg, eventlog.Request{Ops: []eventlog.Op{{Space: sp, Key: []byte("big"), Value: v1}}}); err != nil {
				t.Fatal(err)
			}
			want("big", v1)
			compacted("big", 4)

			// With events, atomically; the events keep contiguous positions.
			id := eventlog.ID{Type: "counter", Key: "a"}
			v2 := big(2*size+1, 'b') // 3 messages
			res, err := l.Write(bg, eventlog.Request{Actor: id, Expected: eventlog.NoStream,
				Events: []eventlog.Event{eventlogtest.Ev("x", 1), eventlogtest.Ev("x", 2)},
				Ops:    []eventlog.Op{{Space: sp, Key: []byte("big"), Value: v2}}})
			if err != nil || res.LastPos != res.FirstPos+1 {
				t.Fatalf("write with events: %+v, %v", res, err)
			}
			want("big", v2)
			compacted("big", 3)

			// Smaller, then larger again.
			v3 := []byte("small")
			if _, err := l.Write(bg, eventlog.Request{Ops: []eventlog.Op{{Space: sp, Key: []byte("big"), Value: v3}}}); err != nil {
				t.Fatal(err)
			}
			want("big", v3)
			compacted("big", 1)
			v4 := big(5*size, 'd') // 5 messages, exactly
			if _, err := l.Write(bg, eventlog.Request{Ops: []eventlog.Op{{Space: sp, Key: []byte("big"), Value: v4}}}); err != nil {
				t.Fatal(err)
			}
			want("big", v4)
			var scanned [][]byte
			if err := l.Scan(bg, sp, nil, nil, false, func(k, v []byte) error {
				scanned = append(scanned, bytes.Clone(v))
				return nil
			}); err != nil || len(scanned) != 1 || !bytes.Equal(scanned[0], v4) {
				t.Fatalf("Scan: %d records, %v", len(scanned), err)
			}
			compacted("big", 5)

			// Over the limits: nothing written.
			for _, r := range []eventlog.Request{
				{Ops: []eventlog.Op{{Space: sp, Key: []byte("big"), Value: big(7*size+1, 'e')}}},
				{Ops: []eventlog.Op{{Space: sp, Key: []byte("big"), Value: big(6*size, 'e')}, {Space: sp, Key: []byte("k"), Value: big(3*size, 'e')}}},
			} {
				if _, err := l.Write(bg, r); !errors.Is(err, eventlog.ErrEventTooLarge) {
					t.Fatalf("write over the limits: err = %v, want ErrEventTooLarge", err)
				}
			}
			want("big", v4)

			// A range deletion, then a point deletion of a new version.
			if _, err := l.Write(bg, eventlog.Request{Ops: []eventlog.Op{{Space: sp, Key: []byte("a"), End: []byte("c"), Delete: true}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Get(bg, sp, []byte("big")); !errors.Is(err, eventlog.ErrNotFound) {
				t.Fatalf("Get after a range deletion: err = %v, want ErrNotFound", err)
			}
			compacted("big", 0)
			if _, err := l.Write(bg, eventlog.Request{Ops: []eventlog.Op{{Space: sp, Key: []byte("big"), Value: v1}}}); err != nil {
				t.Fatal(err)
			}
			want("big", v1)
			if _, err := l.Write(bg, eventlog.Request{Ops: []eventlog.Op{{Space: sp, Key: []byte("big"), Delete: true}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Get(bg, sp, []byte("big")); !errors.Is(err, eventlog.ErrNotFound) {
				t.Fatalf("Get after a deletion: err = %v, want ErrNotFound", err)
			}
			compacted("big", 0)
		})
	}
}

// TestLog_LargeWrites: writes of thousands of messages, as the runtime's
// idempotency sweep makes, go through as one atomic batch when the
// servers' max_batch_size (4096 in the test servers) allows them; over
// MaxAppendEvents the Log refuses them, over max_batch_size the servers
// do, and nothing is written either way.
func TestLog_LargeWrites(t *testing.T) {
	for _, s := range []*shared{single, three} {
		t.Run(fmt.Sprintf("R%d", s.n), func(t *testing.T) {
			l := open(t, s, jetstream.Options{MaxAppendEvents: 5000})
			sp := eventlog.FirstSpace
			ops := func(n int, prefix string) []eventlog.Op {
				out := make([]eventlog.Op, n)
				for i := range out {
					out[i] = eventlog.Op{Space: sp, Key: fmt.Appendf(nil, "%s%05d", prefix, i), Value: []byte("v")}
				}
				return out
			}
			count := func(prefix string) int {
				n := 0
				if err := l.Scan(bg, sp, []byte(prefix), nil, false, func(k, _ []byte) error {
					if bytes.HasPrefix(k, []byte(prefix)) {
						n++
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if _, err := l.Write(bg, eventlog.Request{Ops: ops(2000, "a")}); err != nil {
				t.Fatalf("2,000 records: %v", err)
			}
			id := eventlog.ID{Type: "counter", Key: "big"}
			evs := make([]eventlog.Event, 1000)
			for i := range evs {
				evs[i] = eventlogtest.Ev("x", i)
			}
			res, err := l.Write(bg, eventlog.Request{Actor: id, Expected: eventlog.NoStream, Events: evs, Ops: ops(1000, "b")})
			if err != nil || res.Last != 1000 || res.LastPos-res.FirstPos != 999 {
				t.Fatalf("1,000 events and 1,000 records: %+v, %v", res, err)
			}
			if _, err := l.Write(bg, eventlog.Request{Ops: ops(4500, "c")}); !errors.Is(err, eventlog.ErrEventTooLarge) {
				t.Fatalf("4,500 records, over max_batch_size: err = %v, want ErrEventTooLarge", err)
			}
			small := open(t, s, jetstream.Options{})
			if _, err := small.Write(bg, eventlog.Request{Ops: ops(1001, "d")}); !errors.Is(err, eventlog.ErrEventTooLarge) {
				t.Fatalf("1,001 records over the default MaxAppendEvents: err = %v, want ErrEventTooLarge", err)
			}
			for prefix, want := range map[string]int{"a": 2000, "b": 1000, "c": 0} {
				if got := count(prefix); got != want {
					t.Fatalf("%d records %s..., want %d", got, prefix, want)
				}
			}
			if h, err := l.Head(bg, id); err != nil || h.Head != 1000 {
				t.Fatalf("head = %+v, %v; want 1000", h, err)
			}
		})
	}
}
