package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// fakeServer answers the routes a run uses, as the server does, without
// actors: it counts the calls by path, broadcasts a room's messages to
// its WebSockets and serves /metrics and /projections. Its handlers,
// WebSocket ones included, are done when the test ends.
type fakeServer struct {
	url      string
	rpcCode  int  // the status of every RPC; 0: 200
	refuseWS bool // answer every WebSocket with 403
	closeWS  bool // accept every WebSocket and close it with 4401
	// timeouts, if set, bound the time a request's headers, then its
	// body, may take to arrive (a body late is answered 408 and its
	// connection closed), and the time a connection may idle, as the
	// server's --read-timeout and --keepalive-timeout do.
	timeouts time.Duration

	mu    sync.Mutex
	calls map[string]int64           // by path
	subs  map[*websocket.Conn]string // open WebSockets, by room ("" for counters)
	seq   int64

	appends prometheus.Histogram
	conns   prometheus.Gauge
	rss     prometheus.Gauge // set to fakeRSS
}

// fakeRSS is the memory a fakeServer reports.
const fakeRSS = 42 << 20

func newFakeServer(t *testing.T, configure func(*fakeServer)) *fakeServer {
	t.Helper()
	f := &fakeServer{calls: map[string]int64{}, subs: map[*websocket.Conn]string{}}
	if configure != nil {
		configure(f)
	}
	reg := prometheus.NewRegistry()
	f.appends = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "actorlog_append_events", Help: "Events in one append."})
	f.conns = prometheus.NewGauge(prometheus.GaugeOpts{Name: "actorlog_connections", Help: "Open WebSockets."})
	f.rss = prometheus.NewGauge(prometheus.GaugeOpts{Name: "process_resident_memory_bytes", Help: "Memory."})
	f.rss.Set(fakeRSS)
	// The server's CPU: a second for each append.
	cpu := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "process_cpu_seconds_total", Help: "CPU."}, func() float64 {
		m := &dto.Metric{}
		f.appends.Write(m)
		return float64(m.GetHistogram().GetSampleCount())
	})
	reg.MustRegister(f.appends, f.conns, f.rss, cpu)
	var handlers sync.WaitGroup
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /projections", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"projections":[{"name":"fake","state":"running","position":1,"head":1,"lagEvents":0,"lagMs":0}]}`)
	})
	mux.HandleFunc("POST /rpc/{actor}/{action}", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if f.timeouts > 0 {
			rc.SetReadDeadline(time.Now().Add(f.timeouts))
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			// The deadline stays: the server gives up on the rest of the
			// body, and closes the connection.
			http.Error(w, "the body did not arrive in time", http.StatusRequestTimeout)
			return
		}
		rc.SetReadDeadline(time.Time{})
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.rpc(w, r)
	})
	mux.HandleFunc("GET /ws/{type}/{key}", func(w http.ResponseWriter, r *http.Request) {
		if f.refuseWS {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if f.closeWS {
			// As actorlog refuses: accepted, then closed with 4000+status.
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4401, "a valid bearer token is required"), time.Now().Add(time.Second))
			c.Close()
			return
		}
		handlers.Add(1)
		defer handlers.Done()
		f.subscribe(c, r.PathValue("type"), r.PathValue("key"))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadHeaderTimeout, srv.Config.IdleTimeout = f.timeouts, f.timeouts
	srv.Start()
	f.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		f.mu.Lock()
		for c := range f.subs {
			c.Close()
		}
		f.mu.Unlock()
		handlers.Wait()
	})
	return f
}

