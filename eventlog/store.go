package eventlog

import (
	"bytes"
	"context"
)

// The storage contract. Log, on Pebble, is one implementation; any other
// (an in-memory model, a replicated log) must behave the same, and
// package eventlogtest holds the suite that checks it. Consumers declare
// the part they use as interfaces of their own, made of these pieces and
// methods.
//
// What an implementation must guarantee, besides what each method says:
//
//   - Durability: a Write, Append or Delete returns nil only once what it
//     wrote survives a crash of the process and of the machine, and no
//     read, scan or subscription returns an event or record before it is
//     that durable — but for the records of a Request marked Lazy, which
//     become durable with the next synced write and are readable before.
//   - Atomicity: a Request's events and Ops are all stored or none is.
//   - Streams: sequences start at 1, are gapless and never reused; an
//     append with an Expected head other than the stream's gets a
//     *ConflictError and writes nothing. Delete erases a prefix and never
//     lowers the head.
//   - Feed: every event gets a global position; positions only grow, are
//     never reused, and give one total order of all events that agrees
//     with every stream's order. The events of one write take consecutive
//     positions, but positions may skip: a position can be one that never
//     held an event (on JetStream records and markers take positions of
//     the same sequence), and erased events leave holes. A position gap
//     is therefore no count of anything: a reader that wants to count
//     events counts the events it is given.
//   - Subscriptions: every durable event from the starting point, then
//     each new one, in order, exactly once; a subscriber that falls too
//     far behind gets a *LaggedError naming where to resume, and never
//     slows writers.
//   - Records: the spaces below FirstSpace belong to the store and are
//     refused; a record's key is at most a few KiB.
//   - Errors: ErrNotFound for a missing record, ErrClosed after Close, an
//     error wrapping ErrCorrupt for bytes that do not decode, never a
//     panic.
//   - Availability: a store that cannot write (a full disk, a failing
//     one) refuses writes with an error wrapping ErrUnavailable and says
//     so in Health, while reads of what is durable go on; it takes writes
//     again by itself once it can.

// Store is the whole contract: everything an actorlog server keeps.
type Store interface {
	Writer
	StreamReader
	FeedReader
	Subscriber
	Records
	// Close waits for the writes in progress, ends every subscription and
	// releases the store. Later calls return ErrClosed (Close itself
	// returns nil again).
	Close() error
}

// Writer writes streams and records.
type Writer interface {
	// Write commits a Request atomically: its events, appended to one
	// stream if its head is as expected, and its Ops.
	Write(ctx context.Context, r Request) (AppendResult, error)
	// Append is Write of a Request that holds only events.
	Append(ctx context.Context, id ID, expected Expected, events ...Event) (AppendResult, error)
	// Delete erases the actor's events with sequences below before (0:
	// all of them), from its stream and from the feed. before may be at
	// most head+1 (ErrBadRange beyond).
	Delete(ctx context.Context, id ID, before uint64) error
	// Health says whether the store takes writes now, and if not, why.
	Health() Health
}

// StreamReader reads actors' streams.
type StreamReader interface {
	// Head returns the actor's stream record; Head 0 if it never had an
	// event.
	Head(ctx context.Context, id ID) (StreamInfo, error)
	// ScanStream calls fn for each durable event of the actor with a
	// sequence from from to to (0: the head), in order, and stops at fn's
	// first error, which it returns. The Event, Data included, is valid
	// only during the call.
	ScanStream(ctx context.Context, id ID, from, to uint64, fn func(*Event) error) error
	// ListActors returns the streams that exist, in the order of their
	// AppendKey encoding: by type, then key.
	ListActors(ctx context.Context, o ListOptions) ([]StreamInfo, error)
}

// FeedReader reads the global feed.
type FeedReader interface {
	// Durable returns the highest global position that is durable, with
	// every position before it.
	Durable() uint64
	// ScanFeed calls fn for each durable event with a position from from
	// to to (0: the durable end), in order, and stops at fn's first
	// error, which it returns. The Event is valid only during the call.
	ScanFeed(ctx context.Context, from, to uint64, fn func(*Event) error) error
}

