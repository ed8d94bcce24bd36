package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
)

// snapState is where the actor stands with snapshots.
type snapState struct {
	wanted bool // one is due, to be taken once the actor is quiet
	saving bool // one is being saved
	// events and bytes count the events, and their data, since the last.
	events int
	bytes  int64
}

// wake makes the actor's state: the newest snapshot, then the events
// after it. It runs first thing on its first run.
func (a *actor) wake() {
	a.timer = time.AfterFunc(time.Hour, func() {
		a.timerDue.Store(true)
		a.signal()
	})
	a.timerAt = time.Now().Add(time.Hour).UnixNano()
	a.lastActive = time.Now()
	start := time.Now()
	a.inst = a.def.newInstance(a.id)
	seq, replayed, err := load(a.rt.ctx(), a.rt.log, a.rt.snaps, a.inst, a.id, 0)
	if err != nil {
		a.logger().Error("wake failed", "err", err)
		a.fatal = err
	} else {
		a.tseq, a.dseq, a.snap.events = seq, seq, replayed
		a.rt.opts.Metrics.Wake(a.id.Type, replayed, time.Since(start))
		a.runHook(hookWake, nil, nil)
	}
}

// exit ends an actor that has gone to sleep: senders waiting for it to be
// gone wake a new one, and the runtime's Close stops waiting for it.
func (a *actor) exit() {
	a.timer.Stop()
	a.rt.opts.Metrics.ActiveActors(-1)
	close(a.exited)
	a.rt.scope.Exit()
}

func (a *actor) exitReady() bool {
	if a.fatal != nil {
		return true
	}
	if !a.quiescent() || a.mailbox.len() > 0 || len(a.deferred) > 0 || a.snap.saving || a.broken != nil {
		return false
	}
	if a.stopping {
		return true
	}
	if a.unload.Load() {
		return true // its connections end: their clients connect again
	}
	if len(a.conns.all) > 0 {
		a.evict.Store(false) // in use: the runtime must look elsewhere
		return false
	}
	if a.evict.Load() {
		return true
	}
	if time.Since(a.lastActive) < a.rt.opts.IdleTimeout {
		return false
	}
	// Going to sleep runs OnSleep, whose writes would be lost while the
	// store cannot write: idle, stay awake until it can, and look again
	// an idle timeout later. (An actor evicted for room goes all the
	// same: memory comes first.)
	if !a.rt.log.Health().Writable {
		a.lastActive = time.Now()
		return false
	}
	return true
}

// tryExit marks the actor sleeping unless a message is on its way. Once it
// is marked, senders wait for exited and wake a new one.
func (a *actor) tryExit() bool {
	a.rt.mu.Lock()
	defer a.rt.mu.Unlock()
	if a.refs.Load() > 0 || a.mailbox.len() > 0 {
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
		for c := range a.conns.all {
			c.drop(ErrActorStopped)
		}
		return
	}
	t := a.newTurn(eventlog.Metadata{})
	a.hookTurn(t, hookSleep, nil, nil)
	if e := a.turnEntry(t); e != nil {
		// OnSleep wrote something (a timer, say): write it before going.
		req := eventlog.Request{Actor: a.id, Expected: eventlog.ExpectSeq(a.dseq), Events: e.events, Ops: e.ops}
		res, err := a.rt.log.Write(a.rt.ctx(), req)
		if err != nil {
			a.logger().Error("OnSleep writes lost", "err", err)
		} else if len(e.events) > 0 {
			// Fold what OnSleep emitted, so that the snapshot below holds it.
			for i := range e.events {
				ev := &e.events[i]
				ev.Actor, ev.Seq = a.id, res.First+uint64(i)
				if err := a.inst.apply(ev); err != nil {
					a.logger().Error("applier failed on an event OnSleep emitted; no snapshot at sleep", "err", err)
					a.snap.events = 0 // the state is not the log's: keep it out of a snapshot
					break
				}
				a.snap.events++
			}
			a.dseq, a.tseq = res.Last, res.Last
		}
	}
	if a.rt.opts.SnapshotOnSleep > 0 && a.snap.events >= a.rt.opts.SnapshotOnSleep && a.rt.snaps != nil {
		if state, err := a.inst.encodeState(); err == nil {
			err = a.rt.snaps.Save(a.rt.ctx(), snapshots.Snapshot{Actor: a.id, Seq: a.dseq, Schema: a.inst.schema(), State: state})
			if err != nil {
				a.logger().Warn("snapshot at sleep not saved", "err", err)
			}
		}
	}
	reason := ErrActorStopped
	if a.stopping {
		reason = ErrClosed
	}
	for c := range a.conns.all {
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
		m, ok := a.mailbox.take()
		if !ok {
			return
		}
		a.fail(m, a.fatal)
	}
}

