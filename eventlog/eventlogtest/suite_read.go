package eventlogtest

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/vmihailenco/msgpack/v5"
)

func testReadStreamPaging(t *testing.T, s Store) {
	a := id("counter", "paging")
	for i := 1; i <= 25; i++ {
		mustAppend(t, s, a, eventlog.ExpectSeq(uint64(i-1)), Ev("x", i))
	}
	var all []uint64
	for from := uint64(1); ; {
		page, err := eventlog.ReadStream(bg, s, a, from, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 10 {
			t.Fatalf("page of %d events, limit 10", len(page))
		}
		all = append(all, seqs(page)...)
		from = page[len(page)-1].Seq + 1
	}
	if len(all) != 25 || all[0] != 1 || all[24] != 25 {
		t.Fatalf("paged read got %v", all)
	}
	mid, _ := eventlog.ReadStream(bg, s, a, 20, 100)
	if fmt.Sprint(seqs(mid)) != "[20 21 22 23 24 25]" {
		t.Fatalf("read from 20 = %v", seqs(mid))
	}
	if past, _ := eventlog.ReadStream(bg, s, a, 26, 10); len(past) != 0 {
		t.Fatalf("read past head = %v", seqs(past))
	}
	if none, _ := eventlog.ReadStream(bg, s, id("counter", "none"), 1, 10); len(none) != 0 {
		t.Fatalf("read of a new stream = %v", none)
	}
}

func testFeed(t *testing.T, s Store) {
	var want []eventlog.ID
	for i := 0; i < 30; i++ {
		a := id("chatRoom", fmt.Sprint("room", i%4))
		mustAppend(t, s, a, eventlog.Any, Ev("m", i))
		want = append(want, a)
	}
	feed, err := eventlog.ReadFeed(bg, s, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) != 30 {
		t.Fatalf("feed has %d events, want 30", len(feed))
	}
	for i, e := range feed {
		var v int
		if msgpack.Unmarshal(e.Data, &v); v != i || e.Actor != want[i] {
			t.Fatalf("feed[%d] = %v data %d, want %v data %d", i, e.Actor, v, want[i], i)
		}
		if i > 0 && e.Pos <= feed[i-1].Pos {
			t.Fatalf("feed positions not increasing at %d", i)
		}
	}
	from := feed[10].Pos
	rest, _ := eventlog.ReadFeed(bg, s, from, 5)
	if len(rest) != 5 || rest[0].Pos != from {
		t.Fatalf("feed from %d limit 5 = %d events from %d", from, len(rest), rest[0].Pos)
	}
}

func testListActors(t *testing.T, s Store) {
	for i := 0; i < 12; i++ {
		mustAppend(t, s, id("counter", fmt.Sprintf("c%02d", i)), eventlog.NoStream, Ev("x", i))
	}
	mustAppend(t, s, id("chatRoom", "lobby"), eventlog.NoStream, Ev("x", 1))
	var got []string
	var after eventlog.ID
	for {
		page, err := s.ListActors(bg, eventlog.ListOptions{Type: "counter", After: after, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, st := range page {
			got = append(got, st.Actor.Key)
			if st.Head != 1 {
				t.Fatalf("%v head = %d, want 1", st.Actor, st.Head)
			}
		}
		after = page[len(page)-1].Actor
	}
	if len(got) != 12 || got[0] != "c00" || got[11] != "c11" {
		t.Fatalf("paged listing = %v", got)
	}
	all, _ := s.ListActors(bg, eventlog.ListOptions{Limit: 1000})
	if len(all) != 13 {
		t.Fatalf("listing of all types has %d actors, want 13", len(all))
	}
	if _, err := s.ListActors(bg, eventlog.ListOptions{Type: "no good"}); !errors.Is(err, eventlog.ErrInvalidType) {
		t.Fatalf("listing a bad type: err = %v", err)
	}
}

// bounds is a scan from from to to and the sequences or positions it must
// visit.
type bounds struct {
	from, to uint64
	want     []uint64
}

// span returns the numbers from lo to hi.
func span(lo, hi uint64) []uint64 {
	out := []uint64{}
	for n := lo; n <= hi; n++ {
		out = append(out, n)
	}
	return out
}

// streamSeqs returns the sequences ScanStream visits, checking that every
// event is the actor's.
func streamSeqs(t *testing.T, s Store, a eventlog.ID, from, to uint64) []uint64 {
	t.Helper()
	out := []uint64{}
	err := s.ScanStream(bg, a, from, to, func(e *eventlog.Event) error {
		if e.Actor != a {
			t.Errorf("ScanStream(%s) visited an event of %s", a, e.Actor)
		}
		out = append(out, e.Seq)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanStream(%s, %d, %d): %v", a, from, to, err)
	}
	return out
}

// feedPositions returns the positions ScanFeed visits.
func feedPositions(t *testing.T, s Store, from, to uint64) []uint64 {
	t.Helper()
	out := []uint64{}
	err := s.ScanFeed(bg, from, to, func(e *eventlog.Event) error {
		out = append(out, e.Pos)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanFeed(%d, %d): %v", from, to, err)
	}
	return out
}

func testDurable(t *testing.T, s Store) {
	if d := s.Durable(); d != 0 {
		t.Fatalf("Durable of an empty store = %d, want 0", d)
	}
	a, b := id("counter", "d1"), id("counter", "d2")
	res := mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1), Ev("x", 2), Ev("x", 3))
	if got, want := s.Durable(), res.LastPos; got != want {
		t.Fatalf("Durable after an append = %d, want its last position %d", got, want)
	}
	res = mustAppend(t, s, b, eventlog.NoStream, Ev("x", 1))
	if got, want := s.Durable(), res.LastPos; got != want {
		t.Fatalf("Durable after a second append = %d, want %d", got, want)
	}
	// Failed appends, ops-only writes and deletes do not move it; deleting
	// the event at the last position does not lower it.
	if _, err := s.Append(bg, a, eventlog.NoStream, Ev("x", 4)); err == nil {
		t.Fatal("conflicting append succeeded")
	}
	mustWrite(t, s, put(eventlog.FirstSpace, "k", "v"))
	if err := s.Delete(bg, b, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Durable(), res.LastPos; got != want {
		t.Fatalf("Durable after a failed append, an ops-only write and a delete = %d, want %d", got, want)
	}

	// While writers append, it never goes down, and each append's last
	// position is durable by the time the append returns.
	const writers, each = 4, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	last := res.LastPos
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				res, err := s.Append(bg, id("counter", fmt.Sprint("w", w)), eventlog.Any, Ev("x", i))
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				if d := s.Durable(); d < res.LastPos {
					t.Errorf("Durable = %d just after an append to position %d returned", d, res.LastPos)
				}
				mu.Lock()
				last = max(last, res.LastPos)
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for prev, watching := s.Durable(), true; watching; {
		select {
		case <-done:
			watching = false
		default:
			runtime.Gosched()
		}
		d := s.Durable()
		if d < prev {
			t.Fatalf("Durable went down from %d to %d", prev, d)
		}
		prev = d
	}
	if got := s.Durable(); got != last {
		t.Fatalf("Durable after the writers = %d, want the last position %d", got, last)
	}
}

func testScanStreamBounds(t *testing.T, s Store) {
	a, other := id("counter", "bounds"), id("counter", "bounds2")
	for i := 1; i <= 10; i++ {
		mustAppend(t, s, a, eventlog.Any, Ev("x", i))
		mustAppend(t, s, other, eventlog.Any, Ev("x", i))
	}
	none := []uint64{}
	cases := []bounds{
		{0, 0, span(1, 10)},
		{1, 0, span(1, 10)},
		{4, 0, span(4, 10)},
		{0, 3, span(1, 3)},
		{3, 6, span(3, 6)},
		{5, 5, span(5, 5)},
		{8, 30, span(8, 10)},
		{6, 5, none},
		{11, 0, none},
		{12, 20, none},
	}
	check := func(when string) {
		t.Helper()
		for _, c := range cases {
			if got := streamSeqs(t, s, a, c.from, c.to); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%s: ScanStream(%d, %d) = %v, want %v", when, c.from, c.to, got, c.want)
			}
		}
	}
	check("whole stream")
	// Erased events are skipped.
	if err := s.Delete(bg, a, 5); err != nil {
		t.Fatal(err)
	}
	cases = []bounds{
		{0, 0, span(5, 10)},
		{2, 6, span(5, 6)},
		{1, 4, none},
		{7, 8, span(7, 8)},
	}
	check("after erasing below 5")
	if err := s.Delete(bg, a, 0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, a, eventlog.ExpectSeq(10), Ev("x", 11))
	cases = []bounds{
		{0, 0, span(11, 11)},
		{1, 10, none},
	}
	check("after erasing all and appending one")
	if got := streamSeqs(t, s, id("counter", "never"), 0, 0); len(got) != 0 {
		t.Errorf("ScanStream of a stream that never was = %v", got)
	}
	if got := streamSeqs(t, s, other, 0, 0); fmt.Sprint(got) != fmt.Sprint(span(1, 10)) {
		t.Errorf("the other stream = %v, want 1..10", got)
	}
}

func testScanFeedBounds(t *testing.T, s Store) {
	a, other := id("counter", "fbounds"), id("counter", "fbounds2")
	var p, ofA []uint64 // every position, and those of a's first 4 events
	for i := 1; i <= 10; i++ {
		res := mustAppend(t, s, a, eventlog.Any, Ev("x", i))
		if i <= 4 {
			ofA = append(ofA, res.FirstPos)
		}
		p = append(p, res.FirstPos)
		res = mustAppend(t, s, other, eventlog.Any, Ev("x", i))
		p = append(p, res.FirstPos)
	}
	last := p[len(p)-1]
	none := []uint64{}
	cases := []bounds{
		{0, 0, p},
		{1, 0, p},
		{p[3], 0, p[3:]},
		{0, p[4], p[:5]},
		{p[3], p[6], p[3:7]},
		{p[5], p[5], p[5:6]},
		{p[15], last + 100, p[15:]},
		{p[6], p[5], none},
		{last + 1, 0, none},
		{last + 10, last + 20, none},
	}
	for _, c := range cases {
		if got := feedPositions(t, s, c.from, c.to); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("ScanFeed(%d, %d) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
	// Erased events leave holes.
	if err := s.Delete(bg, a, 5); err != nil {
		t.Fatal(err)
	}
	var kept []uint64
	for _, pos := range p {
		if !slices.Contains(ofA, pos) {
			kept = append(kept, pos)
		}
	}
	if got := feedPositions(t, s, 0, 0); fmt.Sprint(got) != fmt.Sprint(kept) {
		t.Errorf("ScanFeed after erasing a's first 4 events = %v, want %v", got, kept)
	}
	if got, want := feedPositions(t, s, ofA[0], ofA[3]), kept[:3]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ScanFeed(%d, %d) across erased events = %v, want %v", ofA[0], ofA[3], got, want)
	}
}

// testScanStopsAtError: fn's error ends ScanStream and ScanFeed and is
// what they return.
func testScanStopsAtError(t *testing.T, s Store) {
	a := id("counter", "stop")
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, a, eventlog.Any, Ev("x", i))
	}
	errStop := errors.New("stop here")
	var seen []uint64
	stopAtThird := func(e *eventlog.Event) error {
		seen = append(seen, e.Seq)
		if len(seen) == 3 {
			return errStop
		}
		return nil
	}
	err := s.ScanStream(bg, a, 0, 0, stopAtThird)
	if !errors.Is(err, errStop) || fmt.Sprint(seen) != "[1 2 3]" {
		t.Errorf("ScanStream whose fn fails at the third event visited %v and returned %v; want [1 2 3] and the fn's error", seen, err)
	}
	seen = nil
	err = s.ScanFeed(bg, 0, 0, stopAtThird)
	if !errors.Is(err, errStop) || fmt.Sprint(seen) != "[1 2 3]" {
		t.Errorf("ScanFeed whose fn fails at the third event visited %v and returned %v; want [1 2 3] and the fn's error", seen, err)
	}
}

// testScanEventFields: the Event given to fn carries everything appended
// and assigned.
func testScanEventFields(t *testing.T, s Store) {
	a, b := id("chatRoom", "fields"), id("counter", "fields")
	in := []eventlog.Event{
		{Type: "posted", Data: mustMsgpack(map[string]any{"text": "hi"}), Time: 1700000000001,
			Meta: eventlog.Metadata{CorrelationID: "c-1", Causation: "post", IdempotencyKey: "i-1"}},
		{Type: "edited", Data: mustMsgpack("two"), Time: 1700000000002},
		{Type: "posted", Data: mustMsgpack(3), Meta: eventlog.Metadata{Causation: "post"}},
		{Type: "cleared"},
	}
	start := time.Now()
	var want []eventlog.Event
	add := func(a eventlog.ID, evs ...eventlog.Event) {
		res := mustAppend(t, s, a, eventlog.Any, evs...)
		for i, e := range evs {
			e.Actor, e.Seq, e.Pos = a, res.First+uint64(i), res.FirstPos+uint64(i)
			want = append(want, e)
		}
	}
	add(a, in[:2]...)
	add(b, Ev("counted", 1))
	add(a, in[2:]...)
	end := time.Now()
	check := func(scan string, got, want []eventlog.Event) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s visited %d events, want %d", scan, len(got), len(want))
		}
		for i, g := range got {
			w := want[i]
			if w.Time == 0 { // stamped by the store
				if g.Time < start.Add(-time.Minute).UnixMilli() || g.Time > end.Add(time.Minute).UnixMilli() {
					t.Errorf("%s: event %d given no time has time %d, want about now (%d)", scan, i, g.Time, start.UnixMilli())
				}
				w.Time = g.Time
			}
			if g.Actor != w.Actor || g.Seq != w.Seq || g.Pos != w.Pos || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) || g.Time != w.Time || g.Meta != w.Meta {
				t.Errorf("%s: event %d = %+v, want %+v", scan, i, g, w)
			}
		}
	}
	var got []eventlog.Event
	keep := func(e *eventlog.Event) error {
		c := *e
		c.Data = bytes.Clone(e.Data)
		got = append(got, c)
		return nil
	}
	if err := s.ScanStream(bg, a, 0, 0, keep); err != nil {
		t.Fatal(err)
	}
	check("ScanStream", got, slices.Concat(want[:2], want[3:]))
	got = nil
	if err := s.ScanFeed(bg, 0, 0, keep); err != nil {
		t.Fatal(err)
	}
	check("ScanFeed", got, want)
}

