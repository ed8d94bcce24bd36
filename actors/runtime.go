// Package actors is the actor runtime of actorlog.
//
// An actor is addressed by an eventlog.ID ("counter:default"). Its state is
// the fold of the events in its stream. The runtime wakes an actor on its
// first call by loading its newest usable snapshot and replaying the events
// after it, then runs its calls one at a time in a goroutine of its own.
// An action reads the state and emits events; the runtime appends the
// events of each action atomically, applies them, and sends the reply and
// the events to the actor's connections only once the append is durable.
// While one append is in flight, following actions run against the state
// including the events not yet durable, and their events join the next
// append, so a hot actor is not held to one sync per action. Every outgoing
// message waits for the events behind it: nothing a client sees can be
// taken back by a crash.
//
// An actor with no calls and no connections sleeps after
// Options.IdleTimeout: OnSleep runs, a snapshot may be taken, and its
// memory is released. Durable timers (Ctx.Schedule) are stored with the
// events of the action that set them and wake their actor when due. A
// call with an idempotency key that was already served returns the
// original result and appends nothing.
package actors

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
)

// Space is the log space of the runtime's records: timers and idempotency
// records.
const Space = eventlog.SpaceActors

// Log is what the runtime needs of the event log's store: it appends each
// actor's events together with its timers and idempotency records, reads
// streams to wake actors, erases what retention lets go, and reads its
// records back. Any eventlog.Store is one.
type Log interface {
	History
	Write(ctx context.Context, r eventlog.Request) (eventlog.AppendResult, error)
	Delete(ctx context.Context, id eventlog.ID, before uint64) error
	Get(ctx context.Context, sp eventlog.Space, key []byte) ([]byte, error)
	Scan(ctx context.Context, sp eventlog.Space, lo, hi []byte, reverse bool, fn func(key, value []byte) error) error
}

// History is what folding an actor's state needs of the store: the
// actor's stream.
type History interface {
	Head(ctx context.Context, id eventlog.ID) (eventlog.StreamInfo, error)
	ScanStream(ctx context.Context, id eventlog.ID, from, to uint64, fn func(*eventlog.Event) error) error
}

// Options configure a Runtime. The zero value gives the defaults.
type Options struct {
	// IdleTimeout is how long an actor with no calls and no connections
	// stays awake. Default 30s.
	IdleTimeout time.Duration
	// MaxAwake bounds the actors in memory: past it, the least recently
	// used ones without connections are put to sleep. Default 100,000.
	MaxAwake int
	// MailboxSize bounds the calls queued for one actor; callers wait when
	// it is full. It is allocated whole when an actor wakes, so it is most
	// of an idle actor's memory. Default 128.
	MailboxSize int
	// ConnBuffer is how many frames a connection may fall behind before it
	// is dropped as a slow consumer. It is allocated whole per connection
	// (32 bytes a frame). Default 128.
	ConnBuffer int
	// MaxConnsPerActor bounds the connections of one actor. Default 10000.
	MaxConnsPerActor int
	// MaxEventsPerAction bounds the events one action may emit. Default 100.
	MaxEventsPerAction int
	// MaxEventSize bounds the encoded data of one event, in bytes. It must
	// not exceed the log's eventlog.Options.MaxEventSize. Default 1 MiB.
	MaxEventSize int
	// Snapshots is the snapshot policy. Zero means snapshots.DefaultPolicy.
	Snapshots snapshots.Policy
	// SnapshotOnSleep takes a snapshot when an actor sleeps with at least
	// this many events since its last one. Default 100; negative: never.
	SnapshotOnSleep int
	// IdempotencyTTL is how long the result of a call with an idempotency
	// key is kept for retries; a retry after it runs the action again.
	// Default 24h.
	IdempotencyTTL time.Duration
	// Retention, by actor type, drops old events once a snapshot covers
	// them. Types not listed keep every event (the default).
	Retention map[string]Retention
	// Metrics, if set, observes the runtime.
	Metrics Metrics
	// Logger receives the runtime's messages. Default slog.Default().
	Logger *slog.Logger
}

// Retention says how much of an actor type's history to keep. Events are
// dropped only when a durable snapshot covers them, after each snapshot;
// the head sequence never goes down, and the state stays whole. What is
// dropped is gone from history, time travel and the global feed
// (projections rebuilt from zero no longer see it).
type Retention struct {
	// KeepEvents keeps at least the last N events (0: no count rule).
	KeepEvents int
	// KeepFor keeps the events younger than this (0: no age rule).
	KeepFor time.Duration
}

// A type with retention must keep its Def.Schema: a snapshot the current
// schema cannot read, with the events before it dropped, leaves its actors
// unable to wake (their calls fail, naming the cause).

