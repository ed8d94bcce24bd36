//go:build unix

package api_test

// Benchmarks of the API over real HTTP and WebSocket connections on
// loopback, against the whole server in process: real Pebble in a
// temporary directory with the default, durable options, so that every
// reply is sent after its events are synced. Results and the commands that
// produced them are in BENCHMARKS.md, section "actors and api".
//
//	go test ./api -run '^$' -bench 'BareHTTP|RPC|SingleWriterFsync' -benchtime 3s -count 3
//	go test ./api -run '^$' -bench ChatFanout -benchtime 200x -count 3
//
// The client and the server share the process and its CPUs: the figures
// include the cost of the client, as a load generator on the same machine
// would. Each benchmark runs a fixed pool of goroutines, one per
// connection, each with a keep-alive connection of its own (its own
// http.Transport), not b.RunParallel.
//
// BenchmarkChatFanout holds 1,000 WebSockets, two descriptors each (client
// and server side) in this one process. Go raises the soft open-files
// limit to the hard limit at start; the benchmark raises it itself if that
// is not enough, and skips if the hard limit is below what it needs
// (raise it with ulimit -Hn, as root, or in /etc/security/limits.conf).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vmihailenco/msgpack/v5"
)

// benchConns is the connection count of the concurrent variants.
const benchConns = 64

func benchQuiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// benchServer is the server as serve wires it, on a loopback port.
type benchServer struct {
	url string
	log *eventlog.Log
}

func startBenchServer(b *testing.B) *benchServer {
	b.Helper()
	l, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: benchQuiet()})
	if err != nil {
		b.Fatal(err)
	}
	snaps := snapshots.New(l, snapshots.Options{})
	rt := actors.New(l, snaps, seed.Registry(), actors.Options{Frames: wire.Frames{}, Metrics: api.NewMetrics(nil), Logger: benchQuiet()})
	srv, err := api.New(rt, l, snaps, api.Options{Routes: []func(*api.Routes){seed.Routes}, Logger: benchQuiet()})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	b.Cleanup(func() {
		hs.Close()
		srv.Close(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			b.Error(err)
		}
		if err := l.Close(); err != nil {
			b.Error(err)
		}
	})
	return &benchServer{url: hs.URL, log: l}
}

// checkEvents fails the benchmark unless the streams of the counters
// key(0) .. key(conns-1) (some may be the same) hold, together, one event
// per acknowledged call.
func (s *benchServer) checkEvents(b *testing.B, conns int, key func(int) string, acked int) {
	b.Helper()
	var events uint64
	seen := map[string]bool{}
	for w := range conns {
		if seen[key(w)] {
			continue
		}
		seen[key(w)] = true
		st, err := s.log.Head(context.Background(), eventlog.ID{Type: "counter", Key: key(w)})
		if err != nil {
			b.Fatal(err)
		}
		events += st.Head
	}
	if events != uint64(acked) {
		b.Fatalf("%d calls acknowledged, %d events in the log", acked, events)
	}
}

// benchClient is one connection's HTTP client: a transport of its own
// that keeps one connection alive.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}, Timeout: 30 * time.Second}
}

// benchPost sends a POST with an empty body and reads the reply in full;
// anything but a 200 is an error.
func benchPost(c *http.Client, url string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(http.MethodPost, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	reply, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, reply)
	}
	return nil
}

