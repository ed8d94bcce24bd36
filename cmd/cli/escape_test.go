package cli

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// escapeCases are strings a store may hold, and how escape prints them.
var escapeCases = []struct{ in, want string }{
	{"", ""},
	{"counter:default", "counter:default"},
	{"a b/é 100%", "a b/é 100%"},
	{`say "hi"`, `say "hi"`},
	// Letters of any script, symbols and emoji are printable.
	{"ключ", "ключ"},
	{"数据更新", "数据更新"},
	{"☃", "☃"},
	{"😀👍🏽❤️", "😀👍🏽❤️"},
	{"a\u00a0b\u3000c", "a\u00a0b\u3000c"}, // spaces of other widths
	{"e\u0301", "e\u0301"},                 // a combining mark
	// C0 controls, as Go writes them.
	{"\x1b[2J\x1b[Hpwned", `\x1b[2J\x1b[Hpwned`},
	{"evil\nfake line", `evil\nfake line`},
	{"a\rb\bc\td\ae\ff\vg", `a\rb\bc\td\ae\ff\vg`},
	{"\x00\x01\x1f", `\x00\x01\x1f`},
	// DEL and the C1 controls.
	{"\x7f", `\x7f`},
	{"\u0080\u0085\u009b[2J\u009f", `\u0080\u0085\u009b[2J\u009f`},
	// Format characters: bidirectional overrides and isolates, zero-width
	// characters, the byte order mark, the soft hyphen, a tag.
	{"\u202eevil", `\u202eevil`},
	{"\u202d\u2066\u2067\u2068\u2069", `\u202d\u2066\u2067\u2068\u2069`},
	{"a\u200bb\u200cc\u200dd", `a\u200bb\u200cc\u200dd`},
	{"\ufeff\u00ad", `\ufeff\u00ad`},
	{"\U000e0001", `\U000e0001`},
	// Line and paragraph separators.
	{"a\u2028b\u2029c", `a\u2028b\u2029c`},
	// Bytes that are not UTF-8: each on its own. U+FFFD itself prints.
	{"\xff", `\xff`},
	{"ok\xc3", `ok\xc3`},
	{"\xed\xa0\x80", `\xed\xa0\x80`},
	{"\ufffd", "\ufffd"},
	// A backslash is doubled only where it would start an escape.
	{`C:\data\dir`, `C:\data\dir`},
	{`end\`, `end\`},
	{`\"`, `\"`},
	{`a\x1b`, `a\\x1b`},
	{`\n\u202e`, `\\n\\u202e`},
	{`a\\d`, `a\\\d`},
	{`a\\\n`, `a\\\\\\n`},
	{"\\\x1b", `\\\x1b`},
	{"\\\xff", `\\\xff`},
}

func TestEscape(t *testing.T) {
	for _, c := range escapeCases {
		if got := escape(c.in); got != c.want {
			t.Errorf("escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// unescape reads back what escape printed: a backslash followed by one of
// the letters of Go's escapes, or by another backslash, starts one; any
// other is itself.
func unescape(s string) (string, error) {
	var b strings.Builder
	for s != "" {
		if len(s) > 1 && s[0] == '\\' && strings.IndexByte(`\abfnrtvxuU`, s[1]) >= 0 {
			r, multibyte, tail, err := strconv.UnquoteChar(s, 0)
			if err != nil {
				return "", err
			}
			if multibyte {
				b.WriteRune(r)
			} else {
				b.WriteByte(byte(r))
			}
			s = tail
			continue
		}
		b.WriteByte(s[0])
		s = s[1:]
	}
	return b.String(), nil
}

// FuzzEscape checks that escape prints only graphic characters and that
// what it prints reads back as the string: no two strings print alike.
func FuzzEscape(f *testing.F) {
	for _, c := range escapeCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := escape(s)
		if i := strings.IndexFunc(got, func(r rune) bool { return !unicode.IsGraphic(r) }); i >= 0 || !utf8.ValidString(got) {
			t.Fatalf("escape(%q) = %q holds a character that is not graphic, or not UTF-8", s, got)
		}
		back, err := unescape(got)
		if err != nil || back != s {
			t.Fatalf("escape(%q) = %q, which reads back as %q (%v)", s, got, back, err)
		}
	})
}

func TestEscape_JSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"count":1,"lastUpdated":1714564800000}`, `{"count":1,"lastUpdated":1714564800000}`},
		{`{"text":"hello \u003cbob\u003e \u0026 all"}`, `{"text":"hello <bob> & all"}`},
		{`{"k":"\\u003c"}`, `{"k":"\\u003c"}`},
		{`{"k":"\u001b[2J\n\"\\"}`, `{"k":"\u001b[2J\n\"\\"}`},
		{`{"k":"ключ 数据 ☃ 😀"}`, `{"k":"ключ 数据 ☃ 😀"}`},
		// Characters encoding/json leaves as they are.
		{"{\"k\":\"\u202eevil\"}", `{"k":"\u202eevil"}`},
		{"{\"k\":\"\x7f\u0085\u009b\"}", `{"k":"\u007f\u0085\u009b"}`},
		{"{\"k\":\"a\u200bb\u200dc\ufeff\"}", `{"k":"a\u200bb\u200dc\ufeff"}`},
		{"{\"k\":\"\U000e0001\"}", `{"k":"\udb40\udc01"}`},
		// Characters it escapes, which a server may send as they are.
		{"{\"k\":\"a\u2028b\u2029\"}", `{"k":"a\u2028b\u2029"}`},
		{"{\"k\":\"\xff\"}", `{"k":"\ufffd"}`},
		{"{\"\u202e\":1}", `{"\u202e":1}`},
		// Spaces between values are dropped; other controls, which are
		// not JSON, escaped.
		{"{\"a\":\r\n\t1}", `{"a":1}`},
		{"{\"a\":\r1,\x1b\"b\":2}", `{"a":\u000d1,\u001b"b":2}`},
	} {
		got := string(readable([]byte(c.in)))
		if got != c.want {
			t.Errorf("readable(%q) = %q, want %q", c.in, got, c.want)
		}
		for _, r := range got {
			if !unicode.IsGraphic(r) {
				t.Errorf("readable(%q) = %q holds %q", c.in, got, r)
			}
		}
		// It means the same.
		if json.Valid([]byte(c.in)) && utf8.ValidString(c.in) {
			var a, b any
			if err := json.Unmarshal([]byte(c.in), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(got), &b); err != nil || !reflect.DeepEqual(a, b) {
				t.Errorf("readable(%q) = %q, which reads as %v (%v), not %v", c.in, got, b, err, a)
			}
		}
	}
}
