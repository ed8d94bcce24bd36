package rivetkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// The messages of the client protocol, whatever their encoding. From the
// client, on a connection:
//
//	ActionRequest{id, name, args}           call an action; args is a list
//	SubscriptionRequest{eventName, subscribe}
//
// To the client:
//
//	Init{actorId, connectionId}             first, once the connection is open
//	ActionResponse{id, output}
//	Event{name, args}                       args is a list the client spreads
//	Error{group, code, message, metadata?, actionId?}
//
// Over HTTP an action is HttpActionRequest{args} → HttpActionResponse{output}
// or, on failure, HttpResponseError{group, code, message, metadata?}.
type (
	actionRequest struct {
		id   uint64
		name string
		args []any
	}
	subscriptionRequest struct {
		event     string
		subscribe bool
	}
	initMsg struct {
		actorID, connID string
	}
	actionResponse struct {
		id     uint64
		output []byte // JSON, as the runtime replies
	}
	eventMsg struct {
		name string
		data []byte // JSON: the one argument the client's listener gets
	}
	errorMsg struct {
		group, code, message string
		actionID             *uint64 // nil: the connection's error, not a call's
	}
)

// toServer is a message from the client: one of its two fields is set.
type toServer struct {
	action *actionRequest
	sub    *subscriptionRequest
}

// A codec is one of the protocol's three encodings, over the same
// messages: the handlers never see bytes of a particular encoding.
type codec interface {
	// name is the encoding's name, as in x-rivet-encoding and the
	// rivet_encoding.* subprotocol.
	name() string
	// binary reports whether its WebSocket messages are binary frames.
	binary() bool
	// contentType is the Content-Type of its HTTP bodies.
	contentType() string
	// actionArgs decodes an HTTP action's body into its arguments.
	actionArgs(body []byte) ([]any, error)
	// actionOutput encodes an HTTP action's result (JSON).
	actionOutput(output []byte) ([]byte, error)
	// decode reads a message from the client.
	decode(msg []byte) (toServer, error)
	// encode writes a message to the client: an initMsg, actionResponse,
	// eventMsg or errorMsg.
	encode(m any) ([]byte, error)
}

// codecs are the encodings by name.
var codecs = map[string]codec{
	"json": jsonCodec{},
	"cbor": cborCodec{},
	"bare": bareCodec{},
}

// errMalformed wraps what is wrong with a client's message.
var errMalformed = errors.New("malformed message")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, a...))
}

// argsList is the arguments of an HTTP action as the server reads them:
// a list; null is none and any other single value is one argument.
func argsList(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	}
	return []any{v}
}

// field returns m[name], checking that m is an object.
func field(v any, name string) (any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	f, ok := m[name]
	return f, ok
}

// uintValue reads an action id: a non-negative integer.
func uintValue(v any) (uint64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, malformed("an action id must be an integer, not %T", v)
	}
	u, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0, malformed("an action id must be an integer from 0 to 2^64-1, not %s", n)
	}
	return u, nil
}

// toServerValue reads a message from the client in its JSON or CBOR form:
// {"body":{"tag":..,"val":{..}}}.
func toServerValue(v any) (toServer, error) {
	body, _ := field(v, "body")
	tag, _ := field(body, "tag")
	val, ok := field(body, "val")
	if !ok {
		return toServer{}, malformed(`a message is {"body":{"tag":..,"val":..}}`)
	}
	switch tag {
	case "ActionRequest":
		idv, _ := field(val, "id")
		id, err := uintValue(idv)
		if err != nil {
			return toServer{}, err
		}
		name, _ := field(val, "name")
		s, ok := name.(string)
		if !ok || s == "" {
			return toServer{}, malformed("an ActionRequest needs a name")
		}
		args, _ := field(val, "args")
		return toServer{action: &actionRequest{id: id, name: s, args: argsList(args)}}, nil
	case "SubscriptionRequest":
		name, _ := field(val, "eventName")
		sub, _ := field(val, "subscribe")
		s, ok1 := name.(string)
		b, ok2 := sub.(bool)
		if !ok1 || !ok2 {
			return toServer{}, malformed("a SubscriptionRequest needs eventName (a string) and subscribe (a boolean)")
		}
		return toServer{sub: &subscriptionRequest{event: s, subscribe: b}}, nil
	}
	return toServer{}, malformed("unknown message tag %v", tag)
}

// jsonCodec is the "json" encoding: JSON text, with the compat tags.
type jsonCodec struct{}

func (jsonCodec) name() string        { return "json" }
func (jsonCodec) binary() bool        { return false }
func (jsonCodec) contentType() string { return "application/json" }