// runBenchConns sends b.N requests in all from a fixed pool of conns
// goroutines, each with its own keep-alive connection, which claim
// requests from a shared counter; url(w) is the URL of connection w. Each
// connection sends one request before the timer starts (it opens the
// connection and wakes the actor). It reports requests/s and the p50 and
// p99 latency in µs, and returns the number of requests sent, warm-up
// included.
func runBenchConns(b *testing.B, conns int, url func(w int) string) int {
	b.Helper()
	clients := make([]*http.Client, conns)
	for w := range clients {
		clients[w] = benchClient()
		if err := benchPost(clients[w], url(w), nil); err != nil {
			b.Fatal(err)
		}
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	runBenchPool(b, conns, func(w int, _ int64) error { return benchPost(clients[w], url(w), nil) })
	return conns + b.N
}

// runBenchPool makes b.N calls in all from a fixed pool of conns
// goroutines, which claim them from a shared counter: call(w, n) is call
// n (1 to b.N) made by goroutine w. It times only the calls, fails the
// benchmark on the first error, and reports calls/s ("req/s"), the p50
// and p99 latency in µs, and the process's CPU (user and system, from
// getrusage) per call in µs ("cpu-us/op"): client and server together,
// as they share the process.
func runBenchPool(b *testing.B, conns int, call func(w int, n int64) error) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	errs := make([]error, conns)
	var start, wg sync.WaitGroup
	start.Add(1)
	for w := range conns {
		lat[w] = make([]time.Duration, 0, b.N/conns+1)
		wg.Go(func() {
			start.Wait()
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				t0 := time.Now()
				if err := call(w, n); err != nil {
					errs[w] = err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	b.ResetTimer()
	cpu0 := benchCPU(b)
	t0 := time.Now()
	start.Done()
	wg.Wait()
	elapsed := time.Since(t0)
	cpu := benchCPU(b) - cpu0
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(benchPercentile(all, 0.50), "p50-us")
	b.ReportMetric(benchPercentile(all, 0.99), "p99-us")
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(len(all)), "cpu-us/op")
}

// benchCPU returns the CPU time, user and system, the process has used.
func benchCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchPercentile returns the q-quantile of the sorted durations, in µs.
func benchPercentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)))
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i]) / float64(time.Microsecond)
}

// BenchmarkBareHTTP is the baseline of BenchmarkRPC: a net/http handler
// that reads the body and answers {"count":1}, on its own loopback
// httptest server, driven by the same client code.
func BenchmarkBareHTTP(b *testing.B) {
	for _, conns := range []int{1, benchConns} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				w.Write([]byte(`{"count":1}` + "\n"))
			}))
			defer hs.Close()
			runBenchConns(b, conns, func(w int) string { return fmt.Sprintf("%s/rpc/counter:b%d/increment", hs.URL, w) })
		})
	}
}

// BenchmarkBareHTTPAppend is the second baseline of BenchmarkRPC: a
// net/http handler that appends one event (the counter's countUpdated) to
// the request's own actor with eventlog.Append, durably, and answers
// {"count":1}: the least a durable RPC can cost, without the runtime,
// routing, argument decoding or metrics.
func BenchmarkBareHTTPAppend(b *testing.B) {
	for _, conns := range []int{1, benchConns} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			url := startBareAppend(b)
			runBenchConns(b, conns, func(w int) string { return fmt.Sprintf("%s/rpc/counter:b%d/increment", url, w) })
		})
	}
}

// startBareAppend serves BenchmarkBareHTTPAppend's handler over a log of
// its own, on a loopback port; it returns its URL.
func startBareAppend(b *testing.B) string {
	b.Helper()
	data, err := msgpack.Marshal(map[string]int64{"count": 1, "lastUpdated": time.Now().UnixMilli()})
	if err != nil {
		b.Fatal(err)
	}
	l, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: benchQuiet()})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(bareAppendHandler(l, data))
	b.Cleanup(func() {
		hs.Close()
		l.Close()
	})
	return hs.URL
}

