package load

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// attack runs the attack of phase p until ctx ends and reports it in p.
// It returns once every goroutine it started has ended and every
// connection it opened is closed.
func (a *abuseRun) attack(ctx context.Context, p *PhaseReport) {
	switch p.Name {
	case Baseline:
		<-ctx.Done()
	case SlowBodies:
		p.SlowBodies = a.slowBodies(ctx)
	case IdleConns:
		p.IdleConns = a.idleConns(ctx)
	case BigFrames:
		p.BigFrames = a.bigFrames(ctx)
	case ManyKeys:
		p.ManyKeys = a.manyKeys(ctx)
	}
}

// holdConns keeps n connections to the server open until ctx ends: each
// is set up by setUp, then watched by wait until the server closes it,
// and then replaced. wait returns how the server closed it: the status of
// its reply, or "closed" or "reset" if there was none.
func (a *abuseRun) holdConns(ctx context.Context, n int, setUp func(net.Conn) error, wait func(net.Conn) string) *ConnsReport {
	rep := &ConnsReport{Conns: n, CutOffBy: map[string]int64{}}
	var (
		opened, failed, cut, openAtEnd, settingUp, oldest atomic.Int64
		cutAfter                                          = newLatencyHist()
		mu                                                sync.Mutex // guards rep's CutOffBy and FirstFailure
	)
	hold := func() (lasted time.Duration) {
		c, err := a.dial(ctx, "tcp", a.addr)
		if err == nil {
			opened.Add(1)
			defer c.Close()
			// The end of the phase closes the connection, which ends
			// setUp or wait.
			defer context.AfterFunc(ctx, func() { c.Close() })()
			err = setUp(c)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			failed.Add(1)
			mu.Lock()
			rep.FirstFailure = firstOf(rep.FirstFailure, err.Error())
			mu.Unlock()
			return 0
		case err != nil:
			if c != nil {
				settingUp.Add(1)
			}
			return 0
		}
		since := time.Now()
		how := wait(c)
		lasted = time.Since(since)
		if ctx.Err() != nil {
			openAtEnd.Add(1)
			storeMax(&oldest, int64(lasted))
			return lasted
		}
		cut.Add(1)
		cutAfter.record(lasted)
		mu.Lock()
		rep.CutOffBy[how]++
		mu.Unlock()
		return lasted
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				if hold() < retryPause {
					sleep(ctx, retryPause)
				}
			}
		})
	}
	wg.Wait()
	rep.Opened, rep.Failed, rep.CutOff = opened.Load(), failed.Load(), cut.Load()
	rep.OpenAtEnd, rep.SettingUpAtEnd = openAtEnd.Load(), settingUp.Load()
	rep.CutAfter = cutAfter.report()
	rep.OldestOpenMs = float64(time.Duration(oldest.Load()).Microseconds()) / 1e3
	return rep
}

// storeMax stores v in m if it is more than m holds.
func storeMax(m *atomic.Int64, v int64) {
	for o := m.Load(); v > o && !m.CompareAndSwap(o, v); o = m.Load() {
	}
}

// firstOf is first if it is set, else msg.
func firstOf(first, msg string) string {
	if first != "" {
		return first
	}
	return msg
}

// authLine is the Authorization header of a request written by hand.
func (a *abuseRun) authLine() string {
	if a.cfg.Token == "" {
		return ""
	}
	return "Authorization: Bearer " + a.cfg.Token + "\r\n"
}

// slowBodies runs SlowBodies: connections that send a request's headers,
// with a Content-Length, then a byte of its body (a space) every
// TrickleEvery, until the server answers or closes.
func (a *abuseRun) slowBodies(ctx context.Context) *ConnsReport {
	head := []byte("POST /rpc/counter:" + a.cfg.Prefix + "-slow/increment HTTP/1.1\r\nHost: " + a.host +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(slowBodyBytes) + "\r\n" + a.authLine() + "\r\n")
	var trickled atomic.Int64
	rep := a.holdConns(ctx, a.cfg.SlowConns, func(c net.Conn) error {
		_, err := c.Write(head)
		return err
	}, func(c net.Conn) string {
		for range slowBodyBytes - 1 {
			c.SetReadDeadline(time.Now().Add(a.cfg.TrickleEvery))
			status, err := readStatus(c)
			if err == nil {
				return status
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return closedBy(err)
			}
			if _, err := c.Write([]byte(" ")); err != nil {
				// The server closed; its reply may still be there to read.
				return waitClose(c, time.Now().Add(time.Second))
			}
			trickled.Add(1)
		}
		return waitClose(c, time.Time{})
	})
	rep.Trickled = trickled.Load()
	return rep
}

// idleConns runs IdleConns: connections that make one request (GET
// /healthz) and are left idle.
func (a *abuseRun) idleConns(ctx context.Context) *ConnsReport {
	req := []byte("GET /healthz HTTP/1.1\r\nHost: " + a.host + "\r\n" + a.authLine() + "\r\n")
	request := newLatencyHist()
	rep := a.holdConns(ctx, a.cfg.IdleConns, func(c net.Conn) error {
		t0 := time.Now()
		c.SetDeadline(t0.Add(a.cfg.Timeout))
		if _, err := c.Write(req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /healthz: status %d", resp.StatusCode)
		}
		request.record(time.Since(t0))
		c.SetDeadline(time.Time{})
		return nil
	}, func(c net.Conn) string {
		return waitClose(c, time.Time{})
	})
	l := request.report()
	rep.Request = &l
	return rep
}

