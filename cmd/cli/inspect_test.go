package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/vmihailenco/msgpack/v5"
)

// The tests of the inspection commands run each command against a fixture
// store, offline (--data) and online (--server, an in-process server on
// the same fixture), and compare what it prints with a golden file in
// testdata: the same file for both modes, since both must print the same
// thing. Run "go test ./cmd/cli -run Inspect -update" to rewrite the
// golden files after a deliberate change, and read the diff.

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var inspBG = context.Background()

// t0 is the time of the fixture's first event: 2024-05-01T12:00:00Z.
const t0 = int64(1714564800000)

func inspQuiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func inspMsgpack(t testing.TB, v any) []byte {
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

// fixtureEvent is one event of the fixture.
type fixtureEvent struct {
	actor string
	typ   string
	data  any
	meta  eventlog.Metadata
}

// fixture is the store the golden files describe: a counter with a
// history worth replaying, a chat room, a clock and a second counter whose
// events carry every kind of metadata. Event i is at t0 + i seconds.
func fixture() []fixtureEvent {
	inc := eventlog.Metadata{Causation: "increment"}
	cu := func(count, i int64) seed.CountUpdated {
		return seed.CountUpdated{Count: count, LastUpdated: t0 + 1000*i}
	}
	msg := func(id, user, text string, i int64) seed.Message {
		return seed.Message{ID: id, Username: user, Text: text, Timestamp: t0 + 1000*i}
	}
	return []fixtureEvent{
		{"counter:default", "countUpdated", cu(1, 0), inc},
		{"chatRoom:lobby", "userJoined", seed.Presence{Username: "alice", ParticipantCount: 1}, eventlog.Metadata{Causation: "join"}},
		{"counter:default", "countUpdated", cu(2, 2), inc},
		{"counter:default", "countUpdated", cu(3, 3), inc},
		{"chatRoom:lobby", "userJoined", seed.Presence{Username: "bob", ParticipantCount: 2}, eventlog.Metadata{Causation: "join"}},
		{"counter:default", "countUpdated", cu(8, 5), eventlog.Metadata{Causation: "add"}},
		{"chatRoom:lobby", "newMessage", msg("m1", "alice", "hello <bob> & all", 6), eventlog.Metadata{Causation: "sendMessage"}},
		{"counter:default", "countUpdated", cu(7, 7), eventlog.Metadata{Causation: "decrement"}},
		{"serverTime:main", "timezoneChanged", seed.TimezoneChanged{Timezone: "Europe/Paris", CurrentTime: t0 + 8000}, eventlog.Metadata{Causation: "setTimezone"}},
		{"chatRoom:lobby", "newMessage", msg("m2", "bob", "hi alice", 9), eventlog.Metadata{Causation: "sendMessage"}},
		{"counter:default", "countUpdated", cu(0, 10), eventlog.Metadata{Causation: "reset"}},
		{"counter:other", "countUpdated", cu(1, 11), eventlog.Metadata{Causation: "increment", CorrelationID: "req-1", IdempotencyKey: "k-1"}},
		{"counter:default", "countUpdated", cu(1, 12), inc},
		{"chatRoom:lobby", "userLeft", seed.Presence{Username: "bob", ParticipantCount: 1}, eventlog.Metadata{Causation: "leave"}},
		{"counter:default", "countUpdated", cu(2, 14), inc},
		{"counter:other", "countUpdated", cu(2, 15), eventlog.Metadata{Causation: "increment", CorrelationID: "req-2"}},
		{"counter:default", "countUpdated", cu(3, 16), inc},
		{"counter:default", "countUpdated", cu(4, 17), inc},
		{"counter:default", "countUpdated", cu(5, 18), inc},
		{"counter:default", "countUpdated", cu(6, 19), inc},
	}
}

// buildFixture writes the fixture into log, with a snapshot of
// counter:default at seq 8 taken by folding.
func buildFixture(t testing.TB, l *eventlog.Log) {
	t.Helper()
	snaps := snapshots.New(l, snapshots.Options{})
	folder := actors.NewFolder(seed.Counter(), eventlog.ID{Type: "counter", Key: "default"})
	for i, fe := range fixture() {
		id, err := eventlog.ParseID(fe.actor)
		if err != nil {
			t.Fatal(err)
		}
		e := eventlog.Event{Type: fe.typ, Data: inspMsgpack(t, fe.data), Time: t0 + 1000*int64(i), Meta: fe.meta}
		res, err := l.Append(inspBG, id, eventlog.Any, e)
		if err != nil {
			t.Fatal(err)
		}
		if fe.actor == "counter:default" {
			e.Seq = res.First
			if err := folder.Apply(&e); err != nil {
				t.Fatal(err)
			}
			if e.Seq == 8 {
				st, err := folder.EncodeState()
				if err != nil {
					t.Fatal(err)
				}
				if err := snaps.Save(inspBG, snapshots.Snapshot{Actor: id, Seq: 8, Schema: folder.Schema(), State: st, Time: t0 + 20000}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// fixtureDir returns a new data directory holding the fixture.
func fixtureDir(t testing.TB) string {
	t.Helper()
	return fixtureIn(t, t.TempDir())
}

// fixtureIn writes the fixture into a new data directory at dir, and
// returns dir.
func fixtureIn(t testing.TB, dir string) string {
	t.Helper()
	l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	buildFixture(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// inspServer serves the fixture's directory as "actorlog serve" does, on
// a loopback httptest server. It returns the URL and the server's log.
func inspServer(t testing.TB, dir, token string) (string, *eventlog.Log) {
	t.Helper()
	l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	snaps := snapshots.New(l, snapshots.Options{})
	rt := actors.New(l, snaps, seed.Registry(), actors.Options{Frames: wire.Frames{}, Metrics: api.NewMetrics(nil), Logger: inspQuiet()})
	srv, err := api.New(rt, l, snaps, api.Options{Token: token, Routes: []func(*api.Routes){seed.Routes}, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close(context.Background())
		rt.Close(inspBG)
		l.Close()
	})
	return hs.URL, l
}

// inspectRoutesWired reports whether the server serves /inspect (api.New
// calls inspectRoutes).
func inspectRoutesWired(t testing.TB, url string) bool {
	t.Helper()
	res, err := http.Get(url + "/inspect/actors")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode != http.StatusNotFound
}

// runInsp runs the command line and returns what it printed, in the form
// of the golden files, with the data directory and the server's URL
// replaced by $DATA and $SERVER.
func runInsp(args []string, data, server string) string {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return inspOutput(args, stdout.String(), stderr.String(), code, data, server)
}

// inspOutput is what runInsp returns for a command line that printed
// stdout and stderr and exited with code.
func inspOutput(args []string, stdout, stderr string, code int, data, server string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ actorlog %s\n%s", showArgs(args), stdout)
	if stderr != "" {
		fmt.Fprintf(&b, "[stderr]\n%s", stderr)
	}
	fmt.Fprintf(&b, "[exit %d]\n", code)
	s := b.String()
	if data != "" {
		s = strings.ReplaceAll(s, data, "$DATA")
	}
	if server != "" {
		s = strings.ReplaceAll(s, server, "$SERVER")
	}
	return s
}

// showArgs returns the command line as the golden files show it: an
// argument holding a character that is not printable as Go writes it in a
// string literal, so that the files hold only what actorlog printed.
func showArgs(args []string) string {
	shown := make([]string, len(args))
	for i, a := range args {
		if q := strconv.Quote(a); q[1:len(q)-1] != a {
			a = q
		}
		shown[i] = a
	}
	return strings.Join(shown, " ")
}

// checkGolden compares got with testdata/name.golden, or rewrites it with
// -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// inspCase is a command line whose output both modes must print alike.
type inspCase struct {
	golden string
	args   string // with the mode's flag appended
	// inspect is true when online mode needs the /inspect routes.
	inspect bool
}

var inspCases = []inspCase{
	{"actors", "actors", true},
	{"actors_type", "actors --type counter", true},
	{"actors_json", "actors --json", true},
	{"actors_none", "actors --type widget", true},
	{"log", "log counter:default", false},
	{"log_range", "log counter:default --from 3 --to 5", false},
	{"log_flags_after", "log --limit 2 chatRoom:lobby", false},
	{"log_meta_json", "log counter:other --json", false},
	{"state", "state counter:default", false},
	{"state_at", "state counter:default --at 4", false},
	{"state_at_zero", "state counter:default --at 0", false},
	{"state_at_zero_json", "state chatRoom:lobby --at 0 --json", false},
	{"state_at_time", "state counter:default --at-time 2024-05-01T12:00:05.500Z", false},
	{"state_at_time_before", "state counter:default --at-time 2024-04-30T00:00:00Z", false},
	{"state_chat_json", "state chatRoom:lobby --json", false},
	{"replay", "replay counter:default", true},
	{"replay_range", "replay counter:default --from 3 --to 5", true},
	{"replay_chat_state", "replay chatRoom:lobby --from 3 --state", true},
	{"replay_json", "replay counter:default --from 2 --to 3 --json", true},
	{"diff", "diff counter:default 2 9", false},
	{"diff_initial_json", "diff chatRoom:lobby 0 5 --json", false},
	{"diff_none", "diff counter:default 3 3", false},
	{"tail", "tail counter:default -n 3 --max 3", true},
	{"tail_all", "tail --all -n 7 --max 7", true},
	{"tail_all_json", "tail --all --from 19 --max 2 --json", true},
	{"verify_all", "verify --all", true},
	{"verify_one_json", "verify counter:default --json", true},
	{"export", "export counter:other", true},
	// Bad input: one line, non-zero exit.
	{"err_malformed", "log counter", false},
	{"err_bad_key", "log counter:", false},
	{"err_unknown_actor", "log counter:nope", false},
	{"err_unknown_type", "log widget:x", false},
	{"err_state_unknown_type", "state widget:x", false},
	{"err_at_range", "state counter:default --at 99", false},
	{"err_diff_range", "diff counter:default 0 99", false},
	{"err_diff_not_seq", "diff counter:default 1 x", false},
	{"err_replay_range", "replay counter:default --to 50", false},
	{"err_log_from_range", "log counter:other --from 3", false},
	{"err_at_time_bad", "state counter:default --at-time yesterday", false},
	{"err_verify_unknown", "verify counter:nope", true},
	{"err_tail_from_range", "tail counter:other --from 9", false},
	{"usage_missing", "log", false},
	{"usage_tail", "tail", false},
	{"usage_verify_both", "verify counter:default --all", false},
	{"usage_export_neither", "export", false},
	{"usage_extra", "state counter:default 3", false},
	{"usage_exclusive", "state counter:default --at 1 --at-time 0", false},
}

func TestInspect_Offline(t *testing.T) {
	dir := fixtureDir(t)
	for _, c := range inspCases {
		t.Run(c.golden, func(t *testing.T) {
			args := append(strings.Fields(c.args), "--data", dir)
			checkGolden(t, c.golden, runInsp(args, dir, ""))
		})
	}
}

func TestInspect_Online(t *testing.T) {
	if *update {
		t.Skip("the golden files are written offline")
	}
	url, _ := inspServer(t, fixtureDir(t), "")
	wired := inspectRoutesWired(t, url)
	for _, c := range inspCases {
		t.Run(c.golden, func(t *testing.T) {
			if args := strings.Fields(c.args); follows(args) {
				checkTailOnline(t, c.golden, fixtureDir(t), args)
				return
			}
			if c.inspect && !wired {
				t.Skip("api.New does not register the /inspect routes (inspectRoutes) yet")
			}
			args := append(strings.Fields(c.args), "--server", url)
			// The golden file shows the offline command line.
			got := runInsp(args, "", url)
			got = strings.Replace(got, "--server $SERVER", "--data $DATA", 1)
			checkGolden(t, c.golden, got)
		})
	}
}

// damage opens a closed store's Pebble database to break it as the test
// needs, with keys as eventlog/doc.go documents them.
func damage(t *testing.T, dir string, fn func(db *pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: inspDiscard{}})
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

type inspDiscard struct{}

func (inspDiscard) Infof(string, ...any)  {}
func (inspDiscard) Errorf(string, ...any) {}
func (inspDiscard) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}

func inspEventKey(id eventlog.ID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(eventlog.AppendKey([]byte{0x01}, id), seq)
}

// TestInspect_VerifyDamaged builds broken stores and checks that verify
// names each problem, offline and online, and exits non-zero.
func TestInspect_VerifyDamaged(t *testing.T) {
	counter := eventlog.ID{Type: "counter", Key: "default"}
	tests := []struct {
		golden string
		damage func(t *testing.T, dir string)
	}{
		{"verify_corrupt_event", func(t *testing.T, dir string) {
			damage(t, dir, func(db *pebble.DB) {
				if err := db.Set(inspEventKey(counter, 5), []byte{0x96, 0x05, 0x0a, 0xa1}, pebble.Sync); err != nil {
					t.Fatal(err)
				}
			})
		}},
		{"verify_missing_seq", func(t *testing.T, dir string) {
			damage(t, dir, func(db *pebble.DB) {
				if err := db.Delete(inspEventKey(counter, 3), pebble.Sync); err != nil {
					t.Fatal(err)
				}
			})
		}},
		{"verify_snapshot_drift", func(t *testing.T, dir string) {
			// A snapshot at seq 11 that holds the state of seq 5.
			l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: inspQuiet()})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			f := actors.NewFolder(seed.Counter(), counter)
			if err := l.ScanStream(inspBG, counter, 1, 5, f.Apply); err != nil {
				t.Fatal(err)
			}
			st, _ := f.EncodeState()
			if err := snapshots.New(l, snapshots.Options{}).Save(inspBG, snapshots.Snapshot{Actor: counter, Seq: 11, Schema: f.Schema(), State: st, Time: t0}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			dir := fixtureDir(t)
			tt.damage(t, dir)
			got := runInsp([]string{"verify", "--all", "--data", dir}, dir, "")
			checkGolden(t, tt.golden, got)
			if !strings.Contains(got, "[exit 1]") {
				t.Errorf("verify of a damaged store did not fail")
			}
			if *update {
				return
			}
			url, _ := inspServer(t, dir, "")
			if !inspectRoutesWired(t, url) {
				t.Skip("api.New does not register the /inspect routes (inspectRoutes) yet")
			}
			online := runInsp([]string{"verify", "--all", "--server", url}, "", url)
			checkGolden(t, tt.golden, strings.Replace(online, "--server $SERVER", "--data $DATA", 1))
		})
	}
}

// TestInspect_ExportImport exports every actor, imports the file into a
// new directory, and checks that the streams came back identical: the
// second export equals the first, and verify passes. A second import into
// the same directory is refused.
func TestInspect_ExportImport(t *testing.T) {
	src := fixtureDir(t)
	tmp := t.TempDir()
	first := filepath.Join(tmp, "first.ndjson")
	out := runInsp([]string{"export", "--all", "--data", src, "--out", first}, src, "")
	out = strings.ReplaceAll(out, tmp, "$TMP")
	checkGolden(t, "export_all", out)

	dst := filepath.Join(tmp, "copy")
	out = runInsp([]string{"import", "--data", dst, "--workers", "1", first}, "", "")
	checkGolden(t, "import", strings.ReplaceAll(out, tmp, "$TMP"))

	second := filepath.Join(tmp, "second.ndjson")
	runInsp([]string{"export", "--all", "--data", dst, "--out", second}, "", "")
	a, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("export after import differs from the original export:\n%s\nwant\n%s", b, a)
	}
	if got := runInsp([]string{"verify", "--all", "--data", dst}, dst, ""); !strings.Contains(got, "no problems") {
		t.Errorf("verify of the imported store:\n%s", got)
	}

	out = runInsp([]string{"import", "--data", dst, first}, "", "")
	checkGolden(t, "import_refused", strings.ReplaceAll(out, tmp, "$TMP"))

	// Online export equals offline export.
	if *update {
		return
	}
	url, _ := inspServer(t, src, "")
	if !inspectRoutesWired(t, url) {
		t.Skip("api.New does not register the /inspect routes (inspectRoutes) yet")
	}
	online := filepath.Join(tmp, "online.ndjson")
	runInsp([]string{"export", "--all", "--server", url, "--out", online}, "", url)
	c, err := os.ReadFile(online)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, c) {
		t.Errorf("online export differs from the offline one:\n%s\nwant\n%s", c, a)
	}
}

// TestInspect_OfflineErrors covers what only a data directory can get
// wrong.
func TestInspect_OfflineErrors(t *testing.T) {
	tmp := t.TempDir()
	dir := fixtureDir(t)
	// A server holds the directory.
	l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "err_locked", runInsp([]string{"log", "counter:default", "--data", dir}, dir, ""))
	x := filepath.Join(tmp, "x.ndjson")
	if err := os.WriteFile(x, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := runInsp([]string{"import", "--data", dir, x}, dir, "")
	checkGolden(t, "err_import_locked", strings.ReplaceAll(got, tmp, "$TMP"))
	l.Close()

	missing := filepath.Join(tmp, "missing")
	checkGolden(t, "err_no_dir", runInsp([]string{"actors", "--data", missing}, missing, ""))
	empty := filepath.Join(tmp, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "err_not_a_store", runInsp([]string{"verify", "--all", "--data", empty}, empty, ""))
	checkGolden(t, "err_import_server", runInsp([]string{"import", "--server", "http://127.0.0.1:1", "x"}, "", ""))
	bad := filepath.Join(tmp, "bad.ndjson")
	if err := os.WriteFile(bad, []byte(`{"actor":"counter:a","seq":2,"type":"t","msgpack":"AQ=="}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got = runInsp([]string{"import", "--data", filepath.Join(tmp, "new"), bad}, "", "")
	checkGolden(t, "err_import_gap", strings.ReplaceAll(got, tmp, "$TMP"))
}

// TestInspect_Color checks the colour of a terminal, forced.
func TestInspect_Color(t *testing.T) {
	dir := fixtureDir(t)
	checkGolden(t, "log_color", runInsp([]string{"log", "counter:other", "--color", "always", "--data", dir}, dir, ""))
	checkGolden(t, "diff_color", runInsp([]string{"diff", "chatRoom:lobby", "2", "5", "--color", "always", "--data", dir}, dir, ""))
}

// TestInspect_Token checks that online mode sends the token, from the flag
// or the environment, and says so in one line when it is missing or wrong.
func TestInspect_Token(t *testing.T) {
	url, _ := inspServer(t, fixtureDir(t), "s3cret")
	t.Setenv("ACTORLOG_TOKEN", "")
	check := func(name string, args ...string) {
		t.Helper()
		checkGolden(t, name, runInsp(append(args, "--server", url), "", url))
	}
	check("token_missing", "log", "counter:other")
	check("token_wrong", "log", "counter:other", "--token", "nope")
	check("token_flag", "log", "counter:other", "--token", "s3cret")
	t.Setenv("ACTORLOG_TOKEN", "s3cret")
	check("token_env", "state", "counter:other")
	checkGolden(t, "err_unreachable", runInsp([]string{"log", "counter:other", "--server", "http://127.0.0.1:1"}, "", ""))
	checkGolden(t, "err_bad_url", runInsp([]string{"log", "counter:other", "--server", "localhost:3001"}, "", ""))
}

// TestInspect_TailFollows: online, tail prints its backlog, then
// follows the events committed after it started, until --max of them:
// the backlog does not count.
func TestInspect_TailFollows(t *testing.T) {
	for _, c := range []struct {
		golden, args string
		backlog      int
	}{
		{"tail_follow", "tail counter:other -n 1 --max 2", 1},
		{"tail_follow_all", "tail --all -n 1 --max 2 --json", 1},
	} {
		t.Run(c.golden, func(t *testing.T) {
			got := tailOnline(t, fixtureDir(t), strings.Fields(c.args), c.backlog, func(l *eventlog.Log) {
				appendCounts(t, l, eventlog.ID{Type: "counter", Key: "other"}, 3, 2)
			})
			checkGolden(t, c.golden, got)
		})
	}
}

// appendCounts appends n countUpdated events to id, counting from
// count, at t0 + 30 s and on, a millisecond apart.
func appendCounts(t *testing.T, l *eventlog.Log, id eventlog.ID, count, n int64) {
	t.Helper()
	for i := range n {
		e := eventlog.Event{Type: "countUpdated", Data: inspMsgpack(t, seed.CountUpdated{Count: count + i, LastUpdated: t0 + 30000 + i}), Time: t0 + 30000 + i}
		if _, err := l.Append(inspBG, id, eventlog.Any, e); err != nil {
			t.Error(err)
		}
	}
}

// tailOnline runs a tail command line against a server on dir: once
// tail has printed backlog lines (and so follows), add appends to the
// server's log. It returns what tail printed as runInsp does, with
// $SERVER for the server's URL. Without a backlog, nothing would tell
// when tail follows.
func tailOnline(t *testing.T, dir string, args []string, backlog int, add func(*eventlog.Log)) string {
	t.Helper()
	if backlog < 1 {
		t.Fatalf("%q: a tail with no backlog to print", args)
	}
	url, l := inspServer(t, dir, "")
	args = append(slices.Clone(args), "--server", url)
	var stdout, stderr serveOutput
	exit := make(chan int, 1)
	go func() { exit <- run(args, &stdout, &stderr) }()
	printed := func() string {
		return inspOutput(args, stdout.String(), stderr.String(), -1, "", url)
	}
	// Generous deadlines: a busy machine is slow, and a test that passes
	// waits no longer than it takes.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(stdout.String(), "\n") < backlog {
		select {
		case code := <-exit:
			t.Fatalf("tail exited before it followed:\n%s", strings.Replace(printed(), "[exit -1]", fmt.Sprintf("[exit %d]", code), 1))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tail did not print its backlog of %d lines:\n%s", backlog, printed())
		}
	}
	add(l)
	select {
	case code := <-exit:
		return inspOutput(args, stdout.String(), stderr.String(), code, "", url)
	case <-time.After(30 * time.Second):
		t.Fatalf("tail did not return after the events were appended:\n%s", printed())
		return ""
	}
}

// follows reports whether a tail command line of the golden loops
// follows online: those with --max, which end after that many new events.
func follows(args []string) bool {
	return args[0] == "tail" && slices.Contains(args, "--max")
}

// checkTailOnline runs a tail case of a golden loop online, on a copy of
// dir (which no server may hold): it must print the backlog of the
// offline golden file (which ends saying tail cannot follow offline),
// then --max new events appended meanwhile, and exit 0.
func checkTailOnline(t *testing.T, golden, dir string, args []string) {
	t.Helper()
	if *update {
		t.Skip("the golden files are written offline")
	}
	want, err := os.ReadFile(filepath.Join("testdata", golden+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	backlog, _, ok := strings.Cut(string(want), "[stderr]\nactorlog tail: not following: ")
	if !ok {
		t.Fatalf("%s.golden does not end saying tail does not follow offline:\n%s", golden, want)
	}
	backlog = strings.Replace(backlog, "--data $DATA", "--server $SERVER", 1)
	n, err := strconv.ParseInt(args[slices.Index(args, "--max")+1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// New events go to the actor followed, or with --all to a new one.
	id := eventlog.ID{Type: "counter", Key: "tail-new"}
	if !strings.HasPrefix(args[1], "-") {
		if id, err = eventlog.ParseID(args[1]); err != nil {
			t.Fatal(err)
		}
	}
	cp := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	got := tailOnline(t, cp, args, strings.Count(backlog, "\n")-1, func(l *eventlog.Log) {
		appendCounts(t, l, id, 1000, n)
	})
	news, ok := strings.CutPrefix(got, backlog)
	if !ok {
		t.Fatalf("online, tail did not print the backlog of %s.golden first:\n%s", golden, got)
	}
	lines := strings.SplitAfter(news, "\n")
	if len(lines) != int(n)+2 || lines[n] != "[exit 0]\n" {
		t.Fatalf("online, after the backlog, want %d new events and exit 0:\n%s", n, got)
	}
	for i, line := range lines[:n] {
		if !strings.Contains(line, fmt.Sprintf(`{"count":%d,`, 1000+i)) {
			t.Errorf("new event %d is not the one appended: %q", i, line)
		}
	}
}

// TestInspect_StateAtZeroErased: once an actor's first events are
// erased, its initial state cannot be rebuilt: --at 0 is out of range,
// offline and online alike.
func TestInspect_StateAtZeroErased(t *testing.T) {
	dir := fixtureDir(t)
	l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(inspBG, eventlog.ID{Type: "counter", Key: "other"}, 2); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := "actorlog state: --at 0 is out of range: counter:other has seqs 2 to 2\n[exit 1]\n"
	args := []string{"state", "counter:other", "--at", "0"}
	if got := runInsp(append(slices.Clone(args), "--data", dir), dir, ""); !strings.HasSuffix(got, want) {
		t.Errorf("offline:\n%s", got)
	}
	url, _ := inspServer(t, dir, "")
	if got := runInsp(append(slices.Clone(args), "--server", url), "", url); !strings.HasSuffix(got, want) {
		t.Errorf("online:\n%s", got)
	}
}

// TestInspect_KeysNeedingEscape: keys holding "/", spaces and non-ASCII
// letters, which the online mode must escape in its URLs, print the same
// online as offline.
func TestInspect_KeysNeedingEscape(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"team/general", "a b/é", "100%"}
	for _, k := range keys {
		for i := int64(1); i <= 3; i++ {
			e := eventlog.Event{Type: "countUpdated", Data: inspMsgpack(t, seed.CountUpdated{Count: i, LastUpdated: t0 + i}), Time: t0 + i, Meta: eventlog.Metadata{Causation: "increment"}}
			if _, err := l.Append(inspBG, eventlog.ID{Type: "counter", Key: k}, eventlog.Any, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var cmds [][]string
	for _, k := range keys {
		id := "counter:" + k
		cmds = append(cmds, []string{"log", id}, []string{"state", id, "--at", "2"}, []string{"replay", id}, []string{"diff", id, "1", "3"})
	}
	// Offline first: the server below holds the directory.
	offline := make([]string, len(cmds))
	for i, cmd := range cmds {
		offline[i] = runInsp(append(slices.Clone(cmd), "--data", dir), dir, "")
		if !strings.Contains(offline[i], "[exit 0]") || !strings.Contains(offline[i], "count") {
			t.Fatalf("offline:\n%s", offline[i])
		}
	}
	url, _ := inspServer(t, dir, "")
	for i, cmd := range cmds {
		got := runInsp(append(slices.Clone(cmd), "--server", url), "", url)
		got = strings.Replace(got, "--server $SERVER", "--data $DATA", 1)
		if got != offline[i] {
			t.Errorf("online differs from offline:\n--- offline\n%s--- online\n%s", offline[i], got)
		}
	}
}
