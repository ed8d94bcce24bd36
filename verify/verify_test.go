package verify_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/actorlog/actorlog/verify"
	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"
)

var bg = context.Background()

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mp(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	counterA = eventlog.ID{Type: "counter", Key: "a"}
	counterB = eventlog.ID{Type: "counter", Key: "b"}
	lobby    = eventlog.ID{Type: "chatRoom", Key: "lobby"}
)

// build writes a healthy store to a new directory: two counters of 10
// events each and a chat room, interleaved, with a snapshot of counter:a
// at seq 5 and at seq 10 taken by folding.
func build(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	snaps := snapshots.New(l, snapshots.Options{})
	f := actors.NewFolder(seed.Counter(), counterA)
	for i := 1; i <= 10; i++ {
		for _, id := range []eventlog.ID{counterA, counterB} {
			e := eventlog.Event{Type: "countUpdated", Data: mp(t, seed.CountUpdated{Count: int64(i), LastUpdated: int64(1000 * i)}), Time: int64(1000 * i), Meta: eventlog.Metadata{Causation: "increment"}}
			res, err := l.Append(bg, id, eventlog.Any, e)
			if err != nil {
				t.Fatal(err)
			}
			if id == counterA {
				e.Seq, e.Pos = res.First, res.FirstPos
				if err := f.Apply(&e); err != nil {
					t.Fatal(err)
				}
				if i%5 == 0 {
					st, _ := f.EncodeState()
					if err := snaps.Save(bg, snapshots.Snapshot{Actor: counterA, Seq: uint64(i), Schema: f.Schema(), State: st, Time: 1}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if i%3 == 0 {
			e := eventlog.Event{Type: "userJoined", Data: mp(t, seed.Presence{Username: fmt.Sprint("u", i), ParticipantCount: i / 3}), Time: int64(1000 * i)}
			if _, err := l.Append(bg, lobby, eventlog.Any, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func check(t *testing.T, dir string, o verify.Options) *verify.Report {
	t.Helper()
	l, err := eventlog.Open(dir, eventlog.Options{ReadOnly: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep, err := verify.Run(bg, l, snapshots.New(l, snapshots.Options{}), seed.Registry(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// raw opens the store's Pebble database to damage it.
func raw(t *testing.T, dir string, fn func(db *pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: discard{}})
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

type discard struct{}

func (discard) Infof(string, ...any)  {}
func (discard) Errorf(string, ...any) {}
func (discard) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}

// Keys as eventlog/doc.go documents them.
func eventKey(id eventlog.ID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(eventlog.AppendKey([]byte{0x01}, id), seq)
}

func feedKey(pos uint64) []byte { return binary.BigEndian.AppendUint64([]byte{0x02}, pos) }

func set(t *testing.T, db *pebble.DB, k, v []byte) {
	t.Helper()
	if err := db.Set(k, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

func del(t *testing.T, db *pebble.DB, k []byte) {
	t.Helper()
	if err := db.Delete(k, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// get returns the stored event at key (its feed copy when feed is true).
func get(t *testing.T, db *pebble.DB, k []byte, feed bool) eventlog.Event {
	t.Helper()
	v, closer, err := db.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	var e eventlog.Event
	var id eventlog.ID
	if feed {
		id, v, err = eventlog.DecodeKey(v)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := eventlog.DecodeEnvelope(v, &e); err != nil {
		t.Fatal(err)
	}
	e.Actor = id
	return e
}

func summary(rep *verify.Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "%s %s seq=%d to=%d pos=%d field=%q: %s\n", p.Kind, p.Actor, p.Seq, p.To, p.Pos, p.Field, p.Message)
	}
	return b.String()
}

func TestRun_Healthy(t *testing.T) {
	dir := build(t)
	rep := check(t, dir, verify.Options{})
	if !rep.OK() {
		t.Fatalf("problems in a healthy store:\n%s", summary(rep))
	}
	if rep.Actors != 3 || rep.Events != 23 || rep.FeedEvents != 23 || rep.Snapshots != 2 {
		t.Errorf("counted %d actors, %d events, %d feed events, %d snapshots; want 3, 23, 23, 2", rep.Actors, rep.Events, rep.FeedEvents, rep.Snapshots)
	}
	one := check(t, dir, verify.Options{Actor: counterA})
	if !one.OK() || one.Actors != 1 || one.Events != 10 || one.FeedEvents != 10 || one.Snapshots != 2 {
		t.Errorf("one actor: %+v", one)
	}
}

func TestRun_ActorWithoutEvents(t *testing.T) {
	dir := build(t)
	l, err := eventlog.Open(dir, eventlog.Options{ReadOnly: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = verify.Run(bg, l, nil, seed.Registry(), verify.Options{Actor: eventlog.ID{Type: "counter", Key: "nope"}})
	if err == nil || !strings.Contains(err.Error(), "counter:nope") {
		t.Errorf("got %v, want ErrNoActor naming counter:nope", err)
	}
}

// Each damage must be reported with its kind and place, and the report
// must hold nothing else.
func TestRun_Damage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, db *pebble.DB)
		want   []string // "kind actor seq" of each problem, in order
		field  string   // SnapshotDrift: the field named
	}{
		{"corrupted event", func(t *testing.T, db *pebble.DB) {
			set(t, db, eventKey(counterA, 3), []byte{0x95, 0x03, 0xff})
		}, []string{"corrupt_event counter:a 3"}, ""},
		{"corrupted event data", func(t *testing.T, db *pebble.DB) {
			e := get(t, db, eventKey(counterB, 4), false)
			e.Data = []byte{0xc1}
			set(t, db, eventKey(counterB, 4), eventlog.AppendEnvelope(nil, &e))
		}, []string{"bad_data counter:b 4", "feed_mismatch counter:b 4"}, ""},
		{"data of another shape", func(t *testing.T, db *pebble.DB) {
			e := get(t, db, eventKey(counterB, 2), false)
			e.Data = mp(t, "not a count")
			b := eventlog.AppendEnvelope(nil, &e)
			set(t, db, eventKey(counterB, 2), b)
			set(t, db, feedKey(e.Pos), append(eventlog.AppendKey(nil, counterB), b...))
		}, []string{"bad_data counter:b 2"}, ""},
		{"missing sequence", func(t *testing.T, db *pebble.DB) {
			del(t, db, eventKey(counterB, 6))
			del(t, db, eventKey(counterB, 7))
		}, []string{"missing_events counter:b 6-7"}, ""},
		{"missing head", func(t *testing.T, db *pebble.DB) {
			del(t, db, eventKey(lobby, 3))
		}, []string{"missing_events chatRoom:lobby 3-3"}, ""},
		{"missing from the feed", func(t *testing.T, db *pebble.DB) {
			e := get(t, db, eventKey(counterA, 4), false)
			del(t, db, feedKey(e.Pos))
		}, []string{"feed_mismatch counter:a 4-4"}, ""},
		{"feed copy differs", func(t *testing.T, db *pebble.DB) {
			e := get(t, db, eventKey(counterA, 8), false)
			e.Time++
			set(t, db, feedKey(e.Pos), append(eventlog.AppendKey(nil, counterA), eventlog.AppendEnvelope(nil, &e)...))
		}, []string{"feed_mismatch counter:a 8"}, ""},
		{"corrupted feed entry", func(t *testing.T, db *pebble.DB) {
			e := get(t, db, feedKey(5), true)
			set(t, db, feedKey(5), append(eventlog.AppendKey(nil, e.Actor), 0x91))
		}, []string{"corrupt_feed counter:a 0"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := build(t)
			raw(t, dir, func(db *pebble.DB) { tt.damage(t, db) })
			rep := check(t, dir, verify.Options{})
			var got []string
			for _, p := range rep.Problems {
				s := fmt.Sprintf("%s %s %d", p.Kind, p.Actor, p.Seq)
				if p.To != 0 {
					s = fmt.Sprintf("%s %s %d-%d", p.Kind, p.Actor, p.Seq, p.To)
				}
				got = append(got, s)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant %q", summary(rep), tt.want)
			}
		})
	}
}

func TestRun_SnapshotDrift(t *testing.T) {
	dir := build(t)
	// A snapshot of counter:a at seq 10 that holds the count of seq 7.
	l, err := eventlog.Open(dir, eventlog.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	f := actors.NewFolder(seed.Counter(), counterA)
	evs, err := eventlog.ReadStream(bg, l, counterA, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if err := f.Apply(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := f.EncodeState()
	bad := append([]byte(nil), st...)
	if err := snapshots.New(l, snapshots.Options{}).Save(bg, snapshots.Snapshot{Actor: counterA, Seq: 10, Schema: 1, State: bad}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	rep := check(t, dir, verify.Options{Actor: counterA})
	if len(rep.Problems) != 1 {
		t.Fatalf("problems:\n%s\nwant one snapshot_drift", summary(rep))
	}
	p := rep.Problems[0]
	if p.Kind != verify.SnapshotDrift || p.Seq != 10 || p.Field != "count" || !strings.Contains(p.Message, "replay 10, snapshot 7") || !strings.Contains(p.Message, "and 1 more field") {
		t.Errorf("got %+v, want snapshot_drift at seq 10 naming count, replay 10, snapshot 7", p)
	}
}

func TestRun_CorruptSnapshot(t *testing.T) {
	dir := build(t)
	raw(t, dir, func(db *pebble.DB) {
		k := binary.BigEndian.AppendUint64(eventlog.AppendKey([]byte{byte(snapshots.Space)}, counterA), 5)
		v, closer, err := db.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		v = append([]byte(nil), v...)
		closer.Close()
		v[len(v)-1] ^= 0xff
		set(t, db, k, v)
	})
	rep := check(t, dir, verify.Options{})
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != verify.CorruptSnapshot || rep.Problems[0].Seq != 5 || !strings.Contains(rep.Problems[0].Message, "checksum") {
		t.Errorf("problems:\n%s\nwant one corrupt_snapshot at seq 5", summary(rep))
	}
}
