package connlimit_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/actorlog/actorlog/internal/connlimit"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// counting is a listener that counts the connections it accepted that
// are still open: what the process holds, whatever the Listener above it
// counts.
type counting struct {
	net.Listener
	open, peak atomic.Int64
}

func (l *counting) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *counting
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// SyscallConn lets the Listener peek at the connection, as it does at a
// *net.TCPConn.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// testServer serves h on a loopback port behind a Listener of n places,
// with long timeouts: only the Listener closes connections.
type testServer struct {
	addr  string
	ln    *connlimit.Listener
	inner *counting
}

func serve(t *testing.T, n int, opts connlimit.Options, h http.Handler) *testServer {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inner := &counting{Listener: tcp}
	ln := connlimit.New(inner, n, opts)
	srv := &http.Server{Handler: h, ConnState: ln.ConnState, IdleTimeout: time.Minute, ReadHeaderTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{addr: tcp.Addr().String(), ln: ln, inner: inner}
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

// client is a keep-alive connection on which the test writes requests
// by hand.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// get sends GET path and reads the reply's status.
func (c *client) get(path string) (int, error) {
	if _, err := io.WriteString(c.c, "GET "+path+" HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

func (c *client) mustGet(path string) {
	c.t.Helper()
	if status, err := c.get(path); err != nil || status != 200 {
		c.t.Fatalf("GET %s: %d %v", path, status, err)
	}
}

// closedWithin reports whether the server closes c within d.
func (c *client) closedWithin(d time.Duration) bool {
	c.c.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.ReadByte()
	c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	return errors.Is(err, io.EOF)
}

// timeGet times GET path on a new connection, from its dial to the reply.
func timeGet(addr, path string) <-chan error {
	done := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		cl := &client{c: c, br: bufio.NewReader(c)}
		status, err := cl.get(path)
		if err == nil && status != 200 {
			err = fmt.Errorf("status %d", status)
		}
		done <- err
	}()
	return done
}

// TestListener_EvictsIdlest: with every place taken by keep-alive
// connections between requests, a new connection is served as soon as
// one has been quiet for Options.Quiet, in the place of the one idle the
// longest; the others go on.
func TestListener_EvictsIdlest(t *testing.T) {
	const n, quiet = 3, 300 * time.Millisecond
	s := serve(t, n, connlimit.Options{Quiet: quiet}, http.HandlerFunc(ok))
	var cs []*client
	for range n {
		c := dial(t, s.addr)
		c.mustGet("/")
		cs = append(cs, c)
	}
	// cs[0] is now the one idle the longest. The server marks a
	// connection idle just after its reply leaves, so give it a moment to
	// do so for cs[0] before the others' requests, which on a busy
	// machine could otherwise go first.
	time.Sleep(50 * time.Millisecond)
	for _, c := range cs[1:] {
		c.mustGet("/")
	}
	start := time.Now()
	if err := <-timeGet(s.addr, "/"); err != nil {
		t.Fatalf("a new connection with every place taken: %v", err)
	}
	// Without eviction it would wait for the server's IdleTimeout (1m).
	if d := time.Since(start); d < quiet/2 || d > quiet+time.Second {
		t.Errorf("a new connection was served after %v with every place idle; want once one was quiet for %v", d, quiet)
	}
	if !cs[0].closedWithin(5 * time.Second) {
		t.Errorf("the connection idle the longest is still open")
	}
	for i, c := range cs[1:] {
		if status, err := c.get("/"); err != nil || status != 200 {
			t.Errorf("connection %d after the eviction: %d %v", i+1, status, err)
		}
	}
	if got := s.ln.Evicted(); got != 1 {
		t.Errorf("Evicted() = %d, want 1", got)
	}
	if p := s.inner.peak.Load(); p > n+1 {
		t.Errorf("%d connections open at once, want at most %d (the cap and the one Accept holds)", p, n+1)
	}
}

// TestListener_NeverCutsActive: with every place taken by requests in
// progress, a new connection waits until one ends, and no request is cut.
func TestListener_NeverCutsActive(t *testing.T) {
	const n = 2
	release := make(chan struct{})
	s := serve(t, n, connlimit.Options{Quiet: 50 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			<-release
		}
		io.WriteString(w, "ok")
	}))
	blocked := make([]<-chan error, n)
	for i := range blocked {
		blocked[i] = timeGet(s.addr, "/block")
	}
	time.Sleep(200 * time.Millisecond) // the blocked requests are in
	extra := timeGet(s.addr, "/")
	select {
	case err := <-extra:
		t.Fatalf("a new connection was served (%v) while every place had a request in progress", err)
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	for i, b := range blocked {
		if err := <-b; err != nil {
			t.Errorf("request in progress %d: %v", i, err)
		}
	}
	if err := <-extra; err != nil {
		t.Errorf("the new connection, once a place freed: %v", err)
	}
}

// TestListener_QuietNewConns: a new connection that has sent nothing for
// Options.Quiet gives its place to a newcomer; one that has begun its
// request does not, and a newcomer waiting for a place gets it as soon as
// a connection becomes idle.
func TestListener_QuietNewConns(t *testing.T) {
	const quiet = 300 * time.Millisecond
	s := serve(t, 1, connlimit.Options{Quiet: quiet}, http.HandlerFunc(ok))

	silent := dial(t, s.addr)
	time.Sleep(50 * time.Millisecond) // silent is accepted first
	start := time.Now()
	if err := <-timeGet(s.addr, "/"); err != nil {
		t.Fatalf("a new connection in the place of a silent one: %v", err)
	}
	if d := time.Since(start); d < quiet-100*time.Millisecond || d > quiet+time.Second {
		t.Errorf("a new connection was served after %v; the silent one had %v to speak", d, quiet)
	}
	if !silent.closedWithin(5 * time.Second) {
		t.Errorf("the silent connection is still open")
	}

	// A connection that has sent part of its request keeps its place.
	slow := dial(t, s.addr)
	io.WriteString(slow.c, "GET / HTTP/1.1\r\n")
	time.Sleep(50 * time.Millisecond)
	extra := timeGet(s.addr, "/")
	select {
	case err := <-extra:
		t.Fatalf("a new connection was served (%v) in the place of one sending its request", err)
	case <-time.After(quiet + 500*time.Millisecond):
	}
	// Once its request is done and it is quiet, the newcomer takes its
	// place.
	io.WriteString(slow.c, "Host: test\r\n\r\n")
	res, err := http.ReadResponse(slow.br, nil)
	if err != nil {
		t.Fatalf("the slow request: %v", err)
	}
	res.Body.Close()
	select {
	case err := <-extra:
		if err != nil {
			t.Fatalf("the new connection: %v", err)
		}
	case <-time.After(quiet + time.Second):
		t.Fatalf("the new connection was not served within 1s of a place becoming idle")
	}
	if !slow.closedWithin(5 * time.Second) {
		t.Errorf("the connection idle after its request is still open")
	}
	if got := s.ln.Evicted(); got < 2 {
		t.Errorf("Evicted() = %d, want at least 2", got)
	}
}

// TestListener_UnreadRequestKeepsPlace: a connection whose request the
// server has not read yet (a busy server) is not closed for a newcomer,
// however long it waits.
func TestListener_UnreadRequestKeepsPlace(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no peek at a socket here")
	}
	const quiet = 50 * time.Millisecond
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := connlimit.New(tcp, 1, connlimit.Options{Quiet: quiet})
	defer ln.Close()
	first, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	io.WriteString(first, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
	c1, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	second, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	select {
	case err := <-accepted:
		t.Fatalf("Accept returned (%v) in the place of a connection with a request unread", err)
	case <-time.After(10 * quiet):
	}
	// The request is still there for the server to read.
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); err != nil {
		t.Errorf("reading the request kept: %v", err)
	}
	c1.Close()
	select {
	case err := <-accepted:
		if err != nil {
			t.Errorf("Accept once the place freed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waits after the place freed")
	}
}

// TestListener_CloseEndsWait: closing the listener ends an Accept that
// waits for a place, and closes the connection it holds.
func TestListener_CloseEndsWait(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := connlimit.New(tcp, 1, connlimit.Options{Quiet: time.Hour})
	defer ln.Close()
	first, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	c1, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	second, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	select {
	case err := <-accepted:
		t.Fatalf("Accept returned (%v) with the one place taken by a connection never idle", err)
	case <-time.After(200 * time.Millisecond):
	}
	ln.Close()
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waits after Close")
	}
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("the connection Accept held: read %v, want EOF", err)
	}
}

