package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/actorlog/actorlog/verify"
	"github.com/mattn/go-runewidth"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// This file holds what the inspection commands (actors, log, state,
// replay, diff, tail, verify, export) share: the --data/--server choice,
// output to a terminal or a pipe, and the parsing of actors and sequences.

// source is what the inspection commands read: a data directory opened
// read-only (local) or a running server (remote). Both give the same
// answers, so that each command prints the same thing in both modes.
type source interface {
	// listActors calls fn for each actor of type typ (every type if
	// empty), in order of type and key.
	listActors(ctx context.Context, typ string, fn func(*wire.ActorInfo) error) error
	// head returns the actor's stream record; Head 0 if it has no events.
	head(ctx context.Context, id eventlog.ID) (eventlog.StreamInfo, error)
	// history calls fn for the actor's events from from to to (0: the
	// head), as the history API shows them.
	history(ctx context.Context, id eventlog.ID, from, to uint64, fn func(*wire.Event) error) error
	// events calls fn for the stored events of the actor from from to to
	// (0: the end), or of the global feed when id is zero.
	events(ctx context.Context, id eventlog.ID, from, to uint64, fn func(*eventlog.Event) error) error
	// stateAt returns the actor's state as JSON at sequence at (1 or more).
	stateAt(ctx context.Context, id eventlog.ID, at uint64) ([]byte, error)
	// durable returns the last position of the global feed.
	durable(ctx context.Context) (uint64, error)
	// follow is events without an end: it waits for new events until ctx
	// ends. A local source sees no new events (the directory is locked
	// against writers while it is open): follow returns errNotLive.
	follow(ctx context.Context, id eventlog.ID, from uint64, fn func(*eventlog.Event) error) error
	// verify checks the store (package verify).
	verify(ctx context.Context, id eventlog.ID, progress func(verify.Progress)) (*verify.Report, error)
	close() error
}

var errNotLive = errors.New("not live")

// common are the flags every inspection command takes.
type common struct {
	name   string
	ctx    context.Context // the command's, for the source's calls
	fs     *flag.FlagSet
	data   string
	server string
	token  string
	json   bool
	color  string
	stdout io.Writer
	stderr io.Writer
}

func newCommon(name string, stdout, stderr io.Writer) *common {
	c := &common{name: name, ctx: context.Background(), fs: newFlags(name, stderr), stdout: stdout, stderr: stderr}
	c.fs.StringVar(&c.data, "data", "./data", "data directory to read, opened read-only (offline mode)")
	c.fs.StringVar(&c.server, "server", "", "URL of a running server to read through its API (online mode), such as http://localhost:3001")
	c.fs.StringVar(&c.token, "token", os.Getenv("ACTORLOG_TOKEN"), "bearer token for --server (env ACTORLOG_TOKEN)")
	c.fs.BoolVar(&c.json, "json", false, "machine-readable output: JSON, or one JSON object per line for lists")
	c.fs.StringVar(&c.color, "color", "auto", "colour: auto (on a terminal, unless NO_COLOR is set), always or never")
	return c
}

// parse parses the flags, which may come before, between or after the
// positional arguments, and returns the positional arguments.
func (c *common) parse(args []string, minArgs, maxArgs int, usage string) ([]string, error) {
	c.fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: actorlog %s %s\n\nflags:\n", c.name, usage)
		c.fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := parse(c.fs, args); err != nil {
			return nil, err
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case c.color != "auto" && c.color != "always" && c.color != "never":
		return nil, c.usageErr("--color must be auto, always or never, not %q", c.color)
	case len(pos) < minArgs:
		return nil, c.usageErr("missing arguments; usage: actorlog %s %s", c.name, usage)
	case maxArgs >= 0 && len(pos) > maxArgs:
		return nil, c.usageErr("unexpected argument %q; usage: actorlog %s %s", pos[maxArgs], c.name, usage)
	}
	if c.server != "" && c.isSet("data") {
		return nil, c.usageErr("--data and --server are exclusive: read a directory or a server")
	}
	return pos, nil
}

// seqFlags declares --from and --to, the range of an actor's events that
// a command shows: verb says what it does with them, and fromNote is added
// to the usage of --from.
func (c *common) seqFlags(verb, fromNote string) (from, to *uint64) {
	from = c.fs.Uint64("from", 0, "first sequence to "+verb+" (default: the first)"+fromNote)
	to = c.fs.Uint64("to", 0, "last sequence to "+verb+" (default: the head)")
	return from, to
}

