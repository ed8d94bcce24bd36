//go:build unix

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestServeBinary builds the real actorlog binary once and runs it as a
// child process on a loopback port: a graceful restart, and kill -9 while
// clients write.
func TestServeBinary(t *testing.T) {
	bin := serveBuild(t)
	t.Run("graceful", func(t *testing.T) { serveTestGraceful(t, bin) })
	t.Run("sigterm under load", func(t *testing.T) { serveTestTermUnderLoad(t, bin) })
	t.Run("kill9", func(t *testing.T) { serveTestKill9(t, bin) })
	t.Run("flags", func(t *testing.T) { serveTestFlags(t, bin) })
	t.Run("listen", func(t *testing.T) { serveTestListen(t, bin) })
	t.Run("slow clients", func(t *testing.T) { serveTestSlowClients(t, bin) })
	t.Run("connection cap", func(t *testing.T) { serveTestConnCap(t, bin) })
	t.Run("memory budget", func(t *testing.T) { serveTestMemoryBudget(t, bin) })
	t.Run("cluster", func(t *testing.T) { serveTestCluster(t, bin) })
	t.Run("cluster faults", func(t *testing.T) { serveTestClusterFaults(t, bin) })
}

// serveBuild builds the binary into a temporary directory.
func serveBuild(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "actorlog")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	// The real command, cmd/actorlog: this package with the seed actors.
	cmd := exec.CommandContext(ctx, goBin, "build", "-ldflags=-s -w", "-o", bin, "../actorlog")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// serveOutput collects a child's output for reading while it runs.
type serveOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *serveOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *serveOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// serveProc is a running `actorlog serve`.
type serveProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	stdout *serveOutput
	stderr *serveOutput
	done   chan struct{}
	client *http.Client
}

var serveListenRE = regexp.MustCompile(`actorlog listening on (http://127\.0\.0\.1:\d+) \(data (.*)\)`)

// serveStart starts the server on a free loopback port (--port 0; the
// startup line tells the port) and waits until /healthz answers 200.
func serveStart(t *testing.T, bin, dir string, extra ...string) *serveProc {
	t.Helper()
	p := serveLaunch(t, bin, dir, extra...)
	p.waitHealth(http.StatusOK, time.Now().Add(15*time.Second))
	return p
}

// serveLaunch starts the server and waits for its startup line.
func serveLaunch(t *testing.T, bin, dir string, extra ...string) *serveProc {
	t.Helper()
	// No --host: the server listens on loopback by default.
	args := append([]string{"serve", "--port", "0", "--data", dir}, extra...)
	p := &serveProc{
		t:      t,
		cmd:    exec.Command(bin, args...),
		stdout: &serveOutput{},
		stderr: &serveOutput{},
		done:   make(chan struct{}),
		client: &http.Client{Timeout: 5 * time.Second},
	}
	p.cmd.Env = append(os.Environ(), "PORT=", "ACTORLOG_TOKEN=")
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			// What the server said, for the failure's cause.
			out := p.stderr.String()
			if len(out) > 4000 {
				out = "..." + out[len(out)-4000:]
			}
			t.Logf("serve's stderr:\n%s", out)
		}
		select {
		case <-p.done:
			t.Logf("serve had exited: %v", p.cmd.ProcessState)
			return
		default:
		}
		p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("child %d did not exit after SIGKILL", p.cmd.Process.Pid)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for p.url == "" {
		if m := serveListenRE.FindStringSubmatch(p.stdout.String()); m != nil {
			p.url = m[1]
			if m[2] != dir {
				t.Errorf("startup line names data %q, want %q", m[2], dir)
			}
			break
		}
		select {
		case <-p.done:
			t.Fatalf("serve exited before listening: %v\nstdout: %s\nstderr: %s", p.cmd.ProcessState, p.stdout, p.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no startup line after 15s\nstdout: %s\nstderr: %s", p.stdout, p.stderr)
		}
	}
	if lines := strings.Count(p.stdout.String(), "\n"); lines != 1 {
		t.Errorf("startup printed %d lines on stdout, want one: %q", lines, p.stdout)
	}
	return p
}

