package actors

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// Def defines an actor type with state S: its initial state, the appliers
// that fold each event type into the state, the actions, and the
// lifecycle hooks. Build one with Define, On and Action:
//
//	d := actors.Define("counter", func() State { return State{} })
//	actors.On(d, "countUpdated", func(s *State, e CountUpdated) { s.Count = e.Count })
//	actors.Action(d, "increment", func(c *actors.Ctx[State], _ actors.NoArgs) (Result, error) {
//		c.Emit("countUpdated", CountUpdated{Count: c.State().Count + 1})
//		return Result{Count: c.State().Count + 1}, nil
//	})
//
// State, event data, arguments and results are encoded with their `json`
// struct tags, as JSON on the wire and msgpack in the log.
type Def[S any] struct {
	// Type is the actor type name, as in "counter:default".
	Type string
	// Schema is the version of S's encoding. Bump it when S changes in a
	// way old snapshots cannot decode into: they are then ignored and the
	// state is rebuilt from the events.
	Schema uint32
	// Initial returns the state before any event.
	Initial func() S

	appliers map[string]func(*S, []byte) error
	events   map[string]reflect.Type // the data type of each event type
	actions  map[string]func(*Ctx[S], Args) (any, error)

	// OnWake runs after the state is loaded, before the first call.
	OnWake func(c *Ctx[S])
	// OnSleep runs before the actor is released from memory.
	OnSleep func(c *Ctx[S])
	// OnStateChange runs after the events of an action are durable and
	// applied.
	OnStateChange func(c *Ctx[S])
	// OnBeforeConnect may refuse a connection by returning an error (an
	// *Error with CodeForbidden, or any error, which is treated so), for
	// example after checking params["token"].
	OnBeforeConnect func(c *Ctx[S], params map[string]string) error
	// OnConnect and OnDisconnect run when a connection opens and closes.
	OnConnect    func(c *Ctx[S], conn *Conn)
	OnDisconnect func(c *Ctx[S], conn *Conn)
}

// Define starts the definition of an actor type.
func Define[S any](typ string, initial func() S) *Def[S] {
	return &Def[S]{
		Type:     typ,
		Initial:  initial,
		appliers: make(map[string]func(*S, []byte) error),
		events:   make(map[string]reflect.Type),
		actions:  make(map[string]func(*Ctx[S], Args) (any, error)),
	}
}

// On registers the applier of eventType: fn folds one event's data, of
// type E, into the state. Appliers must be deterministic and must not fail
// on data their own actions emitted. Only registered event types may be
// emitted.
//
// A protocol that sends events to clients may refuse some names and
// fields (the api package's WebSocket frames carry an event's fields
// beside its "type" and "seq"): it checks the registry when it starts.
func On[S, E any](d *Def[S], eventType string, fn func(s *S, e E)) {
	d.events[eventType] = reflect.TypeFor[E]()
	d.appliers[eventType] = func(s *S, data []byte) error {
		var e E
		if len(data) > 0 {
			if err := unmarshalMsgpack(data, &e); err != nil {
				return err
			}
		}
		fn(s, e)
		return nil
	}
}

// NoArgs is the argument type of an action that takes none.
type NoArgs struct{}

// Action registers an action: fn gets the decoded arguments, reads the
// state with c.State(), emits events with c.Emit, and returns a result,
// which the caller receives once every event behind it is durable.
func Action[S, A, R any](d *Def[S], name string, fn func(c *Ctx[S], args A) (R, error)) {
	d.actions[name] = func(c *Ctx[S], raw Args) (any, error) {
		var a A
		if err := raw.Decode(&a); err != nil {
			return nil, err
		}
		return fn(c, a)
	}
}

// Definition is an actor type the runtime can run: a *Def[S].
type Definition interface {
	ActorType() string
	Actions() []string
	HasAction(name string) bool
	EventTypes() []string
	// EventData returns the Go type an event type's data decodes into
	// (nil for an event type d does not apply).
	EventData(eventType string) reflect.Type
	newInstance(id eventlog.ID) instance
}

// ActorType returns d.Type.
func (d *Def[S]) ActorType() string { return d.Type }

// Actions returns the action names, sorted.
func (d *Def[S]) Actions() []string { return sortedKeys(d.actions) }

