package jetstream_test

import (
	"errors"
	"testing"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/jetstream"
)

// TestLog_WriteRecordIf: a conditional write lands only while its record
// is at the revision the writer read; of two writers that read the same
// revision, the second writes nothing, not even its other records.
func TestLog_WriteRecordIf(t *testing.T) {
	l := open(t, single, jetstream.Options{})
	sp := eventlog.FirstSpace
	fence, other := []byte("fence"), []byte("other")
	_, rev, err := l.GetRecord(bg, sp, fence)
	if !errors.Is(err, eventlog.ErrNotFound) || rev != 0 {
		t.Fatalf("GetRecord of a record never written = %d, %v", rev, err)
	}
	put := func(k []byte, v string) eventlog.Op { return eventlog.Op{Space: sp, Key: k, Value: []byte(v)} }
	r1, ok, err := l.WriteRecordIf(bg, 0, []eventlog.Op{put(fence, "1"), put(other, "a")})
	if err != nil || !ok || r1 == 0 {
		t.Fatalf("first write = %d, %v, %v", r1, ok, err)
	}
	if v, rev, err := l.GetRecord(bg, sp, fence); err != nil || string(v) != "1" || rev != r1 {
		t.Fatalf("GetRecord = %q at %d, %v; want 1 at %d", v, rev, err, r1)
	}
	// A second writer that read revision 0 is refused, wholly.
	if _, ok, err := l.WriteRecordIf(bg, 0, []eventlog.Op{put(fence, "2"), put(other, "b")}); err != nil || ok {
		t.Fatalf("stale write = %v, %v; want refused", ok, err)
	}
	if v, _ := l.Get(bg, sp, other); string(v) != "a" {
		t.Fatalf("other = %q after a refused write; want a", v)
	}
	// Another record's write does not move the fence.
	if _, err := l.Write(bg, eventlog.Request{Ops: []eventlog.Op{put(other, "c")}}); err != nil {
		t.Fatal(err)
	}
	r2, ok, err := l.WriteRecordIf(bg, r1, []eventlog.Op{{Space: sp, Key: fence, Delete: true}, put(other, "d")})
	if err != nil || !ok || r2 <= r1 {
		t.Fatalf("write at %d = %d, %v, %v", r1, r2, ok, err)
	}
	if _, _, err := l.GetRecord(bg, sp, fence); !errors.Is(err, eventlog.ErrNotFound) {
		t.Fatalf("GetRecord of a deleted record: %v; want ErrNotFound", err)
	}
	if _, ok, err := l.WriteRecordIf(bg, r1, []eventlog.Op{put(fence, "3")}); err != nil || ok {
		t.Fatalf("write at an old revision = %v, %v; want refused", ok, err)
	}
}
