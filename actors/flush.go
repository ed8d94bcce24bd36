package actors

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// Limits of one append made by the runtime.
const (
	maxFlushEvents = 512
	maxFlushBytes  = 2 << 20
)

// pending is what the actor has written but is not yet durable, and what
// waits for it.
type pending struct {
	batch    []*entry // turns' writes not yet sent to the log
	inflight *flight  // the append in flight, if any
	// unsent is the flight while its append is not yet made: the worker
	// running the actor makes it itself once the run ends (startAppend,
	// actor.work).
	unsent *flight
	out    []outItem // replies and frames waiting for their writes
	// wrote counts the entries made, stored those known durable: a turn
	// that writes records but no event (a timer) is durable once stored
	// reaches its count.
	wrote, stored uint64
	// idem holds the results of calls with an idempotency key whose
	// record is not yet durable, for a retry that comes meanwhile.
	idem map[string]*idemEntry
}

// entry is one turn's writes, appended atomically.
type entry struct {
	events  []eventlog.Event
	ops     []eventlog.Op
	bytes   int
	idemKey string
	timers  int      // timers set
	fired   [][]byte // keys of timers this entry retires
}

type flight struct {
	req     eventlog.Request
	result  flushResult // set once the append returns
	entries []*entry
	one     [1]*entry // entries' room when there is one, as there mostly is
	events  int
	bytes   int
	start   time.Time
}

type flushResult struct {
	res eventlog.AppendResult
	err error
}

// idemEntry is the record of a call with an idempotency key, not yet
// durable.
type idemEntry struct {
	rec idemRecord
}

// outItem is a frame or a reply waiting for the writes behind it to be
// durable: it goes out once the durable head reaches need and the
// entries stored reach wrote.
type outItem struct {
	need  uint64
	wrote uint64
	frame Frame  // a broadcast's, when set
	name  string // the broadcast's name
	// evType and evData, when evType is set, are a persisted event whose
	// frame (seq need) is built on release, and only if a connection is
	// there to receive it.
	evType string
	evData []byte
	call   *callMsg
	res    callResult
}

// maybeFlush starts the next append if none is in flight.
func (a *actor) maybeFlush() {
	if a.pend.inflight != nil || len(a.pend.batch) == 0 {
		return
	}
	f := &flight{start: time.Now()}
	f.entries = f.one[:0]
	req := &f.req
	req.Actor, req.Expected = a.id, eventlog.ExpectSeq(a.dseq)
	n := 0
	for ; n < len(a.pend.batch); n++ {
		e := a.pend.batch[n]
		if n > 0 && (f.events+len(e.events) > maxFlushEvents || f.bytes+e.bytes > maxFlushBytes) {
			break
		}
		f.entries = append(f.entries, e)
		f.events += len(e.events)
		f.bytes += e.bytes
		if n == 0 {
			// The log does not keep or change them; nor does the entry
			// need them any more.
			req.Events, req.Ops = e.events, e.ops
			continue
		}
		if n == 1 {
			req.Events, req.Ops = slices.Clip(req.Events), slices.Clip(req.Ops)
		}
		req.Events = append(req.Events, e.events...)
		req.Ops = append(req.Ops, e.ops...)
	}
	clear(a.pend.batch[:n]) // the flight holds them now
	a.pend.batch = a.pend.batch[n:]
	if len(a.pend.batch) == 0 {
		a.pend.batch = nil // an idle actor holds no buffer
	}
	a.pend.inflight = f
	if a.mailbox.len() == 0 {
		// Likely the last turn of this run: the worker makes the append
		// once the run ends, rather than hand it to another goroutine
		// and have that one hand the actor back after the sync.
		a.pend.unsent = f
		return
	}
	a.startAppend(f)
}

// startAppend makes f's append on a goroutine of its own; the actor runs
// on meanwhile.
func (a *actor) startAppend(f *flight) {
	a.spawn(func() {
		a.append(f)
		a.signal()
	})
}

// sendUnsent starts the append held for the end of the run, before a turn
// that would delay it.
func (a *actor) sendUnsent() {
	if f := a.pend.unsent; f != nil {
		a.pend.unsent = nil
		a.startAppend(f)
	}
}

// append makes f's append and stores its outcome for the actor's next
// run. It runs outside the actor's run, on a goroutine of the runtime's.
func (a *actor) append(f *flight) {
	res, err := a.rt.log.Write(a.rt.ctx(), f.req)
	f.result = flushResult{res, err}
	a.flushed.Store(&f.result)
}

