// Package eventlogtest holds the contract of the event log as a test suite
// that every implementation must pass, and Memory, the in-memory model the
// Pebble log is compared against.
package eventlogtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"
)

// Store is the contract the suite checks.
type Store = eventlog.Store

// Ev returns an event of type typ whose data is v encoded as msgpack.
func Ev(typ string, v any) eventlog.Event {
	data, err := msgpack.Marshal(v)
	if err != nil {
		panic(err)
	}
	return eventlog.Event{Type: typ, Data: data}
}

// Run runs the whole suite. open returns a new, empty store; the suite
// closes it. Each test also checks that no goroutine it started, the
// store's included, outlives the store's Close.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"AppendAssignsSequences", testAppendAssignsSequences},
		{"ExpectedSequence", testExpected},
		{"AtomicOnError", testAtomic},
		{"RejectsBadInput", testRejectsBadInput},
		{"KeyIsolation", testKeyIsolation},
		{"ReadStreamPaging", testReadStreamPaging},
		{"Feed", testFeed},
		{"ListActors", testListActors},
		{"Delete", testDelete},
		{"EnvelopeRoundTrip", testEnvelopeRoundTrip},
		{"ConcurrentAppends", testConcurrentAppends},
		{"ConcurrentExpected", testConcurrentExpected},
		{"SubscribeStream", testSubscribeStream},
		{"SubscribeFeedRace", testSubscribeFeedRace},
		{"SubscribeAfterDelete", testSubscribeAfterDelete},
		{"RecordsGetPut", testRecordsGetPut},
		{"RecordsRangeDelete", testRecordsRangeDelete},
		{"RecordsScan", testRecordsScan},
		{"RecordsSpaceIsolation", testRecordsSpaceIsolation},
		{"RecordsScanStops", testRecordsScanStops},
		{"RecordsWithEvents", testRecordsWithEvents},
		{"RecordsWithoutEvents", testRecordsWithoutEvents},
		{"FeedSkipsRecords", testFeedSkipsRecords},
		{"ReservedSpaces", testReservedSpaces},
		{"EmptyRequest", testEmptyRequest},
		{"Durable", testDurable},
		{"ScanStreamBounds", testScanStreamBounds},
		{"ScanFeedBounds", testScanFeedBounds},
		{"ScanStopsAtError", testScanStopsAtError},
		{"ScanEventFields", testScanEventFields},
		{"ReadLimits", testReadLimits},
		{"SubscribeNextBatch", testSubscribeNextBatch},
		{"SubscribeTryNextBatch", testSubscribeTryNextBatch},
		{"SubscribeClose", testSubscribeClose},
		{"StoreCloseEndsSubscriptions", testStoreCloseEndsSubscriptions},
		{"SubscribeFromEnd", testSubscribeFromEnd},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

var bg = context.Background()

func id(typ, key string) eventlog.ID { return eventlog.ID{Type: typ, Key: key} }

func mustAppend(t *testing.T, s Store, a eventlog.ID, exp eventlog.Expected, evs ...eventlog.Event) eventlog.AppendResult {
	t.Helper()
	res, err := s.Append(bg, a, exp, evs...)
	if err != nil {
		t.Fatalf("Append(%s, %s): %v", a, exp, err)
	}
	return res
}

func seqs(evs []eventlog.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

func positions(evs []eventlog.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Pos
	}
	return out
}

