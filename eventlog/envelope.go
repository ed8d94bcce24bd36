package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Event is one entry of a stream. On Append the caller sets Type, Data and
// optionally Time and Meta; the log assigns Seq and Pos and fills Actor.
// Events returned by reads and subscriptions may be shared between readers:
// treat them, Data included, as read-only.
type Event struct {
	Actor ID     // the stream the event belongs to
	Seq   uint64 // position in the actor's stream, from 1, gapless
	Pos   uint64 // position in the global feed, from 1, increasing
	Type  string // event type name, such as "countUpdated"
	Data  []byte // the payload: one msgpack value
	Time  int64  // Unix milliseconds; 0 on Append means now
	Meta  Metadata
}

// Metadata is optional context carried with an event.
type Metadata struct {
	CorrelationID  string // ties the events of one request together
	Causation      string // what caused the event, such as the action name
	IdempotencyKey string // the client's key for a retried request
}

// IsZero reports whether m carries nothing.
func (m Metadata) IsZero() bool { return m == Metadata{} }

// Timestamp returns Time as a time.Time.
func (e *Event) Timestamp() time.Time { return time.UnixMilli(e.Time) }

// The envelope codec is written by hand, not with the msgpack library the
// runtime uses for event data: every event is encoded once and decoded on
// every replay, scan and subscription, and the library is 3-4x slower at
// both, allocates for the data a scan can alias, and has no depth bound
// for checking hostile data (ValidValue). BENCHMARKS.md, "The envelope
// codec", has the figures (BenchmarkEnvelope).

// msgpack format codes used by the envelope codec.
const (
	mpNil     = 0xc0
	mpFalse   = 0xc2
	mpTrue    = 0xc3
	mpBin8    = 0xc4
	mpBin16   = 0xc5
	mpBin32   = 0xc6
	mpExt8    = 0xc7
	mpExt16   = 0xc8
	mpExt32   = 0xc9
	mpFloat32 = 0xca
	mpFloat64 = 0xcb
	mpUint8   = 0xcc
	mpUint16  = 0xcd
	mpUint32  = 0xce
	mpUint64  = 0xcf
	mpInt8    = 0xd0
	mpInt16   = 0xd1
	mpInt32   = 0xd2
	mpInt64   = 0xd3
	mpFixExt1 = 0xd4
	mpFixExt2 = 0xd5
	mpFixExt4 = 0xd6
	mpFixExt8 = 0xd7
	mpFixExt  = 0xd8
	mpStr8    = 0xd9
	mpStr16   = 0xda
	mpStr32   = 0xdb
	mpArray16 = 0xdc
	mpArray32 = 0xdd
	mpMap16   = 0xde
	mpMap32   = 0xdf
)

// Metadata keys in the envelope's metadata map.
const (
	metaCorrelation = "c"
	metaCausation   = "a"
	metaIdempotency = "i"
)

// AppendEnvelope appends the msgpack envelope of e to dst. The layout is
// documented in the package comment.
func AppendEnvelope(dst []byte, e *Event) []byte {
	n := 5
	if !e.Meta.IsZero() {
		n = 6
	}
	dst = append(dst, 0x90|byte(n))
	dst = appendUint(dst, e.Seq)
	dst = appendUint(dst, e.Pos)
	dst = appendStr(dst, e.Type)
	dst = appendBin(dst, e.Data)
	dst = appendInt(dst, e.Time)
	if n == 6 {
		m := 0
		for _, v := range [...]string{e.Meta.CorrelationID, e.Meta.Causation, e.Meta.IdempotencyKey} {
			if v != "" {
				m++
			}
		}
		dst = append(dst, 0x80|byte(m))
		if e.Meta.CorrelationID != "" {
			dst = appendStr(appendStr(dst, metaCorrelation), e.Meta.CorrelationID)
		}
		if e.Meta.Causation != "" {
			dst = appendStr(appendStr(dst, metaCausation), e.Meta.Causation)
		}
		if e.Meta.IdempotencyKey != "" {
			dst = appendStr(appendStr(dst, metaIdempotency), e.Meta.IdempotencyKey)
		}
	}
	return dst
}

