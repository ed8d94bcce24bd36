package eventlogtest

import (
	"errors"
	"fmt"
	"testing"

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
