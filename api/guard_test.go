package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/gorilla/websocket"
)

// TestGuard_CrossSite: a browser on a site that is not allowed changes
// nothing, whatever the route and body type; an allowed site, the
// server's own pages and clients that are not browsers (no Origin) work;
// and no page sends a body a preflight would have stopped.
func TestGuard_CrossSite(t *testing.T) {
	s := newStack(t, "", config{projections: true})
	self := s.ts.URL // the page's own origin
	origins := []struct {
		name, origin string
		allowed      bool
	}{
		{"no origin (not a browser)", "", true},
		{"its own origin", self, true},
		{"localhost dev server", "http://localhost:5173", true},
		{"another site", "http://evil.example", false},
		{"another site on the same port", "http://evil.example:" + s.ts.URL[strings.LastIndex(s.ts.URL, ":")+1:], false},
		{"an opaque origin", "null", false},
	}
	types := []struct {
		ctype  string
		simple bool // a type a page may send another site without a preflight
		never  bool // refused from anyone: not JSON
	}{
		{"application/json", false, false},
		{"application/json; charset=utf-8", false, false},
		{"text/plain", true, false},
		{"text/plain;charset=UTF-8", true, false},
		{"application/x-www-form-urlencoded", true, false},
		{"multipart/form-data; boundary=x", true, true},
		{"", true, false},
	}
	n := 0
	for _, o := range origins {
		for _, ct := range types {
			n++
			key := fmt.Sprintf("csrf%d", n)
			hdr := []string{"Content-Type", ct.ctype}
			if o.origin != "" {
				hdr = append(hdr, "Origin", o.origin)
			}
			// Browsers need a preflight for the other types; without an
			// Origin it is not a browser, and any type is read as JSON.
			want := o.allowed && (o.origin == "" || !ct.simple) && !ct.never
			for _, path := range []string{"/rpc/counter:" + key + "/add", "/actors/counter/" + key + "/actions/add"} {
				r := s.do("POST", path, []byte(`{"value": 1000}`), hdr...)
				if want && r.status != 200 || !want && r.status != 403 && r.status != 415 && r.status != 400 {
					t.Errorf("%s, %q: POST %s: %v", o.name, ct.ctype, path, r)
				}
			}
			r := s.get("/api/counter/" + key)
			wantCount := "0"
			if want {
				wantCount = "2000"
			}
			if !strings.Contains(string(r.body), `"count":`+wantCount+`,`) {
				t.Errorf("%s, %q: the counter is %s, want count %s", o.name, ct.ctype, r.body, wantCount)
			}
		}
		// The seed's routes and the projections' operations are guarded
		// the same way.
		hdr := []string{}
		if o.origin != "" {
			hdr = append(hdr, "Origin", o.origin)
		}
		r := s.do("POST", "/api/chat/csrf/messages", []byte(`{"username":"mallory","text":"hi"}`), hdr...)
		if o.allowed != (r.status == 200) {
			t.Errorf("%s: POST a chat message: %v", o.name, r)
		}
		r = s.do("POST", "/projections/actors/pause", nil, hdr...)
		if o.allowed != (r.status == 200) {
			t.Errorf("%s: pause a projection: %v", o.name, r)
		}
		s.do("POST", "/projections/actors/resume", nil)
		// A WebSocket from a page that is not allowed is refused: closed
		// at once with 4403.
		wsHdr := http.Header{}
		if o.origin != "" {
			wsHdr.Set("Origin", o.origin)
		}
		if !o.allowed {
			if code, _ := s.refusedWS("/ws/counter/csrf-ws", wsHdr); code != wire.CloseForbidden {
				t.Errorf("%s: WebSocket closed with %d, want %d", o.name, code, wire.CloseForbidden)
			}
		} else if w, r, err := s.dialWS("/ws/counter/csrf-ws", wsHdr); err != nil {
			t.Errorf("%s: WebSocket: %v %v", o.name, err, r)
		} else if f := w.next(); f.Type != "init" {
			t.Errorf("%s: WebSocket: first frame %s", o.name, f.raw)
		}
	}
	// Reads are not changes: any page may send them (CORS decides what
	// it may read of the reply).
	if r := s.do("GET", "/actors/counter/csrf1/state", nil, "Origin", "http://evil.example"); r.status != 200 {
		t.Errorf("GET from another site: %v", r)
	}
}

