package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Space is a family of auxiliary records kept beside the events, such as
// snapshots or projection views, so that they can be written atomically
// with events. Spaces below FirstSpace belong to the log itself. Each
// space has one owner, and only this table hands them out: a package that
// needs records of its own takes the next free byte here.
//
//	space  owner       holds
//	0x20   snapshots   encoded actor state by actor and sequence
//	0x21   actors      the runtime's durable timers and idempotency records
//	0x22   projection  projection checkpoints and views
type Space byte

// The spaces in use; see Space.
const (
	SpaceSnapshots  Space = 0x20
	SpaceActors     Space = 0x21
	SpaceProjection Space = 0x22
)

// Get returns a copy of the auxiliary record at key in space sp, or
// ErrNotFound. Like every read, it returns only what is durable (or was
// written lazily: Request.Lazy).
func (l *Log) Get(ctx context.Context, sp Space, key []byte) ([]byte, error) {
	for {
		h, err := l.enter(ctx)
		if err != nil {
			return nil, err
		}
		v, err := peek(h, sp, key)
		if err == nil || errors.Is(err, ErrNotFound) {
			// What peek read, or did not find, may be the doing of a
			// write still syncing: answer once it is durable.
			if werr := l.waitApplied(ctx, h); werr != nil {
				err = werr
			}
		}
		h.exit()
		if !again(ctx, h, err) {
			if err != nil {
				return nil, err
			}
			return v, nil
		}
	}
}

// Peek is Get without waiting for writes in flight to become durable. It
// may return a record whose write is not yet synced; use it only for
// records the caller itself wrote and saw committed (a projection reading
// its own view), where the wait would only cost time.
func (l *Log) Peek(sp Space, key []byte) ([]byte, error) {
	h, err := l.enter(context.Background())
	if err != nil {
		return nil, err
	}
	defer h.exit()
	return peek(h, sp, key)
}

func peek(h *handle, sp Space, key []byte) ([]byte, error) {
	if sp < FirstSpace {
		return nil, fmt.Errorf("eventlog: space %#x is reserved", sp)
	}
	v, closer, err := h.db.Get(append([]byte{byte(sp)}, key...))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("eventlog: get: %w", err)
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, nil
}

// Scan calls fn for each auxiliary record of space sp with a key in
// [lo, hi), in key order (reverse: descending), until fn returns an error,
// which Scan returns. A nil hi means the end of the space. The keys exclude
// the space byte; key and value are valid only during the call. Scan waits,
// before returning, until what it read is durable; a caller that acts on a
// record before Scan returns must not reply to anyone on its strength.
func (l *Log) Scan(ctx context.Context, sp Space, lo, hi []byte, reverse bool, fn func(key, value []byte) error) error {
	h, err := l.enter(ctx)
	if err != nil {
		return err
	}
	defer h.exit()
	if sp < FirstSpace {
		return fmt.Errorf("eventlog: space %#x is reserved", sp)
	}
	lower := append([]byte{byte(sp)}, lo...)
	var upper []byte
	if hi != nil {
		upper = append([]byte{byte(sp)}, hi...)
	} else if sp < 0xFF {
		upper = []byte{byte(sp) + 1}
	}
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("eventlog: %w", err)
	}
	next, ok := it.Next, it.First()
	if reverse {
		next, ok = it.Prev, it.Last()
	}
	for ; ok; ok = next() {
		v, verr := it.ValueAndErr()
		if verr != nil {
			err = fmt.Errorf("eventlog: scan: %w", verr)
			break
		}
		if err = fn(it.Key()[1:], v); err != nil {
			break
		}
	}
	if err == nil {
		err = it.Error()
	}
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("eventlog: %w", cerr)
	}
	if err != nil {
		return err
	}
	return l.waitApplied(ctx, h)
}
