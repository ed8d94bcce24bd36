package actors

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
)

// Limits of one append made by the runtime.
const (
	maxFlushEvents = 512
	maxFlushBytes  = 2 << 20
)

type message any

type callMsg struct {
	action string
	args   Args
	opts   CallOptions
	reply  chan callResult
	start  time.Time
	timer  *timerRecord // set when a durable timer fires
}

type callResult struct {
	reply Reply
	err   error
}

type connectMsg struct {
	params map[string]string
	reply  chan connectResult
}

type connectResult struct {
	conn *Conn
	init Init
	err  error
}

type disconnectMsg struct{ conn *Conn }

type stateMsg struct{ reply chan connectResult }

// outItem is a frame or a reply waiting for the events behind it to be
// durable: it goes out once the durable head reaches need.
type outItem struct {
	need  uint64
	frame Frame // broadcast to every connection when set
	// evType and evData, when evType is set, are a persisted event whose
	// frame (seq need) is built on release, and only if a connection is
	// there to receive it.
	evType string
	evData []byte
	call   *callMsg
	res    callResult
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
	entries []*entry
	events  int
	bytes   int
	start   time.Time
}

type flushResult struct {
	res eventlog.AppendResult
	err error
}

type idemEntry struct {
	need   uint64
	result []byte // msgpack
}

type interval struct {
	every time.Duration
	next  time.Time
	fn    func(*turn)
}

// actor is one awake actor. Everything but the channels and refs is owned
// by its goroutine (run).
type actor struct {
	rt      *Runtime
	id      eventlog.ID
	def     Definition
	inst    instance
	mailbox chan message
	refs    atomic.Int64  // senders holding it awake
	exited  chan struct{} // closed when run returns
	flushed chan flushResult
	saved   chan error

	sleeping bool          // guarded by rt.mu: no new messages may be sent
	elem     *list.Element // guarded by rt.mu: its place in rt.lru
	evict    atomic.Bool   // the runtime asked it to sleep to make room
	poke     chan struct{} // wakes the loop to look at evict

	tseq, dseq uint64 // tentative and durable heads
	batch      []*entry
	inflight   *flight
	out        []outItem
	conns      map[*Conn]struct{}
	idem       map[string]*idemEntry
	deferred   []message
	broken     error // the state must be rebuilt from the log
	fatal      error // the actor cannot run; it answers with this and exits
	snapWanted bool
	snapSaving bool
	sinceSnap  int
	sinceBytes int64
	intervals  map[string]*interval
	lastActive time.Time
	stopping   bool
	// stateConns counts the connections that asked for state frames;
	// stateSeq is the sequence of the last state frame sent to them.
	stateConns int
	stateSeq   uint64
	timer      *time.Timer
	lg         *slog.Logger
}

func newActor(rt *Runtime, id eventlog.ID, def Definition) *actor {
	return &actor{
		rt:        rt,
		id:        id,
		def:       def,
		mailbox:   make(chan message, rt.opts.MailboxSize),
		exited:    make(chan struct{}),
		flushed:   make(chan flushResult, 1),
		saved:     make(chan error, 1),
		poke:      make(chan struct{}, 1),
		conns:     make(map[*Conn]struct{}),
		idem:      make(map[string]*idemEntry),
		intervals: make(map[string]*interval),
	}
}

func (a *actor) logger() *slog.Logger {
	if a.lg == nil {
		a.lg = a.rt.log_.With("actor", a.id.String())
	}
	return a.lg
}

func (a *actor) connCount() int { return len(a.conns) }

func (a *actor) run() {
	defer close(a.exited)
	defer a.rt.opts.Metrics.ActiveActors(-1)
	a.timer = time.NewTimer(time.Hour)
	defer a.timer.Stop()
	a.lastActive = time.Now()
	start := time.Now()
	a.inst = a.def.newInstance(a.id)
	seq, replayed, err := load(context.Background(), a.rt.log, a.rt.snaps, a.inst, a.id, 0)
	if err != nil {
		a.logger().Error("wake failed", "err", err)
		a.fatal = err
	} else {
		a.tseq, a.dseq, a.sinceSnap = seq, seq, replayed
		a.rt.opts.Metrics.Wake(a.id.Type, replayed, time.Since(start))
		a.runHook(hookWake, nil, nil)
	}
	a.loop()
}

