package eventlog

import (
	"bytes"
	"errors"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func sampleEvents() []Event {
	return []Event{
		{Seq: 1, Pos: 1, Type: "countUpdated", Data: []byte{0x81, 0xa5, 'c', 'o', 'u', 'n', 't', 0x2a}, Time: 1700000000000},
		{Seq: 200, Pos: 70000, Type: "x", Time: 0},
		{Seq: math.MaxUint64, Pos: math.MaxUint32 + 1, Type: strings.Repeat("t", 40), Data: bytes.Repeat([]byte{0xc0}, 1), Time: -5},
		{Seq: 3, Pos: 4, Type: "m", Data: append([]byte{0xc5, 0x01, 0x00}, bytes.Repeat([]byte{7}, 256)...), Time: math.MaxInt64,
			Meta: Metadata{CorrelationID: "corr", Causation: "sendMessage", IdempotencyKey: strings.Repeat("k", 300)}},
		{Seq: 5, Pos: 6, Type: "n", Time: -1 << 40, Meta: Metadata{Causation: "only"}},
	}
}

func TestEnvelope_RoundTrip(t *testing.T) {
	for _, e := range sampleEvents() {
		b := AppendEnvelope(nil, &e)
		var got Event
		if err := DecodeEnvelope(b, &got); err != nil {
			t.Fatalf("decode %+v: %v", e, err)
		}
		if got.Seq != e.Seq || got.Pos != e.Pos || got.Type != e.Type || !bytes.Equal(got.Data, e.Data) || got.Time != e.Time || got.Meta != e.Meta {
			t.Fatalf("round trip: got %+v, want %+v", got, e)
		}
	}
}

// TestEnvelope_Interop checks the hand-written codec against the msgpack
// library both ways: what we write, the library reads as the documented
// array; what the library writes in that shape, we read.
func TestEnvelope_Interop(t *testing.T) {
	for _, e := range sampleEvents() {
		var arr []any
		if err := msgpack.Unmarshal(AppendEnvelope(nil, &e), &arr); err != nil {
			t.Fatalf("library cannot read our envelope: %v", err)
		}
		if len(arr) < 5 || toU(arr[0]) != e.Seq || toU(arr[1]) != e.Pos || arr[2] != e.Type || toI(arr[4]) != e.Time {
			t.Fatalf("library read %v from %+v", arr, e)
		}
		if d, _ := arr[3].([]byte); !bytes.Equal(d, e.Data) && len(e.Data) > 0 {
			t.Fatalf("library read data %x, want %x", arr[3], e.Data)
		}

		fields := []any{e.Seq, e.Pos, e.Type, e.Data, e.Time}
		if !e.Meta.IsZero() {
			m := map[string]string{}
			if e.Meta.CorrelationID != "" {
				m["c"] = e.Meta.CorrelationID
			}
			if e.Meta.Causation != "" {
				m["a"] = e.Meta.Causation
			}
			if e.Meta.IdempotencyKey != "" {
				m["i"] = e.Meta.IdempotencyKey
			}
			m["future"] = "ignored"
			fields = append(fields, m, "a seventh field from a newer writer")
		}
		if e.Data == nil {
			fields[3] = []byte{}
		}
		b, err := msgpack.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		var got Event
		if err := DecodeEnvelope(b, &got); err != nil {
			t.Fatalf("cannot read the library's envelope %x: %v", b, err)
		}
		if got.Seq != e.Seq || got.Pos != e.Pos || got.Type != e.Type || !bytes.Equal(got.Data, e.Data) || got.Time != e.Time || got.Meta != e.Meta {
			t.Fatalf("library envelope decoded to %+v, want %+v", got, e)
		}
	}
}

func toU(v any) uint64 {
	switch x := v.(type) {
	case uint64:
		return x
	case int64:
		return uint64(x)
	case int8:
		return uint64(x)
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	}
	return 1<<64 - 1
}

func toI(v any) int64 {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	}
	return int64(toU(v))
}

