// Package snapshots stores encoded actor state at a sequence number, so
// that waking an actor replays only the events after its newest snapshot,
// and decides when to take one.
//
// A snapshot is a cache, never the source of truth: one whose bytes do not
// decode or whose state schema differs from the caller's is reported as
// unusable, and the caller replays from the log.
//
// # On-disk format
//
// Snapshots live in the log's store, in eventlog.SpaceSnapshots (0x20),
// keyed by the actor id
// (eventlog.AppendKey) and the sequence as 8 bytes big-endian. The value is
//
//	version byte (1) | schema uvarint | time varint (Unix ms) |
//	crc32-C of state, 4 bytes BE | state
package snapshots

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// Space is the log space that holds snapshots.
const Space = eventlog.SpaceSnapshots

const valueVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned by Load.
var (
	// ErrNotFound means the actor has no snapshot at or below the sequence.
	ErrNotFound = errors.New("snapshots: no snapshot")
	// ErrUnusable is wrapped by *UnusableError.
	ErrUnusable = errors.New("snapshots: unusable snapshot")
	// ErrTooLarge is returned by Save for state over Options.MaxStateSize.
	ErrTooLarge = errors.New("snapshots: state too large")
)

// UnusableError reports that the snapshots found could not be used: they
// do not decode, or were written with another state schema. Replay from
// the log instead.
type UnusableError struct {
	Actor  eventlog.ID
	Seq    uint64 // the newest snapshot that was rejected
	Reason string
}

func (e *UnusableError) Error() string {
	return fmt.Sprintf("snapshots: %s at seq %d unusable: %s", e.Actor, e.Seq, e.Reason)
}

// Unwrap makes errors.Is(err, ErrUnusable) true.
func (e *UnusableError) Unwrap() error { return ErrUnusable }

// Snapshot is encoded actor state as of sequence Seq.
type Snapshot struct {
	Actor  eventlog.ID
	Seq    uint64
	Schema uint32 // the state schema version of the caller that wrote it
	Time   int64  // Unix ms when it was taken
	State  []byte
}

// The defaults of Options and Policy.
const (
	DefaultKeep         = 2
	DefaultMaxStateSize = 16 << 20
	DefaultEvery        = 1000
	DefaultEveryBytes   = 1 << 20
)

// Options configure a Store. The zero value gives the defaults.
type Options struct {
	// Keep is how many snapshots per actor are kept; older ones are deleted
	// when a new one is saved. Default DefaultKeep (2).
	Keep int
	// MaxStateSize is the largest state Save accepts, in bytes. Default
	// DefaultMaxStateSize (16 MiB).
	MaxStateSize int
}

// Log is what a Store needs of the event log's store: its records, read
// with Scan and written with Write. Any eventlog.Store is one.
type Log interface {
	Scan(ctx context.Context, sp eventlog.Space, lo, hi []byte, reverse bool, fn func(key, value []byte) error) error
	Write(ctx context.Context, r eventlog.Request) (eventlog.AppendResult, error)
}

// Store saves and loads snapshots in a log's store. It is safe for
// concurrent use. Actor ids are taken as checked by the caller (the
// runtime, or a tool's parsing of its input); Save alone checks again,
// so that no malformed id is ever written.
type Store struct {
	log  Log
	opts Options
}

// New returns a Store over log.
func New(log Log, opts Options) *Store {
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	if opts.MaxStateSize <= 0 {
		opts.MaxStateSize = DefaultMaxStateSize
	}
	return &Store{log: log, opts: opts}
}

func prefix(id eventlog.ID) []byte { return eventlog.AppendKey(nil, id) }

func key(id eventlog.ID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(prefix(id), seq)
}

// prefixEnd is the first key after every key of the actor: its encoding
// ends with the terminator 0x00 0x01, so 0x00 0x02 follows them all.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	end[len(end)-1]++
	return end
}