// Metrics observes the runtime; the api package implements it. Methods
// are called from many goroutines and must not block.
type Metrics interface {
	Action(actorType, action string, code Code, d time.Duration)
	Append(events int, d time.Duration)
	Wake(actorType string, replayed int, d time.Duration)
	ActiveActors(delta int)
	Connections(delta int)
}

// CallOptions go with one call.
type CallOptions struct {
	// IdempotencyKey, if set, makes a retried call return the original
	// result without running the action again.
	IdempotencyKey string
	// CorrelationID is stored in the metadata of the events.
	CorrelationID string
	// Format is the format of the reply body. Default JSON.
	Format Format
}

// Reply is an action's result, encoded in the format asked for, and the
// sequence of the actor's stream it reflects.
type Reply struct {
	Body []byte
	Seq  uint64
	// Replayed is true when the reply came from an idempotency record.
	Replayed bool
}

// Runtime runs actors over a log. All methods are safe for concurrent use.
type Runtime struct {
	log   Log
	snaps *snapshots.Store
	reg   *Registry
	opts  Options
	log_  *slog.Logger

	mu      sync.Mutex // guards the fields below
	actors  map[eventlog.ID]*actor
	lru     *list.List // of *actor, most recently used first
	closing bool

	stopping chan struct{} // closed by Close
	wg       sync.WaitGroup
	sched    *scheduler
	connIDs  atomic.Uint64
}

// New returns a runtime serving the registry's actors over log and snaps,
// and starts its timer scheduler. Close stops it.
func New(log Log, snaps *snapshots.Store, reg *Registry, opts Options) *Runtime {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Second
	}
	if opts.IdempotencyTTL <= 0 {
		opts.IdempotencyTTL = 24 * time.Hour
	}
	if opts.MaxAwake <= 0 {
		opts.MaxAwake = 100_000
	}
	if opts.MailboxSize <= 0 {
		opts.MailboxSize = 128
	}
	if opts.ConnBuffer <= 0 {
		opts.ConnBuffer = 128
	}
	if opts.MaxConnsPerActor <= 0 {
		opts.MaxConnsPerActor = 10000
	}
	if opts.MaxEventSize <= 0 {
		opts.MaxEventSize = 1 << 20
	}
	if opts.MaxEventsPerAction <= 0 {
		opts.MaxEventsPerAction = 100
	}
	if opts.SnapshotOnSleep == 0 {
		opts.SnapshotOnSleep = 100
	}
	if opts.Metrics == nil {
		opts.Metrics = noMetrics{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	rt := &Runtime{
		log:      log,
		snaps:    snaps,
		reg:      reg,
		opts:     opts,
		log_:     opts.Logger,
		actors:   make(map[eventlog.ID]*actor),
		lru:      list.New(),
		stopping: make(chan struct{}),
	}
	rt.sched = newScheduler(rt)
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		rt.sched.run()
	}()
	return rt
}

// Registry returns the runtime's registry.
func (rt *Runtime) Registry() *Registry { return rt.reg }

// Close stops taking calls, lets every actor finish the calls it has
// queued and the appends in flight, closes every connection with
// ErrClosed, puts the actors to sleep and stops the scheduler. It returns
// when all is done or ctx ends.
func (rt *Runtime) Close(ctx context.Context) error {
	rt.mu.Lock()
	if !rt.closing {
		rt.closing = true
		close(rt.stopping)
	}
	rt.mu.Unlock()
	done := make(chan struct{})
	go func() {
		rt.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("actors: close: %w", ctx.Err())
	}
}

// Awake returns the number of actors in memory.
func (rt *Runtime) Awake() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.actors)
}

func (rt *Runtime) definition(id eventlog.ID) (Definition, error) {
	def, ok := rt.reg.Lookup(id.Type)
	if !ok {
		return nil, Errorf(CodeNotFound, "unknown actor type %q", id.Type)
	}
	if err := id.Validate(); err != nil {
		return nil, &Error{Code: CodeBadRequest, Message: err.Error()[len("eventlog: "):], Err: err}
	}
	return def, nil
}

// acquire returns the actor, waking it if needed, with a reference that
// keeps it from sleeping until release.
func (rt *Runtime) acquire(id eventlog.ID, def Definition) (*actor, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closing {
		return nil, ErrClosed
	}
	a := rt.actors[id]
	for a != nil && a.sleeping {
		// It is going to sleep: wait until it is gone, then wake anew.
		rt.mu.Unlock()
		<-a.exited
		rt.mu.Lock()
		if rt.closing {
			return nil, ErrClosed
		}
		a = rt.actors[id]
	}
	if a == nil {
		a = newActor(rt, id, def)
		rt.actors[id] = a
		a.elem = rt.lru.PushFront(a)
		rt.wg.Add(1)
		rt.opts.Metrics.ActiveActors(1)
		go func() {
			defer rt.wg.Done()
			a.run()
		}()
		if rt.lru.Len() > rt.opts.MaxAwake {
			rt.evictLocked()
		}
	} else {
		rt.lru.MoveToFront(a.elem)
		a.evict.Store(false)
	}
	a.refs.Add(1)
	return a, nil
}

