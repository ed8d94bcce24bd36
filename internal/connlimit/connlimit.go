// Package connlimit caps the connections a server holds open at once, as
// golang.org/x/net/netutil's LimitListener does, without letting clients
// that hold connections and do nothing with them keep new clients out:
// when every place is taken and a connection arrives, the listener closes
// the connection idle the longest to make room for it.
//
// A connection is idle once it has sent nothing for Options.Quiet:
//
//   - a keep-alive connection since its last request was answered
//     (http.StateIdle, which the listener learns of through its ConnState
//     method: give it to the http.Server), and until it sends the first
//     byte of its next request;
//   - a new connection since it was accepted, until it sends its first
//     byte (this needs no ConnState, and suits only protocols in which the
//     client speaks first, as in HTTP).
//
// A connection that has begun a request, or has been hijacked (a
// WebSocket), is never closed by the listener; nor is one that has been
// quiet for less than Options.Quiet, so that a client between two quick
// requests keeps its connection. Quiet means that the server has read
// nothing; on Unix, where the listener peeks at a connection before it
// closes it, also that nothing waits to be read, so that a request the
// server was too busy to read yet is not lost. When no connection is idle, the new one
// waits, as with LimitListener, until a place frees or a connection
// becomes idle; meanwhile the listener holds it, one connection beyond the
// cap for each caller of Accept.
//
// Closing an idle keep-alive connection races with its client sending the
// next request, as the http.Server's IdleTimeout does: HTTP/1.1 lets a
// server close an idle connection at any time, and clients retry (those
// requests that are safe to retry) on a new connection. Bytes that arrive
// as the listener closes a connection are dropped, not served: the
// server never begins a request on a connection the listener closed.
//
// The listener starts no goroutine: Accept does the waiting and the
// closing, in its caller's goroutine.
package connlimit

import (
	"container/list"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQuiet is the default of Options.Quiet.
const DefaultQuiet = 500 * time.Millisecond

// Options configure a Listener. The zero value gives the defaults.
type Options struct {
	// Quiet is how long a connection must have sent nothing, since it
	// was accepted or since its last request was answered, before it
	// counts as idle. Default DefaultQuiet (500ms).
	Quiet time.Duration
}

// The phases of a connection's reads since it was accepted or its last
// request was answered. A connection is closed for a newcomer only in phaseQuiet,
// which it leaves for phaseClosing under the listener's lock: its next
// Read cannot then pass on bytes.
const (
	phaseQuiet   = iota // nothing read
	phaseHeard          // bytes read: a request has begun
	phaseClosing        // closed by the listener for a newcomer
)

// Listener is a net.Listener that holds at most a given number of the
// connections it accepts open at once. Create it with New. Its methods
// are safe for concurrent use.
type Listener struct {
	net.Listener
	max      int
	quietFor time.Duration

	done      chan struct{} // closed by Close
	closeOnce sync.Once

	mu      sync.Mutex    // guards the fields below, and every conn's since, elem and closed
	open    int           // connections accepted and not yet closed
	quiet   list.List     // *conn new or between requests, the longest quiet first
	wake    chan struct{} // closed when a place frees or a connection becomes quiet; nil if no Accept waits
	evicted int64         // connections closed to make room
}

// New returns a Listener that accepts from ln and holds at most n (at
// least 1) connections open at once.
func New(ln net.Listener, n int, opts Options) *Listener {
	if opts.Quiet <= 0 {
		opts.Quiet = DefaultQuiet
	}
	return &Listener{Listener: ln, max: max(n, 1), quietFor: opts.Quiet, done: make(chan struct{})}
}

// Accept waits for a connection and for a place for it: a free one, or
// one it makes by closing the connection idle the longest; else it waits
// until a place frees or a connection becomes idle.
func (l *Listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := l.admit(); err != nil {
		nc.Close()
		return nil, err
	}
	c := &conn{Conn: nc, l: l}
	l.mu.Lock()
	c.since = time.Now()
	c.elem = l.quiet.PushBack(c)
	l.signal()
	l.mu.Unlock()
	return c, nil
}

// Close closes the listener: Accept returns, also from a wait for a
// place. The connections it accepted stay open.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// ConnState is the http.Server's ConnState hook: it tells the listener
// which of its connections are idle between requests.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*conn)
	if !ok || c.l != l {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.closed || state == http.StateNew { // on l.quiet since Accept
		return
	}
	l.unlist(c)
	if state != http.StateIdle || c.phase.Load() == phaseClosing {
		return
	}
	// The server calls ConnState from the goroutine that reads the
	// connection: no Read runs now, and the next one is the next request.
	c.phase.Store(phaseQuiet)
	c.since = time.Now()
	c.elem = l.quiet.PushBack(c)
	l.signal()
}

// Evicted returns the number of idle connections the listener has
// closed to make room for new ones.
func (l *Listener) Evicted() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.evicted
}

