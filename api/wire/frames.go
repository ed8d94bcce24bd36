package wire

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
)

// The WebSocket protocol. The server sends, as text frames of JSON:
//
//	{"type":"init","actor":..,"seq":N,"state":{..}}   first: the state at N
//	{"type":"resume","actor":..,"seq":N}             first instead, with ?since=N
//	{..event's fields..,"type":"<event type>","seq":N} each committed event
//	{..fields..,"type":"<name>"}                     an ephemeral broadcast
//	{"type":"state","seq":N,"state":{..}}            with ?state=1
//	{"type":"reply","id":..,"seq":N,"result":..}     a call's result
//	{"type":"error","id":..,"error":{"code":..,"message":..}}
//	{"type":"pong"}
//
// and the client sends {"type":"call","id":..,"action":..,"args":..},
// {"type":"ping"}, and {"type":"subscribe","events":[..]} and
// {"type":"unsubscribe","events":[..]} to choose the events and
// broadcasts it receives, by name ("*": all of them), which ?events=a,b
// sets at connection (absent: all; empty: none). State frames and
// replies are not filtered.
//
// A connection opened with ?since=N resumes: while the events after N are
// still stored, its first frame is a resume frame, not the state, and the
// events after N follow (then, with ?state=1, a state frame at the head),
// so that a client applies each event once onto the state it had; if
// some were erased, its first frame is the init frame with the state at
// the head and "gap":true.
//
// An event's or broadcast's frame carries its fields beside "type" and
// "seq", so those names, and the server's own frame types, are reserved:
// CheckRegistry refuses actor definitions that use them.

// The types of the frames the server sends, besides events and
// broadcasts, and of those a client sends.
const (
	FrameInit   = "init"
	FrameResume = "resume"
	FrameState  = "state"
	FrameReply  = "reply"
	FrameError  = "error"
	FramePong   = "pong"

	FrameCall        = "call"
	FramePing        = "ping"
	FrameSubscribe   = "subscribe"
	FrameUnsubscribe = "unsubscribe"
)

// AllEvents stands for every event and broadcast in a subscription (in
// ?events= or a subscribe or unsubscribe frame's "events").
const AllEvents = "*"

// The close codes of the protocol, beside the standard ones the server
// uses (1001 going away: the server shuts down; 1009: a frame over the
// limit; 1011: an internal error; 1012: the actor restarted, resume;
// 1013: the store did not answer in time, resume with backoff).
//
// A connection the server refuses — a bad token, a disallowed origin or
// Host, OnBeforeConnect refusing, an unknown actor type, a bad key or
// since, too many connections — is accepted and closed at once, with no
// other frame, with code 4000 plus the HTTP status of the same error (its
// message as the reason): a browser cannot read the HTTP reply to a
// WebSocket handshake, but it can read a close frame.
const (
	// CloseSlowConsumer: the client did not read its frames fast enough.
	// Reconnect with ?since=<the last seq received> (the reason says it).
	CloseSlowConsumer = 4008

	CloseBadRequest   = 4000 + 400 // bad_request: a malformed key or since
	CloseUnauthorized = 4000 + 401 // unauthorized: the token is missing or wrong
	CloseForbidden    = 4000 + 403 // forbidden: origin, Host or OnBeforeConnect
	CloseNotFound     = 4000 + 404 // not_found: an unknown actor type
	CloseConflict     = 4000 + 409 // conflict: since is past the actor's head
	CloseInternal     = 4000 + 500 // internal: a bug or a storage failure
	CloseUnavailable  = 4000 + 503 // unavailable: too many connections, shutting down
)

// RefusedCode returns the close code of a connection refused with an
// HTTP status (400-599): 4000+status.
func RefusedCode(status int) int { return 4000 + status }

// reserved are the frame types an event or broadcast may not take, and
// the name that stands for all of them.
var reserved = map[string]bool{FrameInit: true, FrameResume: true, FrameReply: true, FrameError: true, FramePong: true, FrameState: true, AllEvents: true}

// Reserved reports whether name is a frame type of the protocol, or
// AllEvents, which an event type or a broadcast may not use.
func Reserved(name string) bool { return reserved[name] }

// InitFrame is the first frame of a connection: the actor's state and the
// sequence it reflects. Gap is set when a client resuming with since=N
// missed events that were erased: it must rely on State.
type InitFrame struct {
	Actor string          `json:"actor"`
	Gap   bool            `json:"gap,omitempty"`
	Seq   uint64          `json:"seq"`
	State json.RawMessage `json:"state"`
	Type  string          `json:"type"`
}

// ResumeFrame is the first frame of a connection that resumed after
// sequence Seq (?since=Seq): the events after Seq follow, then live ones.
// It carries no state: the client keeps the one it had at Seq.
type ResumeFrame struct {
	Actor string `json:"actor"`
	Seq   uint64 `json:"seq"`
	Type  string `json:"type"`
}

