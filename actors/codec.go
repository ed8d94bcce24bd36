package actors

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/vmihailenco/msgpack/v5"
)

// Event data, state and results are encoded as msgpack with the `json`
// struct tags, so that one set of tags names fields in both formats.

func marshalMsgpack(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func unmarshalMsgpack(data []byte, v any) error {
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(bytes.NewReader(data))
	dec.SetCustomStructTag("json")
	return dec.Decode(v)
}

// msgpackToJSON converts one msgpack value to JSON.
func msgpackToJSON(data []byte) ([]byte, error) {
	v, err := DataValue(data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// DataValue decodes an event's msgpack data into the value encoding/json
// would decode its JSON form into: maps with string keys, slices, strings,
// numbers, booleans; nil for no data.
func DataValue(data []byte) (any, error) { return dataValue(data, false) }

// dataValue is DataValue; strict refuses a map that holds a key twice.
func dataValue(data []byte, strict bool) (any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var v any
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(bytes.NewReader(data))
	if strict {
		dec.SetMapDecoder(decodeStrictMap)
	} else {
		dec.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeUntypedMap() })
	}
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return jsonable(v), nil
}

// decodeStrictMap decodes a msgpack map as JSON would read it, its keys
// as strings, and refuses a key given twice.
func decodeStrictMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	m := make(map[string]any, n)
	for range n {
		k, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			key = fmt.Sprint(k)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("key %q is given twice", key)
		}
		if m[key], err = d.DecodeInterface(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// jsonable turns the maps msgpack decodes (map[any]any for non-string
// keys) into ones encoding/json accepts.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	}
	return v
}

// Format is a wire format of arguments and results.
type Format uint8

// The formats.
const (
	JSON Format = iota
	Msgpack
)

// Args are an action's encoded arguments.
type Args struct {
	Format Format
	Data   []byte // empty means no arguments
}

// JSONArgs returns Args holding JSON.
func JSONArgs(data []byte) Args { return Args{Format: JSON, Data: data} }

// Decode decodes the arguments into v. No data leaves v as it is. The
// error is an *Error with CodeBadRequest and a message naming the field.
//
// Decoding is strict, and the same whatever the format: fields match
// their names exactly (case included), a field v does not have is an
// error, and so are a field given twice and a number out of its field's
// range. Msgpack arguments are read as the JSON they convert to, so that
// both formats mean the same. (An action's arguments are also checked
// against their schema: see Action.)
func (a Args) Decode(v any) error { return a.decode(v, nil) }

// strictArgs are the options arguments decode with.
var strictArgs = jsonv2.JoinOptions(jsonv2.RejectUnknownMembers(true))

// decode is Decode, then, with a check, the check of the arguments
// against the action's schema; the messages name the action.
func (a Args) decode(v any, check *argCheck) error {
	data := bytes.TrimSpace(a.Data)
	if a.Format == Msgpack && len(a.Data) > 0 {
		val, err := dataValue(a.Data, true)
		if err == nil {
			data, err = json.Marshal(val)
		}
		if err != nil {
			return &Error{Code: CodeBadRequest, Message: "arguments are not valid msgpack: " + err.Error(), Err: err}
		}
	}
	if len(data) == 0 || string(data) == "null" {
		return check.none()
	}
	if err := jsonv2.Unmarshal(data, v, strictArgs); err != nil {
		return &Error{Code: CodeBadRequest, Message: argError(err, check), Err: err}
	}
	return check.validate(data)
}

// fingerprint identifies a call for idempotency: a hash of its action and
// of its arguments in a canonical form, so that the same call sent again
// in either format, its fields in another order, matches. Numbers are
// compared as written (1 and 1.0 differ).
func fingerprint(action string, a Args) []byte {
	data := bytes.TrimSpace(a.Data)
	if a.Format == Msgpack && len(data) > 0 {
		if val, err := dataValue(a.Data, true); err == nil {
			if j, err := json.Marshal(val); err == nil {
				data = j
			}
		}
	}
	if len(data) == 0 {
		data = []byte("null")
	}
	v := jsontext.Value(bytes.Clone(data))
	if v.Canonicalize(jsontext.CanonicalizeRawInts(false), jsontext.CanonicalizeRawFloats(false)) == nil {
		data = v
	}
	h := sha256.New()
	h.Write([]byte(action))
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil)[:16]
}

// argError says what is wrong with arguments that do not decode.
func argError(err error, check *argCheck) string {
	var se *jsonv2.SemanticError
	if errors.As(err, &se) {
		want, got := "of another type", kindWord(se.JSONKind)
		if se.GoType != nil {
			want = jsonKind(se.GoType.Kind().String())
		}
		field := strings.TrimPrefix(string(se.JSONPointer), "/")
		switch {
		case errors.Is(se.Err, jsonv2.ErrUnknownName):
			return check.unknown(field)
		case errors.Is(se.Err, strconv.ErrRange):
			return fmt.Sprintf("argument %q is out of range: %s", field, se.JSONValue)
		case field == "":
			return fmt.Sprintf("arguments must be %s, not %s", want, got)
		}
		return fmt.Sprintf("argument %q must be %s, not %s", field, want, got)
	}
	var sy *jsontext.SyntacticError
	if errors.As(err, &sy) {
		if errors.Is(sy.Err, jsontext.ErrDuplicateName) {
			return fmt.Sprintf("argument %q is given twice", strings.TrimPrefix(string(sy.JSONPointer), "/"))
		}
		return fmt.Sprintf("arguments are not valid JSON: %v (at byte %d)", sy.Err, sy.ByteOffset)
	}
	return "invalid arguments: " + err.Error()
}

// kindWord names a JSON kind.
func kindWord(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "another kind"
}

func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}

// encodeResult encodes an action's result in the format.
func encodeResult(v any, f Format) ([]byte, error) {
	if f == Msgpack {
		return marshalMsgpack(v)
	}
	return json.Marshal(v)
}

// convertResult re-encodes a result stored as msgpack into f.
func convertResult(stored []byte, f Format) ([]byte, error) {
	if f == Msgpack {
		return stored, nil
	}
	return msgpackToJSON(stored)
}

// DataJSON converts an event's msgpack data to JSON.
func DataJSON(data []byte) ([]byte, error) { return msgpackToJSON(data) }

// DecodeData decodes an event's msgpack data into v, matching struct
// fields by their `json` tags, as the runtime encodes them. Projections
// use it to read the events of actors defined with this package.
func DecodeData(data []byte, v any) error { return unmarshalMsgpack(data, v) }
