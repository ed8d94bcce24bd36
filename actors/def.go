package actors

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"sort"
	"sync"
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
//
// An actor type describes itself from these Go types (Signature, and as
// JSON Schema by package actors/schema's rules, in package wire's
// Description): its state, its actions' arguments and results, its
// events and the broadcasts declared with Broadcast. The description is also what an
// action's arguments are checked against before it runs (see Action).
type Def[S any] struct {
	// Type is the actor type name, as in "counter:default".
	Type string
	// Doc, optional, says what the actor type is for, in a sentence or
	// two for the people who call it: the description carries it, and
	// the generated TypeScript has it as the doc comment of the type.
	Doc string
	// Schema is the version of S's encoding. Bump it when S changes in a
	// way old snapshots cannot decode into: they are then ignored and the
	// state is rebuilt from the events.
	Schema uint32
	// Initial returns the state before any event.
	Initial func() S

	appliers   map[string]func(*S, []byte) error
	events     map[string]reflect.Type // the data type of each event type
	actions    map[string]*action[S]
	broadcasts map[string]reflect.Type // the data type of each declared broadcast

	prepared   sync.Once // the actions' argument checks are compiled
	prepareErr error

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
		Type:       typ,
		Initial:    initial,
		appliers:   make(map[string]func(*S, []byte) error),
		events:     make(map[string]reflect.Type),
		actions:    make(map[string]*action[S]),
		broadcasts: make(map[string]reflect.Type),
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

// NoArgs is the argument type of an action that takes none: any field
// given is refused.
type NoArgs struct{}

// action is one registered action.
type action[S any] struct {
	run          func(c *Ctx[S], raw Args) (any, error) // decodes, checks and runs
	args, result reflect.Type
	check        *argCheck // compiled by NewRegistry; nil before
}

// Action registers an action: fn gets the decoded arguments, reads the
// state with c.State(), emits events with c.Emit, and returns a result,
// which the caller receives once every event behind it is durable.
//
// The arguments are refused before fn runs (an *Error naming the field)
// if they do not fit A: a field A does not have, a value of the wrong
// type, a number out of its field's range or a field given twice are
// CodeBadRequest; a required field missing, or a value outside what the
// field's `jsonschema` tag declares (enum, minimum, maximum, lengths,
// pattern), CodeInvalid. A field is required if it is not a pointer and
// not omitempty, or if it is tagged `jsonschema:"required"`:
//
//	type AddArgs struct {
//		Value *int64 `json:"value" jsonschema:"required"`
//	}
//	type LimitArgs struct {
//		Limit *int `json:"limit" jsonschema:"minimum=1,maximum=100"`
//	}
//
// No arguments at all (an empty body) are checked as {} when A is a
// struct, so that a required field is reported missing.
func Action[S, A, R any](d *Def[S], name string, fn func(c *Ctx[S], args A) (R, error)) {
	ac := &action[S]{args: reflect.TypeFor[A](), result: reflect.TypeFor[R]()}
	ac.run = func(c *Ctx[S], raw Args) (any, error) {
		var a A
		if err := raw.decode(&a, ac.check); err != nil {
			return nil, err
		}
		return fn(c, a)
	}
	d.actions[name] = ac
}

// Broadcast declares the ephemeral broadcast name of actor type d, whose
// data is of type B (a struct, whose fields a client receives beside
// "type": name), and returns what sends it:
//
//	timeUpdated := actors.Broadcast[TimeUpdate](d, "timeUpdated")
//	...
//	timeUpdated.Send(c, TimeUpdate{CurrentTime: c.Now().UnixMilli()})
//
// Only declared broadcasts are sent. Ctx.Broadcast of a name d does not
// declare, or with data of another type than the declared one, sends
// nothing and logs an error: a broadcast is part of what the actor type
// describes of itself (and of the TypeScript types generated from that),
// so an undeclared one is one that no typed client can subscribe to, a
// mistake best found where it is made, as Emit does with an event type
// that has no applier.
func Broadcast[B, S any](d *Def[S], name string) Broadcaster[S, B] {
	d.broadcasts[name] = reflect.TypeFor[B]()
	return Broadcaster[S, B]{name: name}
}

// Broadcaster sends one broadcast declared with Broadcast.
type Broadcaster[S, B any] struct{ name string }

// Name returns the broadcast's name.
func (b Broadcaster[S, B]) Name() string { return b.name }

// Send broadcasts data as Ctx.Broadcast does.
func (b Broadcaster[S, B]) Send(c *Ctx[S], data B) { c.Broadcast(b.name, data) }

// Definition is an actor type the runtime can run: a *Def[S].
type Definition interface {
	ActorType() string
	Actions() []string
	HasAction(name string) bool
	EventTypes() []string
	// EventData returns the Go type an event type's data decodes into
	// (nil for an event type d does not apply).
	EventData(eventType string) reflect.Type
	// BroadcastData returns the Go type of a declared broadcast's data
	// (nil for a name not declared).
	BroadcastData(name string) reflect.Type
	// Signature returns the Go types the actor type takes and gives.
	Signature() Signature
	newInstance(id eventlog.ID) instance
	prepare() error
}

// Signature is what an actor type takes and gives, as Go types: what it
// describes of itself. Package wire describes it as JSON Schema.
type Signature struct {
	Type       string
	Doc        string
	State      reflect.Type
	Actions    map[string]ActionSignature
	Events     map[string]reflect.Type // event type -> its data
	Broadcasts map[string]reflect.Type // declared broadcast -> its data
}

// ActionSignature is the Go types of an action's arguments and result.
type ActionSignature struct {
	Args, Result reflect.Type
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

// BroadcastData returns the Go type of a broadcast's data, as Broadcast
// declared it.
func (d *Def[S]) BroadcastData(name string) reflect.Type { return d.broadcasts[name] }

// Signature returns the Go types of d's state, actions, events and
// broadcasts.
func (d *Def[S]) Signature() Signature {
	sig := Signature{
		Type:       d.Type,
		Doc:        d.Doc,
		State:      reflect.TypeFor[S](),
		Actions:    make(map[string]ActionSignature, len(d.actions)),
		Events:     maps.Clone(d.events),
		Broadcasts: maps.Clone(d.broadcasts),
	}
	for name, a := range d.actions {
		sig.Actions[name] = ActionSignature{Args: a.args, Result: a.result}
	}
	return sig
}

// prepare compiles the checks of the actions' arguments, once.
func (d *Def[S]) prepare() error {
	d.prepared.Do(func() {
		for _, name := range d.Actions() {
			a := d.actions[name]
			c, err := newArgCheck(name, a.args)
			if err != nil {
				d.prepareErr = fmt.Errorf("actors: %s.%s: %w", d.Type, name, err)
				return
			}
			a.check = c
		}
	})
	return d.prepareErr
}

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

// NewRegistry returns a registry of defs, and compiles the checks of
// their actions' arguments (once per Def). It panics on a malformed or
// duplicate type name, or an argument type that cannot be described as
// JSON Schema (a channel, a function): programming errors found at
// startup.
func NewRegistry(defs ...Definition) *Registry {
	r := &Registry{defs: make(map[string]Definition)}
	for _, d := range defs {
		if err := eventlog.ValidateType(d.ActorType()); err != nil {
			panic(err)
		}
		if err := d.prepare(); err != nil {
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
	// onStateChange reports whether the definition has OnStateChange.
	onStateChange() bool
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
	return i.d.actions[action].run(&Ctx[S]{t: t, state: &i.state, id: i.id}, args)
}

func (i *inst[S]) encodeState() ([]byte, error) { return marshalMsgpack(&i.state) }

func (i *inst[S]) decodeState(b []byte) error {
	i.reset()
	return unmarshalMsgpack(b, &i.state)
}

func (i *inst[S]) stateJSON() ([]byte, error) { return json.Marshal(&i.state) }

func (i *inst[S]) onStateChange() bool { return i.d.OnStateChange != nil }

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
// The broadcast must be declared with Broadcast, and data be of its
// declared type (or a pointer to it): else nothing is sent and an error
// is logged. A Broadcaster's Send checks the type when it compiles.
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