// bareAppendHandler answers every request as BenchmarkBareHTTPAppend
// does: one durable append of data to the actor named by the request's
// path, then {"count":1}.
func bareAppendHandler(l *eventlog.Log, data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		id := eventlog.ID{Type: "counter", Key: r.URL.Path}
		if _, err := l.Append(r.Context(), id, eventlog.Any, eventlog.Event{Type: "countUpdated", Data: data}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"count":1}` + "\n"))
	}
}

// TestServeBareAppend is not a test: with ACTORLOG_BARE_ADDR set it
// serves BenchmarkBareHTTPAppend's handler on that address, in a process
// of its own, until SIGINT or SIGTERM, so that actorlog load can measure
// it from another process as it measures actorlog serve: POST
// /rpc/<anything> appends, GET /healthz answers and GET /metrics gives
// process_cpu_seconds_total. The store is a temporary directory.
//
//	go test -c -o /tmp/api.test ./api
//	ACTORLOG_BARE_ADDR=127.0.0.1:3002 /tmp/api.test -test.run '^TestServeBareAppend$' -test.timeout 0
//	actorlog load --server http://127.0.0.1:3002 --conns 64 --duration 15s
func TestServeBareAppend(t *testing.T) {
	addr := os.Getenv("ACTORLOG_BARE_ADDR")
	if addr == "" {
		t.Skip("ACTORLOG_BARE_ADDR is not set")
	}
	data, err := msgpack.Marshal(map[string]int64{"count": 1, "lastUpdated": time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(t.TempDir(), eventlog.Options{Logger: benchQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("POST /rpc/", bareAppendHandler(l, data))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	hs.Close()
}

// BenchmarkRPC measures POST /rpc/counter:.../increment, each reply sent
// after its event is durable.
//
//	distinct/conns=N  N connections, each on its own counter b{i}
//	hot/conns=64      64 connections on the one counter "hot"
//
// After the run it checks that the counters' streams hold one event per
// request.
func BenchmarkRPC(b *testing.B) {
	for _, tc := range []struct {
		name  string
		conns int
		hot   bool
	}{
		{"distinct/conns=1", 1, false},
		{"distinct/conns=64", benchConns, false},
		{"hot/conns=64", benchConns, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := startBenchServer(b)
			key := func(w int) string {
				if tc.hot {
					return "hot"
				}
				return "b" + strconv.Itoa(w)
			}
			b.ReportAllocs()
			sent := runBenchConns(b, tc.conns, func(w int) string { return s.url + "/rpc/counter:" + key(w) + "/increment" })
			s.checkEvents(b, tc.conns, key, sent)
		})
	}
}

// BenchmarkRPCSocket is BenchmarkRPC with the calls sent over the
// actor's WebSocket, as the JavaScript client sends them once its socket
// is open: {"type":"call","id":...,"action":"increment"}, one call in
// flight per socket, each timed until its reply frame (the socket also
// receives each event, as a frame of its own). It checks that the
// counters' streams hold one event per call.
//
//	distinct/conns=N  N sockets, each on its own counter s{i}
//
// (No hot variant: 64 sockets on one counter each receive every event of
// all 64, 64 frames per call, and the readers of this benchmark, which
// only look for their replies, fall behind and are closed as slow
// consumers, as they should be.)
func BenchmarkRPCSocket(b *testing.B) {
	for _, conns := range []int{1, benchConns} {
		b.Run(fmt.Sprintf("distinct/conns=%d", conns), func(b *testing.B) {
			s := startBenchServer(b)
			key := func(w int) string { return "s" + strconv.Itoa(w) }
			wsURL := "ws" + s.url[len("http"):] + "/ws/counter/"
			socks := make([]*websocket.Conn, conns)
			for w := range socks {
				c, _, err := websocket.DefaultDialer.Dial(wsURL+key(w), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				socks[w] = c
			}
			b.ReportAllocs()
			runBenchPool(b, conns, func(w int, n int64) error { return benchSocketCall(socks[w], strconv.FormatInt(n, 10)) })
			s.checkEvents(b, conns, key, b.N)
		})
	}
}

// benchSocketCall calls increment over an actor's socket as the
// JavaScript client does, and reads frames until the call's reply.
func benchSocketCall(c *websocket.Conn, id string) error {
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"call","id":"`+id+`","action":"increment"}`)); err != nil {
		return err
	}
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if bytes.Contains(msg, []byte(`"type":"reply"`)) && bytes.Contains(msg, []byte(`"id":"`+id+`"`)) {
			return nil
		}
		if bytes.Contains(msg, []byte(`"type":"error"`)) {
			return fmt.Errorf("error frame: %s", msg)
		}
	}
}