// rpc counts a call and answers it; a chat message goes to the room's
// subscribers.
func (f *fakeServer) rpc(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[r.URL.Path]++
	if f.rpcCode != 0 {
		http.Error(w, "fake failure", f.rpcCode)
		return
	}
	if r.PathValue("action") == "sendMessage" {
		var msg struct{ Username, Text string }
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.seq++
		frame, _ := json.Marshal(map[string]any{"type": "newMessage", "seq": f.seq, "text": msg.Text, "username": msg.Username})
		room := strings.TrimPrefix(r.PathValue("actor"), "chatRoom:")
		for c, in := range f.subs {
			if in == room {
				c.WriteMessage(websocket.TextMessage, frame)
			}
		}
	}
	if r.PathValue("action") != "getCount" {
		f.appends.Observe(1)
	}
	fmt.Fprint(w, `{}`)
}

// subscribe sends c its init frame, then holds it, in the room key if it
// is a chat room's, until the client closes it.
func (f *fakeServer) subscribe(c *websocket.Conn, typ, key string) {
	room := ""
	if typ == "chatRoom" {
		room = key
	}
	f.mu.Lock()
	err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"init","seq":0}`))
	f.subs[c] = room
	f.calls["/ws/"+typ]++
	f.mu.Unlock()
	f.conns.Inc()
	defer f.conns.Dec()
	for err == nil {
		var frame []byte
		if _, frame, err = c.ReadMessage(); err == nil && bytes.HasPrefix(frame, []byte(`{"type":"ping"`)) {
			f.mu.Lock()
			err = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`))
			f.mu.Unlock()
		}
	}
	f.mu.Lock()
	delete(f.subs, c)
	f.mu.Unlock()
	c.Close()
}

// count is the number of calls to paths starting with prefix.
func (f *fakeServer) count(prefix string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for path, k := range f.calls {
		if strings.HasPrefix(path, prefix) {
			n += k
		}
	}
	return n
}

// runFake runs cfg against f and fails the test on an error.
func runFake(t *testing.T, ctx context.Context, f *fakeServer, cfg Config) *Report {
	t.Helper()
	cfg.Server = f.url
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 0 || rep.OK != rep.Requests || rep.Latency.Count != rep.Requests {
		t.Fatalf("requests %d, ok %d, latency samples %d, errors %v %v", rep.Requests, rep.OK, rep.Latency.Count, rep.ErrorsByStatus, rep.FirstErrors)
	}
	return rep
}

func TestRunDistinct(t *testing.T) {
	f := newFakeServer(t, nil)
	rep := runFake(t, context.Background(), f, Config{Requests: 30, Conns: 3, SampleEvery: time.Millisecond})
	if rep.Requests != 30 || rep.Interrupted {
		t.Fatalf("requests %d, interrupted %v; want 30 of --requests 30", rep.Requests, rep.Interrupted)
	}
	var sum int64
	for i := range 3 {
		sum += f.count(fmt.Sprintf("/rpc/counter:load-%d/increment", i))
	}
	if sum != 30 || f.count("/rpc/") != 30 {
		t.Errorf("the server had %d increments of the 3 counters, %d calls in all; want 30", sum, f.count("/rpc/"))
	}
	if s := rep.ServerStats; s == nil || s.Appends != 30 || s.EventsPerAppend != 1 || s.CPUSeconds != 30 || s.CPUPerRequestUs != 30e6/float64(rep.Requests) {
		t.Errorf("server figures: %+v", s)
	}
	if len(rep.ServerSamples) == 0 {
		t.Errorf("no samples of /metrics during the run")
	}
	if len(rep.Projections) != 1 || rep.Projections[0].Name != "fake" || rep.Projections[0].Samples == 0 || rep.Projections[0].CatchUpMs < 0 {
		t.Errorf("projections: %+v", rep.Projections)
	}
}

