package eventlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Expected is the head sequence an append expects the stream to have:
// Any, NoStream, or an exact sequence made with ExpectSeq.
type Expected int64

const (
	// Any appends whatever the head is.
	Any Expected = -1
	// NoStream appends only to a stream that never had an event.
	NoStream Expected = 0
)

// ExpectSeq expects the stream's head to be exactly seq.
func ExpectSeq(seq uint64) Expected { return Expected(seq) }

func (e Expected) String() string {
	switch {
	case e < 0:
		return "any"
	case e == 0:
		return "no stream"
	}
	return "head " + strconv.FormatInt(int64(e), 10)
}

// AppendResult is what an append assigned: the events got sequences First
// to Last and global positions FirstPos to LastPos, both ranges contiguous.
type AppendResult struct {
	First, Last       uint64
	FirstPos, LastPos uint64
}

// Op is a write of an auxiliary record.
type Op struct {
	Space Space
	Key   []byte
	Value []byte
	// Delete removes Key, or with End set, every key in [Key, End).
	Delete bool
	End    []byte
}

// Request is an atomic write: events appended to one actor's stream, and
// auxiliary records, all committed together or not at all. A request
// without events writes only its Ops; Expected is then not checked.
type Request struct {
	Actor    ID
	Expected Expected
	Events   []Event
	Ops      []Op
	// Lazy, on a request without events, asks for no sync of its own:
	// Write returns once the records are applied (readable, and still
	// atomic), and they become durable with the next synced write. A
	// crash of the machine before it may lose them (a crash of the
	// process does not): only for records that can be made again from
	// durable events, such as a projection's view and its checkpoint,
	// written together. A request with events is always synced. A store
	// may sync a lazy request all the same.
	Lazy bool
}

// maxMetaLen bounds each metadata string.
const maxMetaLen = 1024

type reqKind uint8

const (
	kindWrite reqKind = iota
	kindDelete
)

// request is a write waiting in the queue.
type request struct {
	kind   reqKind
	r      Request
	before uint64 // kindDelete: erase sequences below it; 0 = all
	size   int

	wake chan struct{} // signals "you lead" or "done"
	done bool          // guarded by Log.mu
	res  AppendResult
	err  error
}

// group is the requests that share one batch and one sync.
type group struct {
	reqs    []*request
	batch   *pebble.Batch
	lastPos uint64
	gen     uint64
	epoch   uint64  // the log's epoch when the group was taken
	events  []Event // copies for subscribers, in position order
	synced  bool
	lazy    bool // every request is Lazy: applied without a sync of its own
	err     error
}

// Append appends events to the actor's stream if its head is as expected,
// and returns once they are durable (unless Options.NoSync). It is atomic:
// all events or none. Concurrent appends share syncs. A head other than
// expected gives a *ConflictError. Once queued, an append runs to its end
// even if ctx is cancelled, so that its outcome is never unknown to the
// caller while the log is healthy.
func (l *Log) Append(ctx context.Context, id ID, expected Expected, events ...Event) (AppendResult, error) {
	return l.Write(ctx, Request{Actor: id, Expected: expected, Events: events})
}

// Write commits a Request atomically: its events (if any) and its Ops.
func (l *Log) Write(ctx context.Context, r Request) (AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return AppendResult{}, err
	}
	req := &request{kind: kindWrite, r: r}
	if err := l.check(req); err != nil {
		return AppendResult{}, err
	}
	return l.submit(req)
}

// Delete erases the actor's events with sequences below before, or all of
// them when before is 0. The head does not change: a later append goes on
// after it. Erasing below the stream's first stored event does nothing.
// before may be at most head+1.
func (l *Log) Delete(ctx context.Context, id ID, before uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := id.Validate(); err != nil {
		return err
	}
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	_, err := l.submit(&request{kind: kindDelete, r: Request{Actor: id}, before: before, size: 1})
	return err
}

