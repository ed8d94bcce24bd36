package main

import (
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
	type event struct {
		actor, typ string
		count      int64
	}
	var events []event
	for n, actor := range wideKeys {
		for c := int64(1); c <= int64(n+1); c++ {
			events = append(events, event{actor, "countUpdated", c})
		}
	}
	for _, actor := range wideKeys {
		events = append(events, event{actor, "数据更新", 9})
	}
	dir := t.TempDir()
	l, err := eventlog.Open(dir, eventlog.Options{NoSync: true, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range events {
		id, err := eventlog.ParseID(ev.actor)
		if err != nil {
			t.Fatal(err)
		}
		at := t0 + 1000*int64(i)
		e := eventlog.Event{Type: ev.typ, Data: inspMsgpack(t, seed.CountUpdated{Count: ev.count, LastUpdated: at}), Time: at, Meta: eventlog.Metadata{Causation: "increment"}}
		if _, err := l.Append(inspBG, id, eventlog.Any, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// wideCases are the tables in which a key or an event type is padded.
var wideCases = []struct {
	golden, args string
	// span returns the byte offsets in line of a stretch that must take
	// as many columns of a terminal on every line that has it.
	span func(line string) (from, to int, ok bool)
}{
	{"wide_actors", "actors", upTo("LAST EVENT", "2024-")},
	{"wide_log", "log counter:数据", upTo("DATA", "{")},
	{"wide_verify", "verify --all", upTo("bad_data")},
	// The actor comes first, unpadded (as for ASCII keys): from the time
	// on, the columns line up.
	{"wide_tail_all", "tail --all -n 20 --max 9", func(line string) (int, int, bool) {
		from, to := strings.Index(line, "2024-"), strings.Index(line, "{")
		return from, to, from >= 0 && to > from
	}},
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
	dir := wideDir(t)
	offline := map[string]string{}
	for _, c := range wideCases {
		t.Run(c.golden, func(t *testing.T) {
			got := runInsp(append(strings.Fields(c.args), "--data", dir), dir, "")
			checkGolden(t, c.golden, got)
			offline[c.golden] = got
			checkColumns(t, got, c.span)
		})
	}
	if *update {
		return
	}
	url, _ := inspServer(t, dir, "")
	if !inspectRoutesWired(t, url) {
		t.Skip("api.New does not register the /inspect routes (inspectRoutes) yet")
	}
	for _, c := range wideCases {
		t.Run(c.golden+"_online", func(t *testing.T) {
			got := runInsp(append(strings.Fields(c.args), "--server", url), "", url)
			checkGolden(t, c.golden, strings.Replace(got, "--server $SERVER", "--data $DATA", 1))
		})
	}
}
