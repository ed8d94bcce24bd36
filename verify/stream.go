package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
)

// snap is a snapshot to compare with replay.
type snap struct {
	seq   uint64
	state []byte
}

// streamCheck is the check of one actor's stream and snapshots: its
// events are read in order, each checked (check), folded with the actor's
// definition and compared with the snapshots taken at it.
type streamCheck struct {
	r   *run
	st  eventlog.StreamInfo
	id  eventlog.ID
	acc *account
	def actors.Definition // nil when the type is not registered

	snaps   []snap         // the snapshots still to compare, oldest first
	f       *actors.Folder // the fold, when folding
	folding bool           // the fold is sound so far
	next    uint64         // the sequence expected next
	cutoff  bool           // the scan reached events past the durable point
	lastSeq uint64         // the last event read
	lastPos uint64
}

// stream checks one actor's stream and snapshots.
func (r *run) stream(ctx context.Context, st eventlog.StreamInfo) error {
	c := &streamCheck{r: r, st: st, id: st.Actor, next: st.First}
	c.acc = &account{id: c.id, first: st.First, feedNext: st.First}
	r.rep.Actors++
	r.accts[c.id] = c.acc
	if st.Len() == 0 {
		return nil
	}
	if def, ok := r.reg.Lookup(c.id.Type); ok {
		c.def = def
	} else {
		r.notes[fmt.Sprintf("actor type %q is not registered: the data of its events, its states and its snapshots were not checked", c.id.Type)] = true
	}
	if err := c.loadSnapshots(ctx); err != nil {
		return err
	}
	c.startFold()
	if err := c.scan(ctx); err != nil {
		return err
	}
	c.finish()
	return nil
}

func (c *streamCheck) problem(p Problem) {
	p.Actor = c.id.String()
	c.r.problem(p)
}

// loadSnapshots lists the actor's snapshots, reports those that do not
// decode or lie beyond the head, and keeps the ones to compare.
func (c *streamCheck) loadSnapshots(ctx context.Context) error {
	if c.r.snaps == nil {
		return nil
	}
	infos, err := c.r.snaps.List(ctx, c.id)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for _, in := range infos {
		switch {
		case in.Err != nil:
			c.problem(Problem{Kind: CorruptSnapshot, Seq: in.Seq, Message: fmt.Sprintf("snapshot at seq %d does not decode: %v", in.Seq, in.Err)})
		case in.Seq > c.st.Head:
			c.problem(Problem{Kind: CorruptSnapshot, Seq: in.Seq, Message: fmt.Sprintf("snapshot at seq %d is beyond the head %d", in.Seq, c.st.Head)})
		case c.def == nil:
		case in.Schema != actors.NewFolder(c.def, c.id).Schema():
			c.r.notes[fmt.Sprintf("snapshots of another state schema than the registered type's were skipped (%s at seq %d has schema %d)", c.id, in.Seq, in.Schema)] = true
		default:
			s, err := c.r.snaps.Load(ctx, c.id, in.Seq, in.Schema)
			if err != nil || s.Seq != in.Seq {
				continue // replaced meanwhile
			}
			c.snaps = append(c.snaps, snap{seq: s.Seq, state: s.State})
		}
	}
	return nil
}

// startFold starts the fold from scratch, or, when events were erased,
// from the oldest snapshot that covers them.
func (c *streamCheck) startFold() {
	if c.def == nil {
		return
	}
	c.f = actors.NewFolder(c.def, c.id)
	c.folding = c.st.First == 1
	if c.folding {
		return
	}
	for i, s := range c.snaps {
		if s.seq+1 < c.st.First {
			continue
		}
		if err := c.f.Restore(s.state, s.seq); err != nil {
			c.problem(Problem{Kind: CorruptSnapshot, Seq: s.seq, Message: reason(err)})
			break
		}
		c.folding = true
		c.snaps = c.snaps[i+1:]
		break
	}
	if !c.folding {
		c.problem(Problem{Kind: Unreplayable, Seq: c.st.First, Message: fmt.Sprintf("events before seq %d were erased and no usable snapshot covers them: the state cannot be rebuilt", c.st.First)})
	}
}

