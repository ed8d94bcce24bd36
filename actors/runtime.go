// Package actors is the actor runtime of actorlog.
//
// An actor is addressed by an eventlog.ID ("counter:default"). Its state is
// the fold of the events in its stream. The runtime wakes an actor on its
// first call by loading its newest usable snapshot and replaying the events
// after it, then runs its calls one at a time, in order. An awake actor
// has no goroutine of its own: while it has something to do, one of a
// bounded pool of workers runs it, so that an idle one costs only its
// memory (about 1 KB for a counter; BENCHMARKS.md).
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
//
// # Seams
//
// The runtime reads and writes the store through Log (any eventlog.Store
// is one: it needs appends with an expected head, atomic with its timer
// and idempotency records, stream reads, erasure and its records) and
// snapshots through a *snapshots.Store. It knows nothing of the protocol
// its connections speak: it hands each committed event, broadcast and
// state to the FrameEncoder it is given (Options.Frames) and delivers the
// frames. Ids are checked where calls enter (Call, Connect, State:
// Registry.Resolve); below that they are trusted.
package actors

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/internal/lifetime"
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
	Health() eventlog.Health
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

// The defaults of Options.
const (
	DefaultIdleTimeout        = 30 * time.Second
	DefaultMaxAwake           = 100_000
	DefaultMailboxSize        = 128
	DefaultWorkers            = 256
	DefaultConnBuffer         = 128
	DefaultMaxConnsPerActor   = 10_000
	DefaultMaxEventsPerAction = 100
	DefaultMaxEventSize       = 1 << 20
	DefaultSnapshotOnSleep    = 100
	DefaultIdempotencyTTL     = 24 * time.Hour
)

// MaxEventsPerActionLimit is the highest Options.MaxEventsPerAction: the
// events of one action are one atomic append.
const MaxEventsPerActionLimit = 1000

