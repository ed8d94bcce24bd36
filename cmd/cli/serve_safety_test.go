package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The server's defences against what a network may bring, checked on the
// real binary with small limits set by flag.

// serveTestListen: loopback by default, every interface only when asked,
// and then a warning without a token; a Host that is not the server's is
// refused (DNS rebinding).
func serveTestListen(t *testing.T, bin string) {
	p := serveStart(t, bin, t.TempDir()) // no --host
	if strings.Contains(p.stderr.String(), "WARN") {
		t.Errorf("warnings on loopback:\n%s", p.stderr)
	}
	addr := strings.TrimPrefix(p.url, "http://")
	if got := rawStatus(t, addr, "GET /healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"); got != 403 {
		t.Errorf("Host evil.example: %d, want 403", got)
	}
	if got := rawStatus(t, addr, "GET /healthz HTTP/1.1\r\nHost: localhost:"+addr[strings.LastIndex(addr, ":")+1:]+"\r\nConnection: close\r\n\r\n"); got != 200 {
		t.Errorf("Host localhost: %d, want 200", got)
	}

	// Every interface: said on the startup line, and warned of without a
	// token; not with one.
	for _, token := range []string{"", "s3cret"} {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		cmd := exec.CommandContext(ctx, bin, "serve", "--host", "0.0.0.0", "--port", "0", "--data", t.TempDir(), "--token", token)
		cmd.Env = append(os.Environ(), "PORT=", "ACTORLOG_TOKEN=")
		out, errOut := &serveOutput{}, &serveOutput{}
		cmd.Stdout, cmd.Stderr = out, errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`actorlog listening on http://0\.0\.0\.0:\d+ \(every interface\)`)
		for !re.MatchString(out.String()) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		warned := strings.Contains(errOut.String(), "without a token")
		cmd.Process.Kill()
		cmd.Wait()
		cancel()
		if !re.MatchString(out.String()) {
			t.Errorf("--host 0.0.0.0: startup line %q", out)
		}
		if warned != (token == "") {
			t.Errorf("--host 0.0.0.0, token %q: warned %v\n%s", token, warned, errOut)
		}
	}
}

// rawStatus sends a raw request on a connection of its own.
func rawStatus(t *testing.T, addr, req string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, req)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// serveTestSlowClients: a body that trickles in is cut off at
// --read-timeout, headers that do too, and an idle keep-alive connection
// is closed at --keepalive-timeout.
func serveTestSlowClients(t *testing.T, bin string) {
	p := serveStart(t, bin, t.TempDir(), "--read-timeout", "500ms", "--keepalive-timeout", "500ms")
	addr := strings.TrimPrefix(p.url, "http://")
	for _, c := range []struct{ name, start string }{
		{"body", "POST /rpc/counter:slow/add HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"},
		{"headers", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, c.start)
		start := time.Now()
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			io.Copy(io.Discard, conn) // a 408, then the close; or the close
		}()
		tick := time.NewTicker(100 * time.Millisecond)
	trickle:
		for {
			select {
			case <-ended:
				break trickle
			case <-tick.C:
				io.WriteString(conn, " ") // one byte at a time, never enough
			}
		}
		tick.Stop()
		conn.Close()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("slow %s: the connection lasted %v with --read-timeout 500ms", c.name, d)
		}
	}

	// Idle keep-alive: closed by the server soon after the timeout.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle keep-alive connection: read %v, want the server's close", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("idle keep-alive connection closed after %v with --keepalive-timeout 500ms", d)
	}
}