// TestRunSeveralServers: with several servers, connection i sends to
// the (i mod n)-th, and the servers' figures are summed.
func TestRunSeveralServers(t *testing.T) {
	fs := []*fakeServer{newFakeServer(t, nil), newFakeServer(t, nil), newFakeServer(t, nil)}
	cfg := Config{Server: fs[0].url + ", " + fs[1].url + "," + fs[2].url + "/", Requests: 60, Conns: 6}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 60 || rep.OK != 60 || rep.Server != fs[0].url+","+fs[1].url+","+fs[2].url {
		t.Fatalf("requests %d, ok %d, server %q", rep.Requests, rep.OK, rep.Server)
	}
	var sum int64
	for i, f := range fs {
		mine := f.count(fmt.Sprintf("/rpc/counter:load-%d/", i)) + f.count(fmt.Sprintf("/rpc/counter:load-%d/", i+3))
		if all := f.count("/rpc/"); all == 0 || mine != all {
			t.Errorf("server %d had %d calls, %d of them from its connections %d and %d", i, all, mine, i, i+3)
		}
		sum += f.count("/rpc/")
	}
	if sum != 60 {
		t.Errorf("the servers had %d calls; want 60", sum)
	}
	if s := rep.ServerStats; s == nil || s.Appends != 60 || s.CPUSeconds != 60 {
		t.Errorf("server figures, summed: %+v", s)
	}

	for _, sc := range []string{Chat, Mixed, Abuse} {
		cfg := Config{Server: fs[0].url + "," + fs[1].url, Scenario: sc}
		if _, _, err := cfg.resolve(); err == nil || !strings.Contains(err.Error(), "several servers only for distinct and hot") {
			t.Errorf("%s on two servers: %v", sc, err)
		}
	}
	if _, _, err := (Config{Server: fs[0].url + ",http://10.1.2.3:1"}).resolve(); err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Errorf("a remote second server: %v", err)
	}
	if _, _, err := (Config{Server: fs[0].url + ","}).resolve(); err == nil || !strings.Contains(err.Error(), "want an http:// or https:// URL") {
		t.Errorf("an empty second server: %v", err)
	}
}

func TestRunHotPaced(t *testing.T) {
	f := newFakeServer(t, nil)
	rep := runFake(t, context.Background(), f, Config{Scenario: Hot, Duration: 300 * time.Millisecond, Rate: 50, Conns: 4, Prefix: "h"})
	// 50/s for 0.3s: 15 requests, never more.
	if rep.Requests > 15 || rep.Requests < 5 {
		t.Errorf("%d requests at 50/s for 0.3s", rep.Requests)
	}
	if n := f.count("/rpc/counter:h-hot/increment"); n != rep.OK {
		t.Errorf("the hot counter had %d increments; the report says %d", n, rep.OK)
	}
}

func TestRunChat(t *testing.T) {
	f := newFakeServer(t, nil)
	rep := runFake(t, context.Background(), f, Config{Scenario: Chat, Subscribers: 4, Requests: 20, Conns: 2})
	c := rep.Chat
	if c == nil || c.Connected != 4 || c.MessagesSent != 20 || c.FramesExpected != 80 || c.FramesReceived != 80 || c.OutOfOrder != 0 || len(c.Errors) != 0 {
		t.Fatalf("chat: %+v", c)
	}
	if c.Delivery.Count != 80 || c.Room != "chatRoom:load-room" {
		t.Errorf("chat: %+v", c)
	}
}

func TestRunMixed(t *testing.T) {
	f := newFakeServer(t, nil)
	rep := runFake(t, context.Background(), f, Config{Scenario: Mixed, Duration: 400 * time.Millisecond, Conns: 2, Rate: 200,
		Counters: 10, IdlePhase: 100 * time.Millisecond, Subscribers: 2, WSHold: 40 * time.Millisecond})
	ws := rep.WebSocket
	if ws == nil || ws.Connects <= 2 || ws.ConnectErrors != 0 || ws.Dropped != 0 {
		t.Errorf("websockets: %+v (want more connects than the 2 subscribers)", ws)
	}
	if rep.Turns < 4 {
		t.Errorf("%d turns of 100ms in 400ms", rep.Turns)
	}
	if f.count("/rpc/") != rep.Requests || f.count("/rpc/counter:load-mix-") != rep.Requests {
		t.Errorf("the server had %d calls, %d on the counters; the report says %d", f.count("/rpc/"), f.count("/rpc/counter:load-mix-"), rep.Requests)
	}
}