// BenchmarkSingleWriterFsync is the reference of BenchmarkRPC/hot: one
// goroutine appending one event at a time to one actor of a durable
// eventlog, each append waiting for its fsync.
func BenchmarkSingleWriterFsync(b *testing.B) {
	l, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: benchQuiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	id := eventlog.ID{Type: "counter", Key: "single"}
	data, err := msgpack.Marshal(map[string]int64{"count": 1, "lastUpdated": time.Now().UnixMilli()})
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		t := time.Now()
		if _, err := l.Append(ctx, id, eventlog.ExpectSeq(uint64(i)), eventlog.Event{Type: "countUpdated", Data: data}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(benchPercentile(lat, 0.50), "p50-us")
	b.ReportMetric(benchPercentile(lat, 0.99), "p99-us")
}

// benchSubscribers is the number of WebSockets of BenchmarkChatFanout.
const benchSubscribers = 1000

// BenchmarkChatFanout holds benchSubscribers WebSockets on one chat room
// while one writer POSTs sendMessage; b.N is the number of messages.
//
//	subs=1000/rate=N    N messages per second, evenly paced
//	subs=1000/rate=max  each message as soon as the previous one is
//	                    acknowledged: the fan-out the machine sustains
//
// Each message carries its send time in its text; each subscriber reads it
// from the frame and records the delivery latency: from just before the
// POST to the frame's arrival, which includes the durable append. It
// reports the p50, p99 and max over all subscribers and messages, and
// fails unless every subscriber received every message.
func BenchmarkChatFanout(b *testing.B) {
	for _, rate := range []int{10, 25, 0} {
		name := fmt.Sprintf("subs=%d/rate=%d", benchSubscribers, rate)
		if rate == 0 {
			name = fmt.Sprintf("subs=%d/rate=max", benchSubscribers)
		}
		b.Run(name, func(b *testing.B) { benchChatFanout(b, benchSubscribers, rate) })
	}
}

func benchChatFanout(b *testing.B, subscribers, rate int) {
	benchRaiseNoFile(b, uint64(2*subscribers+256))
	s := startBenchServer(b)
	const room = "bench"
	wsURL := "ws" + s.url[len("http"):] + "/ws/chatRoom/" + room
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}

	// Connect every subscriber and read its init frame before the first
	// message, a few at a time.
	subs := make([]*websocket.Conn, subscribers)
	sem := make(chan struct{}, 32)
	var dialErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for i := range subs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, _, err := dialer.Dial(wsURL, nil)
			if err == nil {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, _, err = c.ReadMessage()
				c.SetReadDeadline(time.Time{})
			}
			if err != nil {
				dialErr.Store(&err)
				return
			}
			subs[i] = c
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range subs {
			if c != nil {
				c.Close()
			}
		}
	}()
	if p := dialErr.Load(); p != nil {
		b.Fatalf("connect a subscriber: %v", *p)
	}

	// Each subscriber reads b.N messages.
	lat := make([][]time.Duration, len(subs))
	errs := make([]error, len(subs))
	var readers sync.WaitGroup
	for i, c := range subs {
		lat[i] = make([]time.Duration, 0, b.N)
		readers.Go(func() {
			for len(lat[i]) < b.N {
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, data, err := c.ReadMessage()
				if err != nil {
					errs[i] = fmt.Errorf("subscriber %d after %d messages: %w", i, len(lat[i]), err)
					return
				}
				sent, ok := benchSentTime(data)
				if !ok {
					continue // not a newMessage
				}
				lat[i] = append(lat[i], time.Duration(time.Now().UnixNano()-sent))
			}
		})
	}

	client := benchClient()
	defer client.CloseIdleConnections()
	url := s.url + "/rpc/chatRoom:" + room + "/sendMessage"
	if err := benchPost(client, s.url+"/rpc/chatRoom:"+room+"/getMessages", nil); err != nil {
		b.Fatal(err) // opens the writer's connection
	}
	var interval time.Duration
	if rate > 0 {
		interval = time.Second / time.Duration(rate)
	}
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		body := fmt.Appendf(nil, `{"username":"writer","text":"bench %d"}`, time.Now().UnixNano())
		if err := benchPost(client, url, body); err != nil {
			b.Fatal(err)
		}
	}
	readers.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	all := slices.Concat(lat...)
	if len(all) != b.N*len(subs) {
		b.Fatalf("%d frames received, want %d", len(all), b.N*len(subs))
	}
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "frames/s")
	b.ReportMetric(benchPercentile(all, 0.50)/1000, "p50-ms")
	b.ReportMetric(benchPercentile(all, 0.99)/1000, "p99-ms")
	b.ReportMetric(float64(all[len(all)-1])/float64(time.Millisecond), "max-ms")
}

// benchSentTime returns the send time in a newMessage frame whose text is
// "bench <unix ns>".
func benchSentTime(data []byte) (int64, bool) {
	const key = `"text":"bench `
	i := bytes.Index(data, []byte(key))
	if i < 0 || !bytes.Contains(data, []byte(`"type":"newMessage"`)) {
		return 0, false
	}
	rest := data[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	t, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return t, err == nil
}

// benchRaiseNoFile makes sure the process may open need descriptors,
// raising its soft limit up to the hard one, and skips the benchmark if
// the hard limit is too low.
func benchRaiseNoFile(b *testing.B, need uint64) {
	b.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if uint64(lim.Cur) >= need {
		return
	}
	if uint64(lim.Max) < need {
		b.Skipf("the open-files hard limit is %d; this benchmark needs %d (ulimit -Hn)", lim.Max, need)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatalf("raise the open-files limit to %d: %v", lim.Max, err)
	}
}