func (l *Log) check(req *request) error {
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	r := &req.r
	if len(r.Events) > 0 || r.Actor != (ID{}) {
		if err := r.Actor.Validate(); err != nil {
			return err
		}
		if len(r.Events) == 0 && len(r.Ops) == 0 {
			return fmt.Errorf("%w: an append needs at least one event", ErrInvalidEvent)
		}
	}
	if len(r.Events) > l.opts.MaxAppendEvents {
		return fmt.Errorf("%w: %d events in one append, the limit is %d", ErrEventTooLarge, len(r.Events), l.opts.MaxAppendEvents)
	}
	if len(r.Events) == 0 && len(r.Ops) == 0 {
		return fmt.Errorf("%w: nothing to write", ErrInvalidEvent)
	}
	req.size = 64
	for i := range r.Events {
		e := &r.Events[i]
		switch {
		case e.Type == "":
			return fmt.Errorf("%w: event %d has no type", ErrInvalidEvent, i)
		case len(e.Type) > 255:
			return fmt.Errorf("%w: event %d type is %d bytes, the limit is 255", ErrInvalidEvent, i, len(e.Type))
		case len(e.Data) > l.opts.MaxEventSize:
			return fmt.Errorf("%w: event %d is %d bytes, the limit is %d", ErrEventTooLarge, i, len(e.Data), l.opts.MaxEventSize)
		case len(e.Meta.CorrelationID) > maxMetaLen || len(e.Meta.Causation) > maxMetaLen || len(e.Meta.IdempotencyKey) > maxMetaLen:
			return fmt.Errorf("%w: event %d metadata over %d bytes", ErrInvalidEvent, i, maxMetaLen)
		}
		if len(e.Data) > 0 {
			if err := ValidValue(e.Data); err != nil {
				return fmt.Errorf("%w: event %d data is not one msgpack value: %v", ErrInvalidEvent, i, err)
			}
		}
		req.size += 2*len(e.Data) + len(e.Type) + 64
	}
	for i, op := range r.Ops {
		if op.Space < FirstSpace {
			return fmt.Errorf("eventlog: op %d: space %#x is reserved", i, op.Space)
		}
		req.size += len(op.Key) + len(op.Value) + len(op.End) + 8
	}
	return nil
}

// submit queues req and returns its outcome. The queue's front leads: it
// takes the requests in front of it as a group, applies them as one batch,
// hands the lead to the next request and waits for the sync. While one
// group syncs the next is applied, so a sync covers every write that
// arrived during the previous one.
func (l *Log) submit(req *request) (AppendResult, error) {
	req.wake = make(chan struct{}, 1)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return AppendResult{}, ErrClosed
	}
	if l.failed != nil {
		err := l.failed
		l.mu.Unlock()
		return AppendResult{}, err
	}
	l.queue = append(l.queue, req)
	if l.leading {
		l.mu.Unlock()
		<-req.wake
		l.mu.Lock()
		if req.done {
			l.mu.Unlock()
			return req.res, req.err
		}
	}
	// req leads and is queue[0].
	l.leading = true
	g := l.takeGroupLocked()
	g.gen = l.appliedGen.Add(1)
	g.epoch = l.epoch
	pos := l.nextPos
	failed := l.failed
	h := l.cur.Load()
	l.mu.Unlock()

	switch {
	case failed != nil:
		g.err = failed
	case h == nil || h.readOnly:
		g.err = l.unavailable()
	default:
		l.apply(h, g, pos)
	}

	l.mu.Lock()
	if g.epoch != l.epoch {
		// Given up on while it was stuck in Pebble (recover.go): its
		// callers were answered then.
		l.mu.Unlock()
		return req.res, req.err
	}
	if g.err == nil {
		l.nextPos = g.lastPos + 1
	}
	l.inflight = append(l.inflight, g)
	if len(l.queue) > 0 {
		l.queue[0].wake <- struct{}{}
	} else {
		l.leading = false
	}
	l.mu.Unlock()

	// A batch whose apply failed is left to the garbage collector: Pebble
	// forbids closing it before SyncWait, which may never return then.
	if g.batch != nil && g.err == nil {
		if !l.opts.NoSync && !g.lazy {
			if err := g.batch.SyncWait(); err != nil {
				l.fail(h, fmt.Errorf("sync: %w", err))
				g.err = l.unavailable()
			}
		}
		g.batch.Close()
	}

	l.mu.Lock()
	if g.epoch != l.epoch {
		l.mu.Unlock()
		return req.res, req.err
	}
	g.synced = true
	l.completeLocked()
	done := req.done
	l.mu.Unlock()
	if !done {
		<-req.wake
	}
	return req.res, req.err
}

