package actors_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/actors"
	"github.com/vmihailenco/msgpack/v5"
)

// TestArgs_DecodeStrictly: arguments decode the same from JSON and
// msgpack, and strictly: exact field names, no field the type does not
// have, no field twice, no number out of its field's range.
func TestArgs_DecodeStrictly(t *testing.T) {
	type args struct {
		Value *int64  `json:"value"`
		Small *uint8  `json:"small"`
		Name  *string `json:"name"`
	}
	mp := func(v any) actors.Args {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return actors.Args{Format: actors.Msgpack, Data: b}
	}
	// A msgpack map with "value" twice, written by hand: the library's
	// maps cannot hold it.
	dupMsgpack := actors.Args{Format: actors.Msgpack, Data: []byte{0x82, 0xa5, 'v', 'a', 'l', 'u', 'e', 0x01, 0xa5, 'v', 'a', 'l', 'u', 'e', 0x02}}
	cases := []struct {
		name string
		in   actors.Args
		want string // in the error; "" for success
		val  int64  // Value after a success, if set
	}{
		{"json", actors.JSONArgs([]byte(`{"value": 5}`)), "", 5},
		{"msgpack", mp(map[string]any{"value": 5}), "", 5},
		{"json, another case", actors.JSONArgs([]byte(`{"VALUE": 7}`)), `argument "VALUE" is not a field of the arguments`, 0},
		{"msgpack, another case", mp(map[string]any{"Value": 7}), `argument "Value" is not a field of the arguments`, 0},
		{"json, unknown field", actors.JSONArgs([]byte(`{"value": 1, "valu": 5}`)), `argument "valu" is not a field of the arguments`, 0},
		{"json, twice", actors.JSONArgs([]byte(`{"value": 1, "value": 2}`)), `argument "value" is given twice`, 0},
		{"msgpack, twice", dupMsgpack, `"value" is given twice`, 0},
		{"json, past int64", actors.JSONArgs([]byte(`{"value": 18446744073709551615}`)), `argument "value" is out of range`, 0},
		{"msgpack, past int64", mp(map[string]any{"value": uint64(1<<64 - 1)}), `argument "value" is out of range`, 0},
		{"msgpack, past uint8", mp(map[string]any{"small": 300}), `argument "small" is out of range`, 0},
		{"json, negative into uint8", actors.JSONArgs([]byte(`{"small": -1}`)), `argument "small"`, 0},
		{"json, wrong type", actors.JSONArgs([]byte(`{"value": "x"}`)), `argument "value" must be an integer, not string`, 0},
		{"msgpack, wrong type", mp(map[string]any{"name": 5}), `argument "name" must be a string, not number`, 0},
		{"json, not an object", actors.JSONArgs([]byte(`[1]`)), "arguments must be an object, not array", 0},
		{"json, bad syntax", actors.JSONArgs([]byte(`{"value":`)), "arguments are not valid JSON", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a args
			err := c.in.Decode(&a)
			var e *actors.Error
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "":
				if got := a.Value; (got == nil) != (c.val == 0) || got != nil && *got != c.val {
					t.Fatalf("value = %v, want %d", got, c.val)
				}
			case !errors.As(err, &e) || e.Code != actors.CodeBadRequest || !strings.Contains(e.Message, c.want):
				t.Fatalf("err = %v, want bad_request with %q", err, c.want)
			}
		})
	}
}
