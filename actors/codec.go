package actors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

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
func DataValue(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var v any
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(bytes.NewReader(data))
	dec.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeUntypedMap() })
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return jsonable(v), nil
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
func (a Args) Decode(v any) error {
	data := bytes.TrimSpace(a.Data)
	if a.Format == JSON && (len(data) == 0 || string(data) == "null") || a.Format == Msgpack && len(a.Data) == 0 {
		return nil
	}
	var err error
	if a.Format == Msgpack {
		err = unmarshalMsgpack(a.Data, v)
	} else {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		return &Error{Code: CodeBadRequest, Message: argError(err), Err: err}
	}
	return nil
}

func argError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("arguments must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
		}
		return fmt.Sprintf("argument %q must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("arguments are not valid JSON: %v (at byte %d)", se, se.Offset)
	}
	return "invalid arguments: " + err.Error()
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