func (a *actor) loop() {
	stopping := a.rt.stopping
	for {
		if a.fatal == nil && a.quiescent() {
			a.atQuiescence()
		}
		refused := false
		if a.exitReady() {
			if a.tryExit() {
				a.sleep()
				return
			}
			refused = true
		}
		a.resetTimer()
		if refused {
			// A sender held a reference for a moment (it may already have
			// delivered its message and be about to let go): look again
			// soon. Without this, a stopping actor, which has no idle
			// timer, would wait an hour and hold up Runtime.Close.
			a.timer.Reset(time.Millisecond)
		}
		var mailbox <-chan message
		if a.fatal != nil || len(a.deferred) == 0 && a.broken == nil && !a.snapWanted {
			// A fatal actor still reads its mailbox, to answer each
			// message with its error before it goes.
			mailbox = a.mailbox
		}
		select {
		case m := <-mailbox:
			a.handle(m)
		case r := <-a.flushed:
			a.onFlushed(r)
		case err := <-a.saved:
			a.snapSaving = false
			if err != nil {
				a.logger().Warn("snapshot not saved", "err", err)
			}
		case <-a.timer.C:
			a.runIntervals()
		case <-a.poke:
		case <-stopping:
			stopping = nil
			a.stopping = true
		}
	}
}

func (a *actor) quiescent() bool {
	return a.inflight == nil && len(a.batch) == 0 && len(a.out) == 0
}

// atQuiescence does what needs the durable and tentative states to be the
// same: rebuilds, snapshots, connections and state reads.
func (a *actor) atQuiescence() {
	if a.broken != nil {
		a.rebuild()
		if a.fatal != nil {
			return
		}
	}
	if a.snapWanted && !a.snapSaving {
		a.snapWanted = false
		a.saveSnapshot()
	}
	for len(a.deferred) > 0 && a.quiescent() && a.broken == nil {
		m := a.deferred[0]
		a.deferred = a.deferred[1:]
		a.handleBarrier(m)
	}
	if a.stateConns > 0 && a.stateSeq != a.dseq && a.quiescent() && a.broken == nil {
		a.sendState()
	}
}

// sendState sends the durable state to the connections that asked for it.
// It runs only when the actor is quiescent, when the state in memory is
// the durable one; under steady load that is after each lull.
func (a *actor) sendState() {
	state, err := a.inst.stateJSON()
	if err != nil {
		a.logger().Warn("state does not encode as JSON", "err", err)
		return
	}
	a.stateSeq = a.dseq
	data, _ := json.Marshal(map[string]any{"type": "state", "seq": a.dseq, "state": json.RawMessage(state)})
	var slow []*Conn
	for c := range a.conns {
		if c.wantsState && !c.deliver(Frame{Seq: a.dseq, Data: data}) {
			slow = append(slow, c)
		}
	}
	for _, c := range slow {
		a.disconnect(c, ErrSlowConsumer)
	}
}

func (a *actor) exitReady() bool {
	if a.fatal != nil {
		return true
	}
	if !a.quiescent() || len(a.mailbox) > 0 || len(a.deferred) > 0 || a.snapSaving || a.broken != nil {
		return false
	}
	if a.stopping {
		return true
	}
	if len(a.conns) > 0 {
		a.evict.Store(false) // in use: the runtime must look elsewhere
		return false
	}
	return a.evict.Load() || time.Since(a.lastActive) >= a.rt.opts.IdleTimeout
}

// tryExit marks the actor sleeping unless a message is on its way. Once it
// is marked, senders wait for exited and wake a new one.
func (a *actor) tryExit() bool {
	a.rt.mu.Lock()
	defer a.rt.mu.Unlock()
	if a.refs.Load() > 0 || len(a.mailbox) > 0 {
		return false
	}
	a.sleeping = true
	return true
}

