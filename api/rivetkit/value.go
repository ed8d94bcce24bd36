package rivetkit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Values cross this package in one form, whatever the encoding they came
// in or go out in: what encoding/json decodes with UseNumber — nil, bool,
// json.Number, string, []any and map[string]any. actorlog's arguments and
// results are JSON, so that form loses nothing of theirs.
//
// The client's "JSON-compat" layer (common/encoding.ts in the rivetkit
// package) writes values JSON has no form for as two-element arrays
// tagged with a "$" name — ["$BigInt","12"], ["$Uint8Array","<base64>"],
// ["$ArrayBuffer","<base64>"], ["$Undefined",0], ["$Set",[...]] — and
// escapes a user's own two-element array whose first element starts with
// "$" by doubling the "$". It applies it to JSON messages, to the CBOR
// inside BARE messages, and when reading any message (so CBOR replies are
// revived too): revive undoes it on what arrives, escape does it on what
// leaves.

// errBadValue is a value this package cannot carry.
var errBadValue = errors.New("rivetkit: value not supported")

// decodeJSON reads one JSON value into the package's form.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// revive turns the client's compat tags back into plain values: a BigInt
// into a number, bytes into their base64 string (actorlog has no byte
// type in JSON), a Set into a list, undefined into null.
func revive(v any) (any, error) {
	switch t := v.(type) {
	case []any:
		if len(t) == 2 {
			if tag, ok := t[0].(string); ok && strings.HasPrefix(tag, "$") {
				return reviveTagged(tag, t[1])
			}
		}
		out := make([]any, len(t))
		for i, e := range t {
			r, err := revive(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			r, err := revive(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

func reviveTagged(tag string, val any) (any, error) {
	switch tag {
	case "$BigInt":
		s, ok := val.(string)
		if _, valid := new(big.Int).SetString(s, 10); !ok || !valid {
			return nil, fmt.Errorf("%w: %s holds %v, not a decimal integer", errBadValue, tag, val)
		}
		return json.Number(s), nil
	case "$Uint8Array", "$ArrayBuffer":
		s, ok := val.(string)
		if _, err := base64.StdEncoding.DecodeString(s); !ok || err != nil {
			return nil, fmt.Errorf("%w: %s holds %v, not base64", errBadValue, tag, val)
		}
		return s, nil
	case "$Undefined":
		return nil, nil
	case "$Set":
		items, ok := val.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: $Set holds %T, not a list", errBadValue, val)
		}
		return revive(items)
	}
	if strings.HasPrefix(tag, "$$") {
		r, err := revive(val)
		if err != nil {
			return nil, err
		}
		return []any{tag[1:], r}, nil
	}
	return nil, fmt.Errorf("%w: unknown compat tag %q", errBadValue, tag)
}

// escape doubles the "$" of every two-element array whose first element
// starts with one, so that the client's revival gives the array back.
func escape(v any) any {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = escape(e)
		}
		if len(out) == 2 {
			if s, ok := out[0].(string); ok && strings.HasPrefix(s, "$") {
				out[0] = "$" + s
			}
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = escape(e)
		}
		return out
	}
	return v
}

// escapedJSON returns JSON whose compat escaping is done: the same bytes
// when nothing needs escaping (which keeps the fields in their order),
// else the value escaped and encoded again.
func escapedJSON(data []byte) (json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return json.RawMessage("null"), nil
	}
	if !bytes.Contains(data, []byte(`"$`)) {
		return json.RawMessage(bytes.TrimSpace(data)), nil
	}
	v, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(escape(v))
}

// The CBOR options: maps decode to map[string]any, as JSON objects do;
// integers keep their exact value (normalized into json.Number after).
var (
	cborDec cbor.DecMode
	cborEnc cbor.EncMode
)

func init() {
	var err error
	cborDec, err = cbor.DecOptions{
		DefaultMapType:  reflect.TypeFor[map[string]any](),
		IntDec:          cbor.IntDecConvertNone,
		BigIntDec:       cbor.BigIntDecodePointer,
		MaxNestedLevels: 64,
		DupMapKey:       cbor.DupMapKeyEnforcedAPF,
		IndefLength:     cbor.IndefLengthAllowed,
		UTF8:            cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	cborEnc, err = cbor.EncOptions{Sort: cbor.SortBytewiseLexical}.EncMode()
	if err != nil {
		panic(err)
	}
}

// decodeCBOR reads one CBOR value into the package's form: integers and
// floats become json.Number, byte strings their base64 text. Tags other
// than bignums, and map keys that are not text, are refused.
func decodeCBOR(data []byte) (any, error) {
	var v any
	if err := cborDec.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return normalizeCBOR(v)
}

func normalizeCBOR(v any) (any, error) {
	switch t := v.(type) {
	case nil, bool, string:
		return t, nil
	case uint64:
		return json.Number(strconv.FormatUint(t, 10)), nil
	case int64:
		return json.Number(strconv.FormatInt(t, 10)), nil
	case *big.Int:
		return json.Number(t.String()), nil
	case big.Int:
		return json.Number(t.String()), nil
	case float64:
		return floatNumber(t)
	case float32:
		return floatNumber(float64(t))
	case []byte:
		return base64.StdEncoding.EncodeToString(t), nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			n, err := normalizeCBOR(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			n, err := normalizeCBOR(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case cbor.Tag:
		return nil, fmt.Errorf("%w: CBOR tag %d", errBadValue, t.Number)
	case cbor.SimpleValue:
		if t == 23 { // undefined
			return nil, nil
		}
		return nil, fmt.Errorf("%w: CBOR simple value %d", errBadValue, t)
	}
	return nil, fmt.Errorf("%w: CBOR %T", errBadValue, v)
}

func floatNumber(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: %v has no JSON form", errBadValue, f)
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// encodeCBOR writes a value of the package's form as CBOR the way the
// client's own encoder (cbor-x) writes the JavaScript value JSON.parse
// would make of it, so that the client decodes what it would have read
// from JSON: an integer within 32 bits as a CBOR integer, any other
// number as a float64 — cbor-x reads a 64-bit CBOR integer as a BigInt,
// which a number in JSON never is.
func encodeCBOR(v any) ([]byte, error) {
	c, err := forCBOR(v)
	if err != nil {
		return nil, err
	}
	return cborEnc.Marshal(c)
}

func forCBOR(v any) (any, error) {
	switch t := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil && i >= -(1<<32) && i < 1<<32 {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("%w: number %q", errBadValue, t)
		}
		return f, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			c, err := forCBOR(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			c, err := forCBOR(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case nil, bool, string:
		return t, nil
	}
	return nil, fmt.Errorf("%w: %T", errBadValue, v)
}

// uint64CBOR is a CBOR unsigned integer always written in its 8-byte form
// (major type 0, additional information 27), which cbor-x reads as a
// BigInt: the client's schema wants a BigInt for action ids.
type uint64CBOR uint64

// MarshalCBOR implements cbor.Marshaler.
func (u uint64CBOR) MarshalCBOR() ([]byte, error) {
	b := make([]byte, 9)
	b[0] = 0x1b
	for i := 0; i < 8; i++ {
		b[8-i] = byte(uint64(u) >> (8 * i))
	}
	return b, nil
}