func (c *common) isSet(name string) bool {
	set := false
	c.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// usageErr reports a usage error in one line and returns errUsage (exit
// status 2).
func (c *common) usageErr(format string, args ...any) error {
	fmt.Fprintf(c.stderr, "actorlog %s: %s\n", c.name, fmt.Sprintf(format, args...))
	return errUsage
}

// actorOrAll reads the optional <type:key> of a command that also takes
// --all: exactly one of them must be given. With --all the ID is zero.
func (c *common) actorOrAll(pos []string, all bool) (eventlog.ID, error) {
	if all == (len(pos) == 1) {
		return eventlog.ID{}, c.usageErr("name an actor or pass --all")
	}
	if all {
		return eventlog.ID{}, nil
	}
	return parseActor(pos[0])
}

// actorArgs is the command line of an inspection command on one actor,
// named first, or on every actor with --all: what openActor reads and
// checks.
type actorArgs struct {
	usage string
	more  int    // positional arguments after <type:key>
	all   string // the usage of --all, for a command that takes it in place of an actor
	def   bool   // the actor's type must be registered
	fresh bool   // an actor without events will do (if its type is registered)
	// flagsOK checks the command's flags, right after they are parsed.
	flagsOK func() error
	// argsOK checks the rest of the command line once the actor is read,
	// before the source is opened.
	argsOK func(pos []string) error
}

// target is what an inspection command works on, once openActor has read
// its command line and opened the source. The caller closes src.
type target struct {
	pos []string            // the positional arguments
	all bool                // --all
	id  eventlog.ID         // zero with --all
	def actors.Definition   // the type's; nil with --all or an unregistered type
	src source              // open
	st  eventlog.StreamInfo // the actor's stream record; zero with --all
}

// openActor parses the command line, reads the actor (or --all), checks
// what the command asks, opens the source and looks the actor up in it:
// it must have events unless a.fresh. Each step reports its own error in
// one line, in this order.
func (c *common) openActor(args []string, a actorArgs) (*target, error) {
	t := &target{}
	minArgs, maxArgs := 1+a.more, 1+a.more
	if a.all != "" {
		c.fs.BoolVar(&t.all, "all", false, a.all)
		minArgs, maxArgs = 0, 1
	}
	var err error
	if t.pos, err = c.parse(args, minArgs, maxArgs, a.usage); err != nil {
		return nil, err
	}
	if a.flagsOK != nil {
		if err := a.flagsOK(); err != nil {
			return nil, err
		}
	}
	if a.all != "" {
		t.id, err = c.actorOrAll(t.pos, t.all)
	} else {
		t.id, err = parseActor(t.pos[0])
	}
	if err != nil {
		return nil, err
	}
	if a.def {
		t.def, err = definition(t.id)
	} else {
		t.def, _ = registry.Lookup(t.id.Type)
	}
	if err != nil {
		return nil, err
	}
	if a.argsOK != nil {
		if err := a.argsOK(t.pos); err != nil {
			return nil, err
		}
	}
	if t.src, err = c.open(); err != nil {
		return nil, err
	}
	switch {
	case t.id == (eventlog.ID{}):
	case a.fresh:
		t.st, err = t.src.head(c.ctx, t.id)
		if err == nil && !t.st.Exists() {
			_, err = definition(t.id)
		}
	default:
		t.st, err = existing(c.ctx, t.src, t.id)
	}
	if err != nil {
		t.src.close()
		return nil, err
	}
	return t, nil
}

// open opens the source the flags name.
func (c *common) open() (source, error) {
	if c.server != "" {
		return newRemote(c.server, c.token)
	}
	return openLocal(c.data)
}

func openLocal(dir string) (*local, error) {
	l, err := eventlog.Open(dir, eventlog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		return nil, openError(dir, err)
	}
	return &local{log: l, snaps: snapshots.New(l, snapshots.Options{})}, nil
}

// openError turns the log's open errors into one line saying what to do.
func openError(dir string, err error) error {
	switch {
	case errors.Is(err, eventlog.ErrLocked):
		return fmt.Errorf("data directory %s is in use by a running server; read it through the server with --server URL", dir)
	case errors.Is(err, os.ErrNotExist), errors.Is(err, eventlog.ErrNoStore):
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return fmt.Errorf("data directory %s holds no actorlog store", dir)
		}
		return fmt.Errorf("data directory %s does not exist", dir)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("data directory %s is not readable: permission denied", dir)
	}
	var ce *eventlog.CorruptionError
	if errors.As(err, &ce) {
		return fmt.Errorf("data directory %s: corrupt data: %v", dir, ce.Err)
	}
	return err
}