// evictLocked asks the least recently used actors to sleep, so that the
// awake ones stay within Options.MaxAwake. An actor with connections stays
// awake (it is in use); the others sleep as if their idle time were up.
func (rt *Runtime) evictLocked() {
	over := rt.lru.Len() - rt.opts.MaxAwake
	// Ask a few more than needed, for those that cannot go yet.
	want := over + over/8 + 1
	for e := rt.lru.Back(); e != nil && want > 0; e = e.Prev() {
		a := e.Value.(*actor)
		if a.sleeping || a.evict.Load() {
			continue
		}
		a.evict.Store(true)
		select {
		case a.poke <- struct{}{}:
		default:
		}
		want--
	}
}

// send delivers m to the actor's mailbox, waking the actor if needed.
func (rt *Runtime) send(ctx context.Context, id eventlog.ID, def Definition, m message) error {
	a, err := rt.acquire(id, def)
	if err != nil {
		return err
	}
	defer a.refs.Add(-1)
	select {
	case a.mailbox <- m:
		return nil
	case <-ctx.Done():
		return &Error{Code: CodeUnavailable, Message: "timed out waiting for the actor", Err: ctx.Err()}
	}
}

// post sends m to an actor that is known to be awake (it holds a
// connection), without waiting.
func (rt *Runtime) post(a *actor, m message) {
	a.refs.Add(1)
	go func() {
		defer a.refs.Add(-1)
		select {
		case a.mailbox <- m:
		case <-a.exited:
		}
	}()
}

// Call runs an action on an actor and returns its reply once every event
// behind it is durable.
func (rt *Runtime) Call(ctx context.Context, id eventlog.ID, action string, args Args, opts CallOptions) (Reply, error) {
	def, err := rt.definition(id)
	if err != nil {
		return Reply{}, err
	}
	if !def.HasAction(action) {
		return Reply{}, Errorf(CodeNotFound, "actor type %q has no action %q", id.Type, action)
	}
	m := &callMsg{action: action, args: args, opts: opts, reply: make(chan callResult, 1), start: time.Now()}
	if err := rt.send(ctx, id, def, m); err != nil {
		return Reply{}, err
	}
	select {
	case r := <-m.reply:
		return r.reply, r.err
	case <-ctx.Done():
		return Reply{}, &Error{Code: CodeUnavailable, Message: "the call was abandoned before its reply", Err: ctx.Err()}
	}
}

// Connect opens a connection to an actor. OnBeforeConnect may refuse it
// (CodeForbidden). The Init holds the state and its sequence; the
// connection's frames carry every event after it.
func (rt *Runtime) Connect(ctx context.Context, id eventlog.ID, params map[string]string) (*Conn, Init, error) {
	def, err := rt.definition(id)
	if err != nil {
		return nil, Init{}, err
	}
	m := &connectMsg{params: params, reply: make(chan connectResult, 1)}
	if err := rt.send(ctx, id, def, m); err != nil {
		return nil, Init{}, err
	}
	select {
	case r := <-m.reply:
		return r.conn, r.init, r.err
	case <-ctx.Done():
		// The actor may still open the connection: close it when it does.
		go func() {
			if r := <-m.reply; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, Init{}, &Error{Code: CodeUnavailable, Message: "timed out connecting", Err: ctx.Err()}
	}
}

// State returns the actor's current durable state as JSON.
func (rt *Runtime) State(ctx context.Context, id eventlog.ID) (Init, error) {
	def, err := rt.definition(id)
	if err != nil {
		return Init{}, err
	}
	m := &stateMsg{reply: make(chan connectResult, 1)}
	if err := rt.send(ctx, id, def, m); err != nil {
		return Init{}, err
	}
	select {
	case r := <-m.reply:
		return r.init, r.err
	case <-ctx.Done():
		return Init{}, &Error{Code: CodeUnavailable, Message: "timed out reading state", Err: ctx.Err()}
	}
}

// EventFrame encodes a stored event as the frame connections receive.
func EventFrame(e *eventlog.Event) ([]byte, error) {
	return frame(e.Type, e.Seq, e.Data)
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

type noMetrics struct{}

func (noMetrics) Action(string, string, Code, time.Duration) {}
func (noMetrics) Append(int, time.Duration)                  {}
func (noMetrics) Wake(string, int, time.Duration)            {}
func (noMetrics) ActiveActors(int)                           {}
func (noMetrics) Connections(int)                            {}
