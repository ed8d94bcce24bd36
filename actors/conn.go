package actors

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/actorlog/actorlog/eventlog"
)

// Frame is one message for a connection, as the runtime's FrameEncoder
// built it. Seq is the event's sequence for a persisted event (or the
// state's, for a state frame), 0 for an ephemeral broadcast.
type Frame struct {
	Seq  uint64
	Data []byte
}

// Conn is a client's live connection to an actor: it receives the
// actor's committed events and broadcasts, in order, on Frames. The
// runtime closes Done when it drops the connection (Err says why); the
// client side calls Close when it goes away.
type Conn struct {
	// Params are the connection parameters given to OnBeforeConnect.
	Params map[string]string
	// ID is unique among the runtime's connections.
	ID uint64

	a          *actor
	wantsState bool                   // params["state"] asked for state frames
	events     atomic.Pointer[Events] // the events and broadcasts it receives; nil: all
	frames     chan Frame
	done       chan struct{}
	once       sync.Once
	err        atomic.Pointer[error]
	closed     atomic.Bool
}

// Init is the state of the actor when a connection opened: State is JSON,
// Seq the sequence it reflects. Frames carry what follows Seq.
type Init struct {
	State []byte
	Seq   uint64
}

// Frames delivers the connection's frames. Each frame is shared: do not
// modify its Data.
func (c *Conn) Frames() <-chan Frame { return c.frames }

// WantsState reports whether the connection asked for state frames
// (params["state"] "1" or "true").
func (c *Conn) WantsState() bool { return c.wantsState }

// Events returns the set of event and broadcast names the connection
// receives (nil: every one).
func (c *Conn) Events() *Events { return c.events.Load() }

// SetEvents sets the event and broadcast names the connection receives
// from now on (nil: every one); state frames are not concerned. It may be
// called from any goroutine, as the set is immutable.
func (c *Conn) SetEvents(e *Events) { c.events.Store(e) }

// open reports whether c is one of the actor's connections, and its
// client has not closed it.
func (a *actor) open(c *Conn) bool {
	_, ok := a.conns.all[c]
	return ok && !c.closed.Load()
}

// wants reports whether the connection receives the event or broadcast.
func (c *Conn) wants(name string) bool { return c.events.Load().Has(name) }

// Done is closed when the runtime dropped the connection.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the runtime dropped the connection: ErrSlowConsumer,
// ErrActorStopped or ErrClosed.
func (c *Conn) Err() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Close tells the actor the client went away. It is safe to call more
// than once and after the runtime dropped the connection.
func (c *Conn) Close() {
	if c.closed.Swap(true) {
		return
	}
	c.a.rt.post(c.a, &disconnectMsg{conn: c})
}

// drop ends the connection from the runtime's side.
func (c *Conn) drop(err error) {
	c.once.Do(func() {
		c.err.Store(&err)
		close(c.done)
	})
}

// deliver hands a frame over without blocking; false means the buffer is
// full.
func (c *Conn) deliver(f Frame) bool {
	select {
	case c.frames <- f:
		return true
	default:
		return false
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
	a.conns.stateSeq = a.dseq
	data, err := a.rt.opts.Frames.State(a.dseq, state)
	if err != nil {
		a.logger().Warn("state frame does not encode", "err", err)
		return
	}
	var slow []*Conn
	for c := range a.conns.all {
		if c.wantsState && !c.deliver(Frame{Seq: a.dseq, Data: data}) {
			slow = append(slow, c)
		}
	}
	for _, c := range slow {
		a.disconnect(c, ErrSlowConsumer)
	}
}

// connections are an actor's open connections.
type connections struct {
	all map[*Conn]struct{}
	// wantState counts the connections that asked for state frames;
	// stateSeq is the sequence of the last state frame sent to them.
	wantState int
	stateSeq  uint64
}

func (a *actor) connect(m *connectMsg) {
	if a.rt.opts.Frames == nil {
		m.reply <- connectResult{err: Errorf(CodeInternal, "the runtime has no frame encoder (Options.Frames): it takes no connections")}
		return
	}
	if len(a.conns.all) >= a.rt.opts.MaxConnsPerActor {
		m.reply <- connectResult{err: Errorf(CodeUnavailable, "%s has %d connections, the limit", a.id, len(a.conns.all))}
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
	c.events.Store(m.events)
	if a.conns.all == nil {
		a.conns.all = make(map[*Conn]struct{})
	}
	a.conns.all[c] = struct{}{}
	if c.wantsState = m.params["state"] == "1" || m.params["state"] == "true"; c.wantsState {
		if a.conns.wantState == 0 {
			a.conns.stateSeq = a.dseq // the init frame carries this state
		}
		a.conns.wantState++
	}
	a.rt.opts.Metrics.Connections(1)
	m.reply <- connectResult{conn: c, init: Init{State: state, Seq: a.dseq}}
	t = a.newTurn(eventlog.Metadata{})
	a.hookTurn(t, hookConnect, c, nil)
	a.finishTurn(t, nil)
	a.maybeFlush()
}

// dropConns ends every connection, as going to sleep does (without
// OnDisconnect): the clients connect again and resume.
func (a *actor) dropConns(why error) {
	for c := range a.conns.all {
		c.drop(why)
		a.rt.opts.Metrics.Connections(-1)
	}
	a.conns.all = nil
	a.conns.wantState = 0
}

func (a *actor) disconnect(c *Conn, why error) {
	if _, ok := a.conns.all[c]; !ok {
		return
	}
	delete(a.conns.all, c)
	if c.wantsState {
		a.conns.wantState--
	}
	a.rt.opts.Metrics.Connections(-1)
	if why != nil {
		c.drop(why)
	}
	t := a.newTurn(eventlog.Metadata{})
	a.hookTurn(t, hookDisconnect, c, nil)
	a.finishTurn(t, nil)
	a.maybeFlush() // what the hook wrote, without waiting for a call
}
