package actors

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// Records in Space (0x21):
//
//	't' at(8 BE, Unix ms) id timerID -> msgpack [action, args]
//	'T' id timerID                   -> at (8 BE)
//	'i' id idempotencyKey            -> msgpack idemRecord
//	'j' time(8 BE, Unix ms) 'i'-key  -> empty: the records by age
//
// where id is eventlog.AppendKey of the actor. The 't' family orders every
// timer of every actor by due time, so the scheduler finds the next one
// with a single seek; 'T' finds a timer by id for Cancel.

// idemRecord is what a call with an idempotency key left: its result,
// and what the call was, so that the key reused for another call is
// refused. Records written before Action was kept have none, and match
// any call.
type idemRecord struct {
	Seq    uint64 `json:"s"`
	Result []byte `json:"r"`
	Time   int64  `json:"t"`
	Action string `json:"a,omitempty"`
	Args   []byte `json:"h,omitempty"` // fingerprint of the arguments
}

// mismatch returns an error with CodeIdempotencyMismatch if the record
// was left by another call than action with arguments of fingerprint fp.
func (r idemRecord) mismatch(key, action string, fp []byte) error {
	switch {
	case r.Action == "":
		return nil // recorded before calls were
	case r.Action != action:
		return Errorf(CodeIdempotencyMismatch, "Idempotency-Key %q was used for action %q, not %q; use a new key for a new call", key, r.Action, action)
	case !bytes.Equal(r.Args, fp):
		return Errorf(CodeIdempotencyMismatch, "Idempotency-Key %q was used for %q with other arguments; use a new key for a new call", key, action)
	}
	return nil
}

func idemKey(id eventlog.ID, key string) []byte {
	return append(eventlog.AppendKey([]byte{'i'}, id), key...)
}

// idemOps stores an idempotency record, and its entry in the 'j' index by
// time, which the sweeper uses to drop records past
// Options.IdempotencyTTL.
func (rt *Runtime) idemOps(id eventlog.ID, key string, rec idemRecord) []eventlog.Op {
	v, _ := marshalMsgpack(rec)
	k := idemKey(id, key)
	return []eventlog.Op{
		{Space: Space, Key: k, Value: v},
		{Space: Space, Key: append(binary.BigEndian.AppendUint64([]byte{'j'}, uint64(rec.Time)), k...), Value: nil},
	}
}

// sweepIdem deletes the idempotency records older than the TTL, a batch
// at a time, through the 'j' index.
func (rt *Runtime) sweepIdem(ctx context.Context) error {
	cutoff := time.Now().Add(-rt.opts.IdempotencyTTL).UnixMilli()
	var ops []eventlog.Op
	hi := binary.BigEndian.AppendUint64([]byte{'j'}, uint64(max(cutoff, 0)))
	err := rt.log.Scan(ctx, Space, []byte{'j'}, hi, false, func(k, _ []byte) error {
		ops = append(ops,
			eventlog.Op{Space: Space, Key: bytes.Clone(k), Delete: true},
			eventlog.Op{Space: Space, Key: bytes.Clone(k[9:]), Delete: true})
		if len(ops) >= 2000 {
			return errStopScan
		}
		return nil
	})
	if err != nil && err != errStopScan {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	_, err = rt.log.Write(ctx, eventlog.Request{Ops: ops})
	return err
}

func (rt *Runtime) readIdem(id eventlog.ID, key string) (idemRecord, bool, error) {
	v, err := rt.log.Get(rt.ctx(), Space, idemKey(id, key))
	if errors.Is(err, eventlog.ErrNotFound) {
		return idemRecord{}, false, nil
	}
	if err != nil {
		return idemRecord{}, false, err
	}
	var rec idemRecord
	if err := unmarshalMsgpack(v, &rec); err != nil {
		return idemRecord{}, false, err
	}
	return rec, true, nil
}

func timerKey(id eventlog.ID, timerID string, at int64) []byte {
	k := binary.BigEndian.AppendUint64([]byte{'t'}, uint64(at))
	k = eventlog.AppendKey(k, id)
	return append(k, timerID...)
}

func timerIndexKey(id eventlog.ID, timerID string) []byte {
	return append(eventlog.AppendKey([]byte{'T'}, id), timerID...)
}

type timerRecord struct {
	key    []byte
	actor  eventlog.ID
	id     string
	at     int64
	action string
	args   []byte
}

func parseTimer(k, v []byte) (timerRecord, error) {
	if len(k) < 9 || k[0] != 't' {
		return timerRecord{}, errors.New("bad timer key")
	}
	id, rest, err := eventlog.DecodeKey(k[9:])
	if err != nil {
		return timerRecord{}, err
	}
	var fields []any
	r := timerRecord{key: bytes.Clone(k), actor: id, id: string(rest), at: int64(binary.BigEndian.Uint64(k[1:9]))}
	if err := unmarshalMsgpack(v, &fields); err != nil || len(fields) != 2 {
		return r, errors.New("bad timer record")
	}
	r.action, _ = fields[0].(string)
	r.args, _ = fields[1].([]byte)
	return r, nil
}

func (rt *Runtime) timerSetOps(id eventlog.ID, timerID string, at time.Time, action string, args []byte) []eventlog.Op {
	ms := at.UnixMilli()
	v, _ := marshalMsgpack([]any{action, args})
	return []eventlog.Op{
		{Space: Space, Key: timerKey(id, timerID, ms), Value: v},
		{Space: Space, Key: timerIndexKey(id, timerID), Value: beUint64(uint64(ms))},
	}
}

// timerDeleteOps retires the timer whose 't' key is k.
func (rt *Runtime) timerDeleteOps(k []byte) []eventlog.Op {
	id, rest, err := eventlog.DecodeKey(k[9:])
	if err != nil {
		return nil
	}
	return []eventlog.Op{
		{Space: Space, Key: bytes.Clone(k), Delete: true},
		{Space: Space, Key: timerIndexKey(id, string(rest)), Delete: true},
	}
}

func (rt *Runtime) timerAt(id eventlog.ID, timerID string) (int64, bool) {
	v, err := rt.log.Get(rt.ctx(), Space, timerIndexKey(id, timerID))
	if err != nil || len(v) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
}

// scheduler fires durable timers: it finds the due ones in the 't' family
// and sends each to its actor, waking it. A timer is retired by the append
// of the action it ran, so a crash in between fires it again: at least
// once.
type scheduler struct {
	rt    *Runtime
	kick  chan struct{}
	swept time.Time // the last sweep of old idempotency records

	mu     sync.Mutex // guards firing
	firing map[string]bool
}

func newScheduler(rt *Runtime) *scheduler {
	return &scheduler{rt: rt, kick: make(chan struct{}, 1), firing: make(map[string]bool)}
}

// kickNow makes the scheduler look again, for a timer just set.
func (s *scheduler) kickNow() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// done forgets a fired timer once its actor retired it (or failed to).
func (s *scheduler) done(key []byte) {
	s.mu.Lock()
	delete(s.firing, string(key))
	s.mu.Unlock()
	s.kickNow()
}

// sweepEvery is how often old idempotency records are swept (more often
// when the TTL is under two minutes).
const sweepEvery = time.Minute

// maxWait bounds a sleep, so that the scheduler also catches timers set
// by means it was not told of.
const maxWait = 30 * time.Second

func (s *scheduler) run() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.rt.scope.Stopping():
			return
		case <-t.C:
		case <-s.kick:
		}
		every := min(sweepEvery, s.rt.opts.IdempotencyTTL/2)
		if !s.rt.log.Health().Writable {
			// The store cannot write: a timer fired now would fail and
			// fire again at once. Hold them until it can.
			resetTimer(t, min(unwritableWait, every))
			continue
		}
		next := s.fireDue()
		if time.Since(s.swept) >= every {
			s.swept = time.Now()
			if err := s.rt.sweepIdem(s.rt.ctx()); err != nil {
				s.rt.lg.Warn("idempotency sweep failed", "err", err)
			}
		}
		wait := min(maxWait, every)
		if next > 0 {
			wait = min(max(time.Until(time.UnixMilli(next)), time.Millisecond), wait)
		}
		resetTimer(t, wait)
	}
}