// waitHealth waits until /healthz answers status, until deadline.
func (p *serveProc) waitHealth(status int, deadline time.Time) {
	p.t.Helper()
	for {
		res, err := p.client.Get(p.url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == status {
				return
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("/healthz not %d: %v\nstderr: %s", status, err, p.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends sig and returns the exit status, failing if the process
// does not exit within the timeout.
func (p *serveProc) stop(sig os.Signal, timeout time.Duration) *os.ProcessState {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("serve did not exit within %v of %v\nstderr: %s", timeout, sig, p.stderr)
	}
	return p.cmd.ProcessState
}

func (p *serveProc) do(method, path, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// call makes a request that must succeed and decodes the reply into v.
func (p *serveProc) call(method, path, body string, v any) {
	p.t.Helper()
	status, b, err := p.do(method, path, body)
	if err != nil || status != 200 {
		p.t.Fatalf("%s %s: got %d %s (%v), want 200", method, path, status, b, err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			p.t.Fatalf("%s %s: %s: %v", method, path, b, err)
		}
	}
}

type serveCount struct {
	Count       int64 `json:"count"`
	LastUpdated int64 `json:"lastUpdated"`
}

type serveEvent struct {
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
	Meta *struct {
		IdempotencyKey string `json:"idempotencyKey"`
	} `json:"meta"`
}

// history reads a whole stream by pages and checks that it is gapless.
func (p *serveProc) history(typ, key string) []serveEvent {
	p.t.Helper()
	var all []serveEvent
	for from := uint64(1); ; {
		var page struct {
			Head   uint64       `json:"head"`
			Events []serveEvent `json:"events"`
			Next   *uint64      `json:"next"`
		}
		p.call("GET", fmt.Sprintf("/actors/%s/%s/events?from=%d&limit=1000", typ, key, from), "", &page)
		all = append(all, page.Events...)
		if page.Next == nil {
			if uint64(len(all)) != page.Head {
				p.t.Fatalf("%s:%s: %d events, want head %d", typ, key, len(all), page.Head)
			}
			break
		}
		from = *page.Next
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			p.t.Fatalf("%s:%s: event %d has seq %d: the log has a gap or a duplicate", typ, key, i, e.Seq)
		}
	}
	return all
}

func (p *serveProc) dialWS(path string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(p.url, "http")+path, nil)
	if err == nil {
		p.t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func serveReadFrame(c *websocket.Conn) (map[string]any, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// serveTestGraceful writes, stops the server with SIGTERM while a socket
// is open, restarts it and reads the data back.
func serveTestGraceful(t *testing.T, bin string) {
	dir := filepath.Join(t.TempDir(), "data") // created by serve
	p := serveStart(t, bin, dir)
	for i := 1; i <= 10; i++ {
		var c serveCount
		p.call("POST", "/api/counter/g/increment", "", &c)
		if c.Count != int64(i) {
			t.Fatalf("increment %d: count %d", i, c.Count)
		}
	}
	p.call("POST", "/api/chat/g/join", `{"username":"ann"}`, nil)
	p.call("POST", "/api/chat/g/messages", `{"username":"ann","text":"before restart"}`, nil)
	ws, err := p.dialWS("/ws/counter/g")
	if err != nil {
		t.Fatal(err)
	}
	if f, err := serveReadFrame(ws); err != nil || f["type"] != "init" || f["seq"] != 10.0 {
		t.Fatalf("init frame: %v %v", f, err)
	}

	st := p.stop(syscall.SIGTERM, 15*time.Second)
	if st.ExitCode() != 0 {
		t.Fatalf("exit after SIGTERM: %v, want status 0\nstderr: %s", st, p.stderr)
	}
	// The socket was told the server is going away.
	_, err = serveReadFrame(ws)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("socket at shutdown: %v, want close %d", err, websocket.CloseGoingAway)
	}
	for _, want := range []string{"shutting down", "signal=terminated", "stopped"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr has no %q:\n%s", want, p.stderr)
		}
	}

	p = serveStart(t, bin, dir)
	var c serveCount
	p.call("GET", "/api/counter/g", "", &c)
	if c.Count != 10 || c.LastUpdated == 0 {
		t.Fatalf("count after restart: %+v, want 10", c)
	}
	if n := len(p.history("counter", "g")); n != 10 {
		t.Fatalf("history after restart: %d events, want 10", n)
	}
	var msgs struct {
		Messages []struct{ Username, Text string } `json:"messages"`
	}
	p.call("GET", "/api/chat/g/messages", "", &msgs)
	if len(msgs.Messages) != 1 || msgs.Messages[0].Text != "before restart" || msgs.Messages[0].Username != "ann" {
		t.Fatalf("messages after restart: %+v", msgs)
	}
	p.call("POST", "/api/counter/g/increment", "", &c)
	if c.Count != 11 {
		t.Fatalf("increment after restart: %d, want 11", c.Count)
	}
	if st := p.stop(syscall.SIGINT, 15*time.Second); st.ExitCode() != 0 {
		t.Fatalf("exit after SIGINT: %v, want status 0\nstderr: %s", st, p.stderr)
	}
}

// serveTestTermUnderLoad stops the server with SIGTERM while clients
// write: it exits 0, and every write it acknowledged is there after a
// restart.
func serveTestTermUnderLoad(t *testing.T, bin string) {
	dir := t.TempDir()
	p := serveStart(t, bin, dir)
	keys := []string{"a", "b", "c", "hot", "hot", "hot"}
	var mu sync.Mutex
	acked := map[string]int64{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	started := make(chan struct{}, len(keys))
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				res, err := client.Post(p.url+"/api/counter/"+k+"/increment", "application/json", nil)
				if err != nil {
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				var c serveCount
				if res.StatusCode != 200 || json.Unmarshal(b, &c) != nil {
					return // 503 while shutting down
				}
				mu.Lock()
				acked[k] = max(acked[k], c.Count)
				mu.Unlock()
				if i == 10 {
					started <- struct{}{}
				}
			}
		}()
	}
	for range keys {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the writers did not get going")
		}
	}
	if st := p.stop(syscall.SIGTERM, 15*time.Second); st.ExitCode() != 0 {
		t.Fatalf("exit after SIGTERM under load: %v\nstderr: %s", st, p.stderr)
	}
	wg.Wait()
	p = serveStart(t, bin, dir)
	for _, k := range []string{"a", "b", "c", "hot"} {
		var c serveCount
		p.call("GET", "/api/counter/"+k, "", &c)
		n := int64(len(p.history("counter", k)))
		if c.Count < acked[k] || n != c.Count {
			t.Fatalf("%s after restart: count %d, %d events; %d was acknowledged", k, c.Count, n, acked[k])
		}
	}
}

// serveTestKill9 kills the server with SIGKILL while clients write, a few
// times, and checks after each restart that every acknowledged write is in
// the log and that the log has no gap.
func serveTestKill9(t *testing.T, bin string) {
	dir := t.TempDir()
	const rounds = 3
	// Counters with one writer each, and one shared by several.
	type writer struct{ key string }
	var writers []writer
	for i := 0; i < 4; i++ {
		writers = append(writers, writer{fmt.Sprint("k", i)})
	}
	for i := 0; i < 3; i++ {
		writers = append(writers, writer{"hot"})
	}
	keys := []string{"k0", "k1", "k2", "k3", "hot"}
	acked := map[string]int64{}    // the highest count acknowledged
	frameSeq := map[string]int64{} // the highest seq a socket received
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))

	verify := func(p *serveProc, round int) {
		t.Helper()
		for _, k := range keys {
			var c serveCount
			p.call("GET", "/api/counter/"+k, "", &c)
			evs := p.history("counter", k)
			if c.Count < acked[k] {
				t.Fatalf("round %d: %s count %d after restart, but %d was acknowledged", round, k, c.Count, acked[k])
			}
			if int64(len(evs)) < frameSeq[k] {
				t.Fatalf("round %d: %s has %d events after restart, but a socket received seq %d", round, k, len(evs), frameSeq[k])
			}
			if int64(len(evs)) != c.Count {
				t.Fatalf("round %d: %s count %d, but the log holds %d increments", round, k, c.Count, len(evs))
			}
			for _, e := range evs {
				var d serveCount
				if err := json.Unmarshal(e.Data, &d); err != nil || e.Type != "countUpdated" || d.Count != int64(e.Seq) {
					t.Fatalf("round %d: %s event %d: %s %s, want countUpdated with count %d", round, k, e.Seq, e.Type, e.Data, e.Seq)
				}
			}
			t.Logf("round %d: %s count %d, highest acknowledged %d", round, k, c.Count, acked[k])
		}
	}

	for round := 0; ; round++ {
		p := serveStart(t, bin, dir)
		verify(p, round)
		if round == rounds {
			if st := p.stop(syscall.SIGTERM, 15*time.Second); st.ExitCode() != 0 {
				t.Fatalf("exit after recovery and SIGTERM: %v\nstderr: %s", st, p.stderr)
			}
			return
		}
		// A subscriber: what it receives was durable when sent.
		ws, err := p.dialWS("/ws/counter/k0")
		if err != nil {
			t.Fatal(err)
		}
		var wsMu sync.Mutex
		wsDone := make(chan struct{})
		go func() {
			defer close(wsDone)
			for {
				f, err := serveReadFrame(ws)
				if err != nil {
					return
				}
				if seq, ok := f["seq"].(float64); ok {
					wsMu.Lock()
					frameSeq["k0"] = max(frameSeq["k0"], int64(seq))
					wsMu.Unlock()
				}
			}
		}()

		var mu sync.Mutex
		var wg sync.WaitGroup
		firstAck := make(chan struct{})
		var once sync.Once
		total := 0
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: len(writers)}}
		for _, w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					res, err := client.Post(p.url+"/api/counter/"+w.key+"/increment", "application/json", nil)
					if err != nil {
						return // the server is gone
					}
					b, err := io.ReadAll(res.Body)
					res.Body.Close()
					if err != nil || res.StatusCode != 200 {
						return
					}
					var c serveCount
					if err := json.Unmarshal(b, &c); err != nil {
						return
					}
					mu.Lock()
					acked[w.key] = max(acked[w.key], c.Count)
					total++
					mu.Unlock()
					once.Do(func() { close(firstAck) })
				}
			}()
		}
		select {
		case <-firstAck:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: no write acknowledged\nstderr: %s", round, p.stderr)
		}
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Fatal("the killed server did not exit")
		}
		ws.Close()
		wg.Wait()
		<-wsDone
		client.CloseIdleConnections()
		wstat, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !wstat.Signaled() || wstat.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: the server ended with %v, want killed by SIGKILL", round, p.cmd.ProcessState)
		}
		t.Logf("round %d: killed after %d acknowledged writes", round, total)
	}
}