// testReadLimits: ReadStream and ReadFeed return at most limit events,
// skipping erased ones, as copies the caller owns.
func testReadLimits(t *testing.T, s Store) {
	a, other := id("counter", "limits"), id("counter", "limits2")
	var p []uint64
	for i := 1; i <= 10; i++ {
		res := mustAppend(t, s, a, eventlog.Any, Ev("x", i))
		p = append(p, res.FirstPos)
		if i%2 == 0 {
			res = mustAppend(t, s, other, eventlog.Any, Ev("x", i))
			p = append(p, res.FirstPos)
		}
	}
	stream := []struct {
		from  uint64
		limit int
		want  []uint64
	}{
		{1, 0, nil},
		{1, -1, nil},
		{0, 1, span(1, 1)},
		{4, 3, span(4, 6)},
		{8, 100, span(8, 10)},
		{11, 5, nil},
	}
	for _, c := range stream {
		evs, err := eventlog.ReadStream(bg, s, a, c.from, c.limit)
		if err != nil || fmt.Sprint(seqs(evs)) != fmt.Sprint(c.want) {
			t.Errorf("ReadStream(from %d, limit %d) = %v, %v; want %v", c.from, c.limit, seqs(evs), err, c.want)
		}
	}
	feed := []struct {
		from  uint64
		limit int
		want  []uint64
	}{
		{1, 0, nil},
		{0, 1, p[:1]},
		{p[2], 4, p[2:6]},
		{0, 100, p},
		{p[len(p)-1] + 1, 10, nil},
	}
	for _, c := range feed {
		evs, err := eventlog.ReadFeed(bg, s, c.from, c.limit)
		if err != nil || fmt.Sprint(positions(evs)) != fmt.Sprint(c.want) {
			t.Errorf("ReadFeed(from %d, limit %d) = %v, %v; want %v", c.from, c.limit, positions(evs), err, c.want)
		}
	}
	// The limit counts events returned, not erased ones passed over.
	if err := s.Delete(bg, a, 5); err != nil {
		t.Fatal(err)
	}
	if evs, err := eventlog.ReadStream(bg, s, a, 1, 2); err != nil || fmt.Sprint(seqs(evs)) != "[5 6]" {
		t.Errorf("ReadStream(from 1, limit 2) after erasing below 5 = %v, %v; want [5 6]", seqs(evs), err)
	}
	if evs, err := eventlog.ReadFeed(bg, s, 0, 2); err != nil || fmt.Sprint(positions(evs)) != fmt.Sprint([]uint64{p[2], p[5]}) {
		t.Errorf("ReadFeed(from 0, limit 2) after erasing = %v, %v; want %v", positions(evs), err, []uint64{p[2], p[5]})
	}
	// The events are the caller's to change.
	evs, _ := eventlog.ReadStream(bg, s, a, 5, 1)
	orig := bytes.Clone(evs[0].Data)
	evs[0].Data[0] ^= 0xff
	if again, _ := eventlog.ReadStream(bg, s, a, 5, 1); !bytes.Equal(again[0].Data, orig) {
		t.Errorf("changing a read event's data changed the store's: %x, want %x", again[0].Data, orig)
	}
}