// serveTestConnCap: past --max-conns, a new connection is served at once
// in the place of the connection idle the longest (between requests, or
// silent since it connected), rather than wait for --keepalive-timeout or
// --read-timeout to free a place; a connection with a request in
// progress keeps its place, and the new one waits for it.
func serveTestConnCap(t *testing.T, bin string) {
	const cap = 6
	p := serveStart(t, bin, t.TempDir(), "--max-conns", strconv.Itoa(cap), "--keepalive-timeout", "20s", "--read-timeout", "20s")
	addr := strings.TrimPrefix(p.url, "http://")
	type kept struct {
		c  net.Conn
		br *bufio.Reader
	}
	dial := func() kept {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second))
		return kept{c, bufio.NewReader(c)}
	}
	get := func(k kept, path string) error {
		io.WriteString(k.c, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		res, err := http.ReadResponse(k.br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	// newConn times a request on a new connection, from its dial.
	newConn := func() <-chan time.Duration {
		took := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				took <- -1
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			if get(kept{c, bufio.NewReader(c)}, "/healthz") != nil {
				took <- -1
				return
			}
			took <- time.Since(start)
		}()
		return took
	}
	closedWithin := func(k kept, d time.Duration) bool {
		k.c.SetReadDeadline(time.Now().Add(d))
		_, err := k.br.ReadByte()
		return errors.Is(err, io.EOF)
	}

	// Fill the cap with keep-alive connections that have each been
	// served; open[0] is then the one idle the longest.
	var open []kept
	for range cap {
		k := dial()
		if err := get(k, "/healthz"); err != nil {
			t.Fatalf("connection %d: %v", len(open), err)
		}
		open = append(open, k)
	}
	for i, k := range open[1:] {
		if err := get(k, "/healthz"); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	if d := <-newConn(); d < 0 || d > time.Second {
		t.Errorf("a new connection past the cap of idle ones: served after %v (-1: failed), want within 1s (the keep-alive timeout is 20s)", d)
	}
	if !closedWithin(open[0], 5*time.Second) {
		t.Errorf("the connection idle the longest was not closed for the new one")
	}
	for i, k := range open[1:] {
		if err := get(k, "/healthz"); err != nil {
			t.Errorf("connection %d after the new one came: %v", i+1, err)
		}
	}
	for _, k := range open {
		k.c.Close()
	}

	// Connections that connect and send nothing: a new one takes the
	// place of one silent for a second.
	var silent []kept
	for range cap {
		silent = append(silent, dial())
	}
	time.Sleep(100 * time.Millisecond) // accepted, or held by the server's Accept
	if d := <-newConn(); d < 0 || d > 3*time.Second {
		t.Errorf("a new connection past the cap of silent ones: served after %v (-1: failed), want within 3s (the read timeout is 20s)", d)
	}
	for _, k := range silent {
		k.c.Close()
	}

	// Requests in progress (long polls of 2s) keep their places: the new
	// connection waits for one to end.
	time.Sleep(100 * time.Millisecond) // the server has seen the closes
	polls := make(chan error, cap)
	for i := range cap {
		k := dial()
		go func() { polls <- get(k, "/inspect/events?actor=counter:cap-"+strconv.Itoa(i)+"&wait=2") }()
	}
	time.Sleep(300 * time.Millisecond) // the polls are in
	extra := newConn()
	for range cap {
		if err := <-polls; err != nil {
			t.Errorf("a long poll with the cap reached: %v", err)
		}
	}
	if d := <-extra; d < 0 || d < time.Second {
		t.Errorf("a new connection past the cap of requests in progress: served after %v (-1: failed), want after the polls ended", d)
	}
}

// rss returns the resident memory of a process, in bytes.
func rss(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// serveTestMemoryBudget: a client calling ever new actors keeps the
// server within --max-memory-mib, and every call is served.
func serveTestMemoryBudget(t *testing.T, bin string) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc to read the server's memory from")
	}
	budgetMiB, actors := 200, 20000
	if v := os.Getenv("ACTORLOG_BUDGET_TEST_MIB"); v != "" {
		budgetMiB, _ = strconv.Atoi(v) // to see the peak without the budget
	}
	p := serveStart(t, bin, t.TempDir(), "--max-memory-mib", strconv.Itoa(budgetMiB), "--cache-mib", "8", "--idle-timeout", "1h")
	pid := p.cmd.Process.Pid
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if r := rss(t, pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var next atomic.Int64
	var failed atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(actors) {
					return
				}
				res, err := client.Post(fmt.Sprintf("%s/rpc/counter:m%d/increment", p.url, i), "application/json", nil)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	// Wait for the callers, then stop the sampler.
	for next.Load() <= int64(actors) {
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d calls failed", n, actors)
	}
	t.Logf("%d actors woken; peak RSS %d MiB, budget %d MiB", actors, peak.Load()>>20, budgetMiB)
	if peak.Load() > int64(budgetMiB)<<20 {
		t.Errorf("peak RSS %d MiB over the budget of %d MiB", peak.Load()>>20, budgetMiB)
	}
}
