package actors

import (
	"fmt"

	"github.com/actorlog/actorlog/eventlog"
)

// Folder folds one actor's events into its state, one event at a time,
// with the actor's definition and outside the runtime: no live actor is
// woken and no hook runs. Tools use it to replay a history, looking at the
// state after each event, or to check a snapshot against the events. A
// Folder is not safe for concurrent use.
type Folder struct {
	in  instance
	id  eventlog.ID
	seq uint64
}

// NewFolder returns a Folder holding the actor's initial state, at
// sequence 0.
func NewFolder(def Definition, id eventlog.ID) *Folder {
	return &Folder{in: def.newInstance(id), id: id}
}

// Seq returns the sequence of the last event folded (or restored).
func (f *Folder) Seq() uint64 { return f.seq }

// Schema returns the state schema of the definition, the one its
// snapshots are written with.
func (f *Folder) Schema() uint32 { return f.in.schema() }

// FoldError says why an event did not fold into an actor's state, or why
// a state did not decode from a snapshot or encode. Folder's methods
// return it, and so does the runtime's replay, wrapped.
type FoldError struct {
	Actor eventlog.ID
	Seq   uint64 // the event's, the snapshot's, or the state's sequence
	// Reason says what went wrong, for people, naming no package: `no
	// applier for event type "x"`. It holds Err's text, if any.
	Reason string
	Err    error // the cause, if any
}

func (e *FoldError) Error() string {
	return fmt.Sprintf("actors: %s seq %d: %s", e.Actor, e.Seq, e.Reason)
}

func (e *FoldError) Unwrap() error { return e.Err }

// Apply folds e, which must be the event after Seq: events are folded in
// order and without gaps. An event whose type has no applier or whose data
// does not decode into the applier's type is a *FoldError, and leaves the
// state as it was.
func (f *Folder) Apply(e *eventlog.Event) error {
	if e.Seq != f.seq+1 {
		return &FoldError{Actor: f.id, Seq: e.Seq, Reason: fmt.Sprintf("event seq %d does not follow seq %d", e.Seq, f.seq)}
	}
	if err := f.in.apply(e); err != nil {
		return err
	}
	f.seq = e.Seq
	return nil
}

// Restore replaces the state with a snapshot's encoded state (as
// snapshots.Snapshot.State holds it) taken at sequence seq. A state that
// does not decode is a *FoldError, and leaves the initial state at seq 0.
func (f *Folder) Restore(state []byte, seq uint64) error {
	if err := f.in.decodeState(state); err != nil {
		f.in.reset()
		f.seq = 0
		return &FoldError{Actor: f.id, Seq: seq, Reason: fmt.Sprintf("snapshot does not decode: %v", err), Err: err}
	}
	f.seq = seq
	return nil
}

// StateJSON returns the state as JSON, as the API shows it.
func (f *Folder) StateJSON() ([]byte, error) {
	b, err := f.in.stateJSON()
	if err != nil {
		return nil, &FoldError{Actor: f.id, Seq: f.seq, Reason: fmt.Sprintf("state does not encode as JSON: %v", err), Err: err}
	}
	return b, nil
}

// EncodeState returns the state encoded as a snapshot holds it.
func (f *Folder) EncodeState() ([]byte, error) {
	b, err := f.in.encodeState()
	if err != nil {
		return nil, &FoldError{Actor: f.id, Seq: f.seq, Reason: fmt.Sprintf("state does not encode: %v", err), Err: err}
	}
	return b, nil
}
