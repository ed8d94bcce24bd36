package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/actorlog/actorlog/verify"
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
	// stateAt returns the actor's state as JSON at sequence at, 0 being
	// the initial state (checkStateSeq says which sequences have one).
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
	app    *app
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

func (a *app) newCommon(name string, stdout, stderr io.Writer) *common {
	c := &common{app: a, name: name, ctx: a.ctx, fs: newFlags(name, stderr), stdout: stdout, stderr: stderr}
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
		t.def, err = c.app.definition(t.id)
	} else {
		t.def, _ = c.app.reg.Lookup(t.id.Type)
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
			_, err = c.app.definition(t.id)
		}
	default:
		t.st, err = c.app.existing(c.ctx, t.src, t.id)
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
	return c.app.openLocal(c.data)
}

func (a *app) openLocal(dir string) (*local, error) {
	l, err := eventlog.Open(dir, eventlog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		return nil, openError(dir, err)
	}
	return &local{app: a, log: l, snaps: snapshots.New(l, snapshots.Options{})}, nil
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

// definition returns the registered definition of the actor's type.
func (a *app) definition(id eventlog.ID) (actors.Definition, error) {
	def, ok := a.reg.Lookup(id.Type)
	if !ok {
		return nil, fmt.Errorf("unknown actor type %q; the types are %s", id.Type, strings.Join(a.reg.Types(), ", "))
	}
	return def, nil
}

// existing returns the actor's stream record, or an error if it has no
// events.
func (a *app) existing(ctx context.Context, src source, id eventlog.ID) (eventlog.StreamInfo, error) {
	st, err := src.head(ctx, id)
	if err != nil {
		return st, err
	}
	if !st.Exists() {
		if _, ok := a.reg.Lookup(id.Type); !ok {
			return st, fmt.Errorf("unknown actor %s: no events, and %q is not a registered type (%s)", id, id.Type, strings.Join(a.reg.Types(), ", "))
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

// checkStateSeq reports a sequence at which the actor's state cannot be
// rebuilt: one outside its stored events, except 0, the initial state,
// while the events from seq 1 are stored.
func checkStateSeq(st eventlog.StreamInfo, what string, seq uint64) error {
	if seq == 0 && st.First <= 1 {
		return nil
	}
	return checkSeq(st, what, seq)
}

// parseSeq parses a sequence argument.
func parseSeq(what, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s must be a sequence number, not %q", what, s)
	}
	return n, nil
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