func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, mpUint8, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpUint16), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, mpUint32), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(dst, mpUint64), v)
	}
}

func appendInt(dst []byte, v int64) []byte {
	if v >= 0 {
		return appendUint(dst, uint64(v))
	}
	if v >= -32 {
		return append(dst, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(v))
}

func appendStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n <= 31:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, mpStr8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpStr16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpStr32), uint32(n))
	}
	return append(dst, s...)
}

func appendBin(dst []byte, b []byte) []byte {
	switch n := len(b); {
	case n <= math.MaxUint8:
		dst = append(dst, mpBin8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpBin16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpBin32), uint32(n))
	}
	return append(dst, b...)
}

var (
	errShort    = errors.New("truncated")
	errEnvelope = errors.New("not an event envelope")
)

// DecodeEnvelope decodes an envelope written by AppendEnvelope into e. Data
// and strings are copied, so b may be reused. Envelopes with more than six
// fields decode too (later fields are ignored), so that a newer writer's
// records stay readable. The error wraps ErrCorrupt; it never panics.
func DecodeEnvelope(b []byte, e *Event) error {
	if err := decodeEnvelope(b, e, nil, false); err != nil {
		return corrupt(err)
	}
	return nil
}

// decodeEnvelopeAlias decodes like DecodeEnvelope but leaves e.Data
// pointing into b. Its error says only what is wrong with the bytes: the
// caller names the place in a *CorruptionError.
func decodeEnvelopeAlias(b []byte, e *Event, types map[string]string) error {
	return decodeEnvelope(b, e, types, true)
}

// decodeEnvelope is DecodeEnvelope with an optional table that interns event
// type names, since a stream holds few distinct ones, and errors that do
// not wrap ErrCorrupt.
func decodeEnvelope(b []byte, e *Event, types map[string]string, alias bool) error {
	d := decoder{b: b}
	n, err := d.arrayLen()
	if err != nil {
		return err
	}
	if n < 5 {
		return fmt.Errorf("%w: %d fields", errEnvelope, n)
	}
	if e.Seq, err = d.uint(); err != nil {
		return err
	}
	if e.Pos, err = d.uint(); err != nil {
		return err
	}
	typ, err := d.str()
	if err != nil {
		return err
	}
	if types != nil && e.Type != "" && string(typ) == e.Type {
		// Same type as the previous event of this scan: keep it.
	} else if types != nil {
		if s, ok := types[string(typ)]; ok {
			e.Type = s
		} else {
			e.Type = string(typ)
			if len(types) < 256 {
				types[e.Type] = e.Type
			}
		}
	} else {
		e.Type = string(typ)
	}
	data, err := d.bin()
	if err != nil {
		return err
	}
	if alias {
		e.Data = data
	} else {
		e.Data = append([]byte(nil), data...)
	}
	if e.Time, err = d.int(); err != nil {
		return err
	}
	e.Meta = Metadata{}
	if n >= 6 {
		if err := d.meta(&e.Meta); err != nil {
			return err
		}
	}
	for i := 6; i < n; i++ {
		if d.p, err = skipValue(d.b, d.p, 0); err != nil {
			return err
		}
	}
	if d.p != len(d.b) {
		return fmt.Errorf("%d trailing bytes", len(d.b)-d.p)
	}
	return nil
}

func corrupt(err error) error { return fmt.Errorf("%w: %w", ErrCorrupt, err) }

type decoder struct {
	b []byte
	p int
}

func (d *decoder) need(n int) ([]byte, error) {
	if n < 0 || len(d.b)-d.p < n {
		return nil, errShort
	}
	s := d.b[d.p : d.p+n]
	d.p += n
	return s, nil
}

func (d *decoder) byte() (byte, error) {
	if d.p >= len(d.b) {
		return 0, errShort
	}
	c := d.b[d.p]
	d.p++
	return c, nil
}