// serveTestFlags checks the startup errors of bad flags and a port in
// use.
func serveTestFlags(t *testing.T, bin string) {
	run := func(env []string, args ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	}
	if code, _ := run(nil, "serve", "--no-such-flag"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	if code, msg := run([]string{"PORT=http"}, "serve", "--data", t.TempDir()); code != 1 || !strings.Contains(msg, "PORT") {
		t.Errorf("PORT=http: exit %d %q, want 1 naming PORT", code, msg)
	}
	if code, msg := run(nil, "serve", "--data", t.TempDir(), "--log-level", "loud"); code != 1 || !strings.Contains(msg, "log-level") {
		t.Errorf("bad --log-level: exit %d %q, want 1", code, msg)
	}
	if code, msg := run(nil, "serve", "--data", t.TempDir(), "--ws-total-rate", "-1"); code != 1 || !strings.Contains(msg, "ws-total-rate") {
		t.Errorf("negative --ws-total-rate: exit %d %q, want 1", code, msg)
	}
	// Cluster flags that cannot be: one readable line, exit 1, before any
	// NATS connection.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster", "nats://127.0.0.1:1", "--nats", "nats://127.0.0.1:2"}, "give one"},
		{[]string{"--nats", "nats://127.0.0.1:1", "--nats-listen", "127.0.0.1:0"}, "give one"},
		{[]string{"--nats-listen", "127.0.0.1:0", "--advertise", "ftp://x"}, "--advertise"},
	} {
		args := append([]string{"serve", "--data", t.TempDir(), "--port", "0"}, c.args...)
		if code, msg := run(nil, args...); code != 1 || !strings.Contains(msg, c.want) || strings.Count(strings.TrimSpace(msg), "\n") > 0 {
			t.Errorf("%v: exit %d %q, want 1 and one line saying %q", c.args, code, msg, c.want)
		}
	}
	// A port in use: the error is reported and the store is left closed
	// (a second server may open the directory).
	p := serveStart(t, bin, t.TempDir())
	port := p.url[strings.LastIndex(p.url, ":")+1:]
	dir := t.TempDir()
	if code, msg := run(nil, "serve", "--host", "127.0.0.1", "--port", port, "--data", dir); code != 1 || !strings.Contains(msg, "address already in use") {
		t.Errorf("port in use: exit %d %q, want 1 and the reason", code, msg)
	}
	q := serveStart(t, bin, dir)
	q.call("POST", "/api/counter/x/increment", "", nil)
	// The data directory is locked while a server runs.
	if code, _ := run(nil, "serve", "--host", "127.0.0.1", "--port", "0", "--data", dir); code != 1 {
		t.Errorf("second server on a locked directory: exit %d, want 1", code)
	}
}
