package jetstreamtest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Lossy is a dialer for a NATS client (nats.SetCustomDialer) whose
// connections can lose messages on their way from the server: the
// acknowledgements of publishes to a stream, as a network does when it
// fails after the server stored a message and before the client heard
// so, and the messages a consumer delivers. Everything else passes
// through unchanged. Its methods are safe for concurrent use.
type Lossy struct {
	d net.Dialer

	mu         sync.Mutex // guards the fields below
	stream     string     // whose acks to drop
	drop       int        // how many more acks to drop
	dropped    int        // how many acks were dropped
	deliveries string     // the subject prefix of the deliveries to drop
	dropDeliv  int        // how many more deliveries to drop
	droppedDel int        // how many deliveries were dropped
}

// DroppedDeliveries returns how many deliveries were dropped in all.
func (l *Lossy) DroppedDeliveries() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.droppedDel
}

// DropDeliveries makes the connections drop the next n messages that a
// consumer delivers from subjects beginning with prefix, as a network
// that loses them would: the consumer counts them as delivered.
func (l *Lossy) DropDeliveries(prefix string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deliveries, l.dropDeliv = prefix, n
}

// isDelivery reports whether a message on subject with reply subject
// reply is a consumer's delivery to drop, and if so counts it.
func (l *Lossy) isDelivery(subject, reply string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropDeliv == 0 || !strings.HasPrefix(subject, l.deliveries) || !strings.HasPrefix(reply, "$JS.ACK.") {
		return false
	}
	l.dropDeliv--
	l.droppedDel++
	return true
}

// Dial implements nats.CustomDialer.
func (l *Lossy) Dial(network, address string) (net.Conn, error) {
	c, err := l.d.Dial(network, address)
	if err != nil {
		return nil, err
	}
	pr, pw := net.Pipe()
	go l.filter(bufio.NewReader(c), pw)
	return &lossyConn{Conn: c, r: pr}, nil
}

// DropAcks makes the connections drop the next n acknowledgements of
// publishes to stream (a batch has one).
func (l *Lossy) DropAcks(stream string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stream, l.drop = stream, n
}

// Dropped returns how many acknowledgements were dropped in all.
func (l *Lossy) Dropped() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// isAck reports whether a message's payload is the acknowledgement of a
// publish to the stream whose acks are being dropped, and if so counts
// it as dropped.
func (l *Lossy) isAck(payload []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drop == 0 || !bytes.HasPrefix(payload, []byte(`{"stream":`+strconv.Quote(l.stream))) ||
		!bytes.Contains(payload, []byte(`"seq":`)) || bytes.Contains(payload, []byte(`"error"`)) {
		return false
	}
	l.drop--
	l.dropped++
	return true
}

// filter copies the server's protocol from r to w, frame by frame,
// leaving out the messages that carry a dropped acknowledgement. It ends
// when either side closes.
func (l *Lossy) filter(r *bufio.Reader, w net.Conn) {
	defer w.Close()
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		frame := line
		// MSG subject sid [reply] size, or HMSG subject sid [reply]
		// hsize size: the payload and its CRLF follow the line.
		if f := bytes.Fields(line); len(f) > 0 && (string(f[0]) == "MSG" || string(f[0]) == "HMSG") {
			size, err := strconv.Atoi(string(f[len(f)-1]))
			if err != nil {
				return
			}
			body := make([]byte, size+2)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			hdr := 0
			if string(f[0]) == "HMSG" {
				if hdr, err = strconv.Atoi(string(f[len(f)-2])); err != nil || hdr > size {
					return
				}
			}
			reply := "" // present when MSG has 5 fields, HMSG 6
			if string(f[0]) == "MSG" && len(f) == 5 || string(f[0]) == "HMSG" && len(f) == 6 {
				reply = string(f[3])
			}
			if l.isAck(body[hdr:size]) || l.isDelivery(string(f[1]), reply) {
				continue
			}
			frame = append(line, body...)
		}
		if _, err := w.Write(frame); err != nil {
			return
		}
	}
}

// lossyConn reads through the filter and writes straight to the server.
type lossyConn struct {
	net.Conn
	r net.Conn
}

func (c *lossyConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func (c *lossyConn) SetReadDeadline(t time.Time) error { return c.r.SetReadDeadline(t) }

func (c *lossyConn) SetDeadline(t time.Time) error {
	c.r.SetReadDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *lossyConn) Close() error {
	err := c.Conn.Close()
	c.r.Close()
	return err
}