// HasAction reports whether d has the action.
func (d *Def[S]) HasAction(name string) bool {
	_, ok := d.actions[name]
	return ok
}

// EventTypes returns the event types d applies, sorted.
func (d *Def[S]) EventTypes() []string { return sortedKeys(d.appliers) }

// EventData returns the Go type of eventType's data, as On registered it.
func (d *Def[S]) EventData(eventType string) reflect.Type { return d.events[eventType] }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Registry holds the actor definitions a runtime serves.
type Registry struct {
	defs map[string]Definition
}

// NewRegistry returns a registry of defs. It panics on a malformed or
// duplicate type name: that is a programming error found at startup.
func NewRegistry(defs ...Definition) *Registry {
	r := &Registry{defs: make(map[string]Definition)}
	for _, d := range defs {
		if err := eventlog.ValidateType(d.ActorType()); err != nil {
			panic(err)
		}
		if _, dup := r.defs[d.ActorType()]; dup {
			panic("actors: type " + d.ActorType() + " registered twice")
		}
		r.defs[d.ActorType()] = d
	}
	return r
}

// Lookup returns the definition of an actor type.
func (r *Registry) Lookup(typ string) (Definition, bool) {
	d, ok := r.defs[typ]
	return d, ok
}

// Resolve checks an actor id, as it came from outside, and returns the
// definition of its type. The error is an *Error: CodeBadRequest for a
// malformed id, CodeNotFound for a well-formed type that is not
// registered. The runtime's Call, Connect and State resolve their id this
// way; other entry points (history, tools) call it themselves.
func (r *Registry) Resolve(id eventlog.ID) (Definition, error) {
	def, ok := r.defs[id.Type]
	if !ok {
		if err := eventlog.ValidateType(id.Type); err != nil {
			return nil, badID(err)
		}
		return nil, Errorf(CodeNotFound, "unknown actor type %q", id.Type)
	}
	if err := id.Validate(); err != nil {
		return nil, badID(err)
	}
	return def, nil
}

// badID is the *Error of an id that does not validate.
func badID(err error) *Error {
	e := &Error{Code: CodeBadRequest, Message: err.Error(), Err: err}
	var ie *eventlog.IDError
	if errors.As(err, &ie) {
		e.Message = ie.Message()
	}
	return e
}

// Types returns the registered type names, sorted.
func (r *Registry) Types() []string { return sortedKeys(r.defs) }

// instance is one live actor's state and its definition's behaviour,
// without type parameters, for the runtime.
type instance interface {
	reset()
	apply(e *eventlog.Event) error
	hasAction(name string) bool
	call(t *turn, action string, args Args) (any, error)
	encodeState() ([]byte, error)
	decodeState(b []byte) error
	stateJSON() ([]byte, error)
	schema() uint32
	hook(h hookKind, t *turn, conn *Conn, params map[string]string) error
}

type hookKind uint8

const (
	hookWake hookKind = iota
	hookSleep
	hookStateChange
	hookBeforeConnect
	hookConnect
	hookDisconnect
)

type inst[S any] struct {
	d     *Def[S]
	id    eventlog.ID
	state S
}

func (d *Def[S]) newInstance(id eventlog.ID) instance {
	i := &inst[S]{d: d, id: id}
	i.reset()
	return i
}

func (i *inst[S]) reset() {
	if i.d.Initial != nil {
		i.state = i.d.Initial()
	} else {
		var zero S
		i.state = zero
	}
}

func (i *inst[S]) schema() uint32 { return i.d.Schema }

func (i *inst[S]) apply(e *eventlog.Event) error {
	fn, ok := i.d.appliers[e.Type]
	if !ok {
		return &FoldError{Actor: i.id, Seq: e.Seq, Reason: fmt.Sprintf("no applier for event type %q", e.Type)}
	}
	if err := fn(&i.state, e.Data); err != nil {
		return &FoldError{Actor: i.id, Seq: e.Seq, Reason: fmt.Sprintf("event %q does not decode: %v", e.Type, err), Err: err}
	}
	return nil
}

func (i *inst[S]) hasAction(name string) bool {
	_, ok := i.d.actions[name]
	return ok
}

func (i *inst[S]) call(t *turn, action string, args Args) (any, error) {
	fn := i.d.actions[action]
	return fn(&Ctx[S]{t: t, state: &i.state, id: i.id}, args)
}

