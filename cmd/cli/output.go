package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/mattn/go-runewidth"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// This file holds how the inspection commands print: to a terminal with
// colour and columns measured in screen cells, or plainly to a pipe; and
// the progress bar of long commands.

// output writes to stdout, with colour when it is a terminal.
type output struct {
	w     io.Writer
	color bool
	json  bool
}

func (c *common) output() *output {
	o := &output{w: c.stdout, json: c.json}
	switch c.color {
	case "always":
		o.color = true
	case "auto":
		o.color = isTerminal(c.stdout) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	}
	return o
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ANSI styles.
const (
	bold   = "1"
	dim    = "2"
	red    = "31"
	green  = "32"
	yellow = "33"
	cyan   = "36"
)

// paint returns s in the style, if colour is on.
func (o *output) paint(style, s string) string {
	if !o.color || s == "" {
		return s
	}
	return "\x1b[" + style + "m" + s + "\x1b[0m"
}

func (o *output) printf(format string, args ...any) { fmt.Fprintf(o.w, format, args...) }

// cells measures text in the columns of a terminal: two for a wide (East
// Asian) character, none for a combining mark. Characters of ambiguous
// width, such as Cyrillic letters, take two in a CJK locale (LC_ALL,
// LC_CTYPE or LANG; RUNEWIDTH_EASTASIAN=0 or 1 decides instead).
var cells = runewidth.NewCondition()

// width returns how many columns of a terminal s takes.
func width(s string) int { return cells.StringWidth(s) }

// pad returns s padded with spaces to w columns, on the right (or the
// left when right is true).
func pad(s string, w int, right bool) string {
	if right {
		return cells.FillLeft(s, w)
	}
	return cells.FillRight(s, w)
}

// formatTime formats Unix milliseconds in UTC.
func formatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// eventLine prints one event as log and tail show it.
type eventLine struct {
	o         *output
	seqWidth  int
	typeWidth int
	actor     bool // print the actor first (tail --all)
}

func newEventLine(o *output, head uint64, def actors.Definition) *eventLine {
	l := &eventLine{o: o, seqWidth: max(3, len(strconv.FormatUint(head, 10))), typeWidth: 12}
	if def != nil {
		for _, t := range def.EventTypes() {
			l.typeWidth = max(l.typeWidth, width(t))
		}
	}
	return l
}

func (l *eventLine) header() {
	o := l.o
	h := pad("SEQ", l.seqWidth, true) + "  " + pad("TIME", 24, false) + "  " + pad("TYPE", l.typeWidth, false) + "  DATA"
	if l.actor {
		h = "ACTOR  " + h
	}
	o.printf("%s\n", o.paint(bold, h))
}

func (l *eventLine) print(e *wire.Event) {
	o := l.o
	if o.json {
		printJSON(o.w, e)
		return
	}
	var b strings.Builder
	if l.actor {
		b.WriteString(o.paint(cyan, escape(e.Actor)) + "  ")
	}
	b.WriteString(o.paint(bold, pad(strconv.FormatUint(e.Seq, 10), l.seqWidth, true)))
	b.WriteString("  " + o.paint(dim, formatTime(e.Time)))
	b.WriteString("  " + o.paint(yellow, pad(escape(e.Type), l.typeWidth, false)))
	b.WriteString("  " + string(readable(e.Data)))
	if m := metaText(e.Meta); m != "" {
		b.WriteString("  " + o.paint(dim, "["+m+"]"))
	}
	o.printf("%s\n", b.String())
}

// metaText is the event's metadata as log, tail and replay print it,
// escaped.
func metaText(m *wire.Meta) string {
	if m == nil {
		return ""
	}
	var parts []string
	if m.Causation != "" {
		parts = append(parts, escape(m.Causation))
	}
	if m.CorrelationID != "" {
		parts = append(parts, "corr="+escape(m.CorrelationID))
	}
	if m.IdempotencyKey != "" {
		parts = append(parts, "idem="+escape(m.IdempotencyKey))
	}
	return strings.Join(parts, " ")
}

// progress shows how far a long operation got, as a bar on stderr when it
// is a terminal, redrawn at most ten times a second. The bar clears itself
// when it is full, and end clears it.
type progress struct {
	w     io.Writer
	on    bool
	mu    sync.Mutex // import reports from several goroutines
	bar   *progressbar.ProgressBar
	label string
	total uint64
}

func newProgress(stderr io.Writer) *progress { return &progress{w: stderr, on: isTerminal(stderr)} }

// update shows that done of total are done; a new label or total starts a
// new bar.
func (p *progress) update(label string, done, total uint64) {
	if !p.on || total == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil || label != p.label || total != p.total {
		p.clear()
		p.bar = progressbar.NewOptions64(int64(total),
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		p.label, p.total = label, total
	}
	p.bar.Set64(int64(min(done, total)))
}

// end clears the bar.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *progress) clear() {
	if p.bar != nil {
		p.bar.Finish() // clears it (OptionClearOnFinish)
		p.bar = nil
	}
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printIndented writes JSON indented, as state shows it.
func printIndented(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, readable(raw), "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// readable returns JSON text for people to read, meaning the same JSON:
// encoding/json's escapes of <, > and & undone, and every character that
// escape would escape written as a JSON escape instead, so that no control
// or format character reaches a terminal: \u007f, \u202e, \u2028, a
// character beyond the BMP as its UTF-16 pair, and a byte that is not
// UTF-8 as \ufffd (as encoding/json writes one). Text holding control
// bytes is compacted first: tabs, line feeds and carriage returns between
// values are JSON whitespace, which a terminal would obey.
func readable(b []byte) []byte {
	if plainJSON(b) {
		return b
	}
	if bytes.ContainsFunc(b, func(r rune) bool { return r < ' ' }) {
		var c bytes.Buffer
		if json.Compact(&c, b) == nil {
			b = c.Bytes()
		}
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		if b[i] == '\\' && i+1 < len(b) {
			if u := unescapeHTML(b[i:]); u != 0 {
				out, i = append(out, u), i+6
				continue
			}
			// Any other escape: keep the pair.
			out, i = append(out, b[i], b[i+1]), i+2
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if !graphic(r, n) {
			out = appendJSONEscape(out, r)
		} else {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}

// plainJSON reports whether readable leaves b as it is: printable ASCII
// without encoding/json's escapes of <, > and &.
func plainJSON(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return !bytes.Contains(b, []byte(`\u00`))
}

// unescapeHTML returns the character that the escape at the start of b
// stands for if it is encoding/json's \u003c, \u003e or \u0026, else 0.
func unescapeHTML(b []byte) byte {
	if len(b) < 6 || b[1] != 'u' {
		return 0
	}
	switch string(b[2:6]) {
	case "003c":
		return '<'
	case "003e":
		return '>'
	case "0026":
		return '&'
	}
	return 0
}

// appendJSONEscape appends r as a JSON escape: \uXXXX, or a UTF-16
// surrogate pair; utf8.RuneError (a byte that is not UTF-8) as \ufffd.
func appendJSONEscape(b []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	r1, r2 := utf16.EncodeRune(r)
	if r1 == unicode.ReplacementChar {
		r1, r2 = r, -1
	}
	for _, u := range []rune{r1, r2} {
		if u >= 0 {
			b = append(b, '\\', 'u', hex[u>>12&0xf], hex[u>>8&0xf], hex[u>>4&0xf], hex[u&0xf])
		}
	}
	return b
}

// escape returns s as it may be printed to a terminal: the characters that
// unicode.IsGraphic calls graphic (letters of any script, marks, digits,
// punctuation, symbols, emoji and spaces) as they are, and the others
// escaped as in a Go string literal: control characters (\x1b, \n, \x7f,
// \u0085), format characters (\u202e, \u200b), line and paragraph
// separators (\u2028); and each byte that is not UTF-8 as \xff. A
// backslash is doubled only where it would read as the start of such an
// escape: before a backslash, one of a b f n r t v x u U, or a character
// that is escaped. So every string prints differently, and text with
// nothing to escape prints as it is. Keys, event types, metadata and the
// messages of the store or a server go through escape; JSON through
// readable.
func escape(s string) string {
	var b []byte // nil until something is escaped
	done := 0    // s[:done] is in b
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\\':
			if escapeAfter(s[i+1:]) {
				b = append(append(b, s[done:i]...), '\\', '\\')
				done = i + 1
			}
		case !graphic(r, n):
			// Escape the run of characters to escape, which holds no
			// quote or backslash, with strconv; then drop its quotes.
			j := i + n
			for j < len(s) {
				r, n := utf8.DecodeRuneInString(s[j:])
				if graphic(r, n) {
					break
				}
				j += n
			}
			b = append(b, s[done:i]...)
			at := len(b)
			b = strconv.AppendQuoteToGraphic(b, s[i:j])
			b = append(b[:at], b[at+1:len(b)-1]...)
			i, done, n = j, j, 0
		}
		i += n
	}
	if b == nil {
		return s
	}
	return string(append(b, s[done:]...))
}

// escapeAfter reports whether a backslash followed by s must be doubled to
// not read as the start of an escape.
func escapeAfter(s string) bool {
	if s == "" {
		return false
	}
	if strings.IndexByte(`\abfnrtvxuU`, s[0]) >= 0 {
		return true
	}
	return !graphic(utf8.DecodeRuneInString(s))
}

// graphic reports whether the character r, decoded from n bytes, prints as
// itself: it is graphic and not a byte that is not UTF-8.
func graphic(r rune, n int) bool {
	return unicode.IsGraphic(r) && !(r == utf8.RuneError && n == 1)
}
