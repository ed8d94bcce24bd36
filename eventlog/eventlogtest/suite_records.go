package eventlogtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// The key-value side of the contract: records in Spaces, written by the
// Ops of a Request.

func put(sp eventlog.Space, key, value string) eventlog.Op {
	return eventlog.Op{Space: sp, Key: []byte(key), Value: []byte(value)}
}

func del(sp eventlog.Space, key string) eventlog.Op {
	return eventlog.Op{Space: sp, Key: []byte(key), Delete: true}
}

func delRange(sp eventlog.Space, key, end string) eventlog.Op {
	return eventlog.Op{Space: sp, Key: []byte(key), End: []byte(end), Delete: true}
}

// mustWrite writes a Request of ops only.
func mustWrite(t *testing.T, s Store, ops ...eventlog.Op) {
	t.Helper()
	res, err := s.Write(bg, eventlog.Request{Ops: ops})
	if err != nil {
		t.Fatalf("Write of %d ops: %v", len(ops), err)
	}
	if res != (eventlog.AppendResult{}) {
		t.Fatalf("Write of ops only returned %+v, want a zero AppendResult", res)
	}
}

// wantRecord checks that Get and Peek both return want for key.
func wantRecord(t *testing.T, s Store, sp eventlog.Space, key, want string) {
	t.Helper()
	got, err := s.Get(bg, sp, []byte(key))
	if err != nil || string(got) != want {
		t.Errorf("Get(%#x, %q) = %q, %v; want %q", sp, key, got, err, want)
	}
	got, err = s.Peek(sp, []byte(key))
	if err != nil || string(got) != want {
		t.Errorf("Peek(%#x, %q) = %q, %v; want %q", sp, key, got, err, want)
	}
}

// wantMissing checks that Get and Peek both return ErrNotFound for key.
func wantMissing(t *testing.T, s Store, sp eventlog.Space, key string) {
	t.Helper()
	if got, err := s.Get(bg, sp, []byte(key)); !errors.Is(err, eventlog.ErrNotFound) {
		t.Errorf("Get(%#x, %q) = %q, %v; want ErrNotFound", sp, key, got, err)
	}
	if got, err := s.Peek(sp, []byte(key)); !errors.Is(err, eventlog.ErrNotFound) {
		t.Errorf("Peek(%#x, %q) = %q, %v; want ErrNotFound", sp, key, got, err)
	}
}

// scan returns the records Scan visits, as "key=value" with both quoted.
func scan(t *testing.T, s Store, sp eventlog.Space, lo, hi []byte, reverse bool) []string {
	t.Helper()
	var out []string
	err := s.Scan(bg, sp, lo, hi, reverse, func(k, v []byte) error {
		out = append(out, fmt.Sprintf("%q=%q", k, v))
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%#x, %q, %q, reverse %v): %v", sp, lo, hi, reverse, err)
	}
	return out
}

// kvs returns the "key=value" strings scan gives for keys whose values are
// value(key).
func kvs(value func(string) string, keys ...string) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%q=%q", k, value(k)))
	}
	return out
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func sameStrings(a, b []string) bool { return slices.Equal(a, b) }

func testRecordsGetPut(t *testing.T, s Store) {
	sp := eventlog.FirstSpace
	wantMissing(t, s, sp, "k")
	val := []byte("v1")
	mustWrite(t, s, eventlog.Op{Space: sp, Key: []byte("k"), Value: val}, put(sp, "other", "o"))
	val[0] = 'X' // the store keeps its own copy
	wantRecord(t, s, sp, "k", "v1")
	wantRecord(t, s, sp, "other", "o")
	got, _ := s.Get(bg, sp, []byte("k"))
	got[0] = 'Y' // and hands out copies
	if got, _ := s.Peek(sp, []byte("k")); len(got) > 0 {
		got[0] = 'Z'
	}
	wantRecord(t, s, sp, "k", "v1")
	wantMissing(t, s, sp+1, "k")

	mustWrite(t, s, put(sp, "k", "v2 is longer"))
	wantRecord(t, s, sp, "k", "v2 is longer")
	mustWrite(t, s, put(sp, "k", "3"))
	wantRecord(t, s, sp, "k", "3")

	mustWrite(t, s, del(sp, "k"))
	wantMissing(t, s, sp, "k")
	wantRecord(t, s, sp, "other", "o")
	mustWrite(t, s, del(sp, "k"), del(sp, "never"))
	wantMissing(t, s, sp, "k")

	// An empty value is a record; so is an empty key.
	mustWrite(t, s, eventlog.Op{Space: sp, Key: []byte("empty")}, put(sp, "", "at the empty key"))
	wantRecord(t, s, sp, "empty", "")
	wantRecord(t, s, sp, "", "at the empty key")
	if got := scan(t, s, sp, nil, nil, false); !sameStrings(got, []string{`""="at the empty key"`, `"empty"=""`, `"other"="o"`}) {
		t.Errorf("Scan after the writes = %q", got)
	}
}