// Options configure a Runtime. The zero value gives the defaults.
type Options struct {
	// IdleTimeout is how long an actor with no calls and no connections
	// stays awake. Default DefaultIdleTimeout (30s).
	IdleTimeout time.Duration
	// MaxAwake bounds the actors in memory: past it, the least recently
	// used ones without connections are put to sleep. Default
	// DefaultMaxAwake (100,000).
	MaxAwake int
	// MailboxSize bounds the calls queued for one actor; callers wait when
	// it is full. An empty mailbox holds no memory. Default
	// DefaultMailboxSize (128).
	MailboxSize int
	// Workers bounds the goroutines that run the actors that have
	// something to do (an awake actor has none of its own while it waits):
	// at most this many actors run at once, the others queue. An action
	// that waited for a call to another actor would hold a worker
	// meanwhile. Default DefaultWorkers (256).
	Workers int
	// ConnBuffer is how many frames a connection may fall behind before it
	// is dropped as a slow consumer. It is allocated whole per connection
	// (32 bytes a frame). Default DefaultConnBuffer (128).
	ConnBuffer int
	// MaxConnsPerActor bounds the connections of one actor. Default
	// DefaultMaxConnsPerActor (10,000).
	MaxConnsPerActor int
	// MaxEventsPerAction bounds the events one action may emit, at most
	// MaxEventsPerActionLimit. Default DefaultMaxEventsPerAction (100).
	MaxEventsPerAction int
	// MaxEventSize bounds the encoded data of one event, in bytes. It must
	// not exceed the log's eventlog.Options.MaxEventSize. Default
	// DefaultMaxEventSize (1 MiB).
	MaxEventSize int
	// MemoryBudget bounds the memory of the awake actors, as the Go
	// runtime counts it (heap objects and goroutine stacks), in bytes:
	// above nine tenths of it the least recently used idle actors sleep
	// early, whatever MaxAwake allows, so that a client waking ever new
	// actors cannot make the process outgrow its machine. 0: no budget.
	// Give the Go runtime a memory limit too (debug.SetMemoryLimit), so
	// that what the sleeping actors held is collected promptly.
	MemoryBudget int64
	// Snapshots is the snapshot policy; its zero value has the defaults.
	Snapshots snapshots.Policy
	// SnapshotOnSleep takes a snapshot when an actor sleeps with at least
	// this many events since its last one. Default DefaultSnapshotOnSleep
	// (100); negative: never.
	SnapshotOnSleep int
	// IdempotencyTTL is how long the result of a call with an idempotency
	// key is kept for retries; a retry after it runs the action again.
	// Default DefaultIdempotencyTTL (24h).
	IdempotencyTTL time.Duration
	// Retention, by actor type, drops old events once a snapshot covers
	// them. Types not listed keep every event (the default).
	Retention map[string]Retention
	// Frames builds the frames connections receive: the protocol that
	// serves them provides it (the api package's WebSocket protocol:
	// wire.Frames). The runtime builds each event's frame once, for all the
	// actor's connections, when the event is durable, and only if a
	// connection is open. Without it the runtime takes no connections.
	Frames FrameEncoder
	// Metrics, if set, observes the runtime.
	Metrics Metrics
	// FiresTimer, if set, says whether this runtime fires the due timers
	// of an actor; the others stay pending for another runtime over the
	// same store. In a cluster it is true for the actors whose owner this
	// node is (or becomes). Default: every timer.
	FiresTimer func(id eventlog.ID) bool
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

// FrameEncoder builds the frames of a protocol's connections.
type FrameEncoder interface {
	// Event is the frame of a durable event (Actor, Seq, Type, Data set).
	Event(e *eventlog.Event) ([]byte, error)
	// Broadcast is the frame of an ephemeral broadcast (Ctx.Broadcast); an
	// error drops it.
	Broadcast(name string, data any) ([]byte, error)
	// State is the frame of the actor's durable state (state JSON at seq),
	// for connections that asked for state frames.
	State(seq uint64, state []byte) ([]byte, error)
}

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
	// Conn is the connection the call came over, if any (the action sees
	// it as Ctx.Conn). It must be an open connection to the actor called:
	// once it is closed, the call fails with CodeUnavailable, unrun.
	Conn *Conn
	// Timeout, if set, bounds the call as a deadline on its context
	// would — the wait for room in the actor's mailbox and for the reply
	// — with a timer, not a context of its own: a server bounding every
	// call saves a context and its cancellation's bookkeeping on each.
	Timeout time.Duration
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
//
// It owns every goroutine it starts — the workers that run the actors
// that have something to do, their appends and snapshots in flight, the
// timer scheduler — and every awake actor, through a lifetime.Scope: the
// scope's context is the root of all the store I/O they do, and Close
// waits for each of them.
type Runtime struct {
	log   Log
	snaps *snapshots.Store
	reg   *Registry
	opts  Options
	lg    *slog.Logger
	scope *lifetime.Scope
	sched *scheduler
	pool  pool    // runs the actors (workers.go)
	reuse *reuser // starts the pool's workers and the appends (workers.go)

	mu      sync.Mutex // guards the fields below
	actors  map[eventlog.ID]*actor
	lru     *list.List // of *actor, most recently used first
	closing bool

	connIDs atomic.Uint64

	// memUsage, if set, replaces the watcher's reading of the Go
	// runtime's memory (tests). Set before the watcher starts.
	memUsage func() (used int64, gcs uint64)
}

// New returns a runtime serving the registry's actors over log and snaps,
// and starts its timer scheduler. Close stops it.
func New(log Log, snaps *snapshots.Store, reg *Registry, opts Options) *Runtime {
	return newRuntime(log, snaps, reg, opts, nil)
}

// newRuntime is New, with the memory watcher's reading replaced when
// memUsage is set.
func newRuntime(log Log, snaps *snapshots.Store, reg *Registry, opts Options, memUsage func() (int64, uint64)) *Runtime {
	opts = opts.withDefaults()
	rt := &Runtime{
		memUsage: memUsage,
		log:      log,
		snaps:    snaps,
		reg:      reg,
		opts:     opts,
		lg:       opts.Logger,
		scope:    lifetime.New(),
		actors:   make(map[eventlog.ID]*actor),
		lru:      list.New(),
	}
	rt.reuse = &reuser{scope: rt.scope}
	rt.pool = pool{max: opts.Workers, start: rt.reuse.Go}
	rt.pool.run = rt.pool.worker
	rt.sched = newScheduler(rt)
	rt.scope.Go(rt.sched.run)
	if opts.MemoryBudget > 0 {
		rt.scope.Go(rt.watchMemory)
	}
	return rt
}

func (o Options) withDefaults() Options {
	setDefault(&o.IdleTimeout, DefaultIdleTimeout)
	setDefault(&o.IdempotencyTTL, DefaultIdempotencyTTL)
	setDefault(&o.MaxAwake, DefaultMaxAwake)
	setDefault(&o.MailboxSize, DefaultMailboxSize)
	setDefault(&o.Workers, DefaultWorkers)
	setDefault(&o.ConnBuffer, DefaultConnBuffer)
	setDefault(&o.MaxConnsPerActor, DefaultMaxConnsPerActor)
	setDefault(&o.MaxEventSize, DefaultMaxEventSize)
	setDefault(&o.MaxEventsPerAction, DefaultMaxEventsPerAction)
	if o.SnapshotOnSleep == 0 {
		o.SnapshotOnSleep = DefaultSnapshotOnSleep
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// setDefault sets *v to def when it is zero or negative.
func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// ctx is the root context of the runtime's own store I/O: cancelled only
// once Close is done waiting, so that what it lets finish can.
func (rt *Runtime) ctx() context.Context { return rt.scope.Context() }

// Metrics returns what observes the runtime (Options.Metrics).
func (rt *Runtime) Metrics() Metrics { return rt.opts.Metrics }

// Registry returns the runtime's registry.
func (rt *Runtime) Registry() *Registry { return rt.reg }

// Close stops taking calls, lets every actor finish the calls it has
// queued and the appends in flight, closes every connection with
// ErrClosed, puts the actors to sleep and stops the scheduler. It returns
// when all is done or ctx ends.
func (rt *Runtime) Close(ctx context.Context) error {
	rt.mu.Lock()
	rt.closing = true
	rt.mu.Unlock()
	// Every actor awake finishes what it has and goes to sleep; one with
	// nothing to do must be told.
	rt.scope.Stop()
	rt.mu.Lock()
	for _, a := range rt.actors {
		a.signal()
	}
	rt.mu.Unlock()
	if err := rt.scope.Close(ctx); err != nil {
		return fmt.Errorf("actors: close: %w", err)
	}
	return nil
}

// Sleep asks the awake actors that match to go to sleep once they have
// finished the work in hand, connections or not, and waits until they
// have or ctx ends. Their connections end with ErrActorStopped: the
// clients connect again and resume. The next call wakes an actor from
// the store. A cluster calls it for the actors of a shard it takes, whose
// state in memory may be older than the log, and of one it loses, whose
// clients must reach the new owner.
func (rt *Runtime) Sleep(ctx context.Context, match func(eventlog.ID) bool) error {
	var wait []*actor
	rt.mu.Lock()
	for id, a := range rt.actors {
		if !match(id) || a.sleeping {
			continue
		}
		a.unload.Store(true)
		a.signal()
		wait = append(wait, a)
	}
	rt.mu.Unlock()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(wait) > 0 {
		a := wait[0]
		select {
		case <-a.exited:
			wait = wait[1:]
			continue
		default:
		}
		select {
		case <-a.exited:
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// KickTimers makes the scheduler look for due timers now: for timers
// another runtime over the same store wrote, or left to this one.
func (rt *Runtime) KickTimers() { rt.sched.kickNow() }

// Awake returns the number of actors in memory.
func (rt *Runtime) Awake() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.actors)
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
		if !rt.scope.Enter() {
			return nil, ErrClosed
		}
		a.signal() // its first run wakes it
		rt.actors[id] = a
		a.elem = rt.lru.PushFront(a)
		rt.opts.Metrics.ActiveActors(1)
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
// awake ones stay within Options.MaxAwake.
func (rt *Runtime) evictLocked() {
	over := rt.lru.Len() - rt.opts.MaxAwake
	// Ask a few more than needed, for those that cannot go yet.
	rt.shedLocked(over + over/8 + 1)
}

// shedLocked asks the n least recently used actors not yet asked to
// sleep. An actor with connections stays awake (it is in use); the others
// sleep as if their idle time were up.
func (rt *Runtime) shedLocked(want int) {
	for e := rt.lru.Back(); e != nil && want > 0; e = e.Prev() {
		a := e.Value.(*actor)
		if a.sleeping || a.evict.Load() {
			continue
		}
		a.evict.Store(true)
		a.signal()
		want--
	}
}

// send delivers m to the actor's mailbox, waking the actor if needed. It
// waits for room until ctx ends or expire fires (nil: never).
func (rt *Runtime) send(ctx context.Context, id eventlog.ID, def Definition, m message, expire <-chan time.Time) error {
	a, err := rt.acquire(id, def)
	if err != nil {
		return err
	}
	defer a.refs.Add(-1)
	if !a.mailbox.put(m, rt.opts.MailboxSize, ctx.Done(), expire) {
		return &Error{Code: CodeUnavailable, Message: "timed out waiting for the actor", Err: ctxErr(ctx)}
	}
	a.signal()
	return nil
}

// post sends m to an actor that is known to be awake (it holds a
// connection), without waiting. Once the runtime is closed there is no
// actor to tell.
func (rt *Runtime) post(a *actor, m message) {
	a.refs.Add(1)
	started := rt.scope.Go(func() {
		defer a.refs.Add(-1)
		if a.mailbox.put(m, rt.opts.MailboxSize, a.exited, nil) {
			a.signal()
		}
	})
	if !started {
		a.refs.Add(-1)
	}
}

// Call runs an action on an actor and returns its reply once every event
// behind it is durable.
func (rt *Runtime) Call(ctx context.Context, id eventlog.ID, action string, args Args, opts CallOptions) (Reply, error) {
	def, err := rt.reg.Resolve(id)
	if err != nil {
		return Reply{}, err
	}
	if !def.HasAction(action) {
		return Reply{}, Errorf(CodeNotFound, "actor type %q has no action %q", id.Type, action)
	}
	m := &callMsg{action: action, args: args, opts: opts, reply: make(chan callResult, 1), start: time.Now()}
	var expire <-chan time.Time
	if opts.Timeout > 0 {
		t := callTimer(opts.Timeout)
		defer callTimers.Put(t)
		defer t.Stop()
		expire = t.C
	}
	if err := rt.send(ctx, id, def, m, expire); err != nil {
		return Reply{}, err
	}
	select {
	case r := <-m.reply:
		return r.reply, r.err
	case <-ctx.Done():
	case <-expire:
	}
	return Reply{}, &Error{Code: CodeUnavailable, Message: "the call was abandoned before its reply", Err: ctxErr(ctx)}
}

// callTimers keeps the timers of calls with a timeout for the next ones:
// a stopped timer is reset without a stale tick (Go 1.23 and later).
var callTimers sync.Pool

// callTimer returns a timer that fires once after d.
func callTimer(d time.Duration) *time.Timer {
	if t, ok := callTimers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// ctxErr is why a wait bounded by ctx and a timeout ended: ctx's error,
// or else the timeout's.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

// ConnectOptions go with one connection.
type ConnectOptions struct {
	// Params are the connection parameters, given to OnBeforeConnect;
	// params["state"] "1" or "true" asks for state frames.
	Params map[string]string
	// Events are the event and broadcast names the connection receives
	// (Conn.SetEvents changes them later). Default nil: every one.
	Events *Events
}

// Connect opens a connection to an actor. OnBeforeConnect may refuse it
// (CodeForbidden). The Init holds the state and its sequence; the
// connection's frames carry every event after it.
func (rt *Runtime) Connect(ctx context.Context, id eventlog.ID, params map[string]string) (*Conn, Init, error) {
	return rt.ConnectWith(ctx, id, ConnectOptions{Params: params})
}

// ConnectWith is Connect with options: the connection's frames carry the
// events after the Init that opts.Events holds.
func (rt *Runtime) ConnectWith(ctx context.Context, id eventlog.ID, opts ConnectOptions) (*Conn, Init, error) {
	def, err := rt.reg.Resolve(id)
	if err != nil {
		return nil, Init{}, err
	}
	m := &connectMsg{params: opts.Params, events: opts.Events, reply: make(chan connectResult, 1)}
	if err := rt.send(ctx, id, def, m, nil); err != nil {
		return nil, Init{}, err
	}
	select {
	case r := <-m.reply:
		return r.conn, r.init, r.err
	case <-ctx.Done():
		// The actor may still open the connection (it answers every
		// message it took, before it exits): close it when it does.
		rt.scope.Go(func() {
			if r := <-m.reply; r.conn != nil {
				r.conn.Close()
			}
		})
		return nil, Init{}, &Error{Code: CodeUnavailable, Message: "timed out connecting", Err: ctx.Err()}
	}
}

// State returns the actor's current durable state as JSON.
func (rt *Runtime) State(ctx context.Context, id eventlog.ID) (Init, error) {
	def, err := rt.reg.Resolve(id)
	if err != nil {
		return Init{}, err
	}
	m := &stateMsg{reply: make(chan connectResult, 1)}
	if err := rt.send(ctx, id, def, m, nil); err != nil {
		return Init{}, err
	}
	select {
	case r := <-m.reply:
		return r.init, r.err
	case <-ctx.Done():
		return Init{}, &Error{Code: CodeUnavailable, Message: "timed out reading state", Err: ctx.Err()}
	}
}

type noMetrics struct{}

func (noMetrics) Action(string, string, Code, time.Duration) {}
func (noMetrics) Append(int, time.Duration)                  {}
func (noMetrics) Wake(string, int, time.Duration)            {}
func (noMetrics) ActiveActors(int)                           {}
func (noMetrics) Connections(int)                            {}