// sleep runs OnSleep, takes a snapshot if worthwhile, ends the
// connections and leaves the runtime's table.
func (a *actor) sleep() {
	defer func() {
		a.rt.mu.Lock()
		delete(a.rt.actors, a.id)
		a.rt.lru.Remove(a.elem)
		a.rt.mu.Unlock()
	}()
	if a.fatal != nil {
		a.drainFatal()
		for c := range a.conns {
			c.drop(ErrActorStopped)
		}
		return
	}
	t := a.newTurn(eventlog.Metadata{})
	a.hookTurn(t, hookSleep, nil, nil)
	if e := a.turnEntry(t); e != nil {
		// OnSleep wrote something (a timer, say): write it before going.
		req := eventlog.Request{Actor: a.id, Expected: eventlog.ExpectSeq(a.dseq), Events: e.events, Ops: e.ops}
		if res, err := a.rt.log.Write(context.Background(), req); err != nil {
			a.logger().Error("OnSleep writes lost", "err", err)
		} else if len(e.events) > 0 {
			a.dseq, a.tseq = res.Last, res.Last
			a.sinceSnap += len(e.events)
		}
	}
	if a.rt.opts.SnapshotOnSleep > 0 && a.sinceSnap >= a.rt.opts.SnapshotOnSleep && a.rt.snaps != nil {
		if state, err := a.inst.encodeState(); err == nil {
			err = a.rt.snaps.Save(context.Background(), snapshots.Snapshot{Actor: a.id, Seq: a.dseq, Schema: a.inst.schema(), State: state})
			if err != nil {
				a.logger().Warn("snapshot at sleep not saved", "err", err)
			}
		}
	}
	reason := ErrActorStopped
	if a.stopping {
		reason = ErrClosed
	}
	for c := range a.conns {
		c.drop(reason)
		a.rt.opts.Metrics.Connections(-1)
	}
}

// drainFatal answers every queued message with the actor's fatal error.
func (a *actor) drainFatal() {
	for _, m := range a.deferred {
		a.fail(m, a.fatal)
	}
	for {
		select {
		case m := <-a.mailbox:
			a.fail(m, a.fatal)
		default:
			return
		}
	}
}

func (a *actor) fail(m message, err error) {
	switch m := m.(type) {
	case *callMsg:
		if m.reply != nil {
			m.reply <- callResult{err: err}
		}
	case *connectMsg:
		m.reply <- connectResult{err: err}
	case *stateMsg:
		m.reply <- connectResult{err: err}
	}
}

func (a *actor) resetTimer() {
	var next time.Time
	for _, iv := range a.intervals {
		if next.IsZero() || iv.next.Before(next) {
			next = iv.next
		}
	}
	if len(a.conns) == 0 && !a.stopping {
		idle := a.lastActive.Add(a.rt.opts.IdleTimeout)
		if next.IsZero() || idle.Before(next) {
			next = idle
		}
	}
	d := time.Hour
	if !next.IsZero() {
		d = max(time.Until(next), time.Millisecond)
	}
	a.timer.Reset(d)
}

func (a *actor) handle(m message) {
	if a.fatal != nil {
		a.fail(m, a.fatal)
		return
	}
	switch m := m.(type) {
	case *callMsg:
		a.lastActive = time.Now()
		a.handleCall(m)
	case *disconnectMsg:
		a.lastActive = time.Now()
		a.disconnect(m.conn, nil)
	case *connectMsg, *stateMsg:
		a.lastActive = time.Now()
		if a.quiescent() && a.broken == nil {
			a.handleBarrier(m)
		} else {
			a.deferred = append(a.deferred, m)
		}
	}
}

func (a *actor) handleBarrier(m message) {
	switch m := m.(type) {
	case *connectMsg:
		a.connect(m)
	case *stateMsg:
		state, err := a.inst.stateJSON()
		if err != nil {
			m.reply <- connectResult{err: internal("state does not encode as JSON", err)}
			return
		}
		m.reply <- connectResult{init: Init{State: state, Seq: a.dseq}}
	}
}

