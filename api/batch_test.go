package api

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// recordConn is a net.Conn that records each Write.
type recordConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *recordConn) SetWriteDeadline(time.Time) error { return nil }

func (c *recordConn) got() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.writes...)
}

func newTestBatchConn() (*batchConn, *recordConn) {
	rc := &recordConn{}
	pool := &sync.Pool{New: newBatchBuffer}
	return &batchConn{Conn: rc, pool: pool}, rc
}

// A text frame: FIN and opcode 1, then a short payload.
func dataFrame(payload string) []byte { return append([]byte{0x81, byte(len(payload))}, payload...) }

// A close frame: FIN and opcode 8.
func closeFrame() []byte { return []byte{0x88, 0x02, 0x03, 0xe8} }

func TestBatchConn_CollectsDataFrames(t *testing.T) {
	c, rc := newTestBatchConn()
	// Before start (the handshake's reply), writes go out at once.
	c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"))
	if n := len(rc.got()); n != 1 {
		t.Fatalf("handshake: %d writes, want 1", n)
	}
	c.start()
	c.Write(dataFrame("event"))
	c.Write(dataFrame("reply"))
	if n := len(rc.got()); n != 1 {
		t.Fatalf("data frames were written before the flush: %d writes", n)
	}
	if c.buf == nil {
		t.Fatal("no buffer while frames are collected")
	}
	if err := c.flush(time.Second); err != nil {
		t.Fatal(err)
	}
	w := rc.got()
	if len(w) != 2 || !bytes.Equal(w[1], append(dataFrame("event"), dataFrame("reply")...)) {
		t.Fatalf("after the flush: %q, want the two frames in one write", w)
	}
	if c.buf != nil {
		t.Fatal("an idle connection holds a buffer")
	}
	if err := c.flush(time.Second); err != nil || len(rc.got()) != 2 {
		t.Fatalf("a flush with nothing collected wrote: %v %d", err, len(rc.got()))
	}
}

func TestBatchConn_ControlFrameGoesOutAfterCollected(t *testing.T) {
	c, rc := newTestBatchConn()
	c.start()
	c.Write(dataFrame("a"))
	c.Write(dataFrame("b"))
	// A close frame from another goroutine (the socket's end): out at
	// once, after the frames collected before it, in order.
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Write(closeFrame())
	}()
	<-done
	w := rc.got()
	if len(w) != 2 || !bytes.Equal(w[0], append(dataFrame("a"), dataFrame("b")...)) || !bytes.Equal(w[1], closeFrame()) {
		t.Fatalf("writes %q: want the collected frames, then the close frame", w)
	}
	if c.buf != nil {
		t.Fatal("the buffer was kept after the control frame")
	}
}

func TestBatchConn_FullBatchGoesOut(t *testing.T) {
	c, rc := newTestBatchConn()
	c.start()
	payload := bytes.Repeat([]byte{'x'}, 1000)
	frame := append([]byte{0x82, 126, 0x03, 0xe8}, payload...) // binary, 16-bit length
	var want int
	for want+len(frame) <= maxBatchBytes {
		c.Write(frame)
		want += len(frame)
	}
	if n := len(rc.got()); n != 0 {
		t.Fatalf("%d writes before the batch was full", n)
	}
	c.Write(frame) // does not fit: the batch goes out, this one waits
	w := rc.got()
	if len(w) != 1 || len(w[0]) != want {
		t.Fatalf("writes of %d frames' bytes: got %d writes", want/len(frame), len(w))
	}
	// A frame as large as a batch is not collected.
	big := make([]byte, maxBatchBytes)
	big[0] = 0x82
	c.Write(big)
	w = rc.got()
	if len(w) != 3 || len(w[1]) != len(frame) || len(w[2]) != maxBatchBytes {
		t.Fatalf("large frame: %d writes", len(w))
	}
}

// TestBatchConn_FrameBound: frames that keep coming go out maxBatchFrames
// at a time, without waiting for a flush.
func TestBatchConn_FrameBound(t *testing.T) {
	c, rc := newTestBatchConn()
	c.start()
	for range maxBatchFrames {
		c.Write(dataFrame("e"))
	}
	if n := len(rc.got()); n != 0 {
		t.Fatalf("%d writes with %d frames collected", n, maxBatchFrames)
	}
	c.Write(dataFrame("e"))
	w := rc.got()
	if len(w) != 1 || len(w[0]) != maxBatchFrames*len(dataFrame("e")) {
		t.Fatalf("after one frame more: %d writes, want the %d collected in one", len(w), maxBatchFrames)
	}
	if c.frames != 1 {
		t.Fatalf("%d frames collected after the write, want 1", c.frames)
	}
}
