package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/internal/lifetime"
)

// An awake actor has no goroutine of its own. Whatever gives it something
// to do — a message in its mailbox, an append or a snapshot that ends, its
// timer, the runtime asking it to sleep or to stop — tells it so with
// signal, and a worker of the runtime's pool runs it (actor.work) until it
// has nothing left to do. An actor is run by one worker at a time, so its
// messages are handled one after the other, in order, as when it had a
// goroutine; an idle actor costs its memory and nothing else.

// The states of an actor's run (actor.sched).
const (
	schedIdle    = iota // nothing to do; not queued
	schedQueued         // waiting for a worker
	schedRunning        // a worker runs it
	schedAgain          // a worker runs it, and was signalled meanwhile: run once more
	schedGone           // it went to sleep: signals are ignored
)

// turnsPerRun is the most messages an actor handles before it lets the
// actors queued behind it have a worker.
const turnsPerRun = 64

// signal tells the actor it has something to do: it is queued for a
// worker unless it is queued or running already (a running one looks
// again before it stops).
func (a *actor) signal() { a.notify(false) }

// notify is signal; with here set, a worker's goroutine that left the
// pool calls it, and it reports whether that goroutine is to run the
// queue as a worker again, rather than start another.
func (a *actor) notify(here bool) bool {
	for {
		switch s := a.sched.Load(); s {
		case schedIdle:
			if a.sched.CompareAndSwap(schedIdle, schedQueued) {
				return a.rt.pool.submit(a, here)
			}
		case schedRunning:
			if a.sched.CompareAndSwap(schedRunning, schedAgain) {
				return false
			}
		default: // queued, again or gone
			return false
		}
	}
}

// work runs the actor, in a worker, until it has nothing to do, has gone
// to sleep, or has had its share of turns (then it queues again behind
// the others). It returns the append its last turn left unsent, which the
// worker makes (pool.worker).
func (a *actor) work() *flight {
	a.sched.Store(schedRunning)
	for {
		switch a.step() {
		case stepGone:
			a.sched.Store(schedGone)
			return nil
		case stepMore:
			a.sendUnsent()
			a.sched.Store(schedQueued)
			a.rt.pool.submit(a, false)
			return nil
		}
		f := a.pend.unsent
		a.pend.unsent = nil // before another worker may run the actor
		if a.sched.CompareAndSwap(schedRunning, schedIdle) {
			return f
		}
		if f != nil {
			a.startAppend(f) // it runs again at once
		}
		a.sched.Store(schedRunning) // signalled while it ran: look again
	}
}

// pool runs the actors that have something to do on at most max
// workers, started as work comes and ended when there is none; their
// goroutines come from the runtime's reuser, which keeps one a moment for
// the next worker: a runtime with nothing to do has none 100-150 ms later.
type pool struct {
	max   int
	start func(func()) bool // starts a counted goroutine (the runtime's scope)
	run   func()            // worker, as a value made once

	mu      sync.Mutex
	queue   []*actor
	head    int
	running int
}

// submit queues a, and starts a worker if there is room for one; with
// here set it starts none, and reports whether the caller is to run as
// that worker.
func (p *pool) submit(a *actor, here bool) bool {
	p.mu.Lock()
	p.queue = append(p.queue, a)
	if p.running >= p.max {
		p.mu.Unlock()
		return false
	}
	p.running++
	p.mu.Unlock()
	if here {
		return true
	}
	p.startWorker()
	return false
}

// startWorker starts a worker counted in running.
func (p *pool) startWorker() {
	if !p.start(p.run) {
		// The runtime is closed and every goroutine of its is gone: no
		// actor is awake to run. (Unreachable while an actor is counted.)
		p.mu.Lock()
		p.running--
		p.mu.Unlock()
	}
}

// leave takes the calling worker out of the count while it waits for an
// append, and starts another in its place if actors are queued.
func (p *pool) leave() {
	p.mu.Lock()
	p.running--
	start := p.head < len(p.queue)
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		p.startWorker()
	}
}

// worker runs the queued actors one after the other. When an actor's run
// ends with its append unsent, the worker makes the append itself, out of
// the pool's count, and after the sync runs the actor again (with the
// queue, as a worker again) if the pool has room: a call on an idle actor
// then goes from the caller to one goroutine and back, with no other
// handed the append or the actor on the way.
func (p *pool) worker() {
	for {
		p.mu.Lock()
		if p.head == len(p.queue) {
			p.queue, p.head = p.queue[:0], 0
			if cap(p.queue) > 4096 {
				p.queue = nil // let a burst's queue go
			}
			p.running--
			p.mu.Unlock()
			return
		}
		a := p.queue[p.head]
		p.queue[p.head] = nil
		p.head++
		if p.head >= 1024 && p.head > len(p.queue)/2 {
			// Under a steady load the queue never empties: drop what
			// the workers have taken, so that it does not grow.
			n := copy(p.queue, p.queue[p.head:])
			clear(p.queue[n:])
			p.queue, p.head = p.queue[:n], 0
		}
		p.mu.Unlock()
		if f := a.work(); f != nil {
			p.leave()
			a.append(f)
			if !a.notify(true) {
				return
			}
		}
	}
}

// reuseLinger is how long a goroutine of a reuser waits, idle, for more
// work before it ends.
const reuseLinger = 100 * time.Millisecond

