package actors

import (
	"container/list"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/eventlog"
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
	events *Events
	reply  chan connectResult
}

type connectResult struct {
	conn *Conn
	init Init
	err  error
}

type disconnectMsg struct{ conn *Conn }

type stateMsg struct{ reply chan connectResult }

// actor is one awake actor. The worker that runs it (workers.go; one at a
// time) owns everything but the fields shared with senders and the
// runtime. What it does is split by concern, one file each:
//
//	workers.go    signals, the workers and the mailbox
//	actor.go      a run: messages in, and what waits for quiet
//	turn.go       a turn: an action or hook emitting events, broadcasting,
//	              scheduling
//	flush.go      the turns' writes on their way to the log: batching,
//	              the append in flight, releasing replies and frames once
//	              durable, failing what is pending
//	lifecycle.go  wake, sleep, rebuild and snapshots
//	conn.go       connections
type actor struct {
	rt   *Runtime
	id   eventlog.ID
	def  Definition
	inst instance
	lg   *slog.Logger // made on first use

	// Shared with senders and the runtime.
	mailbox  mailbox
	sched    atomic.Int32  // where its run stands (workers.go)
	refs     atomic.Int64  // senders holding it awake
	exited   chan struct{} // closed when it has gone to sleep
	evict    atomic.Bool   // the runtime asked it to sleep to make room
	unload   atomic.Bool   // Sleep asked it to go, connections or not
	timerDue atomic.Bool   // its timer went off
	sleeping bool          // guarded by rt.mu: no new messages may be sent
	elem     *list.Element // guarded by rt.mu: its place in rt.lru

	// The results of the work it starts in goroutines of the runtime's:
	// each is stored, then the actor signalled.
	flushed atomic.Pointer[flushResult] // the append in flight (flush.go)
	saved   atomic.Pointer[error]       // the snapshot being saved (lifecycle.go)

	// tseq is the head including the events not yet durable (the state in
	// memory is at tseq); dseq is the durable head.
	tseq, dseq uint64
	pend       pending     // flush.go
	snap       snapState   // lifecycle.go
	conns      connections // conn.go
	intervals  map[string]*interval
	timer      *time.Timer // the next interval or the idle timeout; sets timerDue
	timerAt    int64       // when timer is set to go off (Unix ns); 0 once it has
	lastActive time.Time
	awoke      bool // it has been woken (its first run wakes it)
	// deferred holds connects and state reads waiting for the actor to be
	// quiet, when its durable and tentative states are one.
	deferred []message
	broken   error // the state must be rebuilt from the log
	fatal    error // the actor cannot run; it answers with this and exits
	stopping bool  // the runtime is closing: finish and go
}

func newActor(rt *Runtime, id eventlog.ID, def Definition) *actor {
	return &actor{
		rt:     rt,
		id:     id,
		def:    def,
		exited: make(chan struct{}),
	}
}

func (a *actor) logger() *slog.Logger {
	if a.lg == nil {
		a.lg = a.rt.lg.With("actor", a.id.String())
	}
	return a.lg
}

func (a *actor) connCount() int { return len(a.conns.all) }

// What a run of step ends with.
type stepResult int

const (
	stepIdle stepResult = iota // nothing left to do
	stepMore                   // had its share of turns; more waits
	stepGone                   // went to sleep
)

// step does what the actor has to do: wakes it on its first run, then
// handles what has come (messages, the append and the snapshot that
// ended, its timer, the runtime's requests) until nothing has, and goes to
// sleep when it may. It is the body of the loop an actor's goroutine ran
// when actors had one; a worker runs it (workers.go).
func (a *actor) step() stepResult {
	if !a.awoke {
		a.awoke = true
		a.wake()
	}
	stopping := a.rt.scope.Stopping()
	for turns := 0; ; turns++ {
		if a.fatal == nil && a.quiescent() {
			a.atQuiescence()
		}
		refused := false
		if a.exitReady() {
			a.sendUnsent()
			if a.tryExit() {
				a.sleep()
				a.exit()
				return stepGone
			}
			refused = true
		}
		if !a.stopping {
			select {
			case <-stopping:
				a.stopping = true
				continue
			default:
			}
		}
		if a.timerDue.Swap(false) {
			a.sendUnsent()
			a.timerAt = 0 // went off: the next resetTimer arms it
			a.runIntervals()
			continue
		}
		if r := a.flushed.Swap(nil); r != nil {
			a.onFlushed(*r)
			continue
		}
		if err := a.saved.Swap(nil); err != nil {
			a.snap.saving = false
			if *err != nil && !unavailable(*err) {
				a.logger().Warn("snapshot not saved", "err", *err)
			}
			continue
		}
		if a.fatal != nil || len(a.deferred) == 0 && a.broken == nil && !a.snap.wanted {
			// A fatal actor still reads its mailbox, to answer each
			// message with its error before it goes.
			if turns >= turnsPerRun && a.mailbox.len() > 0 {
				return stepMore // its share is up: the others' turn
			}
			if m, ok := a.mailbox.take(); ok {
				a.sendUnsent()
				a.handle(m)
				continue
			}
		}
		a.resetTimer()
		if refused {
			// A sender held a reference for a moment (it may already have
			// delivered its message and be about to let go): look again
			// soon. Without this, a stopping actor, which has no idle
			// timer, would wait an hour and hold up Runtime.Close.
			a.armTimer(time.Now(), time.Millisecond)
		}
		return stepIdle
	}
}

