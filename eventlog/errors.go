package eventlog

import (
	"errors"
	"fmt"
)

// What the id errors say, without the package's name (IDError.Message).
const (
	invalidID   = "invalid actor id"
	invalidType = "invalid actor type"
	invalidKey  = "invalid actor key"
)

// Errors returned by the log. Match them with errors.Is.
var (
	// ErrInvalidID is returned for a malformed "type:key" text.
	ErrInvalidID = errors.New("eventlog: " + invalidID)
	// ErrInvalidType is returned for an actor type that is not 1 to 64
	// bytes of [A-Za-z0-9_-] starting with a letter.
	ErrInvalidType = errors.New("eventlog: " + invalidType)
	// ErrInvalidKey is returned for an actor key that is empty, longer than
	// 256 bytes or not valid UTF-8.
	ErrInvalidKey = errors.New("eventlog: " + invalidKey)
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
	// ErrNoStore is returned by Open with ReadOnly for a directory that
	// holds no store.
	ErrNoStore = errors.New("eventlog: no store in the directory")
	// ErrLocked is returned by Open when another process (or another Log in
	// this process) holds the data directory.
	ErrLocked = errors.New("eventlog: data directory is in use")
	// ErrCorrupt is the class of every error about bytes in the store that
	// do not decode. A *CorruptionError wraps it with the place.
	ErrCorrupt = errors.New("eventlog: corrupt data")
	// ErrUnavailable is wrapped by the error of every write while the
	// store cannot write: after a failed write or sync (a full disk, a
	// disk error), until it recovers, which it does by itself. What was
	// acknowledged is intact, and reads of it go on. Log.Health says why.
	ErrUnavailable = errors.New("eventlog: the store cannot write now")
	// ErrTooManySubscribers is returned by Subscribe when
	// Options.MaxSubscribers are already open.
	ErrTooManySubscribers = errors.New("eventlog: too many subscribers")
	// ErrBadRange is returned for a deletion bound past the head.
	ErrBadRange = errors.New("eventlog: sequence out of range")
)

// IDError says why an actor id, type or key is malformed. It wraps Kind:
// ErrInvalidID, ErrInvalidType or ErrInvalidKey.
type IDError struct {
	Kind   error
	Reason string // what is wrong, such as "key is empty"
}

func (e *IDError) Error() string { return "eventlog: " + e.Message() }

// Message is the error for the person who wrote the id, without the
// package's name: "invalid actor key: key is empty".
func (e *IDError) Message() string {
	what := invalidID
	switch e.Kind {
	case ErrInvalidType:
		what = invalidType
	case ErrInvalidKey:
		what = invalidKey
	}
	return what + ": " + e.Reason
}

// Unwrap makes errors.Is(err, e.Kind) true.
func (e *IDError) Unwrap() error { return e.Kind }

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

// CorruptionError names the record that did not decode and says why.
type CorruptionError struct {
	Actor ID     // zero when the actor is not known
	Seq   uint64 // zero when the sequence is not known
	Pos   uint64 // zero when the global position is not known
	// Err is what is wrong with the bytes, such as "truncated"; its text
	// names no package, so that it reads as it is in a report.
	Err error
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
	if where != "" {
		where = " at" + where
	}
	return fmt.Sprintf("eventlog: corrupt data%s: %v", where, e.Err)
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