func testRecordsRangeDelete(t *testing.T, s Store) {
	sp := eventlog.FirstSpace
	keys := []string{"a", "b", "b\x00", "ba", "b\xff\xff", "c", "c\x00", "d"}
	value := func(k string) string { return "v" + k }
	for _, k := range keys {
		mustWrite(t, s, put(sp, k, value(k)), put(sp+1, k, value(k)))
	}
	mustWrite(t, s, delRange(sp, "b", "c"))
	if got, want := scan(t, s, sp, nil, nil, false), kvs(value, "a", "c", "c\x00", "d"); !sameStrings(got, want) {
		t.Errorf("after deleting [b, c): got %q, want %q", got, want)
	}
	for _, k := range []string{"b", "b\x00", "ba", "b\xff\xff"} {
		wantMissing(t, s, sp, k)
	}
	wantRecord(t, s, sp, "c", "vc")
	if got, want := scan(t, s, sp+1, nil, nil, false), kvs(value, keys...); !sameStrings(got, want) {
		t.Errorf("the next space after a range delete: got %q, want %q", got, want)
	}
	// Empty and inverted ranges delete nothing.
	mustWrite(t, s, delRange(sp, "c", "c"), delRange(sp, "d", "a"), delRange(sp+1, "b", ""))
	if got, want := scan(t, s, sp, nil, nil, false), kvs(value, "a", "c", "c\x00", "d"); !sameStrings(got, want) {
		t.Errorf("after empty range deletes: got %q, want %q", got, want)
	}
	if got, want := scan(t, s, sp+1, nil, nil, false), kvs(value, keys...); !sameStrings(got, want) {
		t.Errorf("after an inverted range delete: got %q, want %q", got, want)
	}
	// From the empty key: everything below End.
	mustWrite(t, s, delRange(sp+1, "", "c\x00"))
	if got, want := scan(t, s, sp+1, nil, nil, false), kvs(value, "c\x00", "d"); !sameStrings(got, want) {
		t.Errorf("after deleting [\"\", c\\x00): got %q, want %q", got, want)
	}
}

func testRecordsScan(t *testing.T, s Store) {
	sp := eventlog.FirstSpace + 1
	keys := []string{"a", "b", "c", "d", "e"}
	value := func(k string) string { return strings.ToUpper(k) }
	for _, k := range keys {
		mustWrite(t, s, put(sp, k, value(k)))
	}
	mustWrite(t, s, put(sp-1, "c", "below"), put(sp-1, "\xff", "below"), put(sp+1, "", "above"), put(sp+1, "a", "above"))
	b := func(s string) []byte { return []byte(s) }
	cases := []struct {
		name   string
		lo, hi []byte
		want   []string // ascending
	}{
		{"whole space", nil, nil, keys},
		{"from b", b("b"), nil, keys[1:]},
		{"below d", nil, b("d"), keys[:3]},
		{"[b, d)", b("b"), b("d"), keys[1:3]},
		{"bounds between keys", b("bb"), b("dd"), keys[2:4]},
		{"bounds past the keys", b("0"), b("z"), keys},
		{"lo past every key", b("f"), nil, nil},
		{"empty range", b("c"), b("c"), nil},
		{"inverted range", b("d"), b("b"), nil},
		{"an empty hi is a bound, not the end", nil, []byte{}, nil},
	}
	for _, c := range cases {
		want := kvs(value, c.want...)
		if got := scan(t, s, sp, c.lo, c.hi, false); !sameStrings(got, want) {
			t.Errorf("%s: Scan(%q, %q) = %q, want %q", c.name, c.lo, c.hi, got, want)
		}
		if got := scan(t, s, sp, c.lo, c.hi, true); !sameStrings(got, reversed(want)) {
			t.Errorf("%s: reverse Scan(%q, %q) = %q, want %q", c.name, c.lo, c.hi, got, reversed(want))
		}
	}
}