func (a *actor) connect(m *connectMsg) {
	if len(a.conns) >= a.rt.opts.MaxConnsPerActor {
		m.reply <- connectResult{err: Errorf(CodeUnavailable, "%s has %d connections, the limit", a.id, len(a.conns))}
		return
	}
	t := a.newTurn(eventlog.Metadata{})
	t.noWrites = true
	if err := a.hookTurn(t, hookBeforeConnect, nil, m.params); err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Code: CodeForbidden, Message: err.Error()}
		}
		m.reply <- connectResult{err: e}
		return
	}
	state, err := a.inst.stateJSON()
	if err != nil {
		m.reply <- connectResult{err: internal("state does not encode as JSON", err)}
		return
	}
	c := &Conn{
		Params: m.params,
		ID:     a.rt.connIDs.Add(1),
		a:      a,
		frames: make(chan Frame, a.rt.opts.ConnBuffer),
		done:   make(chan struct{}),
	}
	a.conns[c] = struct{}{}
	if c.wantsState = m.params["state"] == "1" || m.params["state"] == "true"; c.wantsState {
		if a.stateConns == 0 {
			a.stateSeq = a.dseq // the init frame carries this state
		}
		a.stateConns++
	}
	a.rt.opts.Metrics.Connections(1)
	m.reply <- connectResult{conn: c, init: Init{State: state, Seq: a.dseq}}
	t = a.newTurn(eventlog.Metadata{})
	a.hookTurn(t, hookConnect, c, nil)
	a.finishTurn(t, nil)
}

func (a *actor) disconnect(c *Conn, why error) {
	if _, ok := a.conns[c]; !ok {
		return
	}
	delete(a.conns, c)
	if c.wantsState {
		a.stateConns--
	}
	a.rt.opts.Metrics.Connections(-1)
	if why != nil {
		c.drop(why)
	}
	t := a.newTurn(eventlog.Metadata{})
	a.hookTurn(t, hookDisconnect, c, nil)
	a.finishTurn(t, nil)
}

func (a *actor) handleCall(m *callMsg) {
	key := m.opts.IdempotencyKey
	if key != "" {
		if e := a.idem[key]; e != nil {
			body, err := convertResult(e.result, m.opts.Format)
			if err != nil {
				a.queueReply(e.need, m, Reply{}, internal("stored result does not convert", err))
			} else {
				a.queueReply(e.need, m, Reply{Body: body, Seq: e.need, Replayed: true}, nil)
			}
			a.release()
			return
		}
		rec, found, err := a.rt.readIdem(a.id, key)
		if err != nil {
			a.queueReply(0, m, Reply{}, internal("read idempotency record", err))
			a.release()
			return
		}
		if found {
			body, err := convertResult(rec.Result, m.opts.Format)
			if err != nil {
				err = internal("stored result does not convert", err)
			}
			a.queueReply(0, m, Reply{Body: body, Seq: rec.Seq, Replayed: true}, err)
			a.release()
			return
		}
	}
	meta := eventlog.Metadata{CorrelationID: m.opts.CorrelationID, Causation: m.action, IdempotencyKey: key}
	t := a.newTurn(meta)
	if m.timer != nil {
		t.fired = m.timer.key
		meta.Causation = "timer:" + m.action
		t.meta = meta
	}
	result, err := a.callAction(t, m.action, m.args)
	var body []byte
	if err == nil {
		if body, err = encodeResult(result, m.opts.Format); err != nil {
			err = internal("result does not encode", err)
		}
	}
	if err != nil {
		t.discard()
	}
	e := a.finishTurn(t, err)
	if e != nil && key != "" && len(e.events) > 0 {
		stored, merr := encodeResult(result, Msgpack)
		if merr == nil {
			e.ops = append(e.ops, a.rt.idemOps(a.id, key, idemRecord{Seq: a.tseq, Result: stored, Time: t.now.UnixMilli()})...)
			e.idemKey = key
			a.idem[key] = &idemEntry{need: a.tseq, result: stored}
		}
	}
	if a.broken != nil && err == nil {
		err = a.broken
	}
	a.queueReply(a.tseq, m, Reply{Body: body, Seq: a.tseq}, err)
	a.maybeFlush()
	a.release()
}

// callAction runs the action, turning a panic into an internal error and
// marking the state for a rebuild.
func (a *actor) callAction(t *turn, action string, args Args) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			a.logger().Error("action panicked", "action", action, "panic", r, "stack", string(debug.Stack()))
			err = internal("the action failed", fmt.Errorf("panic: %v", r))
			a.broken = err
		}
	}()
	if !a.inst.hasAction(action) {
		return nil, Errorf(CodeNotFound, "actor type %q has no action %q", a.id.Type, action)
	}
	return a.inst.call(t, action, args)
}

