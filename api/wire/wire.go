// Package wire holds the JSON shapes of actorlog's protocol, in one place:
// the events and listings the HTTP API returns, the frames of the
// WebSocket protocol, the error body, the records of the export format,
// and the description of the actor types (Describe: GET /schema). The api package serves them, the actorlog command reads them
// back from a server (and prints them with --json), and package archive
// writes and reads records; none defines a shape of its own.
//
// An event's data is stored as msgpack (encoded by package actors with
// the `json` struct tags); on the wire it is the same value as JSON.
// Event, Record and EventFrame are the three forms an event takes.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
)

// Event is one event as the history API returns it, and as the actorlog
// command prints it with --json. Actor is set where events of several
// actors mix (tail --all).
type Event struct {
	Seq   uint64          `json:"seq"`
	Pos   uint64          `json:"pos"`
	Type  string          `json:"type"`
	Time  int64           `json:"time"` // Unix ms
	Data  json.RawMessage `json:"data"` // null for an event without data
	Meta  *Meta           `json:"meta,omitempty"`
	Actor string          `json:"actor,omitempty"`
}

// Meta is an event's metadata.
type Meta struct {
	CorrelationID  string `json:"correlationId,omitempty"`
	Causation      string `json:"causation,omitempty"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// NewEvent converts a stored event, without its actor. Data that does not
// convert to JSON is a *eventlog.CorruptionError naming the event.
func NewEvent(e *eventlog.Event) (Event, error) {
	data, err := dataJSON(e)
	if err != nil {
		return Event{}, err
	}
	if data == nil {
		data = json.RawMessage("null")
	}
	return Event{Seq: e.Seq, Pos: e.Pos, Type: e.Type, Time: e.Time, Data: data, Meta: newMeta(e.Meta)}, nil
}

// dataJSON is the event's data as JSON, nil for none.
func dataJSON(e *eventlog.Event) (json.RawMessage, error) {
	if len(e.Data) == 0 {
		return nil, nil
	}
	b, err := actors.DataJSON(e.Data)
	if err != nil {
		return nil, &eventlog.CorruptionError{Actor: e.Actor, Seq: e.Seq, Pos: e.Pos, Err: fmt.Errorf("data does not convert to JSON: %w", err)}
	}
	return b, nil
}

func newMeta(m eventlog.Metadata) *Meta {
	if m.IsZero() {
		return nil
	}
	return &Meta{CorrelationID: m.CorrelationID, Causation: m.Causation, IdempotencyKey: m.IdempotencyKey}
}

func (m *Meta) metadata() eventlog.Metadata {
	if m == nil {
		return eventlog.Metadata{}
	}
	return eventlog.Metadata{CorrelationID: m.CorrelationID, Causation: m.Causation, IdempotencyKey: m.IdempotencyKey}
}

// Record is one event of the export format (see package archive), and of
// the inspection API's event pages: the event with its actor, and its
// data both as JSON (for people and tools such as jq) and as the msgpack
// bytes stored (base64), which is what an import writes.
type Record struct {
	Actor   string          `json:"actor"`
	Seq     uint64          `json:"seq"`
	Pos     uint64          `json:"pos,omitempty"`
	Type    string          `json:"type"`
	Time    int64           `json:"time"`
	Data    json.RawMessage `json:"data,omitempty"`
	Msgpack []byte          `json:"msgpack"`
	Meta    *Meta           `json:"meta,omitempty"`
}

// NewRecord converts a stored event; the record holds a copy of its data,
// so e may be one that a scan reuses. Data that does not convert to JSON
// is a *eventlog.CorruptionError naming the event.
func NewRecord(e *eventlog.Event) (Record, error) {
	data, err := dataJSON(e)
	if err != nil {
		return Record{}, err
	}
	return Record{Actor: e.Actor.String(), Seq: e.Seq, Pos: e.Pos, Type: e.Type, Time: e.Time, Data: data, Msgpack: bytes.Clone(e.Data), Meta: newMeta(e.Meta)}, nil
}

// Event returns the event the record holds, with Actor, Seq, Pos, Type,
// Data (a copy of Msgpack), Time and Meta set. A malformed actor is an
// *eventlog.IDError; Data is checked to be one msgpack value.
func (r *Record) Event() (eventlog.Event, error) {
	id, err := eventlog.ParseID(r.Actor)
	if err != nil {
		return eventlog.Event{}, err
	}
	switch {
	case r.Seq == 0:
		return eventlog.Event{}, errors.New("seq must be 1 or more")
	case r.Type == "":
		return eventlog.Event{}, errors.New("type is empty")
	}
	if len(r.Msgpack) > 0 {
		if err := eventlog.ValidValue(r.Msgpack); err != nil {
			return eventlog.Event{}, fmt.Errorf("msgpack is not one msgpack value: %v", err)
		}
	}
	return eventlog.Event{Actor: id, Seq: r.Seq, Pos: r.Pos, Type: r.Type, Data: bytes.Clone(r.Msgpack), Time: r.Time, Meta: r.Meta.metadata()}, nil
}

// Error is the body of every error reply: {"error":{"code":..,"message":..}}.
type Error struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an error's code and message. The message is for people;
// the code is one of the api package's documented codes.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