func (a *actor) onFlushed(r flushResult) {
	f := a.pend.inflight
	a.pend.inflight = nil
	a.rt.opts.Metrics.Append(f.events, time.Since(f.start))
	if r.err != nil {
		var ce *eventlog.ConflictError
		err := storeError(a.rt.log, "the events could not be stored", r.err)
		switch {
		case errors.As(r.err, &ce):
			err = &Error{Code: CodeConflict, Message: fmt.Sprintf("another writer appended to %s; retry", a.id), Err: r.err}
		case unavailable(r.err):
			// The store said so, once; the scheduler holds the timers
			// until it writes again.
			a.logger().Debug("append refused", "err", r.err)
		default:
			a.logger().Error("append failed", "err", r.err)
		}
		a.failPending(err)
		return
	}
	if f.events > 0 {
		a.dseq = r.res.Last
	}
	a.pend.stored += uint64(len(f.entries))
	for _, e := range f.entries {
		if e.idemKey != "" {
			delete(a.pend.idem, e.idemKey)
		}
		if e.timers > 0 {
			a.rt.sched.kickNow()
		}
		for _, k := range e.fired {
			a.rt.sched.done(k)
		}
	}
	a.snap.events += f.events
	a.release()
	if f.events > 0 {
		if a.inst.onStateChange() {
			t := a.newTurn(eventlog.Metadata{})
			t.noWrites = true
			a.hookTurn(t, hookStateChange, nil, nil)
			a.finishTurn(t, nil)
		}
		if a.rt.snaps != nil && a.rt.opts.Snapshots.Due(a.snap.events, a.snap.bytes) {
			a.snap.wanted = true
		}
	}
	a.maybeFlush()
	a.release()
}

// failPending answers everything not yet durable with err, drops the
// batch and marks the state for a rebuild from the log.
func (a *actor) failPending(err error) {
	for _, it := range a.pend.out {
		if it.call != nil {
			it.call.reply <- callResult{err: err}
			a.rt.opts.Metrics.Action(a.id.Type, it.call.action, CodeOf(err), time.Since(it.call.start))
		}
	}
	a.pend.out = nil
	for _, e := range a.pend.batch {
		for _, k := range e.fired {
			a.rt.sched.done(k)
		}
	}
	a.pend.batch = nil
	a.pend.wrote = a.pend.stored
	clear(a.pend.idem)
	a.broken = err
}

func (a *actor) queueReply(need uint64, m *callMsg, r Reply, err error) {
	if m.reply == nil {
		if err != nil && m.timer != nil && !unavailable(err) {
			a.logger().Warn("timer action failed", "action", m.action, "err", err)
		}
		return
	}
	a.pend.out = append(a.pend.out, outItem{need: need, wrote: a.pend.wrote, call: m, res: callResult{reply: r, err: err}})
}

// release sends out what is durable, in order.
func (a *actor) release() {
	n := 0
	var slow []*Conn
	for ; n < len(a.pend.out) && a.pend.out[n].need <= a.dseq && a.pend.out[n].wrote <= a.pend.stored; n++ {
		it := &a.pend.out[n]
		if it.call != nil {
			it.call.reply <- it.res
			a.rt.opts.Metrics.Action(a.id.Type, it.call.action, codeOf(it.res.err), time.Since(it.call.start))
			continue
		}
		name, built := it.name, it.evType == "" // a broadcast's frame is built
		if !built {
			name = it.evType
		}
		for c := range a.conns.all {
			if !c.wants(name) {
				continue
			}
			// An event's frame is built once, for the first connection
			// that receives it.
			if !built {
				if !a.eventFrame(it) {
					break
				}
				built = true
			}
			if !c.deliver(it.frame) {
				slow = append(slow, c)
			}
		}
		for _, c := range slow {
			a.disconnect(c, ErrSlowConsumer)
		}
		slow = slow[:0]
	}
	if n > 0 {
		clear(a.pend.out[:n])
		a.pend.out = a.pend.out[n:]
		if len(a.pend.out) == 0 {
			a.pend.out = nil // an idle actor holds no buffer
		}
	}
}

// eventFrame builds the frame of a persisted event's item.
func (a *actor) eventFrame(it *outItem) bool {
	e := eventlog.Event{Actor: a.id, Seq: it.need, Type: it.evType, Data: it.evData}
	data, err := a.rt.opts.Frames.Event(&e)
	if err != nil {
		a.logger().Error("event does not convert to a frame", "seq", it.need, "err", err)
		return false
	}
	it.frame = Frame{Seq: it.need, Data: data}
	return true
}

func codeOf(err error) Code {
	if err == nil {
		return ""
	}
	return CodeOf(err)
}
