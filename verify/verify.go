// Package verify checks an actorlog store: that every stream is gapless,
// every event decodes (envelope and data), the global feed agrees with the
// streams, and every snapshot equals the state that replaying the events
// produces. It reads only, through the public APIs of eventlog, snapshots
// and actors, so it may run beside a live server; it then checks the
// events that were durable when it started, and the snapshots taken up to
// them.
//
// A problem with the store is not an error: Run returns a Report listing
// each problem with the actor, sequence or position it concerns. Run
// returns an error only when it cannot read the store at all.
package verify

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/jsondiff"
	"github.com/actorlog/actorlog/snapshots"
)

// Kind classifies a problem.
type Kind string

// The kinds of problem.
const (
	// CorruptEvent: a stored event's envelope does not decode.
	CorruptEvent Kind = "corrupt_event"
	// MissingEvents: sequences absent from a stream between its first
	// stored event and its head.
	MissingEvents Kind = "missing_events"
	// BadData: an event's data is not msgpack, its type has no applier, or
	// it does not decode into the applier's type.
	BadData Kind = "bad_data"
	// Unreplayable: events were erased and no snapshot covers them, so the
	// actor's state cannot be rebuilt.
	Unreplayable Kind = "unreplayable"
	// CorruptSnapshot: a snapshot does not decode.
	CorruptSnapshot Kind = "corrupt_snapshot"
	// SnapshotDrift: a snapshot differs from the state that replaying the
	// events up to its sequence produces.
	SnapshotDrift Kind = "snapshot_drift"
	// CorruptFeed: an entry of the global feed does not decode.
	CorruptFeed Kind = "corrupt_feed"
	// FeedMismatch: the global feed and a stream disagree.
	FeedMismatch Kind = "feed_mismatch"
	// StreamRecord: a stream's record disagrees with its events.
	StreamRecord Kind = "stream_record"
)

