package actors

import (
	"errors"
	"fmt"

	"github.com/actorlog/actorlog/eventlog"
)

// Code classifies an error for callers; the api package maps each code to
// an HTTP status.
type Code string

// The error codes.
const (
	CodeBadRequest          Code = "bad_request"          // malformed arguments or wrong types
	CodeInvalid             Code = "invalid_argument"     // the action rejected its arguments
	CodeNotFound            Code = "not_found"            // unknown actor type, action or actor
	CodeConflict            Code = "conflict"             // a concurrent writer moved the stream
	CodeIdempotencyMismatch Code = "idempotency_mismatch" // an idempotency key reused for another call
	CodeForbidden           Code = "forbidden"            // OnBeforeConnect refused the connection
	CodeTooLarge            Code = "too_large"            // over a size limit
	CodeUnavailable         Code = "unavailable"          // shutting down, overloaded, or the store cannot write
	CodeInternal            Code = "internal"             // a bug or a storage failure
)

// Error is an error with a Code. Its Message is safe to show to clients.
type Error struct {
	Code    Code
	Message string
	Err     error // the cause, for logs; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil && e.Code == CodeInternal {
		return fmt.Sprintf("actors: %s: %v", e.Message, e.Err)
	}
	return "actors: " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is what an action returns to reject its arguments:
// Invalid("text must not be empty").
func Invalid(format string, args ...any) *Error {
	return Errorf(CodeInvalid, format, args...)
}

func internal(msg string, err error) *Error {
	return &Error{Code: CodeInternal, Message: msg, Err: err}
}

// storeError is the error of a write to the store that failed: an
// *Error with CodeUnavailable if the store cannot write for now (a full
// disk), saying why in words fit for clients; else internal(msg, err).
func storeError(log Log, msg string, err error) *Error {
	if !errors.Is(err, eventlog.ErrUnavailable) {
		return internal(msg, err)
	}
	m := "the store cannot take writes now; try again later"
	if why := log.Health().Reason; why != "" {
		m = "the store cannot take writes now (" + why + "); try again later"
	}
	return &Error{Code: CodeUnavailable, Message: m, Err: err}
}

// readError is the error of a read of the store that failed: an *Error
// with CodeUnavailable if the store did not answer for now (a replicated
// store electing a leader), else internal(msg, err).
func readError(msg string, err error) *Error {
	if !errors.Is(err, eventlog.ErrUnavailable) {
		return internal(msg, err)
	}
	return &Error{Code: CodeUnavailable, Message: "the store did not answer in time; try again", Err: err}
}

// Unavailable reports whether err is the store's refusal to write for
// now: the write may be tried again later, and the failure has been
// logged by the store, once.
func unavailable(err error) bool { return errors.Is(err, eventlog.ErrUnavailable) }

// CodeOf returns the code of err: its *Error's code, or CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Errors the runtime returns.
var (
	// ErrClosed is returned once the runtime is shutting down.
	ErrClosed = &Error{Code: CodeUnavailable, Message: "the server is shutting down"}
	// ErrSlowConsumer ends a connection that did not keep up with its
	// events; the client may reconnect and resume by sequence.
	ErrSlowConsumer = &Error{Code: CodeUnavailable, Message: "connection too slow to keep up; resume from the last sequence received"}
	// ErrActorStopped ends a connection whose actor was rebuilt or stopped.
	ErrActorStopped = &Error{Code: CodeUnavailable, Message: "the actor restarted; reconnect and resume"}
)
