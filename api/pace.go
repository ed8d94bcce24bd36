package api

import (
	"bufio"
	"context"
	"encoding/binary"
	"math"
	"net"
	"net/http"
	"time"

	"golang.org/x/time/rate"
)

// The pacing of what WebSocket clients send.
//
// A socket's frames are paid for before their payload is read: the
// connection under the WebSocket reader finds each frame's header in the
// bytes it reads, and returns none of them until the frame's declared
// length (at least minFrameCost, at most MaxFrameBytes) is paid for, from
// the socket's budget (Options.SocketRate) and then from the budget all
// sockets share (Options.TotalSocketRate), in turns of at most maxTurn. A
// socket held back thus waits holding the bytes of one read at most
// (readAhead), in the read buffer it has anyway, not a frame of up to
// MaxFrameBytes. A message sent in fragments is paid for fragment by
// fragment, so a socket held back between two fragments holds the
// fragments already read.
//
// Control frames (ping, pong, close) are paid for like the others.

// readAhead is the most a socket reads beyond the frames it has paid for:
// the size of its read buffer.
const readAhead = 4096

// maxTurn is the most a socket takes of the shared budget at once.
const maxTurn = 64 << 10

// maxHeaderBytes is the length of the longest WebSocket frame header: 2
// bytes, an 8-byte length and a 4-byte mask.
const maxHeaderBytes = 14

// pacedConn is a WebSocket's connection as its reader sees it. Read, and
// the read deadline's setters, are called by one goroutine at a time: the
// socket's reader (and Upgrade before it).
type pacedConn struct {
	net.Conn
	ctx     context.Context // ends the waits: the socket's
	budget  *rate.Limiter   // the socket's
	shared  *rate.Limiter   // all sockets'; nil if none
	maxCost int64           // the most a frame costs: MaxFrameBytes

	hdr      [maxHeaderBytes]byte // the frame header being read
	hn       int                  // its bytes read so far
	body     int64                // payload bytes paid for and not yet read
	deadline time.Time            // the read deadline last set
}

// hijacker hands gorilla/websocket's Upgrade the hijacked connection
// wrapped by wrap.
type hijacker struct {
	http.ResponseWriter
	wrap func(net.Conn) net.Conn
}

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return h.wrap(c), brw, nil
}

func (c *pacedConn) Read(p []byte) (int, error) {
	if int64(len(p)) > c.body+readAhead {
		p = p[:c.body+readAhead]
	}
	n, err := c.Conn.Read(p)
	if cost := c.scan(p[:n]); cost > 0 {
		if err := c.pay(cost); err != nil {
			return 0, err // the socket has ended
		}
	}
	return n, err
}

func (c *pacedConn) SetDeadline(t time.Time) error {
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

func (c *pacedConn) SetReadDeadline(t time.Time) error {
	c.deadline = t
	return c.Conn.SetReadDeadline(t)
}

// scan follows the frames through b, the next bytes from the client, and
// returns what the frames whose headers end in b cost.
func (c *pacedConn) scan(b []byte) (cost int64) {
	for len(b) > 0 {
		if c.body > 0 {
			k := min(int64(len(b)), c.body)
			c.body -= k
			b = b[k:]
			continue
		}
		k := copy(c.hdr[c.hn:headerLen(c.hdr[:c.hn])], b)
		c.hn += k
		b = b[k:]
		if c.hn < headerLen(c.hdr[:c.hn]) {
			continue
		}
		c.body = payloadLen(c.hdr[:c.hn])
		c.hn = 0
		cost += min(max(c.body, minFrameCost), c.maxCost)
	}
	return cost
}

// headerLen is the length of the frame header that begins with h: 2 until
// its second byte is known.
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 { // masked, as a client's frames are
		n += 4
	}
	return n
}

// payloadLen is the payload length a whole frame header h declares.
// gorilla/websocket refuses one over MaxFrameBytes once it reads h.
func payloadLen(h []byte) int64 {
	switch n := h[1] & 0x7f; n {
	case 126:
		return int64(binary.BigEndian.Uint16(h[2:]))
	case 127:
		return int64(min(binary.BigEndian.Uint64(h[2:]), math.MaxInt64))
	default:
		return int64(n)
	}
}

// pay waits until the socket's budget, then the shared one, have paid
// for cost bytes. The time it waits is added to the read deadline: the
// client is not to blame for it.
func (c *pacedConn) pay(cost int64) error {
	start := time.Now()
	if err := waitN(c.ctx, c.budget, cost); err != nil {
		return err
	}
	if c.shared != nil {
		if err := waitN(c.ctx, c.shared, cost); err != nil {
			return err
		}
	}
	if waited := time.Since(start); waited >= time.Millisecond && !c.deadline.IsZero() {
		c.SetReadDeadline(c.deadline.Add(waited))
	}
	return nil
}

// waitN waits until l allows n events, asking for at most its burst at
// a time: the waits of other callers take turns with these.
func waitN(ctx context.Context, l *rate.Limiter, n int64) error {
	for n > 0 {
		k := min(n, int64(l.Burst()))
		if err := l.WaitN(ctx, int(k)); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