// Problem is one thing wrong with the store.
type Problem struct {
	Kind  Kind   `json:"kind"`
	Actor string `json:"actor,omitempty"`
	// Seq is the sequence concerned; for MissingEvents the first missing,
	// with To the last; for snapshots the snapshot's sequence.
	Seq uint64 `json:"seq,omitempty"`
	To  uint64 `json:"to,omitempty"`
	// Pos is the global position concerned, if any.
	Pos uint64 `json:"pos,omitempty"`
	// Field is, for SnapshotDrift, the path of the first field that
	// differs ("" when the whole state does).
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// MaxProblems is the most problems a Report lists; it counts the rest.
const MaxProblems = 1000

// Report is the outcome of Run.
type Report struct {
	// Actors, Events and Snapshots count the streams and events read and
	// the snapshots compared with replay; FeedEvents the feed entries read.
	Actors     uint64 `json:"actors"`
	Events     uint64 `json:"events"`
	Snapshots  uint64 `json:"snapshots"`
	FeedEvents uint64 `json:"feedEvents"`
	// Durable is the last global position covered.
	Durable  uint64    `json:"durable"`
	Problems []Problem `json:"problems"`
	// Omitted counts the problems past MaxProblems.
	Omitted int `json:"omitted,omitempty"`
	// Notes are what was not checked, and why.
	Notes []string `json:"notes,omitempty"`
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Progress is what Options.Progress is told: how many of the Total events
// (or feed positions) a Phase ("streams" or "feed") has covered.
type Progress struct {
	Phase       string
	Done, Total uint64
}

// Options configure Run.
type Options struct {
	// Actor limits the check to one actor: its stream, snapshots and feed
	// entries. The zero ID checks every actor.
	Actor eventlog.ID
	// Progress, if set, is called every few thousand events.
	Progress func(Progress)
}

// ErrNoActor is returned for an Options.Actor that has no events.
var ErrNoActor = errors.New("verify: actor has no events")

// account is what is known of one stream, to compare with the feed.
type account struct {
	id             eventlog.ID
	first          uint64 // first sequence the stream holds
	firstPos       uint64 // position of the first event read
	streamN, feedN uint64
	streamH, feedH uint64
	feedNext       uint64 // next sequence expected in the feed
	broken         bool   // the stream side is incomplete: skip the comparison
	feedBad        bool   // a feed disagreement was reported already
}

// Log is what Run reads of the event log's store: the streams and the
// feed. Any eventlog.Store is one.
type Log interface {
	eventlog.StreamReader
	eventlog.FeedReader
}

type run struct {
	log   Log
	snaps *snapshots.Store
	reg   *actors.Registry
	o     Options
	rep   *Report
	seed  maphash.Seed
	accts map[eventlog.ID]*account
	notes map[string]bool
	done  uint64 // events read, for progress
	buf   []byte
}

// Run checks the store and returns its report.
func Run(ctx context.Context, log Log, snaps *snapshots.Store, reg *actors.Registry, o Options) (*Report, error) {
	r := &run{log: log, snaps: snaps, reg: reg, o: o, rep: &Report{Problems: []Problem{}}, seed: maphash.MakeSeed(), accts: map[eventlog.ID]*account{}, notes: map[string]bool{}}
	r.rep.Durable = log.Durable()
	if o.Actor != (eventlog.ID{}) {
		st, err := log.Head(ctx, o.Actor)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if !st.Exists() {
			return nil, fmt.Errorf("%w: %s", ErrNoActor, o.Actor)
		}
		if err := r.stream(ctx, st); err != nil {
			return nil, err
		}
	} else {
		var after eventlog.ID
		for {
			page, err := log.ListActors(ctx, eventlog.ListOptions{After: after, Limit: 1000})
			if err != nil {
				var ce *eventlog.CorruptionError
				if errors.As(err, &ce) {
					r.problem(Problem{Kind: StreamRecord, Actor: idString(ce.Actor), Message: "stream record does not decode: " + ce.Err.Error()})
					return r.rep, nil
				}
				return nil, fmt.Errorf("verify: list actors: %w", err)
			}
			if len(page) == 0 {
				break
			}
			for _, st := range page {
				if err := r.stream(ctx, st); err != nil {
					return nil, err
				}
			}
			after = page[len(page)-1].Actor
		}
	}
	if err := r.feed(ctx); err != nil {
		return nil, err
	}
	notes := make([]string, 0, len(r.notes))
	for n := range r.notes {
		notes = append(notes, n)
	}
	sort.Strings(notes)
	r.rep.Notes = notes
	return r.rep, nil
}

func idString(id eventlog.ID) string {
	if id.Type == "" {
		return ""
	}
	return id.String()
}

// reason is what a problem's message says of err: a *FoldError's reason,
// or the text of an error from outside the store's packages (which name
// none).
func reason(err error) string {
	var fe *actors.FoldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return err.Error()
}

func (r *run) problem(p Problem) {
	if len(r.rep.Problems) >= MaxProblems {
		r.rep.Omitted++
		return
	}
	r.rep.Problems = append(r.rep.Problems, p)
}

func (r *run) progress(phase string, done uint64) {
	if r.o.Progress != nil {
		r.o.Progress(Progress{Phase: phase, Done: done, Total: r.rep.Durable})
	}
}

// hash returns a digest of everything an event holds.
func (r *run) hash(e *eventlog.Event) uint64 {
	b := r.buf[:0]
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendUvarint(b, e.Pos)
	b = binary.AppendVarint(b, e.Time)
	for _, s := range [...]string{e.Type, e.Meta.CorrelationID, e.Meta.Causation, e.Meta.IdempotencyKey} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, e.Data...)
	r.buf = b
	return maphash.Bytes(r.seed, b)
}

// mix folds an event's digest into a stream's, in order.
func mix(h, e uint64) uint64 {
	h ^= e
	h *= 0x9E3779B97F4A7C15
	return h<<31 | h>>33
}

var errCutoff = errors.New("verify: past the durable point")

func missing(from, to uint64, suffix string) string {
	if from == to {
		return fmt.Sprintf("seq %d is missing%s", from, suffix)
	}
	return fmt.Sprintf("seqs %d to %d are missing%s", from, to, suffix)
}

// compare checks a snapshot against the folded state at its sequence.
func (r *run) compare(id eventlog.ID, def actors.Definition, f *actors.Folder, s snap) {
	r.rep.Snapshots++
	sf := actors.NewFolder(def, id)
	if err := sf.Restore(s.state, s.seq); err != nil {
		r.problem(Problem{Kind: CorruptSnapshot, Actor: id.String(), Seq: s.seq, Message: reason(err)})
		return
	}
	snapJSON, err1 := sf.StateJSON()
	replayJSON, err2 := f.StateJSON()
	if err := errors.Join(err1, err2); err != nil {
		r.problem(Problem{Kind: CorruptSnapshot, Actor: id.String(), Seq: s.seq, Message: reason(err)})
		return
	}
	changes, err := jsondiff.Diff(replayJSON, snapJSON)
	if err != nil {
		r.problem(Problem{Kind: CorruptSnapshot, Actor: id.String(), Seq: s.seq, Message: err.Error()})
		return
	}
	if len(changes) == 0 {
		return
	}
	c := changes[0]
	field := c.Path
	if field == jsondiff.RootPath {
		field = "(the whole state)"
	}
	msg := fmt.Sprintf("snapshot at seq %d disagrees with replay at %s: replay %s, snapshot %s", s.seq, field, orNone(c.Old), orNone(c.New))
	switch n := len(changes) - 1; {
	case n == 1:
		msg += " (and 1 more field)"
	case n > 1:
		msg += fmt.Sprintf(" (and %d more fields)", n)
	}
	r.problem(Problem{Kind: SnapshotDrift, Actor: id.String(), Seq: s.seq, Field: c.Path, Message: msg})
}

func orNone(b []byte) string {
	if len(b) == 0 {
		return "absent"
	}
	return string(b)
}

// feed reads the global feed and compares it with the streams read.
func (r *run) feed(ctx context.Context) error {
	var from uint64 = 1
	one := r.o.Actor != (eventlog.ID{})
	if one {
		a := r.accts[r.o.Actor]
		if a == nil || a.firstPos == 0 {
			return nil
		}
		from = a.firstPos
	}
	if from > r.rep.Durable {
		return r.compareFeed(ctx)
	}
	var done uint64
	fn := func(e *eventlog.Event) error {
		if done++; done%8192 == 0 {
			r.progress("feed", e.Pos)
		}
		if one && e.Actor != r.o.Actor {
			return nil
		}
		r.rep.FeedEvents++
		a := r.accts[e.Actor]
		if a == nil {
			r.problem(Problem{Kind: FeedMismatch, Actor: e.Actor.String(), Seq: e.Seq, Pos: e.Pos, Message: fmt.Sprintf("feed position %d holds seq %d of an actor that has no stream", e.Pos, e.Seq)})
			return nil
		}
		if e.Seq != a.feedNext && !a.feedBad && !a.broken {
			if e.Seq > a.feedNext {
				r.problem(Problem{Kind: FeedMismatch, Actor: e.Actor.String(), Seq: a.feedNext, To: e.Seq - 1, Pos: e.Pos, Message: missing(a.feedNext, e.Seq-1, fmt.Sprintf(" from the feed (position %d holds seq %d)", e.Pos, e.Seq))})
			} else {
				r.problem(Problem{Kind: FeedMismatch, Actor: e.Actor.String(), Seq: e.Seq, Pos: e.Pos, Message: fmt.Sprintf("feed position %d holds seq %d out of order (seq %d expected)", e.Pos, e.Seq, a.feedNext)})
			}
			a.feedBad = true
		}
		a.feedNext = e.Seq + 1
		a.feedN++
		a.feedH = mix(a.feedH, r.hash(e))
		return nil
	}
	for {
		err := r.log.ScanFeed(ctx, from, r.rep.Durable, fn)
		if err == nil {
			break
		}
		var ce *eventlog.CorruptionError
		if !errors.As(err, &ce) || ce.Pos < from {
			return fmt.Errorf("verify: read the feed: %w", err)
		}
		r.problem(Problem{Kind: CorruptFeed, Actor: idString(ce.Actor), Seq: ce.Seq, Pos: ce.Pos, Message: fmt.Sprintf("feed position %d does not decode: %v", ce.Pos, ce.Err)})
		if a := r.accts[ce.Actor]; a != nil {
			a.feedBad = true
		}
		from = ce.Pos + 1
		if from > r.rep.Durable {
			break
		}
	}
	r.progress("feed", r.rep.Durable)
	return r.compareFeed(ctx)
}

// maxLocate bounds the streams whose disagreement with the feed is
// located event by event.
const maxLocate = 10

func (r *run) compareFeed(ctx context.Context) error {
	ids := make([]eventlog.ID, 0, len(r.accts))
	for id, a := range r.accts {
		if !a.broken && !a.feedBad && (a.feedN != a.streamN || a.feedH != a.streamH) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].Type != ids[j].Type {
			return ids[i].Type < ids[j].Type
		}
		return ids[i].Key < ids[j].Key
	})
	for i, id := range ids {
		a := r.accts[id]
		if i >= maxLocate {
			r.problem(Problem{Kind: FeedMismatch, Actor: id.String(), Message: fmt.Sprintf("the feed holds %d events of the stream's %d, or different ones", a.feedN, a.streamN)})
			continue
		}
		if err := r.locate(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// locate finds the first event of a stream whose feed copy differs.
func (r *run) locate(ctx context.Context, a *account) error {
	errFound := errors.New("found")
	err := r.log.ScanStream(ctx, a.id, a.first, 0, func(e *eventlog.Event) error {
		if e.Pos > r.rep.Durable {
			return errCutoff
		}
		want := r.hash(e)
		seq, pos := e.Seq, e.Pos
		var got *uint64
		err := r.log.ScanFeed(ctx, pos, pos, func(fe *eventlog.Event) error {
			h := r.hash(fe)
			if fe.Actor != a.id {
				h = ^want
			}
			got = &h
			return nil
		})
		switch {
		case err != nil:
			return err
		case got == nil:
			r.problem(Problem{Kind: FeedMismatch, Actor: a.id.String(), Seq: seq, Pos: pos, Message: fmt.Sprintf("seq %d is missing from the feed (position %d is empty)", seq, pos)})
			return errFound
		case *got != want:
			r.problem(Problem{Kind: FeedMismatch, Actor: a.id.String(), Seq: seq, Pos: pos, Message: fmt.Sprintf("feed position %d differs from the stream's copy of seq %d", pos, seq)})
			return errFound
		}
		return nil
	})
	if err == nil || err == errCutoff {
		r.problem(Problem{Kind: FeedMismatch, Actor: a.id.String(), Message: fmt.Sprintf("the feed holds %d events of the stream's %d", a.feedN, a.streamN)})
		return nil
	}
	if err == errFound {
		return nil
	}
	var ce *eventlog.CorruptionError
	if errors.As(err, &ce) {
		r.problem(Problem{Kind: CorruptFeed, Actor: a.id.String(), Pos: ce.Pos, Message: fmt.Sprintf("feed position %d does not decode: %v", ce.Pos, ce.Err)})
		return nil
	}
	return fmt.Errorf("verify: %w", err)
}