// testRecordsSpaceIsolation writes the same keys, those made of 0xFF bytes
// included, in neighbouring spaces and the last one: no scan, Get or range
// delete of one space reaches another.
func testRecordsSpaceIsolation(t *testing.T, s Store) {
	spaces := []eventlog.Space{eventlog.FirstSpace, eventlog.FirstSpace + 1, 0xFE, 0xFF}
	keys := []string{"", "\x00", "k", "\xff", "\xff\xff", strings.Repeat("\xff", 16)} // ascending
	valueIn := func(sp eventlog.Space) func(string) string {
		return func(k string) string { return fmt.Sprintf("%#x/%x", sp, k) }
	}
	for _, sp := range spaces {
		var ops []eventlog.Op
		for _, k := range keys {
			ops = append(ops, put(sp, k, valueIn(sp)(k)))
		}
		mustWrite(t, s, ops...)
	}
	check := func(when string, sp eventlog.Space, keys ...string) {
		t.Helper()
		want := kvs(valueIn(sp), keys...)
		if got := scan(t, s, sp, nil, nil, false); !sameStrings(got, want) {
			t.Errorf("%s: Scan of space %#x = %q, want %q", when, sp, got, want)
		}
		if got := scan(t, s, sp, nil, nil, true); !sameStrings(got, reversed(want)) {
			t.Errorf("%s: reverse Scan of space %#x = %q, want %q", when, sp, got, reversed(want))
		}
		for _, k := range keys {
			wantRecord(t, s, sp, k, valueIn(sp)(k))
		}
	}
	for _, sp := range spaces {
		check("after the writes", sp, keys...)
		if got, want := scan(t, s, sp, []byte("\xff"), nil, false), kvs(valueIn(sp), keys[3:]...); !sameStrings(got, want) {
			t.Errorf("Scan of space %#x from 0xFF = %q, want %q", sp, got, want)
		}
	}
	mustWrite(t, s, delRange(spaces[1], "", "\xff\xff"), delRange(0xFF, "\xff", strings.Repeat("\xff", 17)))
	check("after range deletes", spaces[0], keys...)
	check("after range deletes", spaces[1], keys[4:]...)
	check("after range deletes", spaces[2], keys...)
	check("after range deletes", 0xFF, keys[:3]...)
	for _, k := range keys[:4] {
		wantMissing(t, s, spaces[1], k)
	}
}

func testRecordsScanStops(t *testing.T, s Store) {
	sp := eventlog.FirstSpace
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		mustWrite(t, s, put(sp, k, k))
	}
	errStop := errors.New("stop here")
	for _, reverse := range []bool{false, true} {
		var seen []string
		err := s.Scan(bg, sp, nil, nil, reverse, func(k, v []byte) error {
			seen = append(seen, string(k))
			if len(seen) == 2 {
				return errStop
			}
			return nil
		})
		want := "[a b]"
		if reverse {
			want = "[e d]"
		}
		if !errors.Is(err, errStop) || fmt.Sprint(seen) != want {
			t.Errorf("reverse %v: Scan whose fn fails at the second record visited %v and returned %v; want %s and the fn's error", reverse, seen, err, want)
		}
	}
}

