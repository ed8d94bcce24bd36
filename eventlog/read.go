package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// prefixEnd returns the smallest key greater than every key with prefix p.
// Every prefix used here ends in an id terminator (0x00 0x01) or a family
// byte below 0xFF, so incrementing the last byte never overflows.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	end[len(end)-1]++
	return end
}

// Head returns the actor's stream record. A stream that never had an event
// has Head 0 and no error.
func (l *Log) Head(ctx context.Context, id ID) (StreamInfo, error) {
	if err := id.Validate(); err != nil {
		return StreamInfo{}, err
	}
	for {
		h, err := l.enter(ctx)
		if err != nil {
			return StreamInfo{}, err
		}
		st, err := l.readStream(h, id)
		if err == nil {
			err = l.waitApplied(ctx, h)
		}
		h.exit()
		if again(ctx, h, err) {
			continue
		}
		if err != nil {
			return StreamInfo{}, err
		}
		return st, nil
	}
}

var errStopScan = fmt.Errorf("eventlog: stop scan")

// ScanStream calls fn for each event of the actor with a sequence from from
// to to (0: to the head), in order, and stops at fn's first error, which it
// returns. The Event, Data included, is valid only during the call; this is
// the fast path for replay. Only durable events are visited.
func (l *Log) ScanStream(ctx context.Context, id ID, from, to uint64, fn func(*Event) error) error {
	h, err := l.enter(ctx)
	if err != nil {
		return err
	}
	defer h.exit()
	if err := id.Validate(); err != nil {
		return err
	}
	if from == 0 {
		from = 1
	}
	if to == 0 {
		to = math.MaxUint64
	}
	if from > to {
		return nil
	}
	durable := l.durable.Load()
	prefix := eventKey(nil, id, 0)
	prefix = prefix[:len(prefix)-8]
	hi := prefixEnd(prefix)
	if to < math.MaxUint64 {
		hi = eventKey(nil, id, to+1)
	}
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(nil, id, from), UpperBound: hi})
	if err != nil {
		return fmt.Errorf("eventlog: %w", err)
	}
	err = l.scanStream(ctx, it, id, durable, fn)
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("eventlog: %w", cerr)
	}
	if err == errStopScan {
		err = nil
	}
	return err
}

func (l *Log) scanStream(ctx context.Context, it *pebble.Iterator, id ID, durable uint64, fn func(*Event) error) error {
	var e Event
	types := make(map[string]string, 8)
	var want uint64
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		k := it.Key()
		seq := binary.BigEndian.Uint64(k[len(k)-8:])
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("eventlog: read %s seq %d: %w", id, seq, err)
		}
		if err := decodeEnvelopeAlias(v, &e, types); err != nil {
			return &CorruptionError{Actor: id, Seq: seq, Err: err}
		}
		if e.Seq != seq {
			return &CorruptionError{Actor: id, Seq: seq, Err: fmt.Errorf("envelope says seq %d", e.Seq)}
		}
		if want != 0 && seq != want {
			return &CorruptionError{Actor: id, Seq: want, Err: fmt.Errorf("missing: next stored is %d", seq)}
		}
		want = seq + 1
		if e.Pos > durable {
			return nil
		}
		e.Actor = id
		if err := fn(&e); err != nil {
			return err
		}
	}
	return it.Error()
}

// ScanFeed calls fn for each durable event of the global feed with a
// position from from to to (0: the durable end), in order, and stops at
// fn's first error, which it returns. The Event, Data included, is valid
// only during the call.
func (l *Log) ScanFeed(ctx context.Context, from, to uint64, fn func(*Event) error) error {
	h, err := l.enter(ctx)
	if err != nil {
		return err
	}
	defer h.exit()
	if from == 0 {
		from = 1
	}
	durable := l.durable.Load()
	if to == 0 || to > durable {
		to = durable
	}
	if from > to {
		return nil
	}
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: feedKey(nil, from), UpperBound: feedKey(nil, to+1)})
	if err != nil {
		return fmt.Errorf("eventlog: %w", err)
	}
	err = scanFeed(ctx, it, fn)
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("eventlog: %w", cerr)
	}
	if err == errStopScan {
		err = nil
	}
	return err
}

func scanFeed(ctx context.Context, it *pebble.Iterator, fn func(*Event) error) error {
	var e Event
	types := make(map[string]string, 32)
	var lastIDKey []byte
	var lastID ID
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		pos := binary.BigEndian.Uint64(it.Key()[1:])
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("eventlog: read position %d: %w", pos, err)
		}
		id, rest, err := decodeKey(v)
		if err != nil {
			return &CorruptionError{Pos: pos, Err: err}
		}
		idKey := v[:len(v)-len(rest)]
		if bytes.Equal(idKey, lastIDKey) {
			id = lastID
		} else {
			lastIDKey = append(lastIDKey[:0], idKey...)
			lastID = id
		}
		if err := decodeEnvelopeAlias(rest, &e, types); err != nil {
			return &CorruptionError{Actor: id, Pos: pos, Err: err}
		}
		if e.Pos != pos {
			return &CorruptionError{Actor: id, Seq: e.Seq, Pos: pos, Err: fmt.Errorf("envelope says position %d", e.Pos)}
		}
		e.Actor = id
		if err := fn(&e); err != nil {
			return err
		}
	}
	return it.Error()
}

// ListOptions select actors for ListActors.
type ListOptions struct {
	// Type limits the listing to one actor type; empty lists every type.
	Type string
	// After starts the listing after this actor (exclusive), for paging.
	After ID
	// Limit is the most actors returned. Default 100.
	Limit int
}

// ListActors returns the streams that exist, in order of type then key.
func (l *Log) ListActors(ctx context.Context, o ListOptions) ([]StreamInfo, error) {
	for {
		h, err := l.enter(ctx)
		if err != nil {
			return nil, err
		}
		out, err := l.listActors(ctx, h, o)
		h.exit()
		if !again(ctx, h, err) {
			return out, err
		}
	}
}

func (l *Log) listActors(ctx context.Context, h *handle, o ListOptions) ([]StreamInfo, error) {
	if o.Limit <= 0 {
		o.Limit = 100
	}
	lo, hi := []byte{famStreams}, []byte{famStreams + 1}
	if o.Type != "" {
		if err := ValidateType(o.Type); err != nil {
			return nil, err
		}
		lo = AppendTypeKey([]byte{famStreams}, o.Type)
		hi = prefixEnd(lo)
	}
	if o.After != (ID{}) {
		if a := streamKey(nil, o.After); bytes.Compare(a, lo) > 0 {
			lo = append(a, 0)
		}
	}
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("eventlog: %w", err)
	}
	defer it.Close()
	var out []StreamInfo
	for ok := it.First(); ok && len(out) < o.Limit; ok = it.Next() {
		id, rest, err := decodeKey(it.Key()[1:])
		if err != nil || len(rest) != 0 {
			return nil, &CorruptionError{Err: fmt.Errorf("stream key %q", it.Key())}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("eventlog: read %s: %w", id, err)
		}
		st := StreamInfo{Actor: id}
		if err := decodeStreamRec(v, &st); err != nil {
			return nil, &CorruptionError{Actor: id, Err: err}
		}
		out = append(out, st)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("eventlog: %w", err)
	}
	if err := l.waitApplied(ctx, h); err != nil {
		return nil, err
	}
	return out, nil
}