// takeGroupLocked removes from the queue's front the requests of the next
// group. A deletion goes in a group of its own.
func (l *Log) takeGroupLocked() *group {
	n, size := 0, 0
	for n < len(l.queue) {
		r := l.queue[n]
		if n > 0 && (r.kind == kindDelete || size+r.size > l.opts.MaxGroupBytes) {
			break
		}
		n++
		size += r.size
		if r.kind == kindDelete {
			break
		}
	}
	g := &group{reqs: make([]*request, n)}
	copy(g.reqs, l.queue[:n])
	rest := copy(l.queue, l.queue[n:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	return g
}

// completeLocked finishes the synced groups at the front of inflight, in
// order: it advances the durable position, publishes the events to
// subscribers and answers the callers.
func (l *Log) completeLocked() {
	for len(l.inflight) > 0 && l.inflight[0].synced {
		g := l.inflight[0]
		l.inflight[0] = nil
		l.inflight = l.inflight[1:]
		if g.err == nil && l.failed != nil {
			g.err = l.failed
		}
		if g.err == nil {
			if g.lastPos > l.durable.Load() {
				l.durable.Store(g.lastPos)
				l.subs.publish(g.events)
			}
			l.durableGen.Store(g.gen)
		}
		for _, r := range g.reqs {
			if r.err == nil && g.err != nil {
				r.err = g.err
				r.res = AppendResult{}
			}
			r.done = true
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
	}
	close(l.durableCh)
	l.durableCh = make(chan struct{})
}

// apply builds the group's batch and applies it without waiting for the
// sync. Sequences are checked against the streams as applied so far, which
// include earlier groups still syncing: a group that fails to sync fails
// the log, so nothing is ever built on a write that is later lost.
func (l *Log) apply(h *handle, g *group, pos uint64) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatalError); !ok {
				panic(r)
			}
			// Fatalf failed the log before it panicked.
			g.err = l.unavailable()
		}
	}()
	clear(l.touched) // a group given up on by Fatalf may have left them
	l.feed, l.feedEnd, l.touched = l.feed[:0], l.feedEnd[:0], l.touched[:0]
	b := h.db.NewBatch()
	streams := make(map[string]*StreamInfo, len(g.reqs))
	now := time.Now().UnixMilli()
	publish := l.subs.active()
	var val []byte
	wrote := false
	first := pos
	for _, req := range g.reqs {
		r := &req.r
		var st *StreamInfo
		if len(r.Events) > 0 || req.kind == kindDelete {
			var err error
			if st, err = l.stream(h, streams, r.Actor); err != nil {
				req.err = err
				continue
			}
		}
		if req.kind == kindDelete {
			changed, err := l.applyDelete(h, b, st, req.before)
			if err != nil {
				req.err = err
				continue
			}
			if !changed {
				continue
			}
			l.scratch = streamKey(l.scratch[:0], r.Actor)
			val = appendStreamRec(val[:0], st)
			b.Set(l.scratch, val, nil)
			wrote = true
			continue
		}
		if len(r.Events) > 0 {
			if r.Expected >= 0 && uint64(r.Expected) != st.Head {
				req.err = &ConflictError{Actor: r.Actor, Expected: r.Expected, Actual: st.Head}
				continue
			}
			req.res = AppendResult{First: st.Head + 1, FirstPos: pos}
			idKey := AppendKey(nil, r.Actor)
			for i := range r.Events {
				e := r.Events[i]
				st.Head++
				e.Actor, e.Seq, e.Pos = r.Actor, st.Head, pos
				pos++
				if e.Time == 0 {
					e.Time = now
				}
				// The event goes in now; its feed record (its actor's
				// key and the envelope) once every event of the group
				// is in, below.
				start := len(l.feed)
				l.feed = AppendEnvelope(append(l.feed, idKey...), &e)
				l.feedEnd = append(l.feedEnd, len(l.feed))
				env := l.feed[start+len(idKey):]
				l.scratch = binary.BigEndian.AppendUint64(append(append(l.scratch[:0], famEvents), idKey...), e.Seq)
				b.Set(l.scratch, env, nil)
				if publish {
					e.Data = append([]byte(nil), e.Data...)
					g.events = append(g.events, e)
				}
			}
			if st.Created == 0 {
				st.Created = r.Events[0].Time
				if st.Created == 0 {
					st.Created = now
				}
			}
			st.Updated = r.Events[len(r.Events)-1].Time
			if st.Updated == 0 {
				st.Updated = now
			}
			if st.LastPos < first {
				// The group's first append to the stream: positions
				// below first are earlier groups'.
				l.touched = append(l.touched, st)
			}
			st.LastPos = pos - 1
			req.res.Last, req.res.LastPos = st.Head, pos-1
		}
		for _, op := range r.Ops {
			l.scratch = append(append(l.scratch[:0], byte(op.Space)), op.Key...)
			switch {
			case op.Delete && op.End != nil:
				end := append([]byte{byte(op.Space)}, op.End...)
				b.DeleteRange(l.scratch, end, nil)
			case op.Delete:
				b.Delete(l.scratch, nil)
			default:
				b.Set(l.scratch, op.Value, nil)
			}
		}
		wrote = true
	}
	// Pebble inserts a batch's keys into its memtable one after the
	// other, and finds each one's place from where the previous one went
	// when that is near: so the records go in by kind, the events (an
	// actor's in order), then the feed records (consecutive positions,
	// each right after the one before), then each stream record once.
	// The batch is one atomic write whatever its order.
	prev := 0
	for i, end := range l.feedEnd {
		l.scratch = feedKey(l.scratch[:0], first+uint64(i))
		b.Set(l.scratch, l.feed[prev:end], nil)
		prev = end
	}
	for _, st := range l.touched {
		l.scratch = streamKey(l.scratch[:0], st.Actor)
		val = appendStreamRec(val[:0], st)
		b.Set(l.scratch, val, nil)
	}
	clear(l.touched)
	l.feed, l.feedEnd, l.touched = l.feed[:0], l.feedEnd[:0], l.touched[:0]
	if cap(l.feed) > 1<<20 {
		l.feed = nil // let a large group's buffer go
	}
	g.lastPos = pos - 1
	if !wrote {
		b.Close()
		g.synced = true
		return
	}
	if pos > first {
		b.Set(keyLastPos, binary.BigEndian.AppendUint64(nil, pos-1), nil)
	}
	g.batch = b
	g.lazy = true
	for _, req := range g.reqs {
		if req.kind != kindWrite || !req.r.Lazy || len(req.r.Events) > 0 {
			g.lazy = false
			break
		}
	}
	var err error
	if l.opts.NoSync || g.lazy {
		err = h.db.Apply(b, pebble.NoSync)
	} else {
		err = h.db.ApplyNoSyncWait(b, pebble.Sync)
	}
	if err != nil {
		l.fail(h, fmt.Errorf("apply: %w", err))
		g.err = l.unavailable()
		return
	}
	l.cacheHeads(streams)
}