func (d *decoder) arrayLen() (int, error) {
	c, err := d.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case c&0xf0 == 0x90:
		return int(c & 0x0f), nil
	case c == mpArray16:
		s, err := d.need(2)
		if err != nil {
			return 0, err
		}
		return int(binary.BigEndian.Uint16(s)), nil
	}
	return 0, fmt.Errorf("%w: code %#x where an array belongs", errEnvelope, c)
}

func (d *decoder) uint() (uint64, error) {
	c, err := d.byte()
	if err != nil {
		return 0, err
	}
	if c <= 0x7f {
		return uint64(c), nil
	}
	var s []byte
	switch c {
	case mpUint8:
		s, err = d.need(1)
		if err == nil {
			return uint64(s[0]), nil
		}
	case mpUint16:
		s, err = d.need(2)
		if err == nil {
			return uint64(binary.BigEndian.Uint16(s)), nil
		}
	case mpUint32:
		s, err = d.need(4)
		if err == nil {
			return uint64(binary.BigEndian.Uint32(s)), nil
		}
	case mpUint64:
		s, err = d.need(8)
		if err == nil {
			return binary.BigEndian.Uint64(s), nil
		}
	default:
		return 0, fmt.Errorf("%w: code %#x where an unsigned integer belongs", errEnvelope, c)
	}
	return 0, err
}

func (d *decoder) int() (int64, error) {
	if d.p < len(d.b) {
		switch c := d.b[d.p]; {
		case c >= 0xe0:
			d.p++
			return int64(int8(c)), nil
		case c == mpInt8, c == mpInt16, c == mpInt32, c == mpInt64:
			d.p++
			n := 1 << (c - mpInt8)
			s, err := d.need(n)
			if err != nil {
				return 0, err
			}
			switch n {
			case 1:
				return int64(int8(s[0])), nil
			case 2:
				return int64(int16(binary.BigEndian.Uint16(s))), nil
			case 4:
				return int64(int32(binary.BigEndian.Uint32(s))), nil
			}
			return int64(binary.BigEndian.Uint64(s)), nil
		}
	}
	u, err := d.uint()
	if err != nil {
		return 0, err
	}
	if u > math.MaxInt64 {
		return 0, fmt.Errorf("%w: timestamp out of range", errEnvelope)
	}
	return int64(u), nil
}

func (d *decoder) str() ([]byte, error) {
	c, err := d.byte()
	if err != nil {
		return nil, err
	}
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == mpStr8:
		s, err := d.need(1)
		if err != nil {
			return nil, err
		}
		n = int(s[0])
	case c == mpStr16:
		s, err := d.need(2)
		if err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(s))
	case c == mpStr32:
		s, err := d.need(4)
		if err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint32(s))
	default:
		return nil, fmt.Errorf("%w: code %#x where a string belongs", errEnvelope, c)
	}
	return d.need(n)
}

func (d *decoder) bin() ([]byte, error) {
	c, err := d.byte()
	if err != nil {
		return nil, err
	}
	var n int
	switch c {
	case mpBin8:
		s, err := d.need(1)
		if err != nil {
			return nil, err
		}
		n = int(s[0])
	case mpBin16:
		s, err := d.need(2)
		if err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(s))
	case mpBin32:
		s, err := d.need(4)
		if err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint32(s))
	default:
		return nil, fmt.Errorf("%w: code %#x where bytes belong", errEnvelope, c)
	}
	return d.need(n)
}

func (d *decoder) meta(m *Metadata) error {
	if d.p < len(d.b) && d.b[d.p] == mpNil {
		d.p++
		return nil
	}
	c, err := d.byte()
	if err != nil {
		return err
	}
	var n int
	switch {
	case c&0xf0 == 0x80:
		n = int(c & 0x0f)
	case c == mpMap16:
		s, err := d.need(2)
		if err != nil {
			return err
		}
		n = int(binary.BigEndian.Uint16(s))
	default:
		return fmt.Errorf("%w: code %#x where metadata belongs", errEnvelope, c)
	}
	for i := 0; i < n; i++ {
		k, err := d.str()
		if err != nil {
			return err
		}
		var dst *string
		switch string(k) {
		case metaCorrelation:
			dst = &m.CorrelationID
		case metaCausation:
			dst = &m.Causation
		case metaIdempotency:
			dst = &m.IdempotencyKey
		}
		if dst == nil {
			if d.p, err = skipValue(d.b, d.p, 0); err != nil {
				return err
			}
			continue
		}
		v, err := d.str()
		if err != nil {
			return err
		}
		*dst = string(v)
	}
	return nil
}

