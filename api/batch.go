package api

import (
	"net"
	"sync"
	"time"
)

// maxBatchBytes bounds the frames a socket's writer collects before it
// writes them: what a client that does not read holds, beyond its
// connection's queue of frames (actors.Options.ConnBuffer).
const maxBatchBytes = 16 << 10

// maxBatchFrames bounds the frames collected when more keep coming, so
// that a busy socket's client gets them in steady writes.
const maxBatchFrames = 64

// batchConn is a WebSocket's connection as its writer sees it. Once
// started, the data frames the writer writes collect in a buffer and go
// out together when the writer flushes, which it does whenever it has
// nothing more ready to send (or once maxBatchFrames or maxBatchBytes are
// collected): a call's event frame and its reply, made
// durable together, leave in one write to the network instead of two,
// and a client catching up gets its frames in as few writes as they fill.
// A control frame (ping, pong, close), from whatever goroutine, goes out
// at once, after the frames collected before it, as does a frame too
// large to collect.
//
// gorilla/websocket serializes its writes, so Write is never called by two
// goroutines at once; flush may be, with a control frame, hence mu.
type batchConn struct {
	net.Conn
	pool *sync.Pool // of *[]byte

	mu      sync.Mutex
	started bool
	buf     *[]byte // from pool while frames are collected; nil otherwise
	frames  int     // frames in buf
}

// start begins collecting data frames (after the handshake's reply).
func (c *batchConn) start() {
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started || len(p) == 0 || p[0]&0x08 != 0 || len(p) >= maxBatchBytes {
		// Not a data frame to collect (a control frame's opcode has bit
		// 3 set): out now, after what is collected.
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		return c.Conn.Write(p)
	}
	if c.buf != nil && (len(*c.buf)+len(p) > maxBatchBytes || c.frames >= maxBatchFrames) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if c.buf == nil {
		c.buf = c.pool.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	c.frames++
	return len(p), nil
}

// flush writes the frames collected, within d.
func (c *batchConn) flush(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(d))
	return c.flushLocked()
}

// flushLocked writes the frames collected and gives the buffer back: an
// idle socket holds none.
func (c *batchConn) flushLocked() error {
	if c.buf == nil {
		return nil
	}
	b := c.buf
	c.buf, c.frames = nil, 0
	_, err := c.Conn.Write(*b)
	if cap(*b) <= maxBatchBytes*2 {
		*b = (*b)[:0]
		c.pool.Put(b)
	}
	return err
}

// newBatchBuffer makes a buffer for a batchConn's pool.
func newBatchBuffer() any {
	b := make([]byte, 0, 4096)
	return &b
}
