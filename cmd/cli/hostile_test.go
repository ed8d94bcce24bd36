package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
)

// Keys of a hostile store: printed as they are, they would clear the
// screen, fake a line of output, and reverse the text after them.
const (
	keyClear   = "counter:\x1b[2J\x1b[Hpwned"
	keyNewline = "counter:evil\nfake line"
	keyRTL     = "counter:\u202eevil"
	keyWide    = "counter:ключ\t数据" // wide characters and a tab: the column is measured escaped
	roomRTL    = "chatRoom:\u202droom\u2028"
)

// hostileDir returns a data directory whose keys, event types, metadata
// and event data hold control and format characters.
func hostileDir(t *testing.T) string {
	t.Helper()
	type event struct {
		actor, typ string
		data       any
		meta       eventlog.Metadata
	}
	cu := func(count int64) seed.CountUpdated { return seed.CountUpdated{Count: count, LastUpdated: t0} }
	mallory := "mallory\u202e\x1b]0;owned\x07"
	events := []event{
		{keyClear, "countUpdated", cu(1), eventlog.Metadata{Causation: "increment\x1b[31m"}},
		{keyNewline, "countUpdated", cu(1), eventlog.Metadata{Causation: "increment", CorrelationID: "req\r\n1", IdempotencyKey: "k\u202e1"}},
		{keyRTL, "countUpdated", cu(1), eventlog.Metadata{Causation: "increment"}},
		{keyClear, "countUpdated", cu(2), eventlog.Metadata{Causation: "\u200badd\b\b\bsub"}},
		{keyNewline, "\x1b[8mhid", cu(9), eventlog.Metadata{Causation: "increment"}},
		{keyWide, "countUpdated", cu(1), eventlog.Metadata{Causation: "increment"}},
		{keyRTL, "\u2068bad", cu(2), eventlog.Metadata{Causation: "increment"}},
		{roomRTL, "userJoined", seed.Presence{Username: mallory, ParticipantCount: 1}, eventlog.Metadata{Causation: "join"}},
		{roomRTL, "newMessage", seed.Message{ID: "m1\x7f", Username: mallory, Text: "hi\u2028there\u0085\u202dx\x1b[2J", Timestamp: t0}, eventlog.Metadata{Causation: "sendMessage"}},
	}
	stored := make([]actorEvent, len(events))
	for i, ev := range events {
		stored[i] = actorEvent{ev.actor, eventlog.Event{Type: ev.typ, Data: inspMsgpack(t, ev.data), Time: t0 + 1000*int64(i), Meta: ev.meta}}
	}
	return storeOf(t, stored)
}

// hostileCases print the hostile store.
var hostileCases = []modeCase{
	{"hostile_actors", []string{"actors"}, upTo("LAST EVENT", "2024-")},
	{"hostile_log", []string{"log", keyNewline}, upTo("DATA", "{")},
	{"hostile_log_meta", []string{"log", keyClear}, upTo("DATA", "{")},
	{"hostile_tail_all", []string{"tail", "--all", "-n", "20", "--max", "9"}, fromTimeToData},
	{"hostile_verify", []string{"verify", "--all"}, upTo("bad_data")},
	{"hostile_replay", []string{"replay", keyClear}, nil},
	{"hostile_replay_chat", []string{"replay", roomRTL, "--state"}, nil},
	{"hostile_state", []string{"state", roomRTL}, nil},
	{"hostile_diff", []string{"diff", roomRTL, "0", "2"}, nil},
	{"hostile_err_range", []string{"log", keyRTL, "--from", "5"}, nil},
	{"hostile_err_unknown", []string{"state", keyClear + "\x1b[0m"}, nil},
}

// checkPrintable fails unless out holds only graphic characters and line
// feeds, and each line feed ends a line of the output: nothing a terminal
// would obey.
func checkPrintable(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if i := strings.IndexFunc(line, func(r rune) bool { return !unicode.IsGraphic(r) }); i >= 0 {
			t.Errorf("a character that is not graphic, %q, in the line %q of:\n%s", []rune(line[i:])[0], line, out)
		}
	}
}

// TestInspect_HostileStore prints a store whose keys, event types,
// metadata and data would move the cursor, clear the screen, fake lines
// and reverse text on a terminal: each command escapes them, and its
// columns line up, offline and online alike.
func TestInspect_HostileStore(t *testing.T) {
	narrowAmbiguous(t)
	checkModes(t, hostileDir(t), hostileCases, checkPrintable)
}

// TestInspect_HostileBytes: an event type and metadata that are not UTF-8
// print with each such byte escaped. Offline only: a server's JSON holds
// U+FFFD in their place.
func TestInspect_HostileBytes(t *testing.T) {
	e := eventlog.Event{Type: "bad\xff\x1b", Data: inspMsgpack(t, seed.CountUpdated{Count: 1, LastUpdated: t0}), Time: t0, Meta: eventlog.Metadata{Causation: "inc\xc3", CorrelationID: "\xed\xa0\x80"}}
	dir := storeOf(t, []actorEvent{{"counter:bytes", e}})
	for _, args := range [][]string{{"log", "counter:bytes"}, {"verify", "--all"}} {
		got := runInsp(append(args, "--data", dir), dir, "")
		checkGolden(t, "hostile_bytes_"+args[0], got)
		checkPrintable(t, got)
	}
}

// TestInspect_HostileFileNames: names of files and directories, which
// commands print, are escaped too.
func TestInspect_HostileFileNames(t *testing.T) {
	tmp := t.TempDir()
	dir := fixtureIn(t, filepath.Join(tmp, "data\x1b[2J\nx"))
	out := filepath.Join(tmp, "out\u202e.ndjson")
	var got strings.Builder
	for _, args := range [][]string{
		{"info", "--data", dir},
		{"tail", "counter:other", "-n", "1", "--data", dir},
		{"export", "counter:other", "--data", dir, "--out", out},
		{"import", "--data", filepath.Join(tmp, "copy\r"), out},
		{"log", "counter:other", "--data", filepath.Join(tmp, "missing\x1b[8m")},
	} {
		got.WriteString(strings.ReplaceAll(runInsp(args, "", ""), tmp, "$TMP"))
	}
	checkGolden(t, "hostile_file_names", got.String())
	checkPrintable(t, got.String())
}