func (a *actor) quiescent() bool {
	return a.pend.inflight == nil && len(a.pend.batch) == 0 && len(a.pend.out) == 0
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
	if a.snap.wanted && !a.snap.saving {
		a.snap.wanted = false
		if a.rt.log.Health().Writable {
			a.saveSnapshot()
		}
	}
	for len(a.deferred) > 0 && a.quiescent() && a.broken == nil {
		m := a.deferred[0]
		a.deferred = a.deferred[1:]
		a.handleBarrier(m)
	}
	if a.conns.wantState > 0 && a.conns.stateSeq != a.dseq && a.quiescent() && a.broken == nil {
		a.sendState()
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
	if len(a.conns.all) == 0 && !a.stopping {
		idle := a.lastActive.Add(a.rt.opts.IdleTimeout)
		if next.IsZero() || idle.Before(next) {
			next = idle
		}
	}
	now := time.Now()
	d := time.Hour
	if !next.IsZero() {
		d = max(next.Sub(now), time.Millisecond)
	}
	a.armTimer(now, d)
}

// armTimer makes the actor's timer go off d after now, unless it is set
// to go off no later than that: it then goes off early, and the actor,
// finding nothing due, arms it again. A busy actor's idle deadline moves
// with each call; resetting the timer each time cost more than the rare
// early wake does.
func (a *actor) armTimer(now time.Time, d time.Duration) {
	at := now.Add(d).UnixNano()
	if a.timerAt != 0 && a.timerAt <= at {
		return
	}
	a.timerAt = at
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

func (a *actor) handleCall(m *callMsg) {
	if m.timer != nil && a.pend.inflight == nil && len(a.pend.batch) == 0 {
		// Another runtime over the same store (a cluster's former owner)
		// may have fired the timer since it was found due: its event and
		// the record's deletion are one write, so a state that holds the
		// event is read with the record gone. A state that does not hold
		// it appends against an older head and is refused.
		_, err := a.rt.log.Get(a.rt.ctx(), Space, m.timer.key)
		if errors.Is(err, eventlog.ErrNotFound) {
			a.rt.sched.done(m.timer.key)
			return
		}
	}
	if c := m.opts.Conn; c != nil && !a.open(c) {
		a.queueReply(0, m, Reply{}, Errorf(CodeUnavailable, "the connection this call to %s came over is closed", a.id))
		a.release()
		return
	}
	key := m.opts.IdempotencyKey
	var fp []byte
	if key != "" {
		fp = fingerprint(m.action, m.args)
		rec, found := idemRecord{}, false
		need := uint64(0)
		if e := a.pend.idem[key]; e != nil {
			rec, found, need = e.rec, true, e.rec.Seq
		} else {
			var err error
			if rec, found, err = a.rt.readIdem(a.id, key); err != nil {
				a.queueReply(0, m, Reply{}, readError("read idempotency record", err))
				a.release()
				return
			}
		}
		if found {
			var reply Reply
			err := rec.mismatch(key, m.action, fp)
			if err == nil {
				reply.Body, err = convertResult(rec.Result, m.opts.Format)
				reply.Seq, reply.Replayed = rec.Seq, true
				if err != nil {
					err = internal("stored result does not convert", err)
				}
			}
			a.queueReply(need, m, reply, err)
			a.release()
			return
		}
	}
	meta := eventlog.Metadata{CorrelationID: m.opts.CorrelationID, Causation: m.action, IdempotencyKey: key}
	t := a.newTurn(meta)
	t.conn = m.opts.Conn
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
	if key != "" && err == nil && a.broken == nil {
		// Record the call, whether it wrote anything or not, so that a
		// retry gets this result and the key cannot serve another call.
		stored, merr := encodeResult(result, Msgpack)
		if merr == nil {
			rec := idemRecord{Seq: a.tseq, Result: stored, Time: t.now.UnixMilli(), Action: m.action, Args: fp}
			if e == nil {
				e = &entry{}
				a.pend.wrote++
				a.pend.batch = append(a.pend.batch, e)
			}
			e.ops = append(e.ops, a.rt.idemOps(a.id, key, rec)...)
			e.idemKey = key
			if a.pend.idem == nil {
				a.pend.idem = make(map[string]*idemEntry)
			}
			a.pend.idem[key] = &idemEntry{rec: rec}
		}
	}
	if a.broken != nil && err == nil {
		err = a.broken
	}
	a.queueReply(a.tseq, m, Reply{Body: body, Seq: a.tseq}, err)
	a.maybeFlush()
	a.release()
}