// TestListener_Concurrent: many clients with keep-alive connections, more
// than the places, call at once, pausing between calls (long enough, at
// times, for their connections to be closed for others); every call is
// answered (a GET on a reused connection that closes is retried), the
// process never holds more than the cap and the connection Accept holds,
// and every place is free at the end.
func TestListener_Concurrent(t *testing.T) {
	const n, clients, calls, quiet = 4, 32, 10, 50 * time.Millisecond
	s := serve(t, n, connlimit.Options{Quiet: quiet}, http.HandlerFunc(ok))
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range clients {
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for range calls {
				res, err := hc.Get("http://" + s.addr + "/")
				if err != nil {
					failed.Add(1)
					t.Log(err)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				time.Sleep(rand.N(2 * quiet))
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Errorf("%d of %d calls failed", f, clients*calls)
	}
	if p := s.inner.peak.Load(); p > n+1 {
		t.Errorf("%d connections open at once, want at most %d", p, n+1)
	}
	// Every client has closed its connections: the places are free.
	deadline := time.Now().Add(5 * time.Second)
	for s.inner.open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for i := range n {
		if err := <-timeGet(s.addr, "/"); err != nil {
			t.Fatalf("call %d after the others: %v", i, err)
		}
	}
	t.Logf("%d evicted", s.ln.Evicted())
}