// rebuild reloads the state from the newest snapshot and the log.
func (a *actor) rebuild() {
	if unavailable(a.broken) {
		a.logger().Debug("rebuilding state from the log", "reason", a.broken)
	} else {
		a.logger().Info("rebuilding state from the log", "reason", a.broken)
	}
	prev := a.dseq
	seq, replayed, err := load(a.rt.ctx(), a.rt.log, a.rt.snaps, a.inst, a.id, 0)
	if err != nil {
		a.logger().Error("rebuild failed", "err", err)
		a.fatal = err
		return
	}
	a.tseq, a.dseq, a.broken = seq, seq, nil
	a.snap.events, a.snap.bytes = replayed, 0
	if seq != prev {
		// The log moved on without this actor (another runtime wrote to
		// it, as two owners in a cluster may for a moment, or a write
		// whose outcome was unknown landed): its connections never got
		// those events. They end, and their clients resume from the log.
		a.dropConns(ErrActorStopped)
	}
}

func (a *actor) saveSnapshot() {
	state, err := a.inst.encodeState()
	if err != nil {
		a.logger().Warn("state does not encode for a snapshot", "err", err)
		return
	}
	snap := snapshots.Snapshot{Actor: a.id, Seq: a.dseq, Schema: a.inst.schema(), State: state}
	a.snap.events, a.snap.bytes = 0, 0
	a.snap.saving = true
	ret, retain := a.rt.opts.Retention[a.id.Type]
	a.spawn(func() {
		err := a.rt.snaps.Save(a.rt.ctx(), snap)
		if err == nil && retain {
			err = a.rt.trim(a.rt.ctx(), a.id, snap.Seq, ret)
		}
		a.saved.Store(&err)
		a.signal()
	})
}

// spawn runs f, which ends by storing its result for the actor and
// signalling it, in a goroutine of the runtime's. The runtime refuses new
// goroutines only once all of its own have returned and every actor has
// gone: were it refused all the same, f runs here.
func (a *actor) spawn(f func()) {
	if !a.rt.reuse.Go(f) {
		f()
	}
}

// StateAt folds the actor's events up to sequence at (0: the head) from
// the newest usable snapshot at or below it, without touching the live
// actor. It returns the state as JSON and the sequence it reflects.
func StateAt(ctx context.Context, log History, snaps *snapshots.Store, def Definition, id eventlog.ID, at uint64) ([]byte, uint64, error) {
	head, err := log.Head(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if at == 0 || at > head.Head {
		if at > head.Head {
			return nil, 0, Errorf(CodeNotFound, "%s has no sequence %d; its head is %d", id, at, head.Head)
		}
		at = head.Head
	}
	in := def.newInstance(id)
	seq, _, err := load(ctx, log, snaps, in, id, at)
	if err != nil {
		return nil, 0, err
	}
	b, err := in.stateJSON()
	if err != nil {
		return nil, 0, internal("state does not encode as JSON", err)
	}
	return b, seq, nil
}

// load rebuilds in's state up to sequence to (0: the head): the newest
// usable snapshot at or below it, then the events after. It returns the
// sequence reached and the number of events replayed.
func load(ctx context.Context, log History, snaps *snapshots.Store, in instance, id eventlog.ID, to uint64) (uint64, int, error) {
	in.reset()
	var seq uint64
	if snaps != nil {
		snap, err := snaps.Load(ctx, id, to, in.schema())
		switch {
		case err == nil:
			if derr := in.decodeState(snap.State); derr == nil {
				seq = snap.Seq
			} else {
				in.reset()
			}
		case errors.Is(err, snapshots.ErrNotFound), errors.Is(err, snapshots.ErrUnusable):
		default:
			return 0, 0, internal("load snapshot", err)
		}
	}
	head, err := log.Head(ctx, id)
	if err != nil {
		return 0, 0, internal("read head", err)
	}
	if seq < head.First-1 && head.First > 1 {
		// Events before First were erased; without a snapshot covering
		// them the state cannot be rebuilt.
		return 0, 0, &Error{Code: CodeNotFound, Message: fmt.Sprintf("%s: events before %d were dropped and no usable snapshot covers them", id, head.First)}
	}
	replayed := 0
	err = log.ScanStream(ctx, id, seq+1, to, func(e *eventlog.Event) error {
		if err := in.apply(e); err != nil {
			return err
		}
		seq = e.Seq
		replayed++
		return nil
	})
	if err != nil {
		return 0, 0, internal("replay events", err)
	}
	return seq, replayed, nil
}