// scan reads the stream to its head, through events that do not decode
// and gaps: each is reported, and the scan goes on after it.
func (c *streamCheck) scan(ctx context.Context) error {
	from := c.st.First
	for {
		err := c.r.log.ScanStream(ctx, c.id, from, c.st.Head, c.check)
		if err == nil || err == errCutoff {
			return nil
		}
		var ce *eventlog.CorruptionError
		if !errors.As(err, &ce) || ce.Seq < from {
			return fmt.Errorf("verify: read %s: %w", c.id, err)
		}
		// A gap (the scan names the missing sequence) or an event that
		// does not decode: read that one alone to tell.
		if perr := c.r.log.ScanStream(ctx, c.id, ce.Seq, ce.Seq, func(*eventlog.Event) error { return nil }); perr != nil {
			c.problem(Problem{Kind: CorruptEvent, Seq: ce.Seq, Message: "event does not decode: " + ce.Err.Error()})
			c.acc.broken, c.folding = true, false
			c.next, from = ce.Seq+1, ce.Seq+1
			if from > c.st.Head {
				return nil
			}
			continue
		}
		if from == ce.Seq {
			// Already resumed here: the event is missing, and reading on
			// from it finds the next one; check reports the gap.
			return fmt.Errorf("verify: read %s: %w", c.id, err)
		}
		from = ce.Seq
	}
}

// check checks one event: its place in the stream, its data, its fold, and
// the snapshot taken at it; and accounts for it, to compare with the feed.
func (c *streamCheck) check(e *eventlog.Event) error {
	r, a := c.r, c.acc
	if e.Pos > r.rep.Durable {
		c.cutoff = true
		return errCutoff
	}
	if e.Seq != c.next {
		c.problem(Problem{Kind: MissingEvents, Seq: c.next, To: e.Seq - 1, Message: missing(c.next, e.Seq-1, "")})
		a.broken, c.folding = true, false
	}
	c.next = e.Seq + 1
	if a.firstPos == 0 {
		a.firstPos = e.Pos
	}
	r.rep.Events++
	if r.done++; r.done%8192 == 0 {
		r.progress("streams", r.done)
	}
	if len(e.Data) > 0 {
		if err := eventlog.ValidValue(e.Data); err != nil {
			c.problem(Problem{Kind: BadData, Seq: e.Seq, Pos: e.Pos, Message: "data is not one msgpack value: " + err.Error()})
			c.folding = false
		}
	}
	if c.folding && e.Seq > c.f.Seq() {
		if err := c.f.Apply(e); err != nil {
			c.problem(Problem{Kind: BadData, Seq: e.Seq, Pos: e.Pos, Message: reason(err)})
			c.folding = false
		}
	}
	for len(c.snaps) > 0 && c.snaps[0].seq <= e.Seq {
		if c.folding && c.snaps[0].seq == e.Seq {
			r.compare(c.id, c.def, c.f, c.snaps[0])
		}
		c.snaps = c.snaps[1:]
	}
	a.streamN++
	a.streamH = mix(a.streamH, r.hash(e))
	c.lastSeq, c.lastPos = e.Seq, e.Pos
	return nil
}

// finish reports events missing at the end of the stream, and a stream
// record that disagrees with the last event.
func (c *streamCheck) finish() {
	st := c.st
	if !c.cutoff && c.next <= st.Head {
		c.problem(Problem{Kind: MissingEvents, Seq: c.next, To: st.Head, Message: missing(c.next, st.Head, fmt.Sprintf(" (the head is %d)", st.Head))})
		c.acc.broken = true
	}
	if c.lastSeq == st.Head && c.lastPos != st.LastPos && !c.acc.broken {
		c.problem(Problem{Kind: StreamRecord, Seq: c.lastSeq, Pos: c.lastPos, Message: fmt.Sprintf("stream record says the last event is at position %d; seq %d is at position %d", st.LastPos, c.lastSeq, c.lastPos)})
	}
}