func testAppendAssignsSequences(t *testing.T, s Store) {
	a := id("counter", "a")
	res := mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1), Ev("x", 2), Ev("x", 3))
	if res.First != 1 || res.Last != 3 {
		t.Fatalf("first append got seqs %d..%d, want 1..3", res.First, res.Last)
	}
	if res.LastPos-res.FirstPos != 2 || res.FirstPos == 0 {
		t.Fatalf("positions %d..%d are not 3 contiguous", res.FirstPos, res.LastPos)
	}
	res2 := mustAppend(t, s, a, eventlog.Any, Ev("y", 4))
	if res2.First != 4 || res2.Last != 4 {
		t.Fatalf("second append got seqs %d..%d, want 4..4", res2.First, res2.Last)
	}
	if res2.FirstPos <= res.LastPos {
		t.Fatalf("position %d not after %d", res2.FirstPos, res.LastPos)
	}
	h, err := s.Head(bg, a)
	if err != nil {
		t.Fatal(err)
	}
	if h.Head != 4 || h.First != 1 || h.Len() != 4 || h.LastPos != res2.LastPos {
		t.Fatalf("head = %+v, want head 4, first 1, last position %d", h, res2.LastPos)
	}
	if h.Created == 0 || h.Updated < h.Created {
		t.Fatalf("head times created %d updated %d", h.Created, h.Updated)
	}
	evs, err := eventlog.ReadStream(bg, s, a, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(evs); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Fatalf("seqs = %v, want [1 2 3 4]", got)
	}
	for i, e := range evs {
		var v int
		if err := msgpack.Unmarshal(e.Data, &v); err != nil || v != i+1 {
			t.Fatalf("event %d data = %v (%v), want %d", i, v, err, i+1)
		}
		if e.Actor != a {
			t.Fatalf("event %d actor = %v, want %v", i, e.Actor, a)
		}
		if e.Time == 0 {
			t.Fatalf("event %d has no time", i)
		}
	}
	none, err := s.Head(bg, id("counter", "never"))
	if err != nil || none.Head != 0 || none.Exists() {
		t.Fatalf("head of a new stream = %+v, %v; want 0", none, err)
	}
}

// wantConflict checks that err is a *ConflictError naming the actor, the
// head expected and the head found.
func wantConflict(t *testing.T, err error, a eventlog.ID, expected eventlog.Expected, actual uint64) {
	t.Helper()
	var ce *eventlog.ConflictError
	if !errors.As(err, &ce) {
		t.Errorf("append to %s expecting %s at head %d: err = %v, want a *ConflictError", a, expected, actual, err)
		return
	}
	if got, want := *ce, (eventlog.ConflictError{Actor: a, Expected: expected, Actual: actual}); got != want {
		t.Errorf("conflict = %+v, want %+v", got, want)
	}
}

func testExpected(t *testing.T, s Store) {
	a := id("counter", "exp")
	mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1))
	_, err := s.Append(bg, a, eventlog.NoStream, Ev("x", 2))
	wantConflict(t, err, a, eventlog.NoStream, 1)
	_, err = s.Append(bg, a, eventlog.ExpectSeq(5), Ev("x", 2))
	wantConflict(t, err, a, eventlog.ExpectSeq(5), 1)
	b := id("counter", "exp2")
	_, err = s.Append(bg, b, eventlog.ExpectSeq(1), Ev("x", 2))
	wantConflict(t, err, b, eventlog.ExpectSeq(1), 0)
	mustAppend(t, s, a, eventlog.ExpectSeq(1), Ev("x", 2))
	mustAppend(t, s, a, eventlog.Any, Ev("x", 3))
	_, err = s.Append(bg, a, eventlog.ExpectSeq(2), Ev("x", 4))
	wantConflict(t, err, a, eventlog.ExpectSeq(2), 3)
	h, _ := s.Head(bg, a)
	if h.Head != 3 {
		t.Fatalf("head = %d, want 3", h.Head)
	}
	if l, _ := s.ListActors(bg, eventlog.ListOptions{Type: "counter"}); len(l) != 1 {
		t.Fatalf("a failed append created a stream: %+v", l)
	}
	// A deleted stream keeps its head: NoStream conflicts with it.
	if err := s.Delete(bg, a, 0); err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(bg, a, eventlog.NoStream, Ev("x", 4))
	wantConflict(t, err, a, eventlog.NoStream, 3)
}

func testAtomic(t *testing.T, s Store) {
	a := id("counter", "atomic")
	mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1))
	bad := eventlog.Event{Type: "x", Data: []byte{0xc1}} // 0xc1 is never valid msgpack
	if _, err := s.Append(bg, a, eventlog.Any, Ev("x", 2), bad, Ev("x", 3)); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Fatalf("append with a bad event: err = %v, want ErrInvalidEvent", err)
	}
	if _, err := s.Append(bg, a, eventlog.ExpectSeq(0), Ev("x", 2), Ev("x", 3)); err == nil {
		t.Fatal("conflicting append succeeded")
	}
	evs, _ := eventlog.ReadStream(bg, s, a, 1, 10)
	if len(evs) != 1 {
		t.Fatalf("stream has %d events after failed appends, want 1", len(evs))
	}
	feed, _ := eventlog.ReadFeed(bg, s, 1, 10)
	if len(feed) != 1 {
		t.Fatalf("feed has %d events after failed appends, want 1", len(feed))
	}
}

