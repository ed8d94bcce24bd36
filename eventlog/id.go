package eventlog

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on actor ids.
const (
	// MaxTypeLen is the longest actor type name, in bytes.
	MaxTypeLen = 64
	// MaxKeyLen is the longest actor key, in bytes.
	MaxKeyLen = 256
)

// ID addresses one actor and so one stream: a type name such as "counter"
// and a key such as "default". Its text form is "type:key".
type ID struct {
	Type string
	Key  string
}

// String returns "type:key".
func (id ID) String() string { return id.Type + ":" + id.Key }

// ParseID parses the "type:key" form. The type ends at the first colon; the
// key may itself contain colons.
func ParseID(s string) (ID, error) {
	typ, key, ok := strings.Cut(s, ":")
	if !ok {
		return ID{}, &IDError{Kind: ErrInvalidID, Reason: fmt.Sprintf("%q has no ':' between type and key", s)}
	}
	id := ID{Type: typ, Key: key}
	if err := id.Validate(); err != nil {
		return ID{}, err
	}
	return id, nil
}

// Validate reports whether id is well formed: a type of 1 to 64 bytes of
// [A-Za-z0-9_-] starting with a letter, and a key of 1 to 256 bytes of
// valid UTF-8. The error is an *IDError wrapping ErrInvalidType or
// ErrInvalidKey.
func (id ID) Validate() error {
	if err := ValidateType(id.Type); err != nil {
		return err
	}
	switch {
	case len(id.Key) == 0:
		return &IDError{Kind: ErrInvalidKey, Reason: "key is empty"}
	case len(id.Key) > MaxKeyLen:
		return &IDError{Kind: ErrInvalidKey, Reason: fmt.Sprintf("key is %d bytes, the limit is %d", len(id.Key), MaxKeyLen)}
	case !utf8.ValidString(id.Key):
		return &IDError{Kind: ErrInvalidKey, Reason: "key is not valid UTF-8"}
	}
	return nil
}

// ValidateType reports whether typ is a well-formed actor type name.
func ValidateType(typ string) error {
	if len(typ) == 0 {
		return &IDError{Kind: ErrInvalidType, Reason: "type is empty"}
	}
	if len(typ) > MaxTypeLen {
		return &IDError{Kind: ErrInvalidType, Reason: fmt.Sprintf("type is %d bytes, the limit is %d", len(typ), MaxTypeLen)}
	}
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !letter {
			return &IDError{Kind: ErrInvalidType, Reason: fmt.Sprintf("%q must start with a letter", typ)}
		}
		if !letter && !(c >= '0' && c <= '9') && c != '_' && c != '-' {
			return &IDError{Kind: ErrInvalidType, Reason: fmt.Sprintf("%q has %q; only letters, digits, '_' and '-' are allowed", typ, c)}
		}
	}
	return nil
}

// AppendKey appends the order-preserving, self-delimiting encoding of id to
// dst: the type and then the key, each with 0x00 escaped as 0x00 0xFF and
// followed by the terminator 0x00 0x01. No encoded id is a prefix of
// another, so the key range of one actor never contains another actor's
// keys, whatever bytes the key holds; and encoded ids sort by type, then by
// key. Other packages use it to key records by actor.
func AppendKey(dst []byte, id ID) []byte {
	dst = appendEscaped(dst, id.Type)
	return appendEscaped(dst, id.Key)
}

// AppendTypeKey appends the encoding of a type alone: the prefix shared by
// every actor of that type.
func AppendTypeKey(dst []byte, typ string) []byte { return appendEscaped(dst, typ) }

func appendEscaped(dst []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			break
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, 0x00, 0xFF)
		s = s[i+1:]
	}
	dst = append(dst, s...)
	return append(dst, 0x00, 0x01)
}

// DecodeKey decodes an id encoded by AppendKey at the start of b and
// returns it with the rest of b.
func DecodeKey(b []byte) (ID, []byte, error) {
	id, rest, err := decodeKey(b)
	if err != nil {
		return ID{}, nil, corrupt(err)
	}
	return id, rest, nil
}

// decodeKey is DecodeKey with errors that do not wrap ErrCorrupt, for
// callers that name the place in a *CorruptionError.
func decodeKey(b []byte) (ID, []byte, error) {
	typ, rest, err := decodeEscaped(b)
	if err != nil {
		return ID{}, nil, err
	}
	key, rest, err := decodeEscaped(rest)
	if err != nil {
		return ID{}, nil, err
	}
	return ID{Type: typ, Key: key}, rest, nil
}

func decodeEscaped(b []byte) (string, []byte, error) {
	var out []byte
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 || i+1 >= len(b) {
			return "", nil, errors.New("unterminated actor id")
		}
		switch b[i+1] {
		case 0x01:
			if out == nil {
				return string(b[:i]), b[i+2:], nil
			}
			out = append(out, b[:i]...)
			return string(out), b[i+2:], nil
		case 0xFF:
			out = append(out, b[:i]...)
			out = append(out, 0)
			b = b[i+2:]
		default:
			return "", nil, errors.New("bad escape in actor id")
		}
	}
}
