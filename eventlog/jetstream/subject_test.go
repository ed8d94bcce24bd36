package jetstream

import (
	"bytes"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/eventlog"
)

func TestKeyToken(t *testing.T) {
	for _, tc := range []struct{ key, token string }{
		{"a", "a"},
		{"user-42_x", "user-42_x"},
		{"a.b", "~YS5i"},
		{"*", "~Kg"},
		{">", "~Pg"},
		{"a b", "~YSBi"},
		{"~", "~fg"},
		{"é", "~w6k"},
	} {
		if got := keyToken(tc.key); got != tc.token {
			t.Errorf("keyToken(%q) = %q, want %q", tc.key, got, tc.token)
		}
		if got, err := decodeKeyToken(tc.token); err != nil || got != tc.key {
			t.Errorf("decodeKeyToken(%q) = %q, %v; want %q", tc.token, got, err, tc.key)
		}
	}
	for _, tok := range []string{"", "~YQ", "a.b", "~!!", "~YS5i="} {
		if got, err := decodeKeyToken(tok); err == nil {
			t.Errorf("decodeKeyToken(%q) = %q, want an error", tok, got)
		}
	}
}

// FuzzSubjects: every actor key has one subject token, made of subject
// characters only, that decodes back to it, and every token that decodes
// is the one its key makes; record keys round-trip through their
// subjects. Tokens and subjects come from the stream: outside bytes.
func FuzzSubjects(f *testing.F) {
	for _, s := range []string{"a", "a.b", "~YS5i", "~YQ", "*", ">", "a b", "é", "\x00", "20.61.="} {
		f.Add(s)
	}
	sj := subjects{prefix: "p"}
	f.Fuzz(func(t *testing.T, s string) {
		tok := keyToken(s)
		if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") {
			t.Fatalf("keyToken(%q) = %q, not one subject token", s, tok)
		}
		if got, err := decodeKeyToken(tok); err != nil || got != s {
			t.Fatalf("decodeKeyToken(keyToken(%q)) = %q, %v", s, got, err)
		}
		if got, err := decodeKeyToken(s); err == nil && keyToken(got) != s {
			t.Fatalf("decodeKeyToken(%q) = %q, whose token is %q", s, got, keyToken(got))
		}
		if id := (eventlog.ID{Type: "t", Key: s}); id.Validate() == nil {
			got, isEvent, err := sj.parseActor(sj.events(id))
			if err != nil || got != id || !isEvent {
				t.Fatalf("parseActor(events(%v)) = %v, %v, %v", id, got, isEvent, err)
			}
		}
		if len(s) <= MaxRecordKey {
			key := []byte(s)
			got, err := sj.parseRecord(eventlog.FirstSpace, sj.record(eventlog.FirstSpace, key))
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("parseRecord(record(%q)) = %q, %v", key, got, err)
			}
		}
		// Whatever a subject holds, parsing it does not panic.
		sj.parseActor("p.a." + s)
		sj.parseRecord(eventlog.FirstSpace, "p.r.20."+s)
	})
}