// reuser starts the runtime's short-lived work — a worker of the pool, an
// append or a snapshot in flight — on goroutines that it keeps for a
// moment once their work is done, to run the next. A new goroutine starts
// with a small stack that the actions and Pebble's commit path make it
// grow, copy after copy, to tens of KB: under load that was 8% of the
// server's CPU. A goroutine that lingers keeps its grown stack (up to
// 32 KiB, which the GC leaves alone: idleWait) and is handed the next
// piece of work directly.
//
// An idle goroutine only waits on its channel: a sweeper, running while
// any goroutine idles, ends those idle for reuseLinger (checking every
// half of it), and every one once the scope stops. So handing work over
// costs a lock and a channel send, with no timer to reset each time, and
// a runtime with nothing to do still has no goroutine but its
// scheduler's, about 100-150 ms later.
//
// Its methods are safe for concurrent use.
type reuser struct {
	scope *lifetime.Scope

	mu       sync.Mutex
	idle     []idler // goroutines waiting for work, the oldest first
	sweeping bool    // the sweeper runs
}

// idler is a goroutine waiting for work: f on ch, or nil to end.
type idler struct {
	ch    chan func()
	since time.Time
}

// Go runs f on an idle goroutine, or a new one the scope counts; it
// reports false, and f does not run, when the scope refuses a new one.
func (r *reuser) Go(f func()) bool {
	r.mu.Lock()
	if n := len(r.idle); n > 0 {
		ch := r.idle[n-1].ch
		r.idle[n-1] = idler{}
		r.idle = r.idle[:n-1]
		r.mu.Unlock()
		ch <- f // buffered: it never blocks
		return true
	}
	r.mu.Unlock()
	return r.scope.Go(func() { r.run(f) })
}

func (r *reuser) run(f func()) {
	ch := make(chan func(), 1)
	for f != nil {
		f()
		r.mu.Lock()
		if !r.sweeping && !r.scope.Go(r.sweep) {
			// Unreachable while this goroutine counts in the scope; were
			// it refused, nothing would end an idle one.
			r.mu.Unlock()
			return
		}
		r.sweeping = true
		r.idle = append(r.idle, idler{ch: ch, since: time.Now()})
		r.mu.Unlock()
		f = idleWait(ch)
	}
}

// idleFrame is the stack an idle goroutine of a reuser holds while it
// waits. The GC halves the stack of a goroutine parked using less than a
// quarter of it: one parked at the top of its stack would give back, at
// each cycle, what its work grew, and its next work would grow it again,
// copy after copy — 2-3% of a call's CPU at 64 connections, where a
// cycle comes every few hundred calls. Waiting below a frame of this size
// keeps a stack of up to four times as much.
const idleFrame = 8 << 10

// idleWait waits for the next work on ch (nil: end) below a frame of
// idleFrame bytes.
//
//go:noinline
func idleWait(ch chan func()) func() {
	var frame [idleFrame]byte
	f := <-ch
	holdFrame(frame[:])
	return f
}

// holdFrame keeps idleWait's frame in use across its wait.
//
//go:noinline
func holdFrame([]byte) {}

// sweep ends the goroutines idle for reuseLinger, and every idle one once
// the scope stops; it returns when none is left idle.
func (r *reuser) sweep() {
	tick := time.NewTicker(reuseLinger / 2)
	defer tick.Stop()
	for {
		stopping := false
		select {
		case <-tick.C:
		case <-r.scope.Stopping():
			stopping = true
		}
		r.mu.Lock()
		cut := time.Now().Add(-reuseLinger)
		n := 0
		for n < len(r.idle) && (stopping || r.idle[n].since.Before(cut)) {
			r.idle[n].ch <- nil
			n++
		}
		left := copy(r.idle, r.idle[n:])
		clear(r.idle[left:])
		r.idle = r.idle[:left]
		if left == 0 {
			r.sweeping = false
			r.idle = nil // a burst's list goes too
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
}

// mailbox holds the messages sent to an actor and not yet handled. It
// holds at most max; senders wait for room. Empty, it holds no memory.
type mailbox struct {
	mu    sync.Mutex
	q     []message
	head  int
	room  chan struct{} // closed when a message is taken; made when a sender waits
	count atomic.Int32
}

// put adds m, waiting for room while the mailbox holds max messages or
// until done is closed or expire fires (then it returns false and m is
// not added).
func (mb *mailbox) put(m message, max int, done <-chan struct{}, expire <-chan time.Time) bool {
	mb.mu.Lock()
	for len(mb.q)-mb.head >= max {
		if mb.room == nil {
			mb.room = make(chan struct{})
		}
		room := mb.room
		mb.mu.Unlock()
		select {
		case <-room:
		case <-done:
			return false
		case <-expire:
			return false
		}
		mb.mu.Lock()
	}
	mb.q = append(mb.q, m)
	mb.count.Add(1)
	mb.mu.Unlock()
	return true
}

// take returns the oldest message, or false if there is none.
func (mb *mailbox) take() (message, bool) {
	if mb.count.Load() == 0 {
		return nil, false
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.head == len(mb.q) {
		return nil, false
	}
	m := mb.q[mb.head]
	mb.q[mb.head] = nil
	mb.head++
	mb.count.Add(-1)
	if mb.head == len(mb.q) {
		// Empty: start over, and hold nothing if a burst grew it.
		mb.q, mb.head = mb.q[:0], 0
		if cap(mb.q) > 4 {
			mb.q = nil
		}
	}
	if mb.room != nil {
		close(mb.room)
		mb.room = nil
	}
	return m, true
}

// len returns the number of messages waiting.
func (mb *mailbox) len() int { return int(mb.count.Load()) }