func testRejectsBadInput(t *testing.T, s Store) {
	long := string(bytes.Repeat([]byte("k"), 257))
	cases := []struct {
		id   eventlog.ID
		want error
	}{
		{id("", "k"), eventlog.ErrInvalidType},
		{id("1abc", "k"), eventlog.ErrInvalidType},
		{id("_abc", "k"), eventlog.ErrInvalidType},
		{id("a:b", "k"), eventlog.ErrInvalidType},
		{id("a b", "k"), eventlog.ErrInvalidType},
		{id("ab\x00", "k"), eventlog.ErrInvalidType},
		{id(string(bytes.Repeat([]byte("t"), 65)), "k"), eventlog.ErrInvalidType},
		{id("counter", ""), eventlog.ErrInvalidKey},
		{id("counter", long), eventlog.ErrInvalidKey},
		{id("counter", "\xff\xfe"), eventlog.ErrInvalidKey},
	}
	for _, c := range cases {
		if _, err := s.Append(bg, c.id, eventlog.Any, Ev("x", 1)); !errors.Is(err, c.want) {
			t.Errorf("Append(%q): err = %v, want %v", c.id, err, c.want)
		}
		if _, err := s.Head(bg, c.id); !errors.Is(err, c.want) {
			t.Errorf("Head(%q): err = %v, want %v", c.id, err, c.want)
		}
	}
	ok := []eventlog.ID{id("a", "k"), id(string(bytes.Repeat([]byte("t"), 64)), "k"), id("A-b_9", string(bytes.Repeat([]byte("k"), 256))), id("x", "héllo:wörld|\x00")}
	for _, o := range ok {
		if _, err := s.Append(bg, o, eventlog.Any, Ev("x", 1)); err != nil {
			t.Errorf("Append(%q): %v", o, err)
		}
	}
	a := id("counter", "input")
	if _, err := s.Append(bg, a, eventlog.Any); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Errorf("append of no events: err = %v, want ErrInvalidEvent", err)
	}
	if _, err := s.Append(bg, a, eventlog.Any, eventlog.Event{Data: []byte{0x01}}); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Errorf("event without type: err = %v, want ErrInvalidEvent", err)
	}
	if _, err := s.Append(bg, a, eventlog.Any, eventlog.Event{Type: "x", Data: []byte{0x92, 0x01}}); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Errorf("truncated msgpack: err = %v, want ErrInvalidEvent", err)
	}
	if _, err := s.Append(bg, a, eventlog.Any, eventlog.Event{Type: "x", Data: []byte{0x01, 0x02}}); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Errorf("two msgpack values: err = %v, want ErrInvalidEvent", err)
	}
}