// parseActor parses a "type:key" argument.
func parseActor(s string) (eventlog.ID, error) {
	id, err := eventlog.ParseID(s)
	var ie *eventlog.IDError
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, eventlog.ErrInvalidID):
		return id, fmt.Errorf("%q is not an actor: write type:key, such as counter:default", s)
	case errors.As(err, &ie):
		return id, fmt.Errorf("%q is not an actor: %s", s, ie.Message())
	}
	return id, err
}

var registry = seed.Registry()

// definition returns the registered definition of the actor's type.
func definition(id eventlog.ID) (actors.Definition, error) {
	def, ok := registry.Lookup(id.Type)
	if !ok {
		return nil, fmt.Errorf("unknown actor type %q; the types are %s", id.Type, strings.Join(registry.Types(), ", "))
	}
	return def, nil
}

// existing returns the actor's stream record, or an error if it has no
// events.
func existing(ctx context.Context, src source, id eventlog.ID) (eventlog.StreamInfo, error) {
	st, err := src.head(ctx, id)
	if err != nil {
		return st, err
	}
	if !st.Exists() {
		if _, ok := registry.Lookup(id.Type); !ok {
			return st, fmt.Errorf("unknown actor %s: no events, and %q is not a registered type (%s)", id, id.Type, strings.Join(registry.Types(), ", "))
		}
		return st, fmt.Errorf("unknown actor %s: it has no events", id)
	}
	if st.Len() == 0 {
		return st, fmt.Errorf("%s has no events left: the %d it had were erased", id, st.Head)
	}
	return st, nil
}

// checkSeq reports a sequence outside the actor's stored events.
func checkSeq(st eventlog.StreamInfo, what string, seq uint64) error {
	if seq < st.First || seq > st.Head {
		return fmt.Errorf("%s %d is out of range: %s has seqs %d to %d", what, seq, st.Actor, st.First, st.Head)
	}
	return nil
}

// parseSeq parses a sequence argument.
func parseSeq(what, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s must be a sequence number, not %q", what, s)
	}
	return n, nil
}

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

// parseTime parses RFC 3339 or Unix milliseconds.
func parseTime(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("--at-time %q is not a time: write RFC 3339 (2024-05-01T12:00:00Z) or Unix milliseconds", s)
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
		b.WriteString(o.paint(cyan, e.Actor) + "  ")
	}
	b.WriteString(o.paint(bold, pad(strconv.FormatUint(e.Seq, 10), l.seqWidth, true)))
	b.WriteString("  " + o.paint(dim, formatTime(e.Time)))
	b.WriteString("  " + o.paint(yellow, pad(e.Type, l.typeWidth, false)))
	b.WriteString("  " + string(readable(e.Data)))
	if m := metaText(e.Meta); m != "" {
		b.WriteString("  " + o.paint(dim, "["+m+"]"))
	}
	o.printf("%s\n", b.String())
}

func metaText(m *wire.Meta) string {
	if m == nil {
		return ""
	}
	var parts []string
	if m.Causation != "" {
		parts = append(parts, m.Causation)
	}
	if m.CorrelationID != "" {
		parts = append(parts, "corr="+m.CorrelationID)
	}
	if m.IdempotencyKey != "" {
		parts = append(parts, "idem="+m.IdempotencyKey)
	}
	return strings.Join(parts, " ")
}

// eventJSON converts a stored event as the history API does, with its
// actor.
func eventJSON(e *eventlog.Event) (*wire.Event, error) {
	j, err := wire.NewEvent(e)
	if err != nil {
		return nil, err
	}
	j.Actor = e.Actor.String()
	return &j, nil
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

// readable undoes encoding/json's escapes of <, > and & in JSON text, for
// people to read; the JSON means the same.
func readable(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		if i+5 < len(b) && b[i+1] == 'u' {
			switch string(b[i+2 : i+6]) {
			case "003c":
				out, i = append(out, '<'), i+5
				continue
			case "003e":
				out, i = append(out, '>'), i+5
				continue
			case "0026":
				out, i = append(out, '&'), i+5
				continue
			}
		}
		// Any other escape: keep the pair.
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}
