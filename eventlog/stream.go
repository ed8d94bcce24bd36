package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// StreamInfo describes one actor's stream.
type StreamInfo struct {
	Actor ID
	// Head is the sequence of the last event ever appended; 0 for a stream
	// that never had one. It never goes down, not even when events are
	// deleted.
	Head uint64
	// First is the lowest sequence still stored; First > Head when every
	// event was deleted.
	First uint64
	// Created and Updated are the Unix millisecond times of the first and
	// the last append.
	Created int64
	Updated int64
	// LastPos is the global position of the last event appended.
	LastPos uint64
}

// Exists reports whether the stream ever had an event.
func (s StreamInfo) Exists() bool { return s.Head > 0 }

// Len returns the number of events still stored.
func (s StreamInfo) Len() uint64 {
	if s.Head == 0 || s.First > s.Head {
		return 0
	}
	return s.Head - s.First + 1
}

const streamRecVersion = 1

// appendStreamRec encodes the stream record: a version byte, then uvarints
// head, first, lastPos and varints created, updated.
func appendStreamRec(dst []byte, s *StreamInfo) []byte {
	dst = append(dst, streamRecVersion)
	dst = binary.AppendUvarint(dst, s.Head)
	dst = binary.AppendUvarint(dst, s.First)
	dst = binary.AppendUvarint(dst, s.LastPos)
	dst = binary.AppendVarint(dst, s.Created)
	return binary.AppendVarint(dst, s.Updated)
}

func decodeStreamRec(b []byte, s *StreamInfo) error {
	if len(b) == 0 || b[0] != streamRecVersion {
		return errors.New("unknown stream record version")
	}
	b = b[1:]
	var vals [5]uint64
	for i := range vals {
		var n int
		if i < 3 {
			vals[i], n = binary.Uvarint(b)
		} else {
			var v int64
			v, n = binary.Varint(b)
			vals[i] = uint64(v)
		}
		if n <= 0 {
			return fmt.Errorf("stream record field %d does not decode", i)
		}
		b = b[n:]
	}
	if len(b) != 0 {
		return errors.New("stream record has trailing bytes")
	}
	s.Head, s.First, s.LastPos = vals[0], vals[1], vals[2]
	s.Created, s.Updated = int64(vals[3]), int64(vals[4])
	if s.First == 0 || s.First > s.Head+1 {
		return fmt.Errorf("stream record has first %d beyond head %d", s.First, s.Head)
	}
	return nil
}

func streamKey(dst []byte, id ID) []byte {
	return AppendKey(append(dst, famStreams), id)
}

func eventKey(dst []byte, id ID, seq uint64) []byte {
	dst = AppendKey(append(dst, famEvents), id)
	return binary.BigEndian.AppendUint64(dst, seq)
}

func feedKey(dst []byte, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, famFeed), pos)
}