func testKeyIsolation(t *testing.T, s Store) {
	keys := []string{"a", "a|b", "a\x00b", "a\x00", "a\x00\x01", "a\x01", "ab", "a:b", "\x00", "\x00\x00"}
	for i, k := range keys {
		mustAppend(t, s, id("t", k), eventlog.NoStream, Ev("k", i))
		mustAppend(t, s, id("tt", k), eventlog.NoStream, Ev("k", i+100))
	}
	for i, k := range keys {
		for _, typ := range []string{"t", "tt"} {
			evs, err := eventlog.ReadStream(bg, s, id(typ, k), 1, 10)
			if err != nil {
				t.Fatal(err)
			}
			want := i
			if typ == "tt" {
				want += 100
			}
			var got int
			if len(evs) != 1 || msgpack.Unmarshal(evs[0].Data, &got) != nil || got != want || evs[0].Actor != id(typ, k) {
				t.Errorf("stream %s:%q holds %d events (%+v), want only its own", typ, k, len(evs), evs)
			}
			h, _ := s.Head(bg, id(typ, k))
			if h.Head != 1 {
				t.Errorf("stream %s:%q head %d, want 1", typ, k, h.Head)
			}
		}
	}
	l, err := s.ListActors(bg, eventlog.ListOptions{Type: "t", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != len(keys) {
		t.Fatalf("ListActors(t) = %d actors, want %d", len(l), len(keys))
	}
	seen := map[string]bool{}
	for _, st := range l {
		if st.Actor.Type != "t" || seen[st.Actor.Key] {
			t.Fatalf("ListActors(t) returned %q twice or of another type", st.Actor)
		}
		seen[st.Actor.Key] = true
	}
	// Deleting one stream leaves its neighbours whole.
	if err := s.Delete(bg, id("t", "a"), 0); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys[1:] {
		if evs, _ := eventlog.ReadStream(bg, s, id("t", k), 1, 10); len(evs) != 1 {
			t.Errorf("after deleting t:a, t:%q has %d events", k, len(evs))
		}
	}
}

func testDelete(t *testing.T, s Store) {
	a, b := id("counter", "del"), id("counter", "keep")
	for i := 1; i <= 10; i++ {
		mustAppend(t, s, a, eventlog.Any, Ev("x", i))
		mustAppend(t, s, b, eventlog.Any, Ev("x", i))
	}
	if err := s.Delete(bg, a, 12); !errors.Is(err, eventlog.ErrBadRange) {
		t.Fatalf("delete past head+1: err = %v, want ErrBadRange", err)
	}
	if err := s.Delete(bg, a, 6); err != nil {
		t.Fatal(err)
	}
	evs, _ := eventlog.ReadStream(bg, s, a, 1, 100)
	if fmt.Sprint(seqs(evs)) != "[6 7 8 9 10]" {
		t.Fatalf("after delete before 6: %v", seqs(evs))
	}
	h, _ := s.Head(bg, a)
	if h.Head != 10 || h.First != 6 {
		t.Fatalf("head after delete = %+v, want head 10 first 6", h)
	}
	if err := s.Delete(bg, a, 3); err != nil { // below first: nothing to do
		t.Fatal(err)
	}
	if err := s.Delete(bg, a, 0); err != nil {
		t.Fatal(err)
	}
	h, _ = s.Head(bg, a)
	if h.Head != 10 || h.Len() != 0 {
		t.Fatalf("head after delete all = %+v, want head 10 and no events", h)
	}
	if evs, _ := eventlog.ReadStream(bg, s, a, 1, 100); len(evs) != 0 {
		t.Fatalf("stream after delete all = %v", seqs(evs))
	}
	if _, err := s.Append(bg, a, eventlog.NoStream, Ev("x", 0)); err == nil {
		t.Fatal("NoStream append to a deleted stream succeeded; its head is 10")
	}
	res := mustAppend(t, s, a, eventlog.ExpectSeq(10), Ev("x", 11))
	if res.First != 11 {
		t.Fatalf("append after delete got seq %d, want 11", res.First)
	}
	feed, _ := eventlog.ReadFeed(bg, s, 1, 1000)
	var na, nb int
	for _, e := range feed {
		switch e.Actor {
		case a:
			na++
		case b:
			nb++
		}
	}
	if na != 1 || nb != 10 {
		t.Fatalf("feed holds %d events of the deleted stream and %d of the other, want 1 and 10", na, nb)
	}
	if err := s.Delete(bg, id("counter", "never"), 0); err != nil {
		t.Fatalf("delete of a stream that never existed: %v", err)
	}
	if l, _ := s.ListActors(bg, eventlog.ListOptions{Type: "counter"}); len(l) != 2 {
		t.Fatalf("listing after deletes = %d actors, want 2", len(l))
	}
}

func testEnvelopeRoundTrip(t *testing.T, s Store) {
	a := id("chatRoom", "meta")
	in := []eventlog.Event{
		{Type: "newMessage", Data: mustMsgpack(map[string]any{"username": "ann", "text": "hi"}), Time: 1700000000123,
			Meta: eventlog.Metadata{CorrelationID: "c-1", Causation: "sendMessage", IdempotencyKey: "k-1"}},
		{Type: "empty"},
		{Type: "big", Data: mustMsgpack(bytes.Repeat([]byte("z"), 70000)), Meta: eventlog.Metadata{Causation: "x"}},
	}
	mustAppend(t, s, a, eventlog.NoStream, in...)
	out, _ := eventlog.ReadStream(bg, s, a, 1, 10)
	if len(out) != 3 {
		t.Fatalf("read %d events, want 3", len(out))
	}
	for i := range in {
		if out[i].Type != in[i].Type || !bytes.Equal(out[i].Data, in[i].Data) || out[i].Meta != in[i].Meta {
			t.Errorf("event %d = %+v, want %+v", i, out[i], in[i])
		}
	}
	if out[0].Time != 1700000000123 {
		t.Errorf("time = %d, want the one given", out[0].Time)
	}
	if out[1].Time == 0 {
		t.Error("time not set for an event given none")
	}
}

func mustMsgpack(v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func testConcurrentAppends(t *testing.T, s Store) {
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.Append(bg, id("counter", "hot"), eventlog.Any, Ev("x", w)); err != nil {
					errs <- err
					return
				}
				if _, err := s.Append(bg, id("counter", fmt.Sprint("w", w)), eventlog.ExpectSeq(uint64(i)), Ev("x", i)); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs, _ := eventlog.ReadStream(bg, s, id("counter", "hot"), 1, 10000)
	if len(evs) != writers*each {
		t.Fatalf("hot stream has %d events, want %d", len(evs), writers*each)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("hot stream seq %d at index %d", e.Seq, i)
		}
	}
	feed, _ := eventlog.ReadFeed(bg, s, 1, 100000)
	if len(feed) != 2*writers*each {
		t.Fatalf("feed has %d events, want %d", len(feed), 2*writers*each)
	}
	for i := 1; i < len(feed); i++ {
		if feed[i].Pos <= feed[i-1].Pos {
			t.Fatalf("feed out of order at %d", i)
		}
	}
}

func testConcurrentExpected(t *testing.T, s Store) {
	a := id("counter", "race")
	const rounds, racers = 20, 6
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < racers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Append(bg, a, eventlog.ExpectSeq(uint64(r)), Ev("x", r))
				var ce *eventlog.ConflictError
				switch {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case !errors.As(err, &ce):
					t.Errorf("racer: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("round %d: %d appends won, want exactly 1", r, wins)
		}
	}
}

// testClosed: after Close every method returns ErrClosed, and Close may be
// called again.
func testClosed(t *testing.T, s Store) {
	a := id("counter", "closed")
	mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1))
	sp := eventlog.FirstSpace
	mustWrite(t, s, put(sp, "k", "v"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	visit := func(*eventlog.Event) error {
		t.Error("a scan of a closed store visited an event")
		return nil
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Append", func() error { _, err := s.Append(bg, a, eventlog.Any, Ev("x", 2)); return err }},
		{"Write of events and ops", func() error {
			_, err := s.Write(bg, eventlog.Request{Actor: a, Expected: eventlog.Any, Events: []eventlog.Event{Ev("x", 2)}, Ops: []eventlog.Op{put(sp, "k", "w")}})
			return err
		}},
		{"Write of ops", func() error {
			_, err := s.Write(bg, eventlog.Request{Ops: []eventlog.Op{put(sp, "k", "w")}})
			return err
		}},
		{"Delete", func() error { return s.Delete(bg, a, 0) }},
		{"Head", func() error { _, err := s.Head(bg, a); return err }},
		{"ScanStream", func() error { return s.ScanStream(bg, a, 0, 0, visit) }},
		{"ListActors", func() error { _, err := s.ListActors(bg, eventlog.ListOptions{}); return err }},
		{"ScanFeed", func() error { return s.ScanFeed(bg, 0, 0, visit) }},
		{"ReadStream", func() error { _, err := eventlog.ReadStream(bg, s, a, 1, 10); return err }},
		{"ReadFeed", func() error { _, err := eventlog.ReadFeed(bg, s, 1, 10); return err }},
		{"SubscribeStream", func() error { _, err := s.SubscribeStream(bg, a, 0); return err }},
		{"SubscribeFeed", func() error { _, err := s.SubscribeFeed(bg, 0); return err }},
		{"Get", func() error { _, err := s.Get(bg, sp, []byte("k")); return err }},
		{"Peek", func() error { _, err := s.Peek(sp, []byte("k")); return err }},
		{"Scan", func() error {
			return s.Scan(bg, sp, nil, nil, false, func(k, v []byte) error {
				t.Error("a Scan of a closed store visited a record")
				return nil
			})
		}},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, eventlog.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", c.name, err)
		}
	}
	s.Durable() // has no error to give; it must not panic
}