// TestRunInterrupted: a run whose context ends stops at once, closes its
// subscribers and reports what it did.
func TestRunInterrupted(t *testing.T) {
	f := newFakeServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	rep := runFake(t, ctx, f, Config{Scenario: Chat, Subscribers: 3, Duration: time.Minute, Conns: 2, Rate: 100})
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("an interrupted run of a minute took %v", d)
	}
	if !rep.Interrupted || rep.Requests == 0 || rep.Chat == nil || rep.Chat.Connected != 3 {
		t.Errorf("interrupted %v, requests %d, chat %+v", rep.Interrupted, rep.Requests, rep.Chat)
	}
}

func TestRunErrors(t *testing.T) {
	failing := newFakeServer(t, func(f *fakeServer) { f.rpcCode = http.StatusServiceUnavailable })
	rep, err := Run(context.Background(), Config{Server: failing.url, Requests: 5, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 5 || rep.OK != 0 || rep.ErrorsByStatus["503"] != 5 || rep.FirstErrors["503"] != "fake failure" || rep.FirstError() != "503: fake failure" {
		t.Errorf("requests %d, ok %d, errors %v %v", rep.Requests, rep.OK, rep.ErrorsByStatus, rep.FirstErrors)
	}

	refusing := newFakeServer(t, func(f *fakeServer) { f.refuseWS = true })
	if _, err := Run(context.Background(), Config{Server: refusing.url, Scenario: Chat, Subscribers: 2, Requests: 1}); err == nil ||
		!strings.Contains(err.Error(), "no subscriber could connect") || !strings.Contains(err.Error(), "status 403") {
		t.Errorf("chat without subscribers: %v", err)
	}
	closing := newFakeServer(t, func(f *fakeServer) { f.closeWS = true })
	if _, err := Run(context.Background(), Config{Server: closing.url, Scenario: Chat, Subscribers: 2, Requests: 1}); err == nil ||
		!strings.Contains(err.Error(), "no subscriber could connect") || !strings.Contains(err.Error(), "refused (4401): a valid bearer token is required") {
		t.Errorf("chat with refused subscribers: %v", err)
	}

	gone := httptest.NewServer(http.NotFoundHandler())
	if _, err := Run(context.Background(), Config{Server: gone.URL, Requests: 1}); err == nil || !strings.Contains(err.Error(), "answers /healthz with status 404") {
		t.Errorf("a server without /healthz: %v", err)
	}
	gone.Close()
	if _, err := Run(context.Background(), Config{Server: gone.URL, Requests: 1}); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("no server: %v", err)
	}

	if _, err := Run(context.Background(), Config{Server: "http://10.1.2.3:1"}); err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Errorf("a remote server: %v", err)
	}
}

// TestLoopbackOnly: without AllowRemote the dialer connects to loopback
// addresses only, whatever the server's name resolved to.
func TestLoopbackOnly(t *testing.T) {
	for address, ok := range map[string]bool{"127.0.0.1:80": true, "127.9.9.9:1": true, "[::1]:3001": true,
		"10.0.0.1:80": false, "[2001:db8::1]:80": false, "192.168.1.1:3001": false, "no-port": false} {
		if err := loopbackOnly("tcp", address, nil); (err == nil) != ok {
			t.Errorf("%s: %v", address, err)
		}
	}
	// localhost is loopback: a run by that name reaches the server.
	f := newFakeServer(t, nil)
	rep, err := Run(context.Background(), Config{Server: strings.Replace(f.url, "127.0.0.1", "localhost", 1), Requests: 2, Conns: 1})
	if err != nil || rep.OK != 2 {
		t.Fatalf("by localhost: %v, %+v", err, rep)
	}
}