// hookTurn runs a hook in t, recovering a panic.
func (a *actor) hookTurn(t *turn, h hookKind, c *Conn, params map[string]string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			a.logger().Error("hook panicked", "hook", int(h), "panic", r, "stack", string(debug.Stack()))
			err = internal("a hook failed", fmt.Errorf("panic: %v", r))
			t.discard()
			a.broken = err
		}
	}()
	return a.inst.hook(h, t, c, params)
}

func (a *actor) runHook(h hookKind, c *Conn, params map[string]string) {
	t := a.newTurn(eventlog.Metadata{})
	a.hookTurn(t, h, c, params)
	a.finishTurn(t, nil)
	a.maybeFlush()
}

// finishTurn applies a successful turn's events to the state, queues its
// frames and broadcasts, and adds its writes to the batch. It returns the
// batch entry, or nil if the turn wrote nothing.
func (a *actor) finishTurn(t *turn, failed error) *entry {
	if t.err != nil && failed == nil {
		t.discard()
	}
	e := a.turnEntry(t)
	if e == nil && len(t.frames) == 0 {
		return nil
	}
	if e != nil && len(e.events) > 0 {
		before := a.tseq
		for i := range e.events {
			ev := &e.events[i]
			ev.Actor, ev.Seq = a.id, a.tseq+1
			if err := a.inst.apply(ev); err != nil {
				a.logger().Error("applier failed on an event just emitted", "err", err)
				a.broken = internal("an event did not apply", err)
				a.tseq = before
				return nil
			}
			a.tseq++
			a.out = append(a.out, outItem{need: ev.Seq, evType: ev.Type, evData: ev.Data})
		}
		a.sinceBytes += int64(e.bytes)
	}
	for _, f := range t.frames {
		a.out = append(a.out, outItem{need: a.tseq, frame: Frame{Data: f}})
	}
	if e != nil {
		a.batch = append(a.batch, e)
	}
	return e
}

func (a *actor) turnEntry(t *turn) *entry {
	if len(t.events) == 0 && len(t.ops) == 0 && t.fired == nil {
		return nil
	}
	e := &entry{events: t.events, ops: t.ops, bytes: t.bytes, timers: t.timers}
	if t.fired != nil {
		e.fired = [][]byte{t.fired}
		e.ops = append(e.ops, a.rt.timerDeleteOps(t.fired)...)
	}
	return e
}

func (a *actor) queueReply(need uint64, m *callMsg, r Reply, err error) {
	if m.reply == nil {
		if err != nil && m.timer != nil {
			a.logger().Warn("timer action failed", "action", m.action, "err", err)
		}
		return
	}
	a.out = append(a.out, outItem{need: need, call: m, res: callResult{reply: r, err: err}})
}

