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
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Baseline names Abuse's first phase, which has no attack.
const Baseline = "baseline"

const (
	// abuseSampleEvery is how often Abuse reads the server's /metrics
	// for each phase's peaks; four times a phase at least.
	abuseSampleEvery = 500 * time.Millisecond
	// abuseProbeEvery is how often Abuse times the first request of a
	// new connection.
	abuseProbeEvery = 250 * time.Millisecond
	// retryPause is the wait before an attack replaces a connection that
	// failed, or that the server closed at once, so that a refusing
	// server is not spun on.
	retryPause = 100 * time.Millisecond
	// slowBodyBytes is the Content-Length of SlowBodies' requests: more
	// than a run trickles.
	slowBodyBytes = 1 << 16
)

// abuseRun is one run of Abuse.
type abuseRun struct {
	*runner
	host string // the Host header of the attacks' requests
	addr string // the server's host:port
	book *phaseBook
}

// abuse runs Abuse: the phases one after the other, each
// Duration/phases long plus the time its attack takes to stop, with the
// steady client from the start of the first to the end of the last.
// Meanwhile the server's /metrics is read every abuseSampleEvery (or
// more often for short phases) and a new connection's first request
// timed every abuseProbeEvery.
func (r *runner) abuse(rep *Report) {
	list, _ := r.cfg.attackList() // checked by resolve
	names := append([]string{Baseline}, list...)
	phaseLen := r.cfg.Duration / time.Duration(len(names))
	u, _ := url.Parse(r.base)
	a := &abuseRun{runner: r, host: u.Host, addr: hostPort(u), book: newPhaseBook(len(names))}

	clients := a.warmUp()
	bg, stopBG := context.WithCancel(r.ctx)
	var wg sync.WaitGroup
	wg.Go(func() { a.sampleServer(bg, min(abuseSampleEvery, phaseLen/4)) })
	wg.Go(func() { a.probeNewConns(bg) })

	r.begin()
	var stopSteady func()
	phases := make([]PhaseReport, 0, len(names))
	for i, name := range names {
		if r.ctx.Err() != nil {
			break
		}
		start := time.Now()
		a.book.enter(start)
		if i == 0 {
			stopSteady = a.steady(clients, start)
		}
		phases = append(phases, PhaseReport{Name: name})
		ctx, cancel := context.WithTimeout(r.ctx, phaseLen)
		a.attack(ctx, &phases[i])
		cancel()
		phases[i].Seconds = seconds(time.Since(start))
	}
	a.book.finish(time.Now())
	rep.Seconds = time.Since(r.start).Seconds()
	if stopSteady != nil {
		stopSteady()
	}
	stopBG()
	wg.Wait()
	for _, c := range clients {
		c.Transport.(*http.Transport).CloseIdleConnections()
	}
	a.book.fill(phases, r.cfg.Rate)
	rep.Abuse = &AbuseReport{Conns: r.cfg.Conns, Rate: r.cfg.Rate, PhaseSeconds: seconds(phaseLen), Phases: phases}
}

// hostPort is the host:port of the server at u.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80" // abuse speaks http only
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1e3 }

// sleep waits for d; false if ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// transport is an HTTP transport to the server that keeps up to conns
// connections alive; none (a new connection for every request) if conns
// is 0.
func (a *abuseRun) transport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         a.dial,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		DisableKeepAlives:   conns == 0,
	}
}

// phaseBook accounts for the phases of Abuse. A steady request goes to
// the phase in which it was due, a new connection's request and the
// server's figures to the phase running when they were sent or read.
type phaseBook struct {
	phases []*phaseTally

	mu     sync.Mutex // guards starts and end
	starts []time.Time
	end    time.Time // zero until the last phase ends
}

// phaseTally is what one phase counted.
type phaseTally struct {
	steady  *tally
	newConn *tally

	mu     sync.Mutex // guards server
	server PhaseServer
}

func newPhaseBook(n int) *phaseBook {
	b := &phaseBook{phases: make([]*phaseTally, n)}
	for i := range b.phases {
		b.phases[i] = &phaseTally{steady: newTally(), newConn: newTally()}
	}
	return b
}

// enter starts the next phase at t.
func (b *phaseBook) enter(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.starts = append(b.starts, t)
}

// finish ends the last phase at t.
func (b *phaseBook) finish(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.end = t
}

// index is the phase running at t: -1 before the first, len(phases)
// after the last. Asked at a time not before t, it is exact: a phase's
// start, and the end, are set when they happen.
func (b *phaseBook) index(t time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.end.IsZero() && !t.Before(b.end) {
		return len(b.phases)
	}
	i := len(b.starts) - 1
	for i >= 0 && t.Before(b.starts[i]) {
		i--
	}
	return i
}

