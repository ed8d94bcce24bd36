package eventlog

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The envelope codec is written by hand rather than with
// github.com/vmihailenco/msgpack/v5 (which the runtime uses for event
// data). BenchmarkEnvelope measures why: the same bytes, encoded and
// decoded both ways, on a typical event. BENCHMARKS.md ("The envelope
// codec") has the figures.

// benchEnvelopeEvent is a counter's event as the runtime writes it.
func benchEnvelopeEvent() Event {
	data, _ := msgpack.Marshal(map[string]any{"count": 41, "lastUpdated": int64(1714564801000)})
	return Event{Seq: 123456, Pos: 9876543, Type: "countUpdated", Data: data, Time: 1714564801000, Meta: Metadata{Causation: "increment"}}
}

// libEncode writes e's envelope with the library's encoder, field by
// field, as AppendEnvelope lays it out.
func libEncode(enc *msgpack.Encoder, e *Event) error {
	n := 5
	if !e.Meta.IsZero() {
		n = 6
	}
	enc.EncodeArrayLen(n)
	enc.EncodeUint(e.Seq)
	enc.EncodeUint(e.Pos)
	enc.EncodeString(e.Type)
	enc.EncodeBytes(e.Data)
	enc.EncodeInt(e.Time)
	if n == 6 {
		kv := [][2]string{{metaCorrelation, e.Meta.CorrelationID}, {metaCausation, e.Meta.Causation}, {metaIdempotency, e.Meta.IdempotencyKey}}
		m := 0
		for _, p := range kv {
			if p[1] != "" {
				m++
			}
		}
		enc.EncodeMapLen(m)
		for _, p := range kv {
			if p[1] != "" {
				enc.EncodeString(p[0])
				enc.EncodeString(p[1])
			}
		}
	}
	return nil
}

// libDecode reads an envelope with the library's decoder.
func libDecode(dec *msgpack.Decoder, e *Event) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	if e.Seq, err = dec.DecodeUint64(); err != nil {
		return err
	}
	if e.Pos, err = dec.DecodeUint64(); err != nil {
		return err
	}
	if e.Type, err = dec.DecodeString(); err != nil {
		return err
	}
	if e.Data, err = dec.DecodeBytes(); err != nil {
		return err
	}
	if e.Time, err = dec.DecodeInt64(); err != nil {
		return err
	}
	e.Meta = Metadata{}
	if n >= 6 {
		m, err := dec.DecodeMapLen()
		if err != nil {
			return err
		}
		for range m {
			k, err := dec.DecodeString()
			if err != nil {
				return err
			}
			s, err := dec.DecodeString()
			if err != nil {
				return err
			}
			switch k {
			case metaCorrelation:
				e.Meta.CorrelationID = s
			case metaCausation:
				e.Meta.Causation = s
			case metaIdempotency:
				e.Meta.IdempotencyKey = s
			}
		}
	}
	return nil
}

// TestEnvelope_LibraryReadsTheSame makes the benchmark's comparison fair:
// the library decodes what AppendEnvelope writes into the same event, and
// what it writes decodes the same.
func TestEnvelope_LibraryReadsTheSame(t *testing.T) {
	e := benchEnvelopeEvent()
	env := AppendEnvelope(nil, &e)
	var got Event
	if err := libDecode(msgpack.NewDecoder(bytes.NewReader(env)), &got); err != nil {
		t.Fatal(err)
	}
	if got.Seq != e.Seq || got.Pos != e.Pos || got.Type != e.Type || !bytes.Equal(got.Data, e.Data) || got.Time != e.Time || got.Meta != e.Meta {
		t.Fatalf("library decoded %+v, want %+v", got, e)
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := libEncode(enc, &e); err != nil {
		t.Fatal(err)
	}
	var back Event
	if err := DecodeEnvelope(buf.Bytes(), &back); err != nil || back.Seq != e.Seq || back.Type != e.Type || back.Meta != e.Meta || back.Time != e.Time {
		t.Fatalf("the library's envelope decodes as %+v, %v", back, err)
	}
}

// BenchmarkEnvelope: encode and decode one envelope by hand and with the
// library, and check one event's data (ValidValue against the library's
// Skip).
func BenchmarkEnvelope(b *testing.B) {
	e := benchEnvelopeEvent()
	env := AppendEnvelope(nil, &e)
	b.Run("encode=hand", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 256)
		for b.Loop() {
			buf = AppendEnvelope(buf[:0], &e)
		}
	})
	b.Run("encode=msgpack", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		for b.Loop() {
			buf.Reset()
			libEncode(enc, &e)
		}
	})
	b.Run("decode=hand", func(b *testing.B) {
		// As a scan decodes: data aliased, event types interned.
		b.ReportAllocs()
		var out Event
		types := make(map[string]string, 8)
		for b.Loop() {
			if err := decodeEnvelopeAlias(env, &out, types); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode=msgpack", func(b *testing.B) {
		b.ReportAllocs()
		var out Event
		r := bytes.NewReader(env)
		dec := msgpack.NewDecoder(r)
		for b.Loop() {
			r.Reset(env)
			dec.Reset(r)
			if err := libDecode(dec, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate=hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := ValidValue(e.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate=msgpack", func(b *testing.B) {
		b.ReportAllocs()
		r := bytes.NewReader(e.Data)
		dec := msgpack.NewDecoder(r)
		for b.Loop() {
			r.Reset(e.Data)
			dec.Reset(r)
			if err := dec.Skip(); err != nil || r.Len() != 0 {
				b.Fatal(err)
			}
		}
	})
}
