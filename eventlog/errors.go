package eventlog

import (
	"errors"
	"fmt"
)

// Errors returned by the log. Match them with errors.Is.
var (
	// ErrInvalidID is returned for a malformed "type:key" text.
	ErrInvalidID = errors.New("eventlog: invalid actor id")
	// ErrInvalidType is returned for an actor type that is not 1 to 64
	// bytes of [A-Za-z0-9_-] starting with a letter.
	ErrInvalidType = errors.New("eventlog: invalid actor type")
	// ErrInvalidKey is returned for an actor key that is empty, longer than
	// 256 bytes or not valid UTF-8.
	ErrInvalidKey = errors.New("eventlog: invalid actor key")
	// ErrInvalidEvent is returned by Append for an event without a type or
	// whose data is not one well-formed msgpack value.
	ErrInvalidEvent = errors.New("eventlog: invalid event")
	// ErrEventTooLarge is returned by Append for an event over
	// Options.MaxEventSize or an append over Options.MaxAppendEvents.
	ErrEventTooLarge = errors.New("eventlog: event too large")
	// ErrNotFound is returned for an auxiliary record that does not exist.
	ErrNotFound = errors.New("eventlog: not found")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("eventlog: log is closed")
	// ErrReadOnly is returned by writes to a log opened with ReadOnly.
	ErrReadOnly = errors.New("eventlog: log is read-only")
	// ErrLocked is returned by Open when another process (or another Log in
	// this process) holds the data directory.
	ErrLocked = errors.New("eventlog: data directory is in use")
	// ErrCorrupt is the class of every error about bytes in the store that
	// do not decode. A *CorruptionError wraps it with the place.
	ErrCorrupt = errors.New("eventlog: corrupt data")
	// ErrFailed is returned by every write after the store failed to write
	// or sync. The log must be closed and opened again; what was
	// acknowledged before the failure is intact.
	ErrFailed = errors.New("eventlog: store failed; reopen required")
	// ErrTooManySubscribers is returned by Subscribe when
	// Options.MaxSubscribers are already open.
	ErrTooManySubscribers = errors.New("eventlog: too many subscribers")
	// ErrBadRange is returned for a deletion bound past the head.
	ErrBadRange = errors.New("eventlog: sequence out of range")
)

// ConflictError is returned by Append when the stream's head is not what the
// caller expected. Nothing was appended.
type ConflictError struct {
	Actor    ID
	Expected Expected
	Actual   uint64 // the head sequence at the time of the append
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("eventlog: %s: expected %s, head is %d", e.Actor, e.Expected, e.Actual)
}

// CorruptionError names the record that did not decode.
type CorruptionError struct {
	Actor ID     // zero when the actor is not known
	Seq   uint64 // zero when the sequence is not known
	Pos   uint64 // zero when the global position is not known
	Err   error
}

func (e *CorruptionError) Error() string {
	where := ""
	if e.Actor.Type != "" {
		where = " " + e.Actor.String()
	}
	if e.Seq != 0 {
		where += fmt.Sprintf(" seq %d", e.Seq)
	}
	if e.Pos != 0 {
		where += fmt.Sprintf(" position %d", e.Pos)
	}
	return fmt.Sprintf("eventlog: corrupt event%s: %v", where, e.Err)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// LaggedError is returned by Subscription.Next when the subscriber fell so
// far behind that its buffer overflowed. Subscribe again from Next to resume
// with no gap.
type LaggedError struct {
	Next uint64 // the sequence (stream) or position (feed) to resume from
}

func (e *LaggedError) Error() string {
	return fmt.Sprintf("eventlog: subscriber fell behind; resume from %d", e.Next)
}
