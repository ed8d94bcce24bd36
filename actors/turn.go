package actors

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// turn collects what one action or hook does.
type turn struct {
	a        *actor
	now      time.Time
	meta     eventlog.Metadata
	events   []eventlog.Event
	bytes    int
	ops      []eventlog.Op
	frames   []outItem // broadcasts: name and frame
	timers   int
	fired    []byte
	err      error
	noWrites bool  // hooks that may not emit or schedule
	conn     *Conn // the connection a call came over
}

func (a *actor) newTurn(meta eventlog.Metadata) *turn {
	return &turn{a: a, now: time.Now(), meta: meta}
}

// discard drops the turn's writes and broadcasts (not the retirement of
// a fired timer).
func (t *turn) discard() {
	t.events, t.ops, t.frames, t.bytes, t.timers = nil, nil, nil, 0, 0
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
	if e != nil {
		a.pend.wrote++ // undone below if its events do not apply
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
				a.pend.wrote--
				return nil
			}
			a.tseq++
			if len(a.conns.all) > 0 {
				a.pend.out = append(a.pend.out, outItem{need: ev.Seq, evType: ev.Type, evData: ev.Data})
			}
		}
		a.snap.bytes += int64(e.bytes)
	}
	// A frame goes only to the connections open now: one that opens later
	// waits for the actor to be quiet, and its state holds these events.
	if len(a.conns.all) > 0 {
		for _, f := range t.frames {
			f.need, f.wrote = a.tseq, a.pend.wrote
			a.pend.out = append(a.pend.out, f)
		}
	}
	if e != nil {
		a.pend.batch = append(a.pend.batch, e)
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

func (t *turn) emit(typ string, data any) error {
	if t.noWrites {
		err := Errorf(CodeInternal, "events cannot be emitted in this hook")
		t.err = err
		return err
	}
	if t.a.def.EventData(typ) == nil {
		err := Errorf(CodeInternal, "actor type %q has no applier for event type %q; register one with actors.On", t.a.id.Type, typ)
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

func (t *turn) broadcast(name string, data any) {
	want := t.a.def.BroadcastData(name)
	if want == nil {
		t.a.logger().Error("broadcast not sent: its name is not declared; declare it with actors.Broadcast", "name", name)
		return
	}
	if !fits(reflect.TypeOf(data), want) {
		t.a.logger().Error("broadcast not sent: its data is not of the declared type", "name", name, "type", fmt.Sprint(reflect.TypeOf(data)), "declared", want.String())
		return
	}
	enc := t.a.rt.opts.Frames
	if enc == nil {
		return // no encoder: no connections to send to
	}
	f, err := enc.Broadcast(name, data)
	if err != nil {
		t.a.logger().Warn("broadcast dropped", "name", name, "err", err)
		return
	}
	t.frames = append(t.frames, outItem{name: name, frame: Frame{Data: f}})
}

// fits reports whether a value of type got (nil: a nil interface) may be
// sent as a broadcast declared with data of type want: want itself, a
// pointer to it, or a type that implements want, an interface.
func fits(got, want reflect.Type) bool {
	switch {
	case got == nil:
		k := want.Kind()
		return k == reflect.Interface || k == reflect.Pointer || k == reflect.Map || k == reflect.Slice
	case got == want, got == reflect.PointerTo(want):
		return true
	}
	return want.Kind() == reflect.Interface && got.Implements(want)
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

type interval struct {
	every time.Duration
	next  time.Time
	fn    func(*turn)
}

func (t *turn) every(name string, d time.Duration, fn func(*turn)) {
	if d <= 0 {
		return
	}
	if t.a.intervals == nil {
		t.a.intervals = make(map[string]*interval)
	}
	t.a.intervals[name] = &interval{every: d, next: time.Now().Add(d), fn: fn}
}

func (t *turn) stopEvery(name string) { delete(t.a.intervals, name) }

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
