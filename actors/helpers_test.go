package actors_test

import (
	"bytes"

	"github.com/vmihailenco/msgpack/v5"
)

// msgpackDecode decodes event data the way the runtime encodes it: with
// the json struct tags.
func msgpackDecode(b []byte, v any) error {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	dec.SetCustomStructTag("json")
	return dec.Decode(v)
}
