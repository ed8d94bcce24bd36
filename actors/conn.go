package actors

import (
	"sync"
	"sync/atomic"
)

// Frame is one message for a connection: a JSON object with a "type"
// field. Seq is the event's sequence for a persisted event, 0 for an
// ephemeral broadcast.
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
	wantsState bool // params["state"] asked for state frames
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