// Save stores snap and deletes the actor's snapshots beyond the newest
// Options.Keep.
func (s *Store) Save(ctx context.Context, snap Snapshot) error {
	if err := snap.Actor.Validate(); err != nil {
		return err
	}
	if snap.Seq == 0 {
		return fmt.Errorf("snapshots: %s: a snapshot needs a sequence above 0", snap.Actor)
	}
	if len(snap.State) > s.opts.MaxStateSize {
		return fmt.Errorf("%w: %s state is %d bytes, the limit is %d", ErrTooLarge, snap.Actor, len(snap.State), s.opts.MaxStateSize)
	}
	if snap.Time == 0 {
		snap.Time = time.Now().UnixMilli()
	}
	v := []byte{valueVersion}
	v = binary.AppendUvarint(v, uint64(snap.Schema))
	v = binary.AppendVarint(v, snap.Time)
	v = binary.BigEndian.AppendUint32(v, crc32.Checksum(snap.State, castagnoli))
	v = append(v, snap.State...)
	ops := []eventlog.Op{{Space: Space, Key: key(snap.Actor, snap.Seq), Value: v}}

	// Prune: keep the newest Keep-1 others.
	p := prefix(snap.Actor)
	kept := 0
	err := s.log.Scan(ctx, Space, p, prefixEnd(p), true, func(k, _ []byte) error {
		if len(k) != len(p)+8 || binary.BigEndian.Uint64(k[len(p):]) == snap.Seq {
			return nil
		}
		if kept++; kept >= s.opts.Keep {
			ops = append(ops, eventlog.Op{Space: Space, Key: append([]byte(nil), k...), Delete: true})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	if _, err := s.log.Write(ctx, eventlog.Request{Ops: ops}); err != nil {
		return fmt.Errorf("snapshots: save %s at %d: %w", snap.Actor, snap.Seq, err)
	}
	return nil
}

// Load returns the newest usable snapshot of the actor at or below seq
// (0: the newest of all) whose schema is schema. With none it returns
// ErrNotFound, or an *UnusableError if snapshots exist but none is usable.
func (s *Store) Load(ctx context.Context, id eventlog.ID, seq uint64, schema uint32) (Snapshot, error) {
	p := prefix(id)
	hi := prefixEnd(p)
	if seq > 0 && seq < 1<<63 {
		hi = key(id, seq+1)
	}
	var found Snapshot
	var unusable *UnusableError
	errFound := errors.New("found")
	err := s.log.Scan(ctx, Space, p, hi, true, func(k, v []byte) error {
		if len(k) != len(p)+8 {
			return nil
		}
		at := binary.BigEndian.Uint64(k[len(p):])
		snap, err := decode(v)
		if err == nil && snap.Schema != schema {
			err = fmt.Errorf("schema %d, want %d", snap.Schema, schema)
		}
		if err != nil {
			if unusable == nil {
				unusable = &UnusableError{Actor: id, Seq: at, Reason: err.Error()}
			}
			return nil
		}
		snap.Actor, snap.Seq = id, at
		found = snap
		return errFound
	})
	switch {
	case err == errFound:
		return found, nil
	case err != nil:
		return Snapshot{}, fmt.Errorf("snapshots: load %s: %w", id, err)
	case unusable != nil:
		return Snapshot{}, unusable
	}
	return Snapshot{}, ErrNotFound
}

func decode(v []byte) (Snapshot, error) {
	var snap Snapshot
	if len(v) == 0 || v[0] != valueVersion {
		return snap, errors.New("unknown snapshot format")
	}
	v = v[1:]
	schema, n := binary.Uvarint(v)
	if n <= 0 || schema > 1<<32-1 {
		return snap, errors.New("schema does not decode")
	}
	v = v[n:]
	t, n := binary.Varint(v)
	if n <= 0 {
		return snap, errors.New("time does not decode")
	}
	v = v[n:]
	if len(v) < 4 {
		return snap, errors.New("truncated")
	}
	sum := binary.BigEndian.Uint32(v)
	state := v[4:]
	if crc32.Checksum(state, castagnoli) != sum {
		return snap, errors.New("checksum mismatch")
	}
	snap.Schema, snap.Time = uint32(schema), t
	snap.State = append([]byte(nil), state...)
	return snap, nil
}

// Info describes a stored snapshot without its state.
type Info struct {
	Seq    uint64
	Schema uint32
	Time   int64
	Size   int
	Err    error // why it does not decode, if it does not
}

// List returns the actor's snapshots, oldest first.
func (s *Store) List(ctx context.Context, id eventlog.ID) ([]Info, error) {
	p := prefix(id)
	var out []Info
	err := s.log.Scan(ctx, Space, p, prefixEnd(p), false, func(k, v []byte) error {
		if len(k) != len(p)+8 {
			return nil
		}
		snap, err := decode(v)
		out = append(out, Info{Seq: binary.BigEndian.Uint64(k[len(p):]), Schema: snap.Schema, Time: snap.Time, Size: len(snap.State), Err: err})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshots: list %s: %w", id, err)
	}
	return out, nil
}

// Delete removes every snapshot of the actor.
func (s *Store) Delete(ctx context.Context, id eventlog.ID) error {
	p := prefix(id)
	_, err := s.log.Write(ctx, eventlog.Request{Ops: []eventlog.Op{{Space: Space, Key: p, End: prefixEnd(p), Delete: true}}})
	if err != nil {
		return fmt.Errorf("snapshots: delete %s: %w", id, err)
	}
	return nil
}

// Policy decides when the runtime takes a snapshot: after Every events or
// EveryBytes bytes of event data since the last one, whichever comes
// first. A zero field means its default (DefaultEvery events,
// DefaultEveryBytes bytes); a negative one turns that trigger off.
type Policy struct {
	Every      int
	EveryBytes int64
}

// Due reports whether a snapshot is due after events events holding bytes
// bytes of data since the last snapshot.
func (p Policy) Due(events int, bytes int64) bool {
	every, everyBytes := p.Every, p.EveryBytes
	if every == 0 {
		every = DefaultEvery
	}
	if everyBytes == 0 {
		everyBytes = DefaultEveryBytes
	}
	return every > 0 && events >= every || everyBytes > 0 && bytes >= everyBytes
}