// maxDepth bounds the nesting that ValidValue accepts, so that hostile
// input cannot exhaust the stack.
const maxDepth = 256

// ValidValue reports whether b holds exactly one well-formed msgpack value
// nested at most 256 deep.
func ValidValue(b []byte) error {
	p, err := skipValue(b, 0, 0)
	if err != nil {
		return err
	}
	if p != len(b) {
		return fmt.Errorf("%d bytes after the value", len(b)-p)
	}
	return nil
}

// skipValue returns the offset just past the msgpack value at b[p:].
func skipValue(b []byte, p, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errors.New("nested too deep")
	}
	if p >= len(b) {
		return 0, errShort
	}
	c := b[p]
	p++
	var size, items int // bytes to skip, then values to skip
	switch {
	case c <= 0x7f || c >= 0xe0, c == mpNil, c == mpFalse, c == mpTrue:
	case c&0xf0 == 0x80:
		items = 2 * int(c&0x0f)
	case c&0xf0 == 0x90:
		items = int(c & 0x0f)
	case c&0xe0 == 0xa0:
		size = int(c & 0x1f)
	case c == mpUint8, c == mpInt8:
		size = 1
	case c == mpUint16, c == mpInt16:
		size = 2
	case c == mpUint32, c == mpInt32, c == mpFloat32:
		size = 4
	case c == mpUint64, c == mpInt64, c == mpFloat64:
		size = 8
	case c == mpFixExt1, c == mpFixExt2, c == mpFixExt4, c == mpFixExt8, c == mpFixExt:
		size = 1 + 1<<(c-mpFixExt1)
	case c == mpBin8, c == mpStr8, c == mpExt8:
		n, err := lenAt(b, p, 1)
		if err != nil {
			return 0, err
		}
		p++
		size = n
		if c == mpExt8 {
			size++
		}
	case c == mpBin16, c == mpStr16, c == mpExt16, c == mpArray16, c == mpMap16:
		n, err := lenAt(b, p, 2)
		if err != nil {
			return 0, err
		}
		p += 2
		switch c {
		case mpArray16:
			items = n
		case mpMap16:
			items = 2 * n
		case mpExt16:
			size = n + 1
		default:
			size = n
		}
	case c == mpBin32, c == mpStr32, c == mpExt32, c == mpArray32, c == mpMap32:
		n, err := lenAt(b, p, 4)
		if err != nil {
			return 0, err
		}
		p += 4
		switch c {
		case mpArray32:
			items = n
		case mpMap32:
			items = 2 * n
		case mpExt32:
			size = n + 1
		default:
			size = n
		}
	default:
		return 0, fmt.Errorf("invalid msgpack code %#x", c)
	}
	if size > len(b)-p {
		return 0, errShort
	}
	p += size
	if items > len(b)-p { // every item takes at least one byte
		return 0, errShort
	}
	for i := 0; i < items; i++ {
		var err error
		if p, err = skipValue(b, p, depth+1); err != nil {
			return 0, err
		}
	}
	return p, nil
}

func lenAt(b []byte, p, width int) (int, error) {
	if len(b)-p < width {
		return 0, errShort
	}
	switch width {
	case 1:
		return int(b[p]), nil
	case 2:
		return int(binary.BigEndian.Uint16(b[p:])), nil
	}
	n := binary.BigEndian.Uint32(b[p:])
	if uint64(n) > uint64(len(b)) {
		return 0, errShort
	}
	return int(n), nil
}
