package archive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/archive"
	"github.com/actorlog/actorlog/eventlog"
)

var bg = context.Background()

func open(t *testing.T) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open(t.TempDir(), eventlog.Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// fill appends interleaved events of three actors, with every field set.
func fill(t *testing.T, l *eventlog.Log) {
	t.Helper()
	ids := []eventlog.ID{{Type: "counter", Key: "a"}, {Type: "counter", Key: "b:c"}, {Type: "chatRoom", Key: "lobby"}}
	for i := 0; i < 30; i++ {
		id := ids[i%len(ids)]
		e := eventlog.Event{Type: "countUpdated", Data: []byte{0x81, 0xa5, 'c', 'o', 'u', 'n', 't', byte(i)}, Time: 1714564800000 + int64(i)}
		if i%4 == 0 {
			e.Meta = eventlog.Metadata{Causation: "increment", CorrelationID: "c" + string(rune('a'+i%26)), IdempotencyKey: "k"}
		}
		if i == 7 {
			e.Data = nil // an event without data
		}
		if _, err := l.Append(bg, id, eventlog.Any, e); err != nil {
			t.Fatal(err)
		}
	}
}

func export(t *testing.T, l *eventlog.Log) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := archive.NewWriter(&buf)
	if err := l.ScanFeed(bg, 0, 0, w.WriteEvent); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// streams returns every stream's events without positions.
func streams(t *testing.T, l *eventlog.Log) map[eventlog.ID][]eventlog.Event {
	t.Helper()
	out := map[eventlog.ID][]eventlog.Event{}
	list, err := l.ListActors(bg, eventlog.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list {
		evs, err := eventlog.ReadStream(bg, l, st.Actor, 1, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			evs[i].Pos = 0
		}
		out[st.Actor] = evs
	}
	return out
}

func TestImport_RoundTrip(t *testing.T) {
	src := open(t)
	fill(t, src)
	b := export(t, src)
	for _, workers := range []int{1, 4} {
		dst := open(t)
		res, err := archive.Import(bg, dst, opener(b), archive.ImportOptions{Workers: workers, Batch: 3})
		if err != nil {
			t.Fatal(err)
		}
		if res.Actors != 3 || res.Events != 30 {
			t.Errorf("workers=%d: imported %+v, want 3 actors, 30 events", workers, res)
		}
		want, got := streams(t, src), streams(t, dst)
		if len(got) != len(want) {
			t.Fatalf("got %d streams, want %d", len(got), len(want))
		}
		for id, w := range want {
			g := got[id]
			if len(g) != len(w) {
				t.Fatalf("%s: %d events, want %d", id, len(g), len(w))
			}
			for i := range w {
				if g[i].Seq != w[i].Seq || g[i].Type != w[i].Type || !bytes.Equal(g[i].Data, w[i].Data) || g[i].Time != w[i].Time || g[i].Meta != w[i].Meta || g[i].Actor != w[i].Actor {
					t.Errorf("%s seq %d: got %+v, want %+v", id, w[i].Seq, g[i], w[i])
				}
			}
		}
		if workers == 1 {
			// One worker keeps the feed order too: the export is the same.
			if again := export(t, dst); !bytes.Equal(again, b) {
				t.Errorf("export after import differs:\n%s\nwant\n%s", again, b)
			}
		}
	}
}

func TestImport_RefusesExistingActor(t *testing.T) {
	src := open(t)
	fill(t, src)
	b := export(t, src)
	dst := open(t)
	if _, err := dst.Append(bg, eventlog.ID{Type: "counter", Key: "b:c"}, eventlog.Any, eventlog.Event{Type: "x"}); err != nil {
		t.Fatal(err)
	}
	_, err := archive.Import(bg, dst, opener(b), archive.ImportOptions{})
	if !errors.Is(err, archive.ErrExists) || !strings.Contains(err.Error(), "counter:b:c (head 1)") {
		t.Fatalf("got %v, want ErrExists naming counter:b:c", err)
	}
	// Nothing was written.
	if st, _ := dst.Head(bg, eventlog.ID{Type: "counter", Key: "a"}); st.Exists() {
		t.Errorf("counter:a was imported despite the refusal")
	}
}

func TestImport_BadInput(t *testing.T) {
	good := `{"actor":"counter:a","seq":1,"type":"t","time":1,"msgpack":"AQ=="}`
	tests := []struct{ name, in, want string }{
		{"not json", good + "\n{", "line 2: not a record"},
		{"bad actor", `{"actor":"counter","seq":1,"type":"t","msgpack":null}`, "line 1: counter: invalid actor id"},
		{"gap", good + "\n" + strings.Replace(good, `"seq":1`, `"seq":3`, 1), "line 2: counter:a seq 3 where seq 2 belongs"},
		{"not from 1", strings.Replace(good, `"seq":1`, `"seq":2`, 1), "seq 2 where seq 1 belongs"},
		{"no type", strings.Replace(good, `"type":"t"`, `"type":""`, 1), "type is empty"},
		{"bad msgpack", strings.Replace(good, `AQ==`, `wQ==`, 1), "msgpack is not one msgpack value"},
		{"bad base64", strings.Replace(good, `AQ==`, `!!`, 1), "line 1: not a record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := open(t)
			_, err := archive.Import(bg, dst, opener([]byte(tt.in)), archive.ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if d := dst.Durable(); d != 0 {
				t.Errorf("%d events written despite the error", d)
			}
		})
	}
}

// A record outlives the event a scan lends it: it holds its own copy.
func TestNewRecord_CopiesData(t *testing.T) {
	data := []byte{0xa1, 'x'}
	r, err := wire.NewRecord(&eventlog.Event{Actor: eventlog.ID{Type: "t", Key: "k"}, Seq: 1, Type: "e", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	data[1] = 'y'
	if string(r.Msgpack) != "\xa1x" || string(r.Data) != `"x"` {
		t.Errorf("record changed with the event's buffer: %q %s", r.Msgpack, r.Data)
	}
}