// StateFrame is the actor's durable state, sent to connections that asked
// for it (?state=1) whenever it changed and the actor is idle.
type StateFrame struct {
	Seq   uint64          `json:"seq"`
	State json.RawMessage `json:"state"`
	Type  string          `json:"type"`
}

// ReplyFrame is the result of a client's call, with the call's id.
type ReplyFrame struct {
	ID       json.RawMessage `json:"id"`
	Replayed bool            `json:"replayed,omitempty"` // from an idempotency record
	Result   json.RawMessage `json:"result"`
	Seq      uint64          `json:"seq"`
	Type     string          `json:"type"`
}

// ErrorFrame is a failed call (with its id) or a frame the server could
// not take (without).
type ErrorFrame struct {
	Error ErrorDetail     `json:"error"`
	ID    json.RawMessage `json:"id,omitempty"`
	Type  string          `json:"type"`
}

// NewErrorFrame returns the error frame of code and msg, for the call id
// (nil for none).
func NewErrorFrame(id json.RawMessage, code, msg string) ErrorFrame {
	return ErrorFrame{Error: ErrorDetail{Code: code, Message: msg}, ID: id, Type: FrameError}
}

// ClientFrame is a frame a client sends: a call, a ping, a subscribe or
// an unsubscribe.
type ClientFrame struct {
	Type           string          `json:"type"`
	ID             json.RawMessage `json:"id"`
	Action         string          `json:"action"`
	Args           json.RawMessage `json:"args"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Events         []string        `json:"events"` // subscribe and unsubscribe
}

// EventFrame encodes a committed event as the frame connections receive:
// the fields of its data, with "type" and "seq" added. Data that is not
// an object goes under "data".
func EventFrame(e *eventlog.Event) ([]byte, error) {
	v, err := actors.DataValue(e.Data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		m = map[string]any{}
		if v != nil {
			m["data"] = v
		}
	}
	m["type"] = e.Type
	m["seq"] = e.Seq
	return json.Marshal(m)
}

// BroadcastFrame encodes an ephemeral broadcast: data's fields (data
// should encode as a JSON object; anything else goes under "data") with
// "type": name. A reserved name is an error.
func BroadcastFrame(name string, data any) ([]byte, error) {
	if reserved[name] {
		return nil, fmt.Errorf("wire: %q is a frame type of the protocol; a broadcast may not use it", name)
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m == nil {
		m = map[string]any{"data": json.RawMessage(b)}
	}
	m["type"] = name
	return json.Marshal(m)
}

// Frames is the actors.FrameEncoder of this protocol: give it to the
// runtime (actors.Options.Frames), which builds each frame with it once,
// for all the connections of an actor.
type Frames struct{}

var _ actors.FrameEncoder = Frames{}

// Event implements actors.FrameEncoder.
func (Frames) Event(e *eventlog.Event) ([]byte, error) { return EventFrame(e) }

// Broadcast implements actors.FrameEncoder.
func (Frames) Broadcast(name string, data any) ([]byte, error) { return BroadcastFrame(name, data) }

// State implements actors.FrameEncoder.
func (Frames) State(seq uint64, state []byte) ([]byte, error) {
	return json.Marshal(StateFrame{Seq: seq, State: state, Type: FrameState})
}

// CheckRegistry refuses actor definitions whose events or declared
// broadcasts would not survive the protocol: an event type or broadcast
// named like a frame type, or data (a struct) with a field encoded as
// "type" or "seq", which every frame of the event would overwrite (and
// by which a client tells events, which have a seq, from broadcasts).
func CheckRegistry(reg *actors.Registry) error {
	for _, typ := range reg.Types() {
		def, _ := reg.Lookup(typ)
		broadcasts := slices.Sorted(maps.Keys(def.Signature().Broadcasts))
		for _, m := range []struct {
			what  string
			names []string
			data  func(string) reflect.Type
		}{{"event type", def.EventTypes(), def.EventData}, {"broadcast", broadcasts, def.BroadcastData}} {
			for _, name := range m.names {
				if reserved[name] {
					return fmt.Errorf("wire: %s: %s %q is reserved for the WebSocket protocol", typ, m.what, name)
				}
				if f := fieldClash(m.data(name)); f != "" {
					return fmt.Errorf("wire: %s: %s %q has a field named %q, which its WebSocket frames use for their own %s; rename it (e.g. `json:\"kind\"`)", typ, m.what, name, f, f)
				}
			}
		}
	}
	return nil
}

// fieldClash returns "type" or "seq" if a struct type has a field encoded
// under that name (its `json` tag, as package actors encodes events, or
// its Go name), including fields of embedded structs, which are encoded
// inline; "" otherwise.
func fieldClash(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			if c := fieldClash(f.Type); c != "" {
				return c
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if !tagged || name == "" {
			name = f.Name
		}
		if name == "type" || name == "seq" {
			return name
		}
	}
	return ""
}
