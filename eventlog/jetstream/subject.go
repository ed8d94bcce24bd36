package jetstream

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/actorlog/actorlog/eventlog"
)

// subjects names the subjects of one stream; see the package doc for the
// layout.
type subjects struct {
	prefix string // such as "actorlog", with no trailing dot
}

// plainToken reports whether s can stand as a subject token as it is: one
// or more of [A-Za-z0-9_-]. Every other key is encoded, so that no key can
// hold '.', '*', '>' or white space, and no encoded key is also a plain
// one (the encoding starts with '~').
func plainToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// keyToken encodes an actor key as one subject token: the key itself when
// it is plain, else '~' and its unpadded base64url encoding.
func keyToken(key string) string {
	if plainToken(key) {
		return key
	}
	return "~" + base64.RawURLEncoding.EncodeToString([]byte(key))
}

// decodeKeyToken is the inverse of keyToken. It refuses a token that
// keyToken would not have made (such as a plain key encoded), so that an
// actor has one subject only.
func decodeKeyToken(tok string) (string, error) {
	if rest, ok := strings.CutPrefix(tok, "~"); ok {
		b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
		if err != nil {
			return "", fmt.Errorf("key token %q: %w", tok, err)
		}
		if plainToken(string(b)) {
			return "", fmt.Errorf("key token %q encodes a plain key", tok)
		}
		// One token per key: the decoder skips line breaks, so a token
		// holding them would decode too.
		if keyToken(string(b)) != tok {
			return "", fmt.Errorf("key token %q is not the one its key makes", tok)
		}
		return string(b), nil
	}
	if !plainToken(tok) {
		return "", fmt.Errorf("key token %q is neither plain nor encoded", tok)
	}
	return tok, nil
}

// actor returns the subject prefix of an actor: prefix.a.type.key. Its
// events are on actor+".e", its stream markers on actor+".m".
func (s subjects) actor(id eventlog.ID) string {
	return s.prefix + ".a." + id.Type + "." + keyToken(id.Key)
}

func (s subjects) events(id eventlog.ID) string  { return s.actor(id) + ".e" }
func (s subjects) marker(id eventlog.ID) string  { return s.actor(id) + ".m" }
func (s subjects) ofActor(id eventlog.ID) string { return s.actor(id) + ".>" }

// allEvents is the filter of every event of every actor: the feed.
func (s subjects) allEvents() string { return s.prefix + ".a.*.*.e" }

// actorsOf is the filter of every actor subject, of one type or all.
func (s subjects) actorsOf(typ string) string {
	if typ == "" {
		return s.prefix + ".a.>"
	}
	return s.prefix + ".a." + typ + ".>"
}

// parseActor returns the actor of an event or marker subject, and whether
// it is an event subject.
func (s subjects) parseActor(subj string) (eventlog.ID, bool, error) {
	rest, ok := strings.CutPrefix(subj, s.prefix+".a.")
	if !ok {
		return eventlog.ID{}, false, fmt.Errorf("subject %q is not an actor's", subj)
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 || (parts[2] != "e" && parts[2] != "m") {
		return eventlog.ID{}, false, fmt.Errorf("subject %q is not an actor's", subj)
	}
	key, err := decodeKeyToken(parts[1])
	if err != nil {
		return eventlog.ID{}, false, err
	}
	id := eventlog.ID{Type: parts[0], Key: key}
	if err := id.Validate(); err != nil {
		return eventlog.ID{}, false, fmt.Errorf("subject %q: %w", subj, err)
	}
	return id, parts[2] == "e", nil
}

// Record subjects: prefix.r.SS.HH.HH...= where SS is the space and each
// HH one byte of the key, in lower-case hex, one token per byte, and '='
// ends the key. A token per byte makes every key prefix a subject filter
// (prefix.r.SS.HH.HH.>), so that a Scan asks the server for the records
// under the range's common prefix only; hex keeps the key order.

const recordEnd = "="

func (s subjects) spacePrefix(sp eventlog.Space) string {
	return s.prefix + ".r." + hex.EncodeToString([]byte{byte(sp)})
}

func appendKeyTokens(b *strings.Builder, key []byte) {
	var h [2]byte
	for _, c := range key {
		hex.Encode(h[:], []byte{c})
		b.WriteByte('.')
		b.Write(h[:])
	}
}

// record returns the subject of a record.
func (s subjects) record(sp eventlog.Space, key []byte) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + 8 + 3*len(key))
	b.WriteString(s.spacePrefix(sp))
	appendKeyTokens(&b, key)
	b.WriteString("." + recordEnd)
	return b.String()
}

// recordsUnder is the filter of the records of space sp whose keys start
// with prefix.
func (s subjects) recordsUnder(sp eventlog.Space, prefix []byte) string {
	var b strings.Builder
	b.WriteString(s.spacePrefix(sp))
	appendKeyTokens(&b, prefix)
	b.WriteString(".>")
	return b.String()
}

// rangeDeletes is the subject of the range deletions of space sp.
func (s subjects) rangeDeletes(sp eventlog.Space) string {
	return s.prefix + ".x." + hex.EncodeToString([]byte{byte(sp)})
}

// parseRecord returns the key of a record subject of space sp.
func (s subjects) parseRecord(sp eventlog.Space, subj string) ([]byte, error) {
	rest, ok := strings.CutPrefix(subj, s.spacePrefix(sp)+".")
	if !ok {
		return nil, fmt.Errorf("subject %q is not a record of space %#x", subj, sp)
	}
	toks := strings.Split(rest, ".")
	if toks[len(toks)-1] != recordEnd {
		return nil, fmt.Errorf("record subject %q does not end in %q", subj, recordEnd)
	}
	key := make([]byte, 0, len(toks)-1)
	for _, t := range toks[:len(toks)-1] {
		if len(t) != 2 {
			return nil, errors.New("record subject " + subj + " has a token that is not one hex byte")
		}
		b, err := hex.DecodeString(t)
		if err != nil {
			return nil, fmt.Errorf("record subject %q: %w", subj, err)
		}
		key = append(key, b[0])
	}
	return key, nil
}

// validPrefix reports whether p can prefix the subjects: tokens of
// [A-Za-z0-9_-] separated by dots.
func validPrefix(p string) bool {
	for _, t := range strings.Split(p, ".") {
		if !plainToken(t) {
			return false
		}
	}
	return true
}