func (jsonCodec) actionArgs(body []byte) ([]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(body)
	if err == nil {
		v, err = revive(v)
	}
	if err != nil {
		return nil, malformed("the body: %v", err)
	}
	args, ok := field(v, "args")
	if !ok {
		return nil, malformed(`the body is {"args":[...]}`)
	}
	return argsList(args), nil
}

func (jsonCodec) actionOutput(output []byte) ([]byte, error) {
	out, err := escapedJSON(output)
	if err != nil {
		return nil, err
	}
	return jsonObject("output", out), nil
}

func (jsonCodec) decode(msg []byte) (toServer, error) {
	v, err := decodeJSON(msg)
	if err == nil {
		v, err = revive(v)
	}
	if err != nil {
		return toServer{}, malformed("%v", err)
	}
	return toServerValue(v)
}

// bigIntJSON is a u64 of the protocol in the compat form the client's
// schema wants (a BigInt): ["$BigInt","N"].
func bigIntJSON(u uint64) json.RawMessage {
	return json.RawMessage(`["$BigInt","` + strconv.FormatUint(u, 10) + `"]`)
}

func (jsonCodec) encode(m any) ([]byte, error) {
	var tag string
	var val any
	switch t := m.(type) {
	case initMsg:
		tag, val = "Init", map[string]string{"actorId": t.actorID, "connectionId": t.connID}
	case actionResponse:
		out, err := escapedJSON(t.output)
		if err != nil {
			return nil, err
		}
		tag, val = "ActionResponse", map[string]json.RawMessage{"id": bigIntJSON(t.id), "output": out}
	case eventMsg:
		data, err := escapedJSON(t.data)
		if err != nil {
			return nil, err
		}
		args := append(append([]byte{'['}, data...), ']')
		tag, val = "Event", map[string]any{"name": t.name, "args": json.RawMessage(args)}
	case errorMsg:
		e := map[string]any{"group": t.group, "code": t.code, "message": t.message, "actionId": nil}
		if t.actionID != nil {
			e["actionId"] = bigIntJSON(*t.actionID)
		}
		tag, val = "Error", e
	default:
		return nil, fmt.Errorf("rivetkit: no message %T", m)
	}
	return json.Marshal(map[string]any{"body": map[string]any{"tag": tag, "val": val}})
}

// jsonObject is {"<key>":<raw>}.
func jsonObject(key string, raw []byte) []byte {
	k, _ := json.Marshal(key)
	b := make([]byte, 0, len(raw)+len(k)+3)
	b = append(append(append(append(b, '{'), k...), ':'), raw...)
	return append(b, '}')
}

// cborCodec is the "cbor" encoding: the same messages as JSON, in CBOR.
// The client writes its values as they are (no compat tags) and revives
// what it reads.
type cborCodec struct{}

func (cborCodec) name() string        { return "cbor" }
func (cborCodec) binary() bool        { return true }
func (cborCodec) contentType() string { return "application/octet-stream" }

func (cborCodec) actionArgs(body []byte) ([]any, error) {
	if len(body) == 0 {
		return nil, nil
	}
	v, err := decodeCBOR(body)
	if err != nil {
		return nil, malformed("the body: %v", err)
	}
	args, ok := field(v, "args")
	if !ok {
		return nil, malformed("the body is the map {args: [...]}")
	}
	return argsList(args), nil
}

func (cborCodec) actionOutput(output []byte) ([]byte, error) {
	v, err := jsonValue(output)
	if err != nil {
		return nil, err
	}
	c, err := forCBOR(escape(v))
	if err != nil {
		return nil, err
	}
	return cborEnc.Marshal(map[string]any{"output": c})
}

func (cborCodec) decode(msg []byte) (toServer, error) {
	v, err := decodeCBOR(msg)
	if err != nil {
		return toServer{}, malformed("%v", err)
	}
	return toServerValue(v)
}

func (cborCodec) encode(m any) ([]byte, error) {
	var tag string
	var val map[string]any
	switch t := m.(type) {
	case initMsg:
		tag, val = "Init", map[string]any{"actorId": t.actorID, "connectionId": t.connID}
	case actionResponse:
		out, err := cborOf(t.output)
		if err != nil {
			return nil, err
		}
		tag, val = "ActionResponse", map[string]any{"id": uint64CBOR(t.id), "output": out}
	case eventMsg:
		data, err := cborOf(t.data)
		if err != nil {
			return nil, err
		}
		tag, val = "Event", map[string]any{"name": t.name, "args": []any{data}}
	case errorMsg:
		val = map[string]any{"group": t.group, "code": t.code, "message": t.message, "actionId": nil}
		if t.actionID != nil {
			val["actionId"] = uint64CBOR(*t.actionID)
		}
		tag = "Error"
	default:
		return nil, fmt.Errorf("rivetkit: no message %T", m)
	}
	return cborEnc.Marshal(map[string]any{"body": map[string]any{"tag": tag, "val": val}})
}