// stream returns the group's working copy of the actor's stream record.
func (l *Log) stream(h *handle, streams map[string]*StreamInfo, id ID) (*StreamInfo, error) {
	k := string(AppendKey(nil, id))
	if st, ok := streams[k]; ok {
		return st, nil
	}
	if st, ok := l.heads[k]; ok {
		streams[k] = &st
		return &st, nil
	}
	st, err := l.readStream(h, id)
	if err != nil {
		return nil, err
	}
	streams[k] = &st
	return &st, nil
}

// maxHeads bounds the leader's cache of stream records.
const maxHeads = 1 << 16

// cacheHeads keeps the stream records a group wrote, so that the next
// groups need not read them back. Only the leader writes stream records,
// so the cache cannot go stale; a failed write fails the whole log.
func (l *Log) cacheHeads(streams map[string]*StreamInfo) {
	if l.heads == nil || len(l.heads)+len(streams) > maxHeads {
		l.heads = make(map[string]StreamInfo, len(streams))
	}
	for k, st := range streams {
		l.heads[k] = *st
	}
}

// readStream reads the stream record as applied (possibly not yet durable).
func (l *Log) readStream(h *handle, id ID) (StreamInfo, error) {
	st := StreamInfo{Actor: id, First: 1}
	v, closer, err := h.db.Get(streamKey(nil, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("eventlog: read %s: %w", id, err)
	}
	defer closer.Close()
	if err := decodeStreamRec(v, &st); err != nil {
		return st, &CorruptionError{Actor: id, Err: err}
	}
	return st, nil
}

// applyDelete adds to b the erasure of st's events below before, and
// reports whether there was anything to erase.
func (l *Log) applyDelete(h *handle, b *pebble.Batch, st *StreamInfo, before uint64) (bool, error) {
	if before == 0 {
		before = st.Head + 1
	}
	if before > st.Head+1 {
		return false, fmt.Errorf("%w: cannot erase %s below %d, its head is %d", ErrBadRange, st.Actor, before, st.Head)
	}
	if before <= st.First {
		return false, nil
	}
	lo, hi := eventKey(nil, st.Actor, st.First), eventKey(nil, st.Actor, before)
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return false, fmt.Errorf("eventlog: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return false, fmt.Errorf("eventlog: read %s: %w", st.Actor, err)
		}
		seq := binary.BigEndian.Uint64(it.Key()[len(it.Key())-8:])
		pos, err := envelopePos(v)
		if err != nil {
			it.Close()
			return false, &CorruptionError{Actor: st.Actor, Seq: seq, Err: err}
		}
		b.Delete(feedKey(l.scratch[:0], pos), nil)
	}
	if err := it.Close(); err != nil {
		return false, fmt.Errorf("eventlog: %w", err)
	}
	b.DeleteRange(lo, hi, nil)
	st.First = before
	return true, nil
}

// envelopePos reads only the global position of an envelope.
func envelopePos(b []byte) (uint64, error) {
	d := decoder{b: b}
	if _, err := d.arrayLen(); err != nil {
		return 0, err
	}
	if _, err := d.uint(); err != nil {
		return 0, err
	}
	return d.uint()
}
