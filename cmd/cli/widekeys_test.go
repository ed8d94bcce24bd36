package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
)

// wideKeys are keys whose bytes are not their width on a terminal: Cyrillic
// letters and a snowman take one column each for two or three bytes, CJK
// characters two columns for three bytes.
var wideKeys = []string{"counter:ключ☃", "counter:数据", "counter:a"}

// wideDir returns a data directory holding the actors of wideKeys, each
// with events of the counter's type and then one of a type with a CJK name
// ("数据更新", eight columns, twelve bytes) that the counter does not know,
// which verify reports.
func wideDir(t *testing.T) string {
	t.Helper()
	var events []actorEvent
	add := func(actor, typ string, count int64) {
		at := t0 + 1000*int64(len(events))
		e := eventlog.Event{Type: typ, Data: inspMsgpack(t, seed.CountUpdated{Count: count, LastUpdated: at}), Time: at, Meta: eventlog.Metadata{Causation: "increment"}}
		events = append(events, actorEvent{actor, e})
	}
	for n, actor := range wideKeys {
		for c := int64(1); c <= int64(n+1); c++ {
			add(actor, "countUpdated", c)
		}
	}
	for _, actor := range wideKeys {
		add(actor, "数据更新", 9)
	}
	return storeOf(t, events)
}

// actorEvent is an event of the actor ("type:key") to store.
type actorEvent struct {
	actor string
	eventlog.Event
}

// storeOf returns a new data directory holding the events, appended in
// order.
func storeOf(t *testing.T, events []actorEvent) string {
	t.Helper()
	dir := t.TempDir()
	l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		id, err := eventlog.ParseID(ev.actor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(inspBG, id, eventlog.Any, ev.Event); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// modeCase is a command line whose output a golden file holds, offline
// and online alike.
type modeCase struct {
	golden string
	args   []string
	// span, if set, returns the byte offsets in line of a stretch that
	// must take as many columns of a terminal on every line that has it.
	span func(line string) (from, to int, ok bool)
}

// wideCases are the tables in which a key or an event type is padded.
var wideCases = []modeCase{
	{"wide_actors", []string{"actors"}, upTo("LAST EVENT", "2024-")},
	{"wide_log", []string{"log", "counter:数据"}, upTo("DATA", "{")},
	{"wide_verify", []string{"verify", "--all"}, upTo("bad_data")},
	// The actor comes first, unpadded (as for ASCII keys): from the time
	// on, the columns line up.
	{"wide_tail_all", []string{"tail", "--all", "-n", "20", "--max", "9"}, fromTimeToData},
}

// fromTimeToData is the span of tail --all from the time to the data.
func fromTimeToData(line string) (int, int, bool) {
	from, to := strings.Index(line, "2024-"), strings.Index(line, "{")
	return from, to, from >= 0 && to > from
}

// upTo returns a span from the start of a line to the first of subs in it.
func upTo(subs ...string) func(string) (int, int, bool) {
	return func(line string) (int, int, bool) {
		for _, s := range subs {
			if i := strings.Index(line, s); i >= 0 {
				return 0, i, true
			}
		}
		return 0, 0, false
	}
}

// checkColumns checks that span takes as many columns on every line of
// the command's output that has it.
func checkColumns(t *testing.T, out string, span func(string) (int, int, bool)) {
	t.Helper()
	want, n := -1, 0
	for _, line := range strings.Split(out, "\n")[1:] { // after the command line
		from, to, ok := span(line)
		if !ok {
			continue
		}
		n++
		if got := width(line[from:to]); want < 0 {
			want = got
		} else if got != want {
			t.Errorf("%q takes %d columns, not %d as above, in:\n%s", line[from:to], got, want, out)
			return
		}
	}
	if n < 2 {
		t.Errorf("fewer than two lines to line up in:\n%s", out)
	}
}

// narrowAmbiguous measures characters of ambiguous width, such as Cyrillic
// letters, as one column for the test, as a terminal outside CJK locales
// draws them, whatever the locale the test runs in.
func narrowAmbiguous(t *testing.T) {
	ea := cells.EastAsianWidth
	cells.EastAsianWidth = false
	t.Cleanup(func() { cells.EastAsianWidth = ea })
}

func TestInspect_Pad(t *testing.T) {
	narrowAmbiguous(t)
	for _, c := range []struct {
		s     string
		w     int
		right bool
		want  string
	}{
		{"abc", 5, false, "abc  "},
		{"abc", 5, true, "  abc"},
		{"abcdef", 5, false, "abcdef"},
		{"ключ☃", 7, false, "ключ☃  "},
		{"数据", 7, false, "数据   "},
		{"数据", 7, true, "   数据"},
		{"数据x", 4, false, "数据x"},
	} {
		if got := pad(c.s, c.w, c.right); got != c.want {
			t.Errorf("pad(%q, %d, %v) = %q, want %q", c.s, c.w, c.right, got, c.want)
		}
	}
	// In a CJK locale, Cyrillic letters take two columns each.
	cells.EastAsianWidth = true
	if got := width("ключ☃"); got != 9 {
		t.Errorf("width of ключ☃ in a CJK locale: %d, want 9", got)
	}
}

func TestInspect_WideKeys(t *testing.T) {
	narrowAmbiguous(t)
	checkModes(t, wideDir(t), wideCases, nil)
}

// checkModes runs each case offline on dir, and then online on a server of
// dir, and compares its output with its golden file. Offline, it checks
// the columns of the case's span, and check, if set, on the output.
func checkModes(t *testing.T, dir string, cases []modeCase, check func(t *testing.T, out string)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			got := runInsp(append(slices.Clone(c.args), "--data", dir), dir, "")
			checkGolden(t, c.golden, got)
			if c.span != nil {
				checkColumns(t, got, c.span)
			}
			if check != nil {
				check(t, got)
			}
		})
	}
	if *update {
		return
	}
	// Tail cases follow online on a copy of dir, made before the server
	// below holds it.
	for _, c := range cases {
		if follows(c.args) {
			t.Run(c.golden+"_online", func(t *testing.T) { checkTailOnline(t, c.golden, dir, c.args) })
		}
	}
	url, _ := inspServer(t, dir, "")
	if !inspectRoutesWired(t, url) {
		t.Skip("api.New does not register the /inspect routes (inspectRoutes) yet")
	}
	for _, c := range cases {
		if follows(c.args) {
			continue
		}
		t.Run(c.golden+"_online", func(t *testing.T) {
			got := runInsp(append(slices.Clone(c.args), "--server", url), "", url)
			checkGolden(t, c.golden, strings.Replace(got, "--server $SERVER", "--data $DATA", 1))
		})
	}
}
