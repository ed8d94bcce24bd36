package rivetkit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// BARE, as the client's protocol uses it (schemas/client-protocol/v4.bare
// in the rivetkit package, and its generated reader and writer): uint is
// an unsigned LEB128 varint of at most 10 bytes; data and string are a
// uint length and their bytes (a string's in UTF-8); bool is one byte, 0
// or 1; optional<T> is a bool and, if true, a T; a union is its tag, one
// byte for the few variants here, then the variant. A message is framed
// by vbare: its schema version as a little-endian uint16, then the BARE
// body.

// protocolVersion is the version of the client protocol this package
// writes (v4, rivetkit 2.3); it reads v1 to v4, whose messages from the
// client are laid out alike.
const protocolVersion = 4

var errBareShort = errors.New("rivetkit: BARE message ends early")

// bareReader reads a BARE message.
type bareReader struct {
	b []byte
}

// readVersion reads the vbare frame's version and checks it is one this
// package reads.
func (r *bareReader) readVersion() error {
	if len(r.b) < 2 {
		return errBareShort
	}
	v := binary.LittleEndian.Uint16(r.b)
	r.b = r.b[2:]
	if v < 1 || v > protocolVersion {
		return fmt.Errorf("rivetkit: client protocol version %d; this server reads 1 to %d", v, protocolVersion)
	}
	return nil
}

func (r *bareReader) uint() (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		if n == 0 {
			return 0, errBareShort
		}
		return 0, errors.New("rivetkit: BARE uint overflows 64 bits")
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *bareReader) byte() (byte, error) {
	if len(r.b) == 0 {
		return 0, errBareShort
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func (r *bareReader) bool() (bool, error) {
	c, err := r.byte()
	if err != nil {
		return false, err
	}
	if c > 1 {
		return false, fmt.Errorf("rivetkit: BARE bool is %d, not 0 or 1", c)
	}
	return c == 1, nil
}

func (r *bareReader) data() ([]byte, error) {
	n, err := r.uint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)) {
		return nil, errBareShort
	}
	d := r.b[:n]
	r.b = r.b[n:]
	return d, nil
}

func (r *bareReader) string() (string, error) {
	d, err := r.data()
	if err != nil {
		return "", err
	}
	if !utf8.Valid(d) {
		return "", errors.New("rivetkit: BARE string is not UTF-8")
	}
	return string(d), nil
}

// end checks that the message has no bytes left, as the client's decoder
// does.
func (r *bareReader) end() error {
	if len(r.b) > 0 {
		return fmt.Errorf("rivetkit: %d bytes after the BARE message", len(r.b))
	}
	return nil
}

// bareWriter writes a BARE message, its version first.
type bareWriter struct {
	b []byte
}

func newBareWriter() *bareWriter {
	w := &bareWriter{b: make([]byte, 2, 64)}
	binary.LittleEndian.PutUint16(w.b, protocolVersion)
	return w
}

func (w *bareWriter) uint(v uint64)   { w.b = binary.AppendUvarint(w.b, v) }
func (w *bareWriter) byte(c byte)     { w.b = append(w.b, c) }
func (w *bareWriter) data(d []byte)   { w.uint(uint64(len(d))); w.b = append(w.b, d...) }
func (w *bareWriter) string(s string) { w.uint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *bareWriter) present(ok bool) { w.bool(ok) }
func (w *bareWriter) bool(v bool) {
	if v {
		w.byte(1)
	} else {
		w.byte(0)
	}
}