// admit takes a place for a connection just accepted.
func (l *Listener) admit() error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	l.mu.Lock()
	for {
		select {
		case <-l.done:
			l.mu.Unlock()
			return net.ErrClosed
		default:
		}
		if l.open < l.max {
			l.open++
			l.mu.Unlock()
			return nil
		}
		idlest, wait := l.idlest(time.Now())
		if idlest != nil {
			l.evicted++
			l.mu.Unlock()
			idlest.Close() // frees its place
			l.mu.Lock()
			continue
		}
		if l.wake == nil {
			l.wake = make(chan struct{})
		}
		wake := l.wake
		l.mu.Unlock()
		var quietEnds <-chan time.Time
		if wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			quietEnds = timer.C
		}
		select {
		case <-wake:
		case <-quietEnds:
		case <-l.done:
		}
		l.mu.Lock()
	}
}

// signal wakes the callers of Accept that wait for a place: one has
// freed, or a connection has become quiet. l.mu must be held.
func (l *Listener) signal() {
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// idlest takes the connection idle the longest off l.quiet and marks it
// closing. If there is none, it returns how long until the connection
// quiet the longest counts as idle; 0 if none is quiet. l.mu must be
// held.
func (l *Listener) idlest(now time.Time) (*conn, time.Duration) {
	for {
		c := l.front()
		if c == nil {
			return nil, 0
		}
		if wait := c.since.Add(l.quietFor).Sub(now); wait > 0 {
			return nil, wait
		}
		l.unlist(c)
		// A request may wait unread, or a Read have passed on bytes since
		// front looked: then the connection is no longer idle (and will
		// not be until the server says so).
		if !unread(c.Conn) && c.phase.CompareAndSwap(phaseQuiet, phaseClosing) {
			return c, 0
		}
	}
}

// front returns the first connection of l.quiet that is still quiet,
// after taking off those before it that have been heard from (they will
// not be quiet again until the server says so). l.quiet is in the order
// of since, as every connection goes on it with the time it went on.
func (l *Listener) front() *conn {
	for e := l.quiet.Front(); e != nil; e = l.quiet.Front() {
		c := e.Value.(*conn)
		if c.phase.Load() == phaseQuiet {
			return c
		}
		l.unlist(c)
	}
	return nil
}

// unlist takes c off l.quiet, if it is on it. l.mu must be held.
func (l *Listener) unlist(c *conn) {
	if c.elem != nil {
		l.quiet.Remove(c.elem)
		c.elem = nil
	}
}

// release frees c's place.
func (l *Listener) release(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c.closed = true
	l.unlist(c)
	l.open--
	l.signal()
}

// conn is a connection of a Listener.
type conn struct {
	net.Conn
	l         *Listener
	phase     atomic.Int32
	closeOnce sync.Once

	// Guarded by l.mu.
	since  time.Time     // when it was accepted, or its last request answered
	elem   *list.Element // on l.quiet; nil if not
	closed bool
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.phase.Load() != phaseHeard && !c.phase.CompareAndSwap(phaseQuiet, phaseHeard) {
		// The listener closed the connection for a newcomer before these
		// bytes were passed on: drop them, as if they came after the close.
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: net.ErrClosed}
	}
	return n, err
}

// Close closes the connection and frees its place.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.release(c) })
	return err
}