// release sends out what is durable, in order.
func (a *actor) release() {
	n := 0
	var slow []*Conn
	for ; n < len(a.out) && a.out[n].need <= a.dseq; n++ {
		it := &a.out[n]
		if it.call != nil {
			it.call.reply <- it.res
			a.rt.opts.Metrics.Action(a.id.Type, it.call.action, codeOf(it.res.err), time.Since(it.call.start))
			continue
		}
		if len(a.conns) == 0 {
			continue
		}
		if it.evType != "" {
			data, err := frame(it.evType, it.need, it.evData)
			if err != nil {
				a.logger().Error("event does not convert to a frame", "seq", it.need, "err", err)
				continue
			}
			it.frame = Frame{Seq: it.need, Data: data}
		}
		for c := range a.conns {
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
		clear(a.out[:n])
		a.out = a.out[n:]
	}
}

func codeOf(err error) Code {
	if err == nil {
		return ""
	}
	return CodeOf(err)
}

// maybeFlush starts the next append if none is in flight.
func (a *actor) maybeFlush() {
	if a.inflight != nil || len(a.batch) == 0 {
		return
	}
	f := &flight{start: time.Now()}
	var req eventlog.Request
	req.Actor, req.Expected = a.id, eventlog.ExpectSeq(a.dseq)
	n := 0
	for ; n < len(a.batch); n++ {
		e := a.batch[n]
		if n > 0 && (f.events+len(e.events) > maxFlushEvents || f.bytes+e.bytes > maxFlushBytes) {
			break
		}
		f.entries = append(f.entries, e)
		f.events += len(e.events)
		f.bytes += e.bytes
		req.Events = append(req.Events, e.events...)
		req.Ops = append(req.Ops, e.ops...)
	}
	a.batch = a.batch[n:]
	a.inflight = f
	go func() {
		res, err := a.rt.log.Write(context.Background(), req)
		a.flushed <- flushResult{res, err}
	}()
}

func (a *actor) onFlushed(r flushResult) {
	f := a.inflight
	a.inflight = nil
	a.rt.opts.Metrics.Append(f.events, time.Since(f.start))
	if r.err != nil {
		var ce *eventlog.ConflictError
		err := internal("the events could not be stored", r.err)
		if errors.As(r.err, &ce) {
			err = &Error{Code: CodeConflict, Message: fmt.Sprintf("another writer appended to %s; retry", a.id), Err: r.err}
		}
		a.logger().Error("append failed", "err", r.err)
		a.failPending(err)
		return
	}
	if f.events > 0 {
		a.dseq = r.res.Last
	}
	fired := false
	for _, e := range f.entries {
		if e.idemKey != "" {
			delete(a.idem, e.idemKey)
		}
		if e.timers > 0 {
			a.rt.sched.kickNow()
		}
		for _, k := range e.fired {
			a.rt.sched.done(k)
			fired = true
		}
	}
	_ = fired
	a.sinceSnap += f.events
	a.release()
	if f.events > 0 {
		t := a.newTurn(eventlog.Metadata{})
		t.noWrites = true
		a.hookTurn(t, hookStateChange, nil, nil)
		a.finishTurn(t, nil)
		if a.rt.snaps != nil && a.rt.opts.Snapshots.Due(a.sinceSnap, a.sinceBytes) {
			a.snapWanted = true
		}
	}
	a.maybeFlush()
	a.release()
}

// failPending answers everything not yet durable with err, drops the
// batch and marks the state for a rebuild from the log.
func (a *actor) failPending(err error) {
	for _, it := range a.out {
		if it.call != nil {
			it.call.reply <- callResult{err: err}
			a.rt.opts.Metrics.Action(a.id.Type, it.call.action, CodeOf(err), time.Since(it.call.start))
		}
	}
	a.out = nil
	for _, e := range a.batch {
		for _, k := range e.fired {
			a.rt.sched.done(k)
		}
	}
	a.batch = nil
	clear(a.idem)
	a.broken = err
}

// rebuild reloads the state from the newest snapshot and the log.
func (a *actor) rebuild() {
	a.logger().Info("rebuilding state from the log", "reason", a.broken)
	seq, replayed, err := load(context.Background(), a.rt.log, a.rt.snaps, a.inst, a.id, 0)
	if err != nil {
		a.logger().Error("rebuild failed", "err", err)
		a.fatal = err
		return
	}
	a.tseq, a.dseq, a.broken = seq, seq, nil
	a.sinceSnap, a.sinceBytes = replayed, 0
}

func (a *actor) saveSnapshot() {
	state, err := a.inst.encodeState()
	if err != nil {
		a.logger().Warn("state does not encode for a snapshot", "err", err)
		return
	}
	snap := snapshots.Snapshot{Actor: a.id, Seq: a.dseq, Schema: a.inst.schema(), State: state}
	a.sinceSnap, a.sinceBytes = 0, 0
	a.snapSaving = true
	ret, retain := a.rt.opts.Retention[a.id.Type]
	go func() {
		err := a.rt.snaps.Save(context.Background(), snap)
		if err == nil && retain {
			err = a.rt.trim(context.Background(), a.id, snap.Seq, ret)
		}
		a.saved <- err
	}()
}

func (a *actor) runIntervals() {
	now := time.Now()
	for name, iv := range a.intervals {
		if now.Before(iv.next) {
			continue
		}
		iv.next = now.Add(iv.every)
		t := a.newTurn(eventlog.Metadata{Causation: "every:" + name})
		func() {
			defer func() {
				if r := recover(); r != nil {
					a.logger().Error("interval panicked", "name", name, "panic", r)
					delete(a.intervals, name)
					t.discard()
				}
			}()
			iv.fn(t)
		}()
		a.finishTurn(t, nil)
	}
	a.maybeFlush()
	a.release()
}

// turn collects what one action or hook does.
type turn struct {
	a        *actor
	now      time.Time
	meta     eventlog.Metadata
	events   []eventlog.Event
	bytes    int
	ops      []eventlog.Op
	frames   [][]byte
	timers   int
	fired    []byte
	err      error
	noWrites bool // hooks that may not emit or schedule
}

func (a *actor) newTurn(meta eventlog.Metadata) *turn {
	return &turn{a: a, now: time.Now(), meta: meta}
}

// discard drops the turn's writes and broadcasts (not the retirement of
// a fired timer).
func (t *turn) discard() {
	t.events, t.ops, t.frames, t.bytes, t.timers = nil, nil, nil, 0, 0
}

func (t *turn) emit(typ string, data any) error {
	if t.noWrites {
		err := Errorf(CodeInternal, "events cannot be emitted in this hook")
		t.err = err
		return err
	}
	if reservedFrames[typ] {
		err := Errorf(CodeInternal, "event type %q is reserved for the WebSocket protocol", typ)
		t.err = err
		return err
	}
	if typ == "" || len(typ) > 255 {
		err := Errorf(CodeInternal, "event type %q must be 1 to 255 bytes", typ)
		t.err = err
		return err
	}
	if len(t.events) >= t.a.rt.opts.MaxEventsPerAction {
		err := Errorf(CodeTooLarge, "an action may emit at most %d events", t.a.rt.opts.MaxEventsPerAction)
		t.err = err
		return err
	}
	b, err := marshalMsgpack(data)
	if err != nil {
		e := internal("event data does not encode", err)
		t.err = e
		return e
	}
	if max := t.a.rt.opts.MaxEventSize; len(b) > max {
		err := Errorf(CodeTooLarge, "event %q is %d bytes; the limit is %d", typ, len(b), max)
		t.err = err
		return err
	}
	t.events = append(t.events, eventlog.Event{Type: typ, Data: b, Time: t.now.UnixMilli(), Meta: t.meta})
	t.bytes += len(b)
	return nil
}

// reservedFrames are the frame types of the WebSocket protocol, which
// events and broadcasts may not use.
var reservedFrames = map[string]bool{"init": true, "reply": true, "error": true, "pong": true, "state": true}

func (t *turn) broadcast(name string, data any) {
	if reservedFrames[name] {
		t.a.logger().Warn("broadcast with a reserved name dropped", "name", name)
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		t.a.logger().Warn("broadcast does not encode", "name", name, "err", err)
		return
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m == nil {
		m = map[string]any{"data": json.RawMessage(b)}
	}
	m["type"] = name
	f, _ := json.Marshal(m)
	t.frames = append(t.frames, f)
}

func (t *turn) schedule(at time.Time, action string, args any) (string, error) {
	if t.noWrites {
		return "", Errorf(CodeInternal, "timers cannot be set in this hook")
	}
	if !t.a.def.HasAction(action) {
		return "", Errorf(CodeInternal, "cannot schedule %q: actor type %q has no such action", action, t.a.id.Type)
	}
	argb, err := marshalMsgpack(args)
	if err != nil {
		return "", internal("timer arguments do not encode", err)
	}
	var idb [8]byte
	rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	t.ops = append(t.ops, t.a.rt.timerSetOps(t.a.id, id, at, action, argb)...)
	t.timers++
	return id, nil
}

func (t *turn) cancel(timerID string) {
	at, ok := t.a.rt.timerAt(t.a.id, timerID)
	if !ok {
		return
	}
	t.ops = append(t.ops, t.a.rt.timerDeleteOps(timerKey(t.a.id, timerID, at))...)
}

func (t *turn) every(name string, d time.Duration, fn func(*turn)) {
	if d <= 0 {
		return
	}
	t.a.intervals[name] = &interval{every: d, next: time.Now().Add(d), fn: fn}
}

func (t *turn) stopEvery(name string) { delete(t.a.intervals, name) }

// timerAt is the 8-byte big-endian form used in timer keys.
func beUint64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