// at is the phase running at t; nil if none.
func (b *phaseBook) at(t time.Time) *phaseTally {
	if i := b.index(t); i >= 0 && i < len(b.phases) {
		return b.phases[i]
	}
	return nil
}

// sample counts the server's figures from /metrics in the phase running.
func (b *phaseBook) sample(m map[string]float64) {
	p := b.at(time.Now())
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.server
	s.Samples++
	s.RSSPeak = max(s.RSSPeak, int64(m["process_resident_memory_bytes"]))
	s.HeapPeak = max(s.HeapPeak, int64(m["go_memstats_heap_inuse_bytes"]))
	s.GoroutinesPeak = max(s.GoroutinesPeak, int64(m["go_goroutines"]))
	s.AwakePeak = max(s.AwakePeak, int64(m["actorlog_active_actors"]))
}

// fill puts what each phase counted in its report, with the steady
// requests due in it at rate a second from the start of the first phase.
func (b *phaseBook) fill(phases []PhaseReport, rate float64) {
	if len(b.starts) > 0 {
		for k := 0; ; k++ {
			i := b.index(b.starts[0].Add(steadyDue(k, rate)))
			if i >= len(phases) {
				break
			}
			phases[i].SteadyDue++
		}
	}
	for i := range phases {
		t := b.phases[i]
		p := &phases[i]
		p.Steady = t.steady.calls()
		p.Unsent = p.SteadyDue - p.Steady.Requests
		p.NewConn = t.newConn.calls()
		t.mu.Lock()
		p.Server = t.server
		t.mu.Unlock()
	}
}

// steadyDue is when, from the start of the steady client, its k-th
// request is due at rate requests a second. Its workers take turns: the
// j-th request of worker w of n is the (j*n+w)-th.
func steadyDue(k int, rate float64) time.Duration {
	return time.Duration(float64(k) / rate * float64(time.Second))
}

// warmUp makes the steady client's connections, one a worker, and wakes
// each worker's counter.
func (a *abuseRun) warmUp() []*http.Client {
	clients := make([]*http.Client, a.cfg.Conns)
	var wg sync.WaitGroup
	for w := range clients {
		clients[w] = &http.Client{Transport: a.transport(1)}
		wg.Go(func() {
			a.send(a.ctx, clients[w], time.Now(), http.MethodPost, a.steadyPath(w), nil, a.tally)
		})
	}
	wg.Wait()
	return clients
}

// steady starts the steady client at start and returns the function that
// stops it once the last phase has ended. Its workers, one a client,
// each with a keep-alive connection of its own (so that none waits to
// connect behind an attack), increment their own counters,
// counter:<Prefix>-steady-<w>, at the times steadyDue gives, until the
// end of the last phase. A request's latency runs from its due time, so
// that a worker held up does not hide the requests it could not send
// meanwhile; it is counted in the run's figures, and in the phase in
// which it was due. stop lets the workers send the requests due before
// the end, for at most Timeout; those still unsent then are the phases'
// Unsent.
func (a *abuseRun) steady(clients []*http.Client, start time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(a.ctx)
	n := len(clients)
	var wg sync.WaitGroup
	for w, client := range clients {
		wg.Go(func() {
			for j := 0; ; j++ {
				due := start.Add(steadyDue(j*n+w, a.cfg.Rate))
				if !sleep(ctx, time.Until(due)) {
					return
				}
				p := a.book.at(due)
				if p == nil {
					return // due after the end
				}
				a.send(ctx, client, due, http.MethodPost, a.steadyPath(w), nil, a.tally, p.steady)
			}
		})
	}
	return func() {
		done := make(chan struct{})
		go func() {
			wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(a.cfg.Timeout):
			cancel()
			<-done
		}
		cancel()
	}
}

func (a *abuseRun) steadyPath(w int) string {
	return "/rpc/counter:" + a.cfg.Prefix + "-steady-" + strconv.Itoa(w) + "/increment"
}

// sampleServer reads the server's /metrics, on a connection of its own,
// at the given interval until ctx ends.
func (a *abuseRun) sampleServer(ctx context.Context, every time.Duration) {
	tr := a.transport(1)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for {
		if m, err := a.scrapeOn(client); err == nil {
			a.book.sample(m)
		}
		if !sleep(ctx, every) {
			return
		}
	}
}

// probeNewConns times, every abuseProbeEvery until ctx ends, a request
// (GET /healthz) on a new connection: what a client that connects while
// an attack runs waits.
func (a *abuseRun) probeNewConns(ctx context.Context) {
	tr := a.transport(0)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for sleep(ctx, abuseProbeEvery) {
		if p := a.book.at(time.Now()); p != nil {
			a.send(ctx, client, time.Now(), http.MethodGet, "/healthz", nil, p.newConn)
		}
	}
}

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