// readStatus reads the start of a reply from c and returns its status,
// "408"; "reply" if it is not one.
func readStatus(c net.Conn) (string, error) {
	var b [len("HTTP/1.1 408")]byte
	n, err := io.ReadFull(c, b[:])
	switch {
	case n == len(b) && strings.HasPrefix(string(b[:]), "HTTP/1."):
		return string(b[9:]), nil
	case n > 0:
		return "reply", nil
	}
	return "", err
}

// waitClose reads from c until deadline (zero: none) and returns how the
// server closed it: the status of its reply, or closedBy's word.
func waitClose(c net.Conn, deadline time.Time) string {
	c.SetReadDeadline(deadline)
	status, err := readStatus(c)
	if err != nil {
		return closedBy(err)
	}
	return status
}

// closedBy names how a connection that gave err ended without a reply:
// "closed", or "reset".
func closedBy(err error) string {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return "reset"
	}
	return "closed"
}

// paddedPing is a ping frame padded to size bytes (its shortest if size
// is less).
func paddedPing(size int) []byte {
	const head, tail = `{"type":"ping","pad":"`, `"}`
	return []byte(head + strings.Repeat("x", max(size-len(head)-len(tail), 0)) + tail)
}

// maskedFrame is a client's text frame of payload, masked (as a client
// must) once for all, to be written as it is again and again: an
// attacker need not spend a byte of work a frame.
func maskedFrame(payload []byte) []byte {
	n := len(payload)
	f := []byte{0x81} // the last fragment of a text frame
	switch {
	case n <= 125:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	key := [4]byte{0x5a, 0xa5, 0x3c, 0xc3}
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

// bigFrames runs BigFrames: FrameSockets WebSockets, each on a counter
// of its own, counter:<Prefix>-frames-<i>, sending pings padded to
// FrameBytes as fast as the server takes them and reading its replies;
// one that the server closes is replaced.
func (a *abuseRun) bigFrames(ctx context.Context) *BigFramesReport {
	payload := paddedPing(a.cfg.FrameBytes)
	frame := maskedFrame(payload)
	d := &websocket.Dialer{NetDialContext: a.dial, HandshakeTimeout: a.cfg.Timeout, ReadBufferSize: 4096, WriteBufferSize: 1024}
	rep := &BigFramesReport{Sockets: a.cfg.FrameSockets, FrameBytes: len(payload), ClosedBy: map[string]int64{}}
	var (
		connects, failed, sent, replies, closed atomic.Int64
		mu                                      sync.Mutex // guards rep's ClosedBy and FirstFailure
	)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range a.cfg.FrameSockets {
		path := "/ws/counter/" + a.cfg.Prefix + "-frames-" + strconv.Itoa(i)
		wg.Go(func() {
			for ctx.Err() == nil {
				c, err := a.dialWSOn(ctx, d, path)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						mu.Lock()
						rep.FirstFailure = firstOf(rep.FirstFailure, err.Error())
						mu.Unlock()
					}
					sleep(ctx, retryPause)
					continue
				}
				connects.Add(1)
				if how := flood(ctx, c, frame, &sent, &replies); how != "" {
					closed.Add(1)
					mu.Lock()
					rep.ClosedBy[how]++
					mu.Unlock()
					sleep(ctx, retryPause)
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	rep.Connects, rep.Failed, rep.FramesSent, rep.Replies, rep.Closed = connects.Load(), failed.Load(), sent.Load(), replies.Load(), closed.Load()
	rep.ReadMiBPerSec = float64(rep.Replies) * float64(len(payload)) / (1 << 20) / secs / float64(rep.Sockets)
	return rep
}

// flood writes frame, a masked frame, on c as fast as the server takes
// it, counting the frames sent whole and the server's replies, until ctx
// ends or the server closes c. It closes c, and returns how the server
// closed it (its close code, or "closed"), or "" if it did not. The frames
// go straight to the connection, not through c's writer, so nothing else
// may write on c: its pings are not answered (the frames keep the
// connection alive).
func flood(ctx context.Context, c *websocket.Conn, frame []byte, sent, replies *atomic.Int64) string {
	defer context.AfterFunc(ctx, func() { c.Close() })()
	c.SetPingHandler(func(string) error { return nil })
	how := make(chan string, 1)
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				c.Close() // ends the writer
				s := ""
				if ctx.Err() == nil {
					s = "closed"
					var ce *websocket.CloseError
					if errors.As(err, &ce) {
						s = strconv.Itoa(ce.Code)
					}
				}
				how <- s
				return
			}
			replies.Add(1)
		}
	}()
	nc := c.NetConn()
	for {
		if _, err := nc.Write(frame); err != nil {
			break
		}
		sent.Add(1)
	}
	c.Close() // ends the reader
	return <-how
}

// manyKeys runs ManyKeys: KeyConns connections incrementing counters of
// keys never called before, counter:<Prefix>-key-<run>-<n>, as fast as
// the server answers.
func (a *abuseRun) manyKeys(ctx context.Context) *ManyKeysReport {
	var tag [4]byte
	rand.Read(tag[:])
	prefix := "/rpc/counter:" + a.cfg.Prefix + "-key-" + hex.EncodeToString(tag[:]) + "-"
	tr := a.transport(a.cfg.KeyConns)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	t := newTally()
	var n atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range a.cfg.KeyConns {
		wg.Go(func() {
			for ctx.Err() == nil {
				path := prefix + strconv.FormatInt(n.Add(1), 10) + "/increment"
				if _, ok := a.send(ctx, client, time.Now(), http.MethodPost, path, nil, t); !ok {
					sleep(ctx, 10*time.Millisecond) // not a spin on a failing server
				}
			}
		})
	}
	wg.Wait()
	rep := &ManyKeysReport{Conns: a.cfg.KeyConns, Calls: t.calls()}
	rep.PerSec = float64(rep.OK) / time.Since(start).Seconds()
	return rep
}