// rawRequest sends a request line and headers as they are, and returns
// the status.
func rawRequest(t *testing.T, addr, req string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestGuard_Hosts: against DNS rebinding, a server answers only to the
// host names it is meant for: loopback names by default.
func TestGuard_Hosts(t *testing.T) {
	cases := []struct {
		hosts []string
		host  string
		want  int
	}{
		{nil, "127.0.0.1:1", 200},
		{nil, "localhost:1", 200},
		{nil, "LOCALHOST", 200},
		{nil, "app.localhost:8080", 200},
		{nil, "[::1]:1", 200},
		{nil, "127.1.2.3", 200},
		{nil, "evil.example:1", 403},
		{nil, "evil.example", 403},
		{nil, "127.0.0.1.evil.example", 403},
		{nil, "10.0.0.1", 403},
		{[]string{"actors.example.com"}, "actors.example.com:443", 200},
		{[]string{"actors.example.com"}, "localhost", 403},
		{[]string{"*"}, "evil.example", 200},
	}
	stacks := map[string]*stack{}
	for _, c := range cases {
		k := strings.Join(c.hosts, ",")
		s := stacks[k]
		if s == nil {
			s = newStack(t, "", config{api: api.Options{AllowedHosts: c.hosts}})
			stacks[k] = s
		}
		addr := strings.TrimPrefix(s.ts.URL, "http://")
		for _, path := range []string{"/healthz", "/actors/counter/h/state"} {
			got := rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: "+c.host+"\r\nConnection: close\r\n\r\n")
			if got != c.want {
				t.Errorf("hosts %v, Host %q, %s: %d, want %d", c.hosts, c.host, path, got, c.want)
			}
		}
	}
	// The DNS-rebinding WebSocket: same-origin for the page, refused for
	// its host: closed at once with 4403, without waking the actor.
	s := stacks[""]
	port := s.ts.URL[strings.LastIndex(s.ts.URL, ":")+1:]
	awake := s.rt.Awake()
	code, reason := s.refusedWS("/ws/counter/h-ws", http.Header{"Origin": {"http://evil.example:" + port}, "Host": {"evil.example:" + port}})
	if code != wire.CloseForbidden || !strings.Contains(reason, "evil.example") {
		t.Fatalf("WebSocket for Host evil.example: closed with %d %q, want %d", code, reason, wire.CloseForbidden)
	}
	if s.rt.Awake() != awake {
		t.Fatal("a refused WebSocket woke its actor")
	}
}

// TestGuard_SlowBody: a body that trickles in is cut off at the read
// timeout (408, or the connection closed), and a handler that takes long
// once its body is in is not.
func TestGuard_SlowBody(t *testing.T) {
	s := newStack(t, "", config{api: api.Options{ReadTimeout: 300 * time.Millisecond}})
	addr := strings.TrimPrefix(s.ts.URL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /rpc/counter:slow/add HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	start := time.Now()
	done := make(chan int, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			done <- 0 // closed without a reply
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
	// Trickle a byte every 50 ms: the body never completes in time.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var got int
loop:
	for {
		select {
		case got = <-done:
			break loop
		case <-tick.C:
			c.Write([]byte(" "))
		}
	}
	if got != http.StatusRequestTimeout && got != 0 {
		t.Fatalf("slow body: status %d, want 408 or a close", got)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("slow body cut off after %v, want about 300ms", d)
	}
	// A long poll, with no body, outlives the read timeout.
	start = time.Now()
	r := s.get("/inspect/events?actor=counter:idle&wait=1")
	if r.status != 200 || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("long poll: %v after %v", r, time.Since(start))
	}
}

// TestGuard_SocketRate: a socket that sends more than its budget is read
// no faster than the budget allows, and another socket is not slowed.
func TestGuard_SocketRate(t *testing.T) {
	const rate, frame, frames = 256 << 10, 30 << 10, 20
	s := newStack(t, "", config{api: api.Options{SocketRate: rate, MaxFrameBytes: 32 << 10}})
	flood, _, err := s.dialWS("/ws/counter/flood", nil)
	if err != nil {
		t.Fatal(err)
	}
	calm, _, err := s.dialWS("/ws/counter/calm", nil)
	if err != nil {
		t.Fatal(err)
	}
	flood.next()
	calm.next()
	big := []byte(`{"type":"ping","pad":"` + strings.Repeat("x", frame-40) + `"}`)
	start := time.Now()
	go func() {
		for range frames {
			if flood.c.WriteMessage(websocket.TextMessage, big) != nil {
				return
			}
		}
	}()
	// The calm socket's round trips stay quick while the other floods.
	for range 5 {
		t0 := time.Now()
		calm.send(map[string]any{"type": "ping"})
		calm.nextOf("pong")
		if d := time.Since(t0); d > 500*time.Millisecond {
			t.Errorf("a ping on another socket took %v during the flood", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for range frames {
		flood.nextOf("pong")
	}
	// The budget passes a second's worth at once, then rate a second.
	want := time.Duration(float64(frames*frame-rate) / rate * float64(time.Second))
	if d := time.Since(start); d < want*8/10 {
		t.Fatalf("%d frames of %d bytes answered in %v; at %d bytes/s they take at least %v", frames, frame, d, rate, want)
	}
}

// TestGuard_ThrottledSocketsHoldNoFrame: sockets held back by their
// budget wait before their frame is read, not after: many of them, each
// with a large frame sent and waiting to be paid for, do not each hold
// that frame in the server's memory.
func TestGuard_ThrottledSocketsHoldNoFrame(t *testing.T) {
	const sockets, frame, rate = 16, 256 << 10, 64 << 10
	s := newStack(t, "", config{api: api.Options{SocketRate: rate, MaxFrameBytes: frame}})
	big := []byte(`{"type":"ping","pad":"` + strings.Repeat("x", frame-24) + `"}`)
	// A write buffer as large as the frame: the client sends it whole,
	// in one WebSocket frame, as a browser does.
	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, WriteBufferSize: frame + 64}
	var ws []*wsClient
	for i := range sockets {
		w, r, err := s.dialWSWith(d, fmt.Sprintf("/ws/counter/held-%d", i), nil)
		if err != nil {
			t.Fatalf("dial: %v %v", err, r)
		}
		w.next()
		// The first frame spends the socket's burst: the next one waits
		// 4s (frame/rate) for its budget.
		w.sendRaw(websocket.TextMessage, big)
		w.nextOf("pong")
		ws = append(ws, w)
	}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			w.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			w.c.WriteMessage(websocket.TextMessage, big) // ends with the socket
		})
	}
	// On loopback the frames arrive in milliseconds; the server, had it
	// read them before waiting, would now hold them all.
	time.Sleep(time.Second)
	held := int64(heap()) - int64(before)
	for _, w := range ws {
		w.c.Close()
	}
	wg.Wait()
	t.Logf("%d sockets, each waiting to pay for a frame of %d KiB: the heap grew by %d KiB", sockets, frame>>10, held>>10)
	if held > sockets*frame/4 {
		t.Errorf("the heap grew by %d KiB while %d sockets waited for their budget, over a quarter of their %d KiB frames", held>>10, sockets, sockets*frame>>10)
	}
}

// TestGuard_TotalSocketRate: sockets each well within their own budget
// are read together no faster than the budget they share, taking turns:
// none finishes long before the others, and a socket that sends little
// is not held back behind the others' backlog.
func TestGuard_TotalSocketRate(t *testing.T) {
	const total, frame, frames, sockets = 128 << 10, 16 << 10, 8, 4
	s := newStack(t, "", config{api: api.Options{SocketRate: 16 << 20, TotalSocketRate: total, MaxFrameBytes: 32 << 10}})
	big := []byte(`{"type":"ping","pad":"` + strings.Repeat("x", frame-24) + `"}`)
	var flood []*wsClient
	for i := range sockets {
		flood = append(flood, s.ws(fmt.Sprintf("/ws/counter/shared-%d", i)))
		flood[i].next()
	}
	calm := s.ws("/ws/counter/shared-calm")
	calm.next()
	start := time.Now()
	took := make([]time.Duration, sockets)
	var wg sync.WaitGroup
	for i, w := range flood {
		wg.Go(func() {
			for range frames {
				w.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if w.c.WriteMessage(websocket.TextMessage, big) != nil {
					return
				}
			}
		})
		wg.Go(func() {
			for range frames {
				w.c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if _, _, err := w.c.ReadMessage(); err != nil {
					t.Errorf("socket %d: %v", i, err)
					return
				}
			}
			took[i] = time.Since(start)
		})
	}
	// The calm socket waits for the turns already asked for, not for
	// all that the others have to send (4s).
	time.Sleep(200 * time.Millisecond)
	for range 3 {
		t0 := time.Now()
		calm.send(map[string]any{"type": "ping"})
		calm.nextOf("pong")
		if d := time.Since(t0); d > 2*time.Second {
			t.Errorf("a ping on a calm socket took %v during the others' flood", d)
		}
	}
	wg.Wait()
	all := time.Since(start)
	// The shared budget passes a turn (a tenth of a second's worth) at
	// once, then total a second.
	want := time.Duration(sockets*frames*frame-total/10) * time.Second / total
	if all < want*8/10 {
		t.Fatalf("%d sockets' %d frames of %d bytes answered in %v; at %d bytes/s in all they take at least %v", sockets, frames, frame, all, total, want)
	}
	first, last := slices.Min(took), slices.Max(took)
	t.Logf("all read in %v (at least %v at the shared rate); the sockets finished between %v and %v", all, want, first, last)
	if first < last/2 {
		t.Errorf("a socket finished after %v, another after %v: they did not take turns", first, last)
	}
}
