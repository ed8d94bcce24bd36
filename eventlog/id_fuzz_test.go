package eventlog

import (
	"bytes"
	"testing"
)

// FuzzParseID checks the "type:key" parser and the key encoding on
// arbitrary text: a parsed id validates, prints back as the input, and
// encodes to bytes that decode to it and that no other id shares.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"counter:default", "chatRoom:lobby:2", "a:\x00", "a:b\x00c", ":x", "x:", "9a:b", "a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("ParseID(%q) = %v, which does not validate: %v", s, id, err)
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q).String() = %q", s, id.String())
		}
		enc := AppendKey(nil, id)
		got, rest, err := DecodeKey(enc)
		if err != nil || got != id || len(rest) != 0 {
			t.Fatalf("DecodeKey(AppendKey(%q)) = %v, %q, %v", id, got, rest, err)
		}
		other := ID{Type: id.Type, Key: id.Key + "\x00"}
		if bytes.HasPrefix(AppendKey(nil, other), enc) {
			t.Fatalf("the encoding of %q is a prefix of %q's", id, other)
		}
	})
}