// jsonValue decodes a runtime's JSON reply or event data ("" is null).
func jsonValue(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	return decodeJSON(data)
}

// cborOf converts JSON into a value cborEnc writes the way encodeCBOR
// does, escaped for the client's revival.
func cborOf(data []byte) (any, error) {
	v, err := jsonValue(data)
	if err != nil {
		return nil, err
	}
	return forCBOR(escape(v))
}

// bareCodec is the "bare" encoding, the client's default: vbare-framed
// BARE messages whose values (args, output) are CBOR with the compat tags.
type bareCodec struct{}

func (bareCodec) name() string        { return "bare" }
func (bareCodec) binary() bool        { return true }
func (bareCodec) contentType() string { return "application/octet-stream" }

// compatCBOR reads the CBOR a BARE message holds: a compat-tagged value.
func compatCBOR(data []byte) (any, error) {
	v, err := decodeCBOR(data)
	if err == nil {
		v, err = revive(v)
	}
	return v, err
}

// compatCBORBytes writes JSON as the CBOR a BARE message holds.
func compatCBORBytes(data []byte) ([]byte, error) {
	c, err := cborOf(data)
	if err != nil {
		return nil, err
	}
	return cborEnc.Marshal(c)
}

func (bareCodec) actionArgs(body []byte) ([]any, error) {
	r := &bareReader{b: body}
	if err := r.readVersion(); err != nil {
		return nil, malformed("%v", err)
	}
	d, err := r.data()
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, malformed("%v", err)
	}
	v, err := compatCBOR(d)
	if err != nil {
		return nil, malformed("the args: %v", err)
	}
	return argsList(v), nil
}

func (bareCodec) actionOutput(output []byte) ([]byte, error) {
	c, err := compatCBORBytes(output)
	if err != nil {
		return nil, err
	}
	w := newBareWriter()
	w.data(c)
	return w.b, nil
}

func (bareCodec) decode(msg []byte) (toServer, error) {
	r := &bareReader{b: msg}
	if err := r.readVersion(); err != nil {
		return toServer{}, malformed("%v", err)
	}
	tag, err := r.byte()
	if err != nil {
		return toServer{}, malformed("%v", err)
	}
	var m toServer
	switch tag {
	case 0:
		var a actionRequest
		var d []byte
		if a.id, err = r.uint(); err == nil {
			if a.name, err = r.string(); err == nil {
				d, err = r.data()
			}
		}
		if err != nil {
			return toServer{}, malformed("ActionRequest: %v", err)
		}
		v, err := compatCBOR(d)
		if err != nil {
			return toServer{}, malformed("ActionRequest args: %v", err)
		}
		a.args = argsList(v)
		m.action = &a
	case 1:
		var s subscriptionRequest
		if s.event, err = r.string(); err == nil {
			s.subscribe, err = r.bool()
		}
		if err != nil {
			return toServer{}, malformed("SubscriptionRequest: %v", err)
		}
		m.sub = &s
	default:
		return toServer{}, malformed("unknown message tag %d", tag)
	}
	if err := r.end(); err != nil {
		return toServer{}, malformed("%v", err)
	}
	return m, nil
}

func (bareCodec) encode(m any) ([]byte, error) {
	w := newBareWriter()
	switch t := m.(type) {
	case initMsg:
		w.byte(0)
		w.string(t.actorID)
		w.string(t.connID)
	case errorMsg:
		w.byte(1)
		w.string(t.group)
		w.string(t.code)
		w.string(t.message)
		w.present(false) // metadata
		w.present(t.actionID != nil)
		if t.actionID != nil {
			w.uint(*t.actionID)
		}
		w.present(false) // actor
	case actionResponse:
		c, err := compatCBORBytes(t.output)
		if err != nil {
			return nil, err
		}
		w.byte(2)
		w.uint(t.id)
		w.data(c)
	case eventMsg:
		v, err := cborOf(t.data)
		if err != nil {
			return nil, err
		}
		c, err := cborEnc.Marshal([]any{v})
		if err != nil {
			return nil, err
		}
		w.byte(3)
		w.string(t.name)
		w.data(c)
	default:
		return nil, fmt.Errorf("rivetkit: no message %T", m)
	}
	return w.b, nil
}