func (i *inst[S]) encodeState() ([]byte, error) { return marshalMsgpack(&i.state) }

func (i *inst[S]) decodeState(b []byte) error {
	i.reset()
	return unmarshalMsgpack(b, &i.state)
}

func (i *inst[S]) stateJSON() ([]byte, error) { return json.Marshal(&i.state) }

func (i *inst[S]) hook(h hookKind, t *turn, conn *Conn, params map[string]string) error {
	c := &Ctx[S]{t: t, state: &i.state, id: i.id}
	switch h {
	case hookWake:
		if i.d.OnWake != nil {
			i.d.OnWake(c)
		}
	case hookSleep:
		if i.d.OnSleep != nil {
			i.d.OnSleep(c)
		}
	case hookStateChange:
		if i.d.OnStateChange != nil {
			i.d.OnStateChange(c)
		}
	case hookBeforeConnect:
		if i.d.OnBeforeConnect != nil {
			return i.d.OnBeforeConnect(c, params)
		}
	case hookConnect:
		if i.d.OnConnect != nil {
			i.d.OnConnect(c, conn)
		}
	case hookDisconnect:
		if i.d.OnDisconnect != nil {
			i.d.OnDisconnect(c, conn)
		}
	}
	return nil
}

// Ctx is what actions and hooks see of their actor. It is valid only
// during the call.
type Ctx[S any] struct {
	t     *turn
	state *S
	id    eventlog.ID
}

// State returns the actor's state as of before this action's own events.
// Treat it as read-only: change state only by emitting events.
func (c *Ctx[S]) State() *S { return c.state }

// ID returns the actor's id.
func (c *Ctx[S]) ID() eventlog.ID { return c.id }

// Key returns the actor's key.
func (c *Ctx[S]) Key() string { return c.id.Key }

// Now returns the time of this turn; use it, not time.Now, in event data.
func (c *Ctx[S]) Now() time.Time { return c.t.now }

// Emit records an event. The runtime appends the action's events in one
// atomic append and applies them to the state once they are durable. It
// fails only if data does not encode or the action emitted too many.
func (c *Ctx[S]) Emit(eventType string, data any) error { return c.t.emit(eventType, data) }

// Broadcast sends an ephemeral message, not persisted, to every
// connection of this actor, after the events emitted so far are durable.
// data should be an object; its fields are sent beside "type": name.
func (c *Ctx[S]) Broadcast(name string, data any) { c.t.broadcast(name, data) }

// Schedule makes the runtime call action with args after delay, durably:
// the timer is stored with this turn's events, survives sleep and
// restart, wakes the actor, and fires at least once. It returns the
// timer's id.
func (c *Ctx[S]) Schedule(delay time.Duration, action string, args any) (string, error) {
	return c.t.schedule(c.t.now.Add(delay), action, args)
}

// ScheduleAt is Schedule at a point in time.
func (c *Ctx[S]) ScheduleAt(at time.Time, action string, args any) (string, error) {
	return c.t.schedule(at, action, args)
}

// Cancel cancels a timer made by Schedule, with this turn's events.
func (c *Ctx[S]) Cancel(timerID string) { c.t.cancel(timerID) }

// Every runs fn every interval in the actor, until StopEvery(name) or
// sleep. An existing interval of that name is replaced.
func (c *Ctx[S]) Every(name string, interval time.Duration, fn func(c *Ctx[S])) {
	state, id := c.state, c.id
	c.t.every(name, interval, func(t *turn) { fn(&Ctx[S]{t: t, state: state, id: id}) })
}

// StopEvery stops the interval of that name.
func (c *Ctx[S]) StopEvery(name string) { c.t.stopEvery(name) }

// Conn returns the connection the call came over (CallOptions.Conn: a
// call over a WebSocket), nil for a call over HTTP, a timer, or a hook.
// It stays open for the whole call; OnDisconnect runs when it closes.
func (c *Ctx[S]) Conn() *Conn { return c.t.conn }

// Conns returns the number of open connections.
func (c *Ctx[S]) Conns() int { return c.t.a.connCount() }

// Logger returns a logger naming the actor.
func (c *Ctx[S]) Logger() *slog.Logger { return c.t.a.logger() }
