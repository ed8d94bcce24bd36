//go:build unix

package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSockets opens many idle WebSockets to the real server (a separate
// process, so that each side has its own open-files limit), keeps them
// alive through several rounds of pings, measures the server's memory per
// socket, fans a burst of events out to all of them, and checks that the
// server's memory and goroutines come back when they close.
//
// It opens ACTORLOG_SOCKETS sockets (default 500, to keep CI short); the
// figure in BENCHMARKS.md is from
//
//	ACTORLOG_SOCKETS=10000 go test ./cmd/cli -run TestSockets -v -timeout 10m
func TestSockets(t *testing.T) {
	n := 500
	if v := os.Getenv("ACTORLOG_SOCKETS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("ACTORLOG_SOCKETS=%q", v)
		}
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	if uint64(n)+256 > lim.Cur {
		t.Skipf("%d sockets need more open files than the limit %d allows", n, lim.Cur)
	}
	const rooms, burst = 100, 20
	bin := serveBuild(t)
	srv := serveStart(t, bin, t.TempDir(), "--ping-interval", "1s")
	defer srv.stop(syscall.SIGTERM, 30*time.Second)
	base := serverMem(t, srv)

	// Open the sockets, each with a reader that answers pings and counts
	// the messages of its room.
	var received, opened, dropped atomic.Int64
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, n)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	wsURL := "ws" + strings.TrimPrefix(srv.url, "http")
	start := time.Now()
	for i := range conns {
		c, _, err := d.Dial(fmt.Sprintf("%s/ws/chatRoom/room%d", wsURL, i%rooms), nil)
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, b, err := c.ReadMessage()
				if err != nil {
					if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) && !strings.Contains(err.Error(), "use of closed") {
						dropped.Add(1)
					}
					return
				}
				switch {
				case bytes.Contains(b, []byte(`"type":"init"`)):
					opened.Add(1)
				case bytes.Contains(b, []byte(`"type":"newMessage"`)):
					received.Add(1)
				}
			}
		}()
	}
	waitFor(t, 60*time.Second, func() bool { return opened.Load() == int64(n) }, "init frames")
	t.Logf("%d sockets open in %v", n, time.Since(start).Round(time.Millisecond))

	// Idle through three ping rounds (the server closes a socket silent
	// for three intervals): none may drop.
	time.Sleep(3500 * time.Millisecond)
	if dropped.Load() != 0 {
		t.Fatalf("%d idle sockets dropped", dropped.Load())
	}
	idle := serverMem(t, srv)
	perSocket := (idle.heap + idle.stack - base.heap - base.stack) / uint64(n)
	t.Logf("server with %d idle sockets: heap %s, stacks %s, goroutines %d (+%d), RSS %s: %d bytes per socket (heap+stack)",
		n, sockMiB(idle.heap), sockMiB(idle.stack), idle.goroutines, idle.goroutines-base.goroutines, sockMiB(idle.rss), perSocket)
	if perSocket > 64<<10 {
		t.Errorf("an idle socket costs the server %d bytes", perSocket)
	}

	// A burst: every room gets burst messages at once; every socket must
	// get its room's, and nothing may pile up on the server.
	start = time.Now()
	var sends sync.WaitGroup
	for r := 0; r < rooms; r++ {
		sends.Add(1)
		go func() {
			defer sends.Done()
			for m := 0; m < burst; m++ {
				status, body, err := srv.do("POST", fmt.Sprintf("/api/chat/room%d/messages", r), `{"username":"load","text":"burst"}`)
				if err != nil || status != http.StatusOK {
					t.Errorf("send: %d %s %v", status, body, err)
					return
				}
			}
		}()
	}
	sends.Wait()
	want := int64(n * burst)
	waitFor(t, 60*time.Second, func() bool { return received.Load() >= want }, "burst frames")
	after := serverMem(t, srv)
	t.Logf("burst of %d messages to %d rooms delivered to %d sockets (%d frames) in %v; server heap after %s",
		rooms*burst, rooms, n, received.Load(), time.Since(start).Round(time.Millisecond), sockMiB(after.heap))
	if got := received.Load(); got != want {
		t.Fatalf("sockets received %d frames, want %d", got, want)
	}
	if dropped.Load() != 0 {
		t.Fatalf("%d sockets dropped during the burst", dropped.Load())
	}

	for _, c := range conns {
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.Close()
	}
	wg.Wait()
	var end memSample
	waitFor(t, 30*time.Second, func() bool {
		end = serverMem(t, srv)
		// The rooms' actors stay awake until their idle timeout.
		return end.goroutines <= base.goroutines+rooms+10
	}, "the server's goroutines to return")
	t.Logf("after closing: goroutines %d (at start %d, and %d rooms awake), heap %s", end.goroutines, base.goroutines, rooms, sockMiB(end.heap))
}

type memSample struct {
	heap, stack, rss uint64
	goroutines       int
}

// serverMem reads the server's memory figures from /metrics, after
// asking nothing of it but the scrape.
func serverMem(t *testing.T, p *serveProc) memSample {
	t.Helper()
	status, body, err := p.do("GET", "/metrics", "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("metrics: %d %v", status, err)
	}
	var m memSample
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "go_memstats_heap_inuse_bytes":
			m.heap = uint64(v)
		case "go_memstats_stack_inuse_bytes":
			m.stack = uint64(v)
		case "process_resident_memory_bytes":
			m.rss = uint64(v)
		case "go_goroutines":
			m.goroutines = int(v)
		}
	}
	if m.heap == 0 || m.goroutines == 0 {
		t.Fatalf("metrics lack the Go figures:\n%.500s", body)
	}
	return m
}

func sockMiB(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func waitFor(t *testing.T, d time.Duration, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