func TestEnvelope_CorruptIsError(t *testing.T) {
	e := sampleEvents()[3]
	b := AppendEnvelope(nil, &e)
	for i := 0; i < len(b); i++ {
		var got Event
		if err := DecodeEnvelope(b[:i], &got); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrCorrupt", i, err)
		}
	}
	for _, bad := range [][]byte{{0x94, 1, 2, 0xa1, 'x'}, {0x95, 0xa1, 'x', 2, 3, 4, 5}, {0xc1}, append(b, 0)} {
		var got Event
		if err := DecodeEnvelope(bad, &got); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeEnvelope(%x): err = %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestValidValue(t *testing.T) {
	good := []any{nil, true, 1, -1, -100000, 1.5, float32(2), "s", strings.Repeat("s", 70000), []byte{1}, []any{1, "a", []any{}}, map[string]any{"a": map[string]any{"b": 1}}, msgpack.RawMessage{0xd4, 1, 2}}
	for _, v := range good {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidValue(b); err != nil {
			t.Errorf("ValidValue(%T %x): %v", v, b, err)
		}
	}
	deep := append(bytes.Repeat([]byte{0x91}, 300), 0x01)
	bad := [][]byte{{}, {0xc1}, {0x92, 1}, {0xa3, 'a'}, {0xdd, 0xff, 0xff, 0xff, 0xff}, {0xc6, 0x7f, 0xff, 0xff, 0xff}, {1, 2}, deep}
	for _, b := range bad {
		if err := ValidValue(b); err == nil {
			t.Errorf("ValidValue(%x) accepted malformed input", b)
		}
	}
}

func TestID_EncodingOrderAndPrefixFree(t *testing.T) {
	ids := []ID{
		{"a", "a"}, {"a", "a|b"}, {"a", "a\x00b"}, {"a", "a\x00"}, {"a", "a\x00\x01"}, {"a", "a\x01"}, {"a", "b"},
		{"a", "\x00"}, {"a", "\x00\x00"}, {"a", "\xff"[0:0] + "z"}, {"ab", "a"}, {"a-", "x"}, {"b", ""},
	}
	enc := make([][]byte, len(ids))
	for i, id := range ids {
		enc[i] = AppendKey(nil, id)
		got, rest, err := DecodeKey(append(enc[i], 9, 9))
		if err != nil || got != id || !bytes.Equal(rest, []byte{9, 9}) {
			t.Fatalf("DecodeKey(AppendKey(%q)) = %q, %x, %v", id, got, rest, err)
		}
	}
	for i := range enc {
		for j := range enc {
			if i != j && bytes.HasPrefix(enc[j], enc[i]) {
				t.Fatalf("encoding of %q is a prefix of %q's", ids[i], ids[j])
			}
		}
	}
	// Encoded order is (type, key) order.
	idx := make([]int, len(ids))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return bytes.Compare(enc[idx[a]], enc[idx[b]]) < 0 })
	for k := 1; k < len(idx); k++ {
		p, q := ids[idx[k-1]], ids[idx[k]]
		if p.Type > q.Type || p.Type == q.Type && p.Key >= q.Key {
			t.Fatalf("encoded order puts %q before %q", p, q)
		}
	}
}

func TestParseID(t *testing.T) {
	cases := []struct {
		in      string
		want    ID
		wantErr error
	}{
		{"counter:default", ID{"counter", "default"}, nil},
		{"chatRoom:lobby:2", ID{"chatRoom", "lobby:2"}, nil},
		{"counter", ID{}, ErrInvalidID},
		{":x", ID{}, ErrInvalidType},
		{"counter:", ID{}, ErrInvalidKey},
		{"9x:y", ID{}, ErrInvalidType},
	}
	for _, c := range cases {
		got, err := ParseID(c.in)
		if got != c.want || !errors.Is(err, c.wantErr) {
			t.Errorf("ParseID(%q) = %v, %v; want %v, %v", c.in, got, err, c.want, c.wantErr)
		}
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, e := range sampleEvents() {
		f.Add(AppendEnvelope(nil, &e))
	}
	f.Add([]byte{0x96, 1, 1, 0xa1, 'x', 0xc4, 0, 0, 0xde, 0, 1, 0xa1, 'c', 0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		if err := DecodeEnvelope(b, &e); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		// What decodes re-encodes to something that decodes the same.
		var again Event
		if err := DecodeEnvelope(AppendEnvelope(nil, &e), &again); err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if again.Seq != e.Seq || again.Pos != e.Pos || again.Type != e.Type || !bytes.Equal(again.Data, e.Data) || again.Time != e.Time || again.Meta != e.Meta {
			t.Fatalf("re-encoding changed %+v into %+v", e, again)
		}
	})
}

func FuzzValidValue(f *testing.F) {
	for _, v := range []any{1, "s", []any{1, map[string]any{"a": []byte{1}}}, 1.5} {
		b, _ := msgpack.Marshal(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ValidValue(b) != nil {
			return
		}
		// A valid value is exactly as long as the library says.
		dec := msgpack.NewDecoder(bytes.NewReader(b))
		if err := dec.Skip(); err != nil {
			t.Fatalf("ValidValue accepted %x; the library cannot skip it: %v", b, err)
		}
		if dec.Buffered().(*bytes.Reader).Len() != 0 {
			t.Fatalf("ValidValue accepted %x with trailing bytes", b)
		}
	})
}