// unwritableWait is how often the scheduler looks whether the store
// takes writes again.
const unwritableWait = time.Second

// resetTimer makes t fire after d, whether it fired or not.
func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

// fireDue sends every due timer not already firing to its actor, and
// returns the due time of the next one (0: none).
func (s *scheduler) fireDue() int64 {
	now := time.Now().UnixMilli()
	var due []timerRecord
	var next int64
	skipped := false
	err := s.rt.log.Scan(s.rt.ctx(), Space, []byte{'t'}, []byte{'u'}, false, func(k, v []byte) error {
		at := int64(binary.BigEndian.Uint64(k[1:9]))
		if at > now {
			next = at
			return errStopScan
		}
		s.mu.Lock()
		busy := s.firing[string(k)]
		s.mu.Unlock()
		if busy {
			return nil
		}
		r, err := parseTimer(k, v)
		if err != nil {
			s.rt.lg.Error("unreadable timer record; skipping it", "err", err)
			return nil
		}
		if f := s.rt.opts.FiresTimer; f != nil && !f(r.actor) {
			skipped = true
			return nil // another runtime's to fire
		}
		due = append(due, r)
		if len(due) >= 1000 {
			return errStopScan
		}
		return nil
	})
	if err != nil && err != errStopScan {
		s.rt.lg.Error("timer scan failed", "err", err)
		return now + 1000
	}
	for _, r := range due {
		s.mu.Lock()
		s.firing[string(r.key)] = true
		s.mu.Unlock()
		if !s.fire(r) {
			s.mu.Lock()
			delete(s.firing, string(r.key))
			s.mu.Unlock()
		}
	}
	if len(due) >= 1000 {
		return now
	}
	if skipped && (next == 0 || next > now+1000) {
		// Due timers left to another runtime: look again in a second,
		// in case it is gone and this one is to take them over.
		return now + 1000
	}
	return next
}

var errStopScan = errors.New("stop")

func (s *scheduler) fire(r timerRecord) bool {
	def, ok := s.rt.reg.Lookup(r.actor.Type)
	if !ok {
		s.rt.lg.Warn("timer of an unknown actor type stays pending", "actor", r.actor.String(), "action", r.action)
		return false
	}
	m := &callMsg{action: r.action, args: Args{Format: Msgpack, Data: r.args}, start: time.Now(), timer: &r}
	ctx, cancel := context.WithTimeout(s.rt.ctx(), 5*time.Second)
	defer cancel()
	if err := s.rt.send(ctx, r.actor, def, m, nil); err != nil {
		return false
	}
	return true
}

// beUint64 is the 8-byte big-endian form of v, as timer keys hold times.
func beUint64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
