package actors

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers; the api package maps each code to
// an HTTP status.
type Code string

// The error codes.
const (
	CodeBadRequest  Code = "bad_request"      // malformed arguments or wrong types
	CodeInvalid     Code = "invalid_argument" // the action rejected its arguments
	CodeNotFound    Code = "not_found"        // unknown actor type, action or actor
	CodeConflict    Code = "conflict"         // a concurrent writer moved the stream
	CodeForbidden   Code = "forbidden"        // OnBeforeConnect refused the connection
	CodeTooLarge    Code = "too_large"        // over a size limit
	CodeUnavailable Code = "unavailable"      // shutting down, or overloaded
	CodeInternal    Code = "internal"         // a bug or a storage failure
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