// testRecordsWithEvents: a Request's events and Ops are stored together or
// not at all.
func testRecordsWithEvents(t *testing.T, s Store) {
	sp := eventlog.FirstSpace
	a := id("counter", "rec")
	res, err := s.Write(bg, eventlog.Request{Actor: a, Expected: eventlog.NoStream, Events: []eventlog.Event{Ev("x", 1), Ev("x", 2)},
		Ops: []eventlog.Op{put(sp, "snap", "1"), put(sp+1, "other", "1")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.First != 1 || res.Last != 2 || res.LastPos != res.FirstPos+1 {
		t.Fatalf("Write of 2 events and ops = %+v, want seqs 1..2 at 2 positions", res)
	}
	wantRecord(t, s, sp, "snap", "1")
	wantRecord(t, s, sp+1, "other", "1")
	durable := s.Durable()

	failures := []struct {
		name string
		r    eventlog.Request
		is   error
	}{
		{"a conflicting head", eventlog.Request{Actor: a, Expected: eventlog.NoStream, Events: []eventlog.Event{Ev("x", 3)}}, nil},
		{"an invalid event", eventlog.Request{Actor: a, Expected: eventlog.Any, Events: []eventlog.Event{Ev("x", 3), {Type: "x", Data: []byte{0xc1}}}}, eventlog.ErrInvalidEvent},
		{"an event without type", eventlog.Request{Actor: a, Expected: eventlog.Any, Events: []eventlog.Event{{Data: []byte{0x01}}}}, eventlog.ErrInvalidEvent},
		{"an invalid actor", eventlog.Request{Actor: id("counter", ""), Expected: eventlog.Any, Events: []eventlog.Event{Ev("x", 3)}}, eventlog.ErrInvalidKey},
	}
	for _, f := range failures {
		f.r.Ops = []eventlog.Op{put(sp, "snap", "2"), del(sp+1, "other"), put(sp, "new", "2"), delRange(sp, "", "\xff")}
		_, err := s.Write(bg, f.r)
		switch {
		case f.is == nil:
			wantConflict(t, err, a, eventlog.NoStream, 2)
		case !errors.Is(err, f.is):
			t.Errorf("Write with %s: err = %v, want %v", f.name, err, f.is)
		}
		wantRecord(t, s, sp, "snap", "1")
		wantRecord(t, s, sp+1, "other", "1")
		wantMissing(t, s, sp, "new")
	}
	// An Op in a reserved space fails the whole Request, events included.
	_, err = s.Write(bg, eventlog.Request{Actor: a, Expected: eventlog.Any, Events: []eventlog.Event{Ev("x", 3)},
		Ops: []eventlog.Op{put(sp, "snap", "2"), put(eventlog.FirstSpace-1, "k", "v")}})
	if err == nil {
		t.Error("Write with an Op in a reserved space succeeded")
	}
	wantRecord(t, s, sp, "snap", "1")
	if h, err := s.Head(bg, a); err != nil || h.Head != 2 {
		t.Errorf("head after failed Writes = %+v, %v; want 2", h, err)
	}
	if got := s.Durable(); got != durable {
		t.Errorf("Durable after failed Writes = %d, want %d", got, durable)
	}
	if feed, err := eventlog.ReadFeed(bg, s, 0, 100); err != nil || len(feed) != 2 {
		t.Errorf("feed after failed Writes holds %d events (%v), want 2", len(feed), err)
	}

	res, err = s.Write(bg, eventlog.Request{Actor: a, Expected: eventlog.ExpectSeq(2), Events: []eventlog.Event{Ev("x", 3)},
		Ops: []eventlog.Op{put(sp, "snap", "3"), del(sp+1, "other")}})
	if err != nil || res.First != 3 {
		t.Fatalf("Write at the expected head = %+v, %v; want seq 3", res, err)
	}
	wantRecord(t, s, sp, "snap", "3")
	wantMissing(t, s, sp+1, "other")
}

// testRecordsWithoutEvents: a Request of Ops only writes them, checks no
// head and creates no stream, with or without an Actor.
func testRecordsWithoutEvents(t *testing.T, s Store) {
	sp := eventlog.FirstSpace
	mustWrite(t, s, put(sp, "a", "1"))
	wantRecord(t, s, sp, "a", "1")
	a := id("counter", "ops")
	res, err := s.Write(bg, eventlog.Request{Actor: a, Expected: eventlog.ExpectSeq(7), Ops: []eventlog.Op{put(sp, "b", "2")}})
	if err != nil || res != (eventlog.AppendResult{}) {
		t.Fatalf("Write of ops with an actor and an unmet Expected = %+v, %v; want success and a zero result", res, err)
	}
	wantRecord(t, s, sp, "b", "2")
	if h, err := s.Head(bg, a); err != nil || h.Exists() {
		t.Errorf("head of the actor of an ops-only Write = %+v, %v; want no stream", h, err)
	}
	if l, err := s.ListActors(bg, eventlog.ListOptions{}); err != nil || len(l) != 0 {
		t.Errorf("ListActors after ops-only Writes = %+v, %v; want none", l, err)
	}
	if d := s.Durable(); d != 0 {
		t.Errorf("Durable after ops-only Writes = %d, want 0", d)
	}
	if feed, err := eventlog.ReadFeed(bg, s, 0, 10); err != nil || len(feed) != 0 {
		t.Errorf("feed after ops-only Writes = %d events, %v; want none", len(feed), err)
	}
}

// testReservedSpaces: the spaces below FirstSpace belong to the store.
// Writing them could erase events, so every access is refused.
func testReservedSpaces(t *testing.T, s Store) {
	a := id("counter", "reserved")
	mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1))
	for _, sp := range []eventlog.Space{0x00, 0x01, 0x02, 0x03, 0x10, eventlog.FirstSpace - 1} {
		for _, op := range []eventlog.Op{put(sp, "k", "v"), del(sp, "k"), delRange(sp, "", "\xff\xff"), {Space: sp, Delete: true, End: []byte{0xff}}} {
			if _, err := s.Write(bg, eventlog.Request{Ops: []eventlog.Op{op}}); err == nil {
				t.Errorf("Write of %+v in reserved space %#x succeeded", op, sp)
			}
		}
		if v, err := s.Get(bg, sp, []byte("k")); err == nil || errors.Is(err, eventlog.ErrNotFound) {
			t.Errorf("Get in reserved space %#x = %q, %v; want a refusal", sp, v, err)
		}
		if v, err := s.Peek(sp, []byte("k")); err == nil || errors.Is(err, eventlog.ErrNotFound) {
			t.Errorf("Peek in reserved space %#x = %q, %v; want a refusal", sp, v, err)
		}
		visited := 0
		err := s.Scan(bg, sp, nil, nil, false, func(k, v []byte) error { visited++; return nil })
		if err == nil || visited > 0 {
			t.Errorf("Scan of reserved space %#x visited %d records, err %v; want a refusal", sp, visited, err)
		}
	}
	evs, err := eventlog.ReadStream(bg, s, a, 1, 10)
	if err != nil || len(evs) != 1 {
		t.Errorf("stream after refused writes = %d events, %v; want 1", len(evs), err)
	}
	if h, err := s.Head(bg, a); err != nil || h.Head != 1 || h.Len() != 1 {
		t.Errorf("head after refused writes = %+v, %v; want 1", h, err)
	}
}

func testEmptyRequest(t *testing.T, s Store) {
	a := id("counter", "empty")
	for _, r := range []eventlog.Request{{}, {Actor: a}, {Actor: a, Expected: eventlog.Any}, {Events: []eventlog.Event{}, Ops: []eventlog.Op{}}} {
		if res, err := s.Write(bg, r); !errors.Is(err, eventlog.ErrInvalidEvent) {
			t.Errorf("Write(%+v) = %+v, %v; want ErrInvalidEvent", r, res, err)
		}
	}
	if h, _ := s.Head(bg, a); h.Exists() {
		t.Errorf("an empty Request created a stream: %+v", h)
	}
}

// testFeedSkipsRecords: records written between events, alone or with
// events, never show in the feed. Their writes may take positions (the
// contract lets positions skip), so the test asks only that the feed
// holds exactly the events, in increasing positions, and that a scan or
// a subscription over any gap between them finds nothing.
func testFeedSkipsRecords(t *testing.T, s Store) {
	sp := eventlog.FirstSpace
	a := id("counter", "skips")
	r1 := mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1))
	mustWrite(t, s, put(sp, "a", "1"))
	mustWrite(t, s, put(sp, "b", "2"), del(sp, "a"))
	r2, err := s.Write(bg, eventlog.Request{Actor: a, Expected: eventlog.ExpectSeq(1), Events: []eventlog.Event{Ev("x", 2)}, Ops: []eventlog.Op{put(sp, "c", "3")}})
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, put(sp, "d", "4"))
	r3 := mustAppend(t, s, a, eventlog.ExpectSeq(2), Ev("x", 3))
	want := []uint64{r1.FirstPos, r2.FirstPos, r3.FirstPos}
	if !(want[0] < want[1] && want[1] < want[2]) {
		t.Fatalf("positions %v do not increase", want)
	}
	feed, err := eventlog.ReadFeed(bg, s, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := positions(feed); !slices.Equal(got, want) {
		t.Fatalf("feed positions = %v, want the events' %v", got, want)
	}
	for i := 1; i < len(want); i++ {
		if want[i] == want[i-1]+1 {
			continue
		}
		if got := feedPositions(t, s, want[i-1]+1, want[i]-1); len(got) != 0 {
			t.Errorf("ScanFeed(%d, %d) between two events = %v, want none", want[i-1]+1, want[i]-1, got)
		}
	}
	if d := s.Durable(); d != r3.LastPos {
		t.Errorf("Durable = %d, want the last event's position %d", d, r3.LastPos)
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	sub, err := s.SubscribeFeed(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i, w := range want {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("subscription's event %d: %v", i, err)
		}
		if e.Pos != w || e.Seq != uint64(i+1) {
			t.Fatalf("subscription's event %d at position %d seq %d, want position %d seq %d", i, e.Pos, e.Seq, w, i+1)
		}
	}
}