// Subscriber follows streams and the feed live.
type Subscriber interface {
	// SubscribeStream follows the actor's events from sequence from
	// (inclusive; 0 and 1 both mean the first).
	SubscribeStream(ctx context.Context, id ID, from uint64) (Subscription, error)
	// SubscribeFeed follows the global feed from position from
	// (inclusive; 0 and 1 both mean the first).
	SubscribeFeed(ctx context.Context, from uint64) (Subscription, error)
}

// Subscription delivers the events of one stream, or of the feed, from
// its starting point: every durable event already stored, then each new
// one as it becomes durable, in order, with no gap and no duplicate. Next
// and the batch methods are called from one goroutine at a time; Close may
// be called from any goroutine, and ends a blocked Next with ErrClosed.
type Subscription interface {
	// Next returns the next event, waiting for one. After a *LaggedError,
	// ErrClosed or a store error the subscription is finished: Close it
	// and subscribe again from where the error says (or from the last
	// event's successor).
	Next(ctx context.Context) (Event, error)
	// NextBatch waits for the next event like Next, then adds those that
	// follow without waiting, at most max in all. The slice is reused by
	// the next call.
	NextBatch(ctx context.Context, max int) ([]Event, error)
	// TryNextBatch is NextBatch without the wait: with nothing at hand it
	// returns no events and no error.
	TryNextBatch(ctx context.Context, max int) ([]Event, error)
	// Close ends the subscription. It is safe to call more than once.
	Close() error
}

// Records is the key-value side of the store: auxiliary records kept in
// Spaces beside the events, written by Write's Ops (atomically with
// events when a Request holds both).
type Records interface {
	// Get returns a copy of the record at key in space sp, or
	// ErrNotFound. Like every read, it returns only what is durable.
	Get(ctx context.Context, sp Space, key []byte) ([]byte, error)
	// Peek is Get without waiting for writes in flight to become durable.
	// Use it only for records the caller itself wrote and saw committed,
	// where the wait would only cost time.
	Peek(sp Space, key []byte) ([]byte, error)
	// Scan calls fn for each record of space sp with a key in [lo, hi)
	// (hi nil: to the end of the space), in key order, or descending with
	// reverse, until fn returns an error, which Scan returns. Keys exclude
	// the space byte; key and value are valid only during the call. Scan
	// returns only once what it read is durable: a caller that acts on a
	// record before Scan returns must not tell anyone on its strength.
	Scan(ctx context.Context, sp Space, lo, hi []byte, reverse bool, fn func(key, value []byte) error) error
}

// ReadStream returns up to limit events of the actor from sequence from
// (events erased below it are skipped). The events are copies the caller
// owns.
func ReadStream(ctx context.Context, r StreamReader, id ID, from uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []Event
	err := r.ScanStream(ctx, id, from, 0, collect(&out, limit))
	if err == errStopScan {
		err = nil
	}
	return out, err
}

// ReadFeed returns up to limit events of the global feed from position
// from. Positions of erased events are absent. The events are copies the
// caller owns.
func ReadFeed(ctx context.Context, r FeedReader, from uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []Event
	err := r.ScanFeed(ctx, from, 0, collect(&out, limit))
	if err == errStopScan {
		err = nil
	}
	return out, err
}

// collect returns a scan callback that copies events into out and stops
// the scan with errStopScan at limit.
func collect(out *[]Event, limit int) func(*Event) error {
	return func(e *Event) error {
		c := *e
		c.Data = bytes.Clone(e.Data)
		*out = append(*out, c)
		if len(*out) == limit {
			return errStopScan
		}
		return nil
	}
}

var (
	_ Store        = (*Log)(nil)
	_ Subscription = (*subscription)(nil)
)
