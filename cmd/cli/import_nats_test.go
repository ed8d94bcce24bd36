package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
)

// storeEvents reads every actor's events from s, by actor, with their
// feed positions zeroed (each store assigns its own).
func storeEvents(t testing.TB, s eventlog.Store) map[eventlog.ID][]eventlog.Event {
	t.Helper()
	all := make(map[eventlog.ID][]eventlog.Event)
	var after eventlog.ID
	for {
		page, err := s.ListActors(inspBG, eventlog.ListOptions{After: after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range page {
			var evs []eventlog.Event
			err := s.ScanStream(inspBG, st.Actor, 1, 0, func(e *eventlog.Event) error {
				c := *e
				c.Pos, c.Data = 0, bytes.Clone(e.Data)
				evs = append(evs, c)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(evs)) != st.Head {
				t.Fatalf("%s: %d events, head %d", st.Actor, len(evs), st.Head)
			}
			all[st.Actor] = evs
			after = st.Actor
		}
		if len(page) < 100 {
			return all
		}
	}
}

// compareStores fails unless got holds exactly want's streams.
func compareStores(t testing.TB, got, want map[eventlog.ID][]eventlog.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d actors, want %d", len(got), len(want))
	}
	for id, w := range want {
		g := got[id]
		if len(g) != len(w) {
			t.Errorf("%s: %d events, want %d", id, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i].Actor != w[i].Actor || g[i].Seq != w[i].Seq || g[i].Type != w[i].Type || g[i].Time != w[i].Time ||
				g[i].Meta != w[i].Meta || !bytes.Equal(g[i].Data, w[i].Data) {
				t.Errorf("%s event %d:\n got %+v\nwant %+v", id, i+1, g[i], w[i])
			}
		}
	}
}

// streamLast returns the last sequence of the log's JetStream stream:
// what any write, of events or of anything else, moves.
func streamLast(t testing.TB, url string) uint64 {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(inspBG, 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, jetstream.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// TestImportNATS exports the fixture's data directory and imports it
// into a JetStream server (import --nats, which creates the stream):
// read back through the JetStream log, every actor's events are the
// source's. A second import of the same file, and one of a file holding
// a new actor besides an existing one, are refused and write nothing;
// the new actor alone imports (--json).
func TestImportNATS(t *testing.T) {
	src := fixtureDir(t)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "all.ndjson")
	if out := runInsp([]string{"export", "--all", "--data", src, "--out", file}, src, ""); !strings.HasSuffix(out, "[exit 0]\n") {
		t.Fatalf("export:\n%s", out)
	}
	srv := jetstreamtest.StartT(t, 1)
	url := srv.URL()
	run := func(args ...string) string {
		t.Helper()
		return strings.ReplaceAll(strings.ReplaceAll(runInsp(args, "", ""), tmp, "$TMP"), url, "$NATS")
	}

	checkGolden(t, "import_nats", run("import", "--nats", url, "--replicas", "1", "--workers", "3", file))

	pl, err := eventlog.Open(src, eventlog.Options{NoSync: true, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	want := storeEvents(t, pl)
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	jl, err := jetstream.Open(inspBG, jetstream.Options{URL: url, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer jl.Close()
	compareStores(t, storeEvents(t, jl), want)
	var feed int
	if err := jl.ScanFeed(inspBG, 1, 0, func(*eventlog.Event) error { feed++; return nil }); err != nil {
		t.Fatal(err)
	}
	if feed != 20 {
		t.Errorf("the feed holds %d events, want the fixture's 20", feed)
	}

	last := streamLast(t, url)
	checkGolden(t, "import_nats_refused", run("import", "--nats", url, file))
	mixed := filepath.Join(tmp, "mixed.ndjson")
	newActor := `{"actor":"counter:new","seq":1,"type":"countUpdated","time":1714564800000,"msgpack":"gqVjb3VudAGrbGFzdFVwZGF0ZWTPAAABjzHyX+g="}` + "\n"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mixed, append([]byte(newActor), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	got := run("import", "--nats", url, mixed)
	if !strings.Contains(got, "refused: the target already has some of the actors: chatRoom:lobby (head 5) and 3 more") || !strings.HasSuffix(got, "[exit 1]\n") {
		t.Errorf("import of a new actor with existing ones:\n%s", got)
	}
	if now := streamLast(t, url); now != last {
		t.Fatalf("refused imports moved the stream from %d to %d", last, now)
	}
	if st, err := jl.Head(inspBG, eventlog.ID{Type: "counter", Key: "new"}); err != nil || st.Exists() {
		t.Fatalf("counter:new after a refused import: %+v, %v", st, err)
	}

	alone := filepath.Join(tmp, "new.ndjson")
	if err := os.WriteFile(alone, []byte(newActor), 0o644); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "import_nats_json", run("import", "--json", "--nats", url, alone))
	if st, err := jl.Head(inspBG, eventlog.ID{Type: "counter", Key: "new"}); err != nil || st.Head != 1 {
		t.Fatalf("counter:new after its import: %+v, %v", st, err)
	}
}

// TestImportNATS_Errors: a NATS server that does not answer is one line
// and exit 1 within seconds; the flags that do not go together are usage
// errors.
func TestImportNATS_Errors(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "x.ndjson")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		return strings.ReplaceAll(runInsp(args, "", ""), tmp, "$TMP")
	}
	start := time.Now()
	checkGolden(t, "err_import_nats_unreachable", run("import", "--nats", "nats://u:secret@127.0.0.1:1", file))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("an unreachable NATS took %v to report", d)
	}
	var b strings.Builder
	for _, args := range [][]string{
		{"import", "--nats", "nats://127.0.0.1:1", "--data", tmp, file},
		{"import", "--nats", ",", file},
		{"import", "--data", tmp, "--replicas", "3", file},
		{"import", "--nats", "nats://127.0.0.1:1", "--replicas", "0", file},
		{"import", file},
	} {
		fmt.Fprint(&b, run(args...))
	}
	checkGolden(t, "err_import_nats_usage", b.String())
}
