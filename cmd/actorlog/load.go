package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Scenarios of actorlog load.
const (
	scenarioDistinct = "distinct"
	scenarioHot      = "hot"
	scenarioChat     = "chat"
	scenarioMixed    = "mixed"
)

const loadUsage = `usage: actorlog load [flags]

Generates load against a running actorlog server and reports requests,
errors by status, requests/s and latency percentiles. It stops by itself
after --duration or --requests (whichever comes first) or on Ctrl-C, and
only connects to loopback addresses unless --allow-remote is given.

Scenarios:
  distinct  each connection increments its own counter:
            POST /rpc/counter:<prefix>-<i>/increment
  hot       every connection increments counter:<prefix>-hot
  chat      --subscribers WebSockets on chatRoom:<prefix>-room while the
            connections POST sendMessage; reports the delivery latency from
            send to receipt at each subscriber and frames received vs
            expected (messages sent x subscribers)
  mixed     a soak: increments and reads on --counters counters, of which
            half are called in turns of --idle-phase so that the other half
            idles long enough to sleep (server --idle-timeout, default 30s)
            and is woken in the next turn; plus --subscribers WebSockets
            that connect to counters, hold for about --ws-hold and
            reconnect elsewhere

Besides the client's figures, the report gives the server's memory and
goroutines at the start, during the run (every --sample-every) and at the
end, from its /metrics, and, when the server runs projections, each one's
lag behind the log while the load ran (from GET /projections every 50ms)
and how soon after the load it reached the head.

Flags:
`

// loadConfig is the parsed command line of actorlog load.
type loadConfig struct {
	server      *url.URL
	token       string
	scenario    string
	duration    time.Duration // 0: no time bound
	requests    int64         // 0: no count bound
	conns       int
	subscribers int
	rate        float64 // sends per second over all connections; 0: as fast as possible
	prefix      string
	counters    int
	idlePhase   time.Duration
	wsHold      time.Duration
	timeout     time.Duration
	drain       time.Duration
	allowRemote bool
	sampleEvery time.Duration // of the server's /metrics during the run; 0: never
}

func load(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("load", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), loadUsage)
		fs.PrintDefaults()
	}
	var (
		server      = fs.String("server", "http://127.0.0.1:3001", "URL of the server")
		token       = fs.String("token", os.Getenv("ACTORLOG_TOKEN"), "bearer token of the server (env ACTORLOG_TOKEN)")
		scenario    = fs.String("scenario", scenarioDistinct, "distinct, hot, chat or mixed")
		duration    = fs.Duration("duration", 10*time.Second, "how long to send (0: until --requests); the default applies only without --requests")
		requests    = fs.Int64("requests", 0, "how many requests to send in all (chat: messages); 0 for no bound")
		conns       = fs.Int("conns", 16, "concurrent HTTP clients, each with its own keep-alive connection (chat: writers)")
		subscribers = fs.Int("subscribers", -1, "WebSocket subscribers (chat: default 100; mixed: default 10)")
		rate        = fs.Float64("rate", 0, "requests per second over all connections, evenly paced; 0 for as fast as possible")
		prefix      = fs.String("prefix", "load", "prefix of the actor keys used")
		counters    = fs.Int("counters", 1000, "mixed: number of counters called")
		idlePhase   = fs.Duration("idle-phase", 40*time.Second, "mixed: how long each half of the counters is called, then left idle; make it longer than the server's --idle-timeout")
		wsHold      = fs.Duration("ws-hold", 2*time.Second, "mixed: how long a WebSocket subscriber stays connected, on average")
		timeout     = fs.Duration("timeout", 30*time.Second, "bound on one request or WebSocket connect")
		drain       = fs.Duration("drain", 10*time.Second, "chat: how long to wait, after the last message, for the subscribers to receive it")
		allowRemote = fs.Bool("allow-remote", false, "allow a --server that is not a loopback address")
		jsonOut     = fs.Bool("json", false, "print the report as JSON")
		sampleEvery = fs.Duration("sample-every", 10*time.Second, "how often to read the server's memory and goroutines from /metrics during the run (0: only at the start and end)")
	)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "actorlog load: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "duration" {
			durationSet = true
		}
	})
	cfg := loadConfig{
		token:       *token,
		scenario:    *scenario,
		duration:    *duration,
		requests:    *requests,
		conns:       *conns,
		subscribers: *subscribers,
		rate:        *rate,
		prefix:      *prefix,
		counters:    *counters,
		idlePhase:   *idlePhase,
		wsHold:      *wsHold,
		timeout:     *timeout,
		drain:       *drain,
		allowRemote: *allowRemote,
		sampleEvery: *sampleEvery,
	}
	if cfg.requests > 0 && !durationSet {
		cfg.duration = 0
	}
	u, err := checkLoadConfig(&cfg, *server)
	if err != nil {
		return err
	}
	cfg.server = u

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one ends the process at once.
	context.AfterFunc(ctx, stop)

	rep, err := runLoad(ctx, cfg)
	if err != nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.print(stdout)
	}
	if rep.Requests > 0 && rep.OK == 0 {
		return fmt.Errorf("no request succeeded (%s)", rep.firstError())
	}
	return nil
}

// checkLoadConfig checks the flags, fills in the per-scenario defaults and
// returns the parsed server URL.
func checkLoadConfig(cfg *loadConfig, server string) (*url.URL, error) {
	switch cfg.scenario {
	case scenarioDistinct, scenarioHot, scenarioChat, scenarioMixed:
	default:
		return nil, fmt.Errorf("--scenario %q: want distinct, hot, chat or mixed", cfg.scenario)
	}
	if cfg.duration < 0 || cfg.requests < 0 {
		return nil, errors.New("--duration and --requests must not be negative")
	}
	if cfg.duration == 0 && cfg.requests == 0 {
		return nil, errors.New("give --duration or --requests: the load must be bounded")
	}
	if cfg.conns < 1 || cfg.conns > 10000 {
		return nil, fmt.Errorf("--conns %d: want 1 to 10000", cfg.conns)
	}
	if cfg.subscribers < 0 {
		switch cfg.scenario {
		case scenarioChat:
			cfg.subscribers = 100
		case scenarioMixed:
			cfg.subscribers = 10
		default:
			cfg.subscribers = 0
		}
	}
	if cfg.subscribers > 100000 {
		return nil, fmt.Errorf("--subscribers %d: at most 100000", cfg.subscribers)
	}
	if cfg.rate < 0 || math.IsNaN(cfg.rate) || math.IsInf(cfg.rate, 0) {
		return nil, fmt.Errorf("--rate %v: want a positive number, or 0 for no pacing", cfg.rate)
	}
	if cfg.sampleEvery < 0 {
		return nil, fmt.Errorf("--sample-every %v: want a positive duration, or 0 for no samples during the run", cfg.sampleEvery)
	}
	if cfg.scenario == scenarioMixed && cfg.counters < 2 {
		return nil, fmt.Errorf("--counters %d: mixed needs at least 2", cfg.counters)
	}
	if cfg.idlePhase <= 0 || cfg.wsHold <= 0 || cfg.timeout <= 0 || cfg.drain < 0 {
		return nil, errors.New("--idle-phase, --ws-hold and --timeout must be positive, --drain not negative")
	}
	if cfg.prefix == "" || strings.ContainsAny(cfg.prefix, ":/?#% ") {
		return nil, fmt.Errorf("--prefix %q: want a non-empty key without ':', '/', '?', '#', '%%' or spaces", cfg.prefix)
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("--server %q: %v", server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http:// or https:// URL with a host", server)
	}
	if !cfg.allowRemote && !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("--server %q is not a loopback address; load only targets loopback unless --allow-remote is given", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// loopbackHost reports whether host is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadRun is one run of the load.
type loadRun struct {
	cfg      loadConfig
	ctx      context.Context // ends on interrupt
	client   *http.Client
	ws       *websocket.Dialer
	base     string // the server URL, without a trailing slash
	wsBase   string
	start    time.Time
	deadline time.Time // zero: none
	claimed  atomic.Int64

	ok      atomic.Int64
	latency *latencyHist

	mu       sync.Mutex // guards errs and firstErr
	errs     map[string]int64
	firstErr map[string]string
}

// runLoad runs the load described by cfg until it is done or ctx ends, and
// returns its report.
func runLoad(ctx context.Context, cfg loadConfig) (*loadReport, error) {
	dialer := &net.Dialer{Timeout: cfg.timeout, KeepAlive: 30 * time.Second}
	if !cfg.allowRemote {
		// The URL names a loopback host; make sure that what it resolves
		// to is loopback too.
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("refusing to connect to %s: not a loopback address (see --allow-remote)", address)
			}
			return nil
		}
	}
	idle := cfg.conns + cfg.subscribers + 16
	tr := &http.Transport{
		Proxy:               nil, // straight to the server
		DialContext:         dialer.DialContext,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSHandshakeTimeout: cfg.timeout,
	}
	defer tr.CloseIdleConnections()
	r := &loadRun{
		cfg:      cfg,
		ctx:      ctx,
		client:   &http.Client{Transport: tr},
		ws:       &websocket.Dialer{NetDialContext: dialer.DialContext, HandshakeTimeout: cfg.timeout, ReadBufferSize: 4096, WriteBufferSize: 1024},
		base:     cfg.server.String(),
		latency:  newLatencyHist(),
		errs:     map[string]int64{},
		firstErr: map[string]string{},
	}
	ws := *cfg.server
	ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[ws.Scheme]
	r.wsBase = ws.String()

	if err := r.health(); err != nil {
		return nil, err
	}
	before, _ := r.scrape()

	rep := &loadReport{Scenario: cfg.scenario, Server: r.base, Conns: cfg.conns}
	watch := r.watch(cfg.sampleEvery)
	var err error
	switch cfg.scenario {
	case scenarioDistinct, scenarioHot:
		r.begin()
		r.counterLoad(rep)
	case scenarioChat:
		err = r.chat(rep)
	case scenarioMixed:
		r.begin()
		r.mixed(rep)
	}
	rep.Projections, rep.ServerSamples = watch.stop()
	if err != nil {
		return nil, err
	}
	rep.Interrupted = ctx.Err() != nil
	r.fill(rep)
	if before != nil {
		// Close the run's connections so that the server's figures at the
		// end do not count them.
		tr.CloseIdleConnections()
		r.settle(before)
		if after, err := r.scrape(); err == nil {
			rep.ServerStats = serverStats(before, after)
		}
	}
	return rep, nil
}

// begin starts the clock of the bounded part of the run.
func (r *loadRun) begin() {
	r.start = time.Now()
	if r.cfg.duration > 0 {
		r.deadline = r.start.Add(r.cfg.duration)
	}
}

// next claims the next request of the run, waiting for its turn under
// --rate. It returns false once the run is over: the duration is up, the
// requests are all claimed, or the run was interrupted.
func (r *loadRun) next() (int64, bool) {
	if r.ctx.Err() != nil {
		return 0, false
	}
	k := r.claimed.Add(1)
	if r.cfg.requests > 0 && k > r.cfg.requests {
		return 0, false
	}
	if r.cfg.rate > 0 {
		due := r.start.Add(time.Duration(float64(k-1) / r.cfg.rate * float64(time.Second)))
		if !r.deadline.IsZero() && !due.Before(r.deadline) {
			return 0, false
		}
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				return 0, false
			}
		}
	}
	if !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
		return 0, false
	}
	return k, true
}

// over reports whether the bounded part of the run is over, for loops that
// do not claim requests (WebSocket subscribers of mixed).
func (r *loadRun) over() bool {
	if r.ctx.Err() != nil {
		return true
	}
	if r.cfg.requests > 0 && r.claimed.Load() >= r.cfg.requests {
		return true
	}
	return !r.deadline.IsZero() && !time.Now().Before(r.deadline)
}

// workers runs fn from n goroutines, each claiming requests with next,
// and waits for them.
func (r *loadRun) workers(n int, fn func(w int, k int64)) {
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for {
				k, ok := r.next()
				if !ok {
					return
				}
				fn(w, k)
			}
		})
	}
	wg.Wait()
}

// fail counts a failed request under key.
func (r *loadRun) fail(key, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[key]++
	if _, ok := r.firstErr[key]; !ok {
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		r.firstErr[key] = strings.TrimSpace(msg)
	}
}

// do sends one request and counts it. It returns the reply body of a
// successful request. A request cut short by an interrupt is not counted.
func (r *loadRun) do(method, path string, body []byte) ([]byte, bool) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		r.fail("request", err.Error())
		return nil, false
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.cfg.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.token)
	}
	t0 := time.Now()
	resp, err := r.client.Do(req)
	var reply []byte
	if err == nil {
		reply, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	d := time.Since(t0)
	if err != nil {
		if r.ctx.Err() != nil {
			return nil, false
		}
		key := "conn"
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			key = "timeout"
		}
		r.fail(key, err.Error())
		return nil, false
	}
	r.latency.record(d)
	if resp.StatusCode != http.StatusOK {
		r.fail(strconv.Itoa(resp.StatusCode), string(reply))
		return nil, false
	}
	r.ok.Add(1)
	return reply, true
}

// counterLoad runs the distinct and hot scenarios.
func (r *loadRun) counterLoad(rep *loadReport) {
	r.workers(r.cfg.conns, func(w int, _ int64) {
		key := r.cfg.prefix + "-hot"
		if r.cfg.scenario == scenarioDistinct {
			key = r.cfg.prefix + "-" + strconv.Itoa(w)
		}
		r.do(http.MethodPost, "/rpc/counter:"+key+"/increment", nil)
	})
	rep.Seconds = time.Since(r.start).Seconds()
}

// mixed runs the soak scenario.
func (r *loadRun) mixed(rep *loadReport) {
	half := r.cfg.counters / 2
	// active picks a counter of the half called in the current turn.
	active := func() string {
		turn := int(time.Since(r.start) / r.cfg.idlePhase)
		k := (turn%2)*half + mrand.IntN(half)
		return r.cfg.prefix + "-mix-" + strconv.Itoa(k)
	}
	ws := &wsReport{}
	var wg sync.WaitGroup
	for range r.cfg.subscribers {
		wg.Go(func() {
			for !r.over() {
				hold := r.cfg.wsHold/2 + time.Duration(mrand.Int64N(int64(r.cfg.wsHold)))
				r.hold("/ws/counter/"+active(), hold, ws)
			}
		})
	}
	r.workers(r.cfg.conns, func(_ int, k int64) {
		key := active()
		if k%10 == 0 {
			r.do(http.MethodPost, "/rpc/counter:"+key+"/getCount", nil)
			return
		}
		r.do(http.MethodPost, "/rpc/counter:"+key+"/increment", nil)
	})
	rep.Seconds = time.Since(r.start).Seconds()
	wg.Wait()
	rep.WebSocket = ws
	rep.Turns = int(time.Duration(rep.Seconds*float64(time.Second))/r.cfg.idlePhase) + 1
}

// hold connects a WebSocket to path, reads its frames for about hold and
// closes it.
func (r *loadRun) hold(path string, hold time.Duration, rep *wsReport) {
	c, err := r.dialWS(path)
	if err != nil {
		if r.ctx.Err() == nil {
			atomic.AddInt64(&rep.ConnectErrors, 1)
			r.fail("ws-connect", err.Error())
			time.Sleep(100 * time.Millisecond) // do not spin on a refusing server
		}
		return
	}
	atomic.AddInt64(&rep.Connects, 1)
	end := time.Now().Add(hold)
	if !r.deadline.IsZero() && r.deadline.Before(end) {
		end = r.deadline
	}
	stop := context.AfterFunc(r.ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	c.SetReadDeadline(end)
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				atomic.AddInt64(&rep.Dropped, 1)
				r.fail("ws-closed", err.Error())
			}
			break
		}
		atomic.AddInt64(&rep.Frames, 1)
	}
	closeWS(c)
}

// dialWS opens a WebSocket on path and reads its init frame.
func (r *loadRun) dialWS(path string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.timeout)
	defer cancel()
	h := http.Header{}
	if r.cfg.token != "" {
		h.Set("Authorization", "Bearer "+r.cfg.token)
	}
	c, resp, err := r.ws.DialContext(ctx, r.wsBase+path, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s: status %d", path, resp.StatusCode)
		}
		if errors.Is(err, syscall.EMFILE) {
			return nil, fmt.Errorf("%w (raise the open-files limit: ulimit -n)", err)
		}
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(r.cfg.timeout))
	_, init, err := c.ReadMessage()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: no init frame: %w", path, err)
	}
	if !bytes.Contains(init, []byte(`"type":"init"`)) {
		c.Close()
		return nil, fmt.Errorf("%s: the first frame is not init: %.100s", path, init)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}

func closeWS(c *websocket.Conn) {
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.Close()
}

// chatSub is one subscriber of the chat scenario.
type chatSub struct {
	c        *websocket.Conn
	received atomic.Int64
	closing  atomic.Bool
	done     chan struct{}
}

// chat runs the chat scenario.
func (r *loadRun) chat(rep *loadReport) error {
	var tag [4]byte
	rand.Read(tag[:])
	run := hex.EncodeToString(tag[:])
	marker := "load " + run + " "
	room := r.cfg.prefix + "-room"
	cr := &chatReport{Room: "chatRoom:" + room, Subscribers: r.cfg.subscribers, Errors: map[string]int64{}}
	delivery := newLatencyHist()
	var outOfOrder atomic.Int64
	var subErrMu sync.Mutex
	subErr := func(key string) {
		subErrMu.Lock()
		cr.Errors[key]++
		subErrMu.Unlock()
	}

	// Connect every subscriber before the first message, a few at a time.
	subs := make([]*chatSub, r.cfg.subscribers)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range subs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := r.dialWS("/ws/chatRoom/" + room)
			if err != nil {
				if r.ctx.Err() == nil {
					subErr("connect")
					r.fail("ws-connect", err.Error())
				}
				return
			}
			subs[i] = &chatSub{c: c, done: make(chan struct{})}
		})
	}
	wg.Wait()
	var live []*chatSub
	for _, s := range subs {
		if s != nil {
			live = append(live, s)
		}
	}
	cr.Connected = len(live)
	if r.ctx.Err() == nil && r.cfg.subscribers > 0 && len(live) == 0 {
		return fmt.Errorf("no subscriber could connect (%s)", r.firstErrOf("ws-connect"))
	}
	for _, s := range live {
		go func() {
			defer close(s.done)
			var last uint64
			for {
				_, data, err := s.c.ReadMessage()
				if err != nil {
					if !s.closing.Load() {
						key := "read"
						var ce *websocket.CloseError
						if errors.As(err, &ce) {
							key = "close " + strconv.Itoa(ce.Code)
						}
						subErr(key)
						r.fail("ws-closed", err.Error())
					}
					return
				}
				sent, seq, ok := parseChatFrame(data, marker)
				if !ok {
					continue
				}
				now := time.Now().UnixNano()
				delivery.record(time.Duration(now - sent))
				if seq <= last {
					outOfOrder.Add(1)
				}
				last = seq
				s.received.Add(1)
			}
		}()
	}

	var sent atomic.Int64
	r.begin()
	r.workers(r.cfg.conns, func(w int, _ int64) {
		body, _ := json.Marshal(map[string]string{
			"username": "load-w" + strconv.Itoa(w),
			"text":     marker + strconv.FormatInt(time.Now().UnixNano(), 10),
		})
		if _, ok := r.do(http.MethodPost, "/rpc/chatRoom:"+room+"/sendMessage", body); ok {
			sent.Add(1)
		}
	})
	rep.Seconds = time.Since(r.start).Seconds()

	// Wait for the subscribers to receive every message sent.
	n := sent.Load()
	drainEnd := time.Now().Add(r.cfg.drain)
	for time.Now().Before(drainEnd) && r.ctx.Err() == nil {
		all := true
		for _, s := range live {
			select {
			case <-s.done: // gone: it will receive nothing more
			default:
				if s.received.Load() < n {
					all = false
				}
			}
		}
		if all {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, s := range live {
		s.closing.Store(true)
		closeWS(s.c)
		<-s.done
	}
	cr.MessagesSent = n
	cr.FramesExpected = n * int64(len(live))
	for _, s := range live {
		cr.FramesReceived += s.received.Load()
	}
	cr.OutOfOrder = outOfOrder.Load()
	cr.Delivery = delivery.report()
	rep.Chat = cr
	return nil
}

// parseChatFrame returns the send time and sequence of a newMessage frame
// whose text starts with marker (a message of this run).
func parseChatFrame(data []byte, marker string) (sent int64, seq uint64, ok bool) {
	// The server writes the keys in order; read them without decoding the
	// whole frame, and fall back to decoding if the layout differs.
	if bytes.Contains(data, []byte(`"type":"newMessage"`)) {
		if i := bytes.Index(data, []byte(`"text":"`+marker)); i >= 0 {
			rest := data[i+len(`"text":"`)+len(marker):]
			if j := bytes.IndexByte(rest, '"'); j > 0 {
				if t, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
					if k := bytes.Index(data, []byte(`"seq":`)); k >= 0 {
						digits := data[k+len(`"seq":`):]
						end := 0
						for end < len(digits) && digits[end] >= '0' && digits[end] <= '9' {
							end++
						}
						if s, err := strconv.ParseUint(string(digits[:end]), 10, 64); err == nil {
							return t, s, true
						}
					}
				}
			}
		}
	}
	var f struct {
		Type string `json:"type"`
		Text string `json:"text"`
		Seq  uint64 `json:"seq"`
	}
	if json.Unmarshal(data, &f) != nil || f.Type != "newMessage" || !strings.HasPrefix(f.Text, marker) {
		return 0, 0, false
	}
	t, err := strconv.ParseInt(strings.TrimPrefix(f.Text, marker), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return t, f.Seq, true
}

func (r *loadRun) health() error {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("the server at %s does not answer: %w", r.base, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the server at %s answers /healthz with status %d", r.base, resp.StatusCode)
	}
	return nil
}

// getServer sends GET path to the server, with the token, within 5s,
// and hands a 200 reply's body to read. Another status is an error
// naming it, but for the ones listed in ok, whose replies are skipped
// and returned as (status, nil).
func (r *loadRun) getServer(ctx context.Context, path string, read func(io.Reader) error, ok ...int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return 0, err
	}
	if r.cfg.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		if slices.Contains(ok, resp.StatusCode) {
			return resp.StatusCode, nil
		}
		return resp.StatusCode, fmt.Errorf("%s: status %d", path, resp.StatusCode)
	}
	return resp.StatusCode, read(resp.Body)
}

// scrape reads the figures load reports from the server's /metrics.
func (r *loadRun) scrape() (map[string]float64, error) {
	var m map[string]float64
	_, err := r.getServer(context.WithoutCancel(r.ctx), "/metrics", func(body io.Reader) (err error) {
		m, err = parseMetrics(body, scrapedMetrics)
		return err
	})
	return m, err
}

// scrapedMetrics are the figures of /metrics that load reads.
var scrapedMetrics = []string{
	"go_goroutines",
	"process_resident_memory_bytes",
	"go_memstats_heap_inuse_bytes",
	"actorlog_active_actors",
	"actorlog_connections",
	"actorlog_wake_duration_seconds_count",
	"actorlog_append_events_sum",
	"actorlog_append_events_count",
}

// settle waits, briefly (at most 2s), for the server to see the run's
// WebSockets and connections close: until it counts no more actor
// connections than before the run and its goroutine count holds still, so
// that the goroutines at the end are not the run's.
func (r *loadRun) settle(before map[string]float64) {
	end := time.Now().Add(2 * time.Second)
	last, same := -1.0, 0
	for time.Now().Before(end) {
		m, err := r.scrape()
		if err != nil {
			return
		}
		if m["actorlog_connections"] <= before["actorlog_connections"] {
			if g := m["go_goroutines"]; g == last {
				if same++; same >= 3 {
					return
				}
			} else {
				last, same = g, 0
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// parseMetrics sums, over their labels, the samples of the named metrics
// in a Prometheus text exposition.
func parseMetrics(rd io.Reader, names []string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = line[:i]
			j := strings.LastIndexByte(line, '}')
			if j < 0 {
				continue
			}
			rest = line[j+1:]
		}
		if !want[name] {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		m[name] += v
	}
	return m, sc.Err()
}

func serverStats(before, after map[string]float64) *serverReport {
	s := &serverReport{
		GoroutinesStart: int64(before["go_goroutines"]),
		GoroutinesEnd:   int64(after["go_goroutines"]),
		RSSStartBytes:   int64(before["process_resident_memory_bytes"]),
		RSSEndBytes:     int64(after["process_resident_memory_bytes"]),
		HeapStartBytes:  int64(before["go_memstats_heap_inuse_bytes"]),
		HeapEndBytes:    int64(after["go_memstats_heap_inuse_bytes"]),
		ActiveActorsEnd: int64(after["actorlog_active_actors"]),
		Wakes:           int64(after["actorlog_wake_duration_seconds_count"] - before["actorlog_wake_duration_seconds_count"]),
		Appends:         int64(after["actorlog_append_events_count"] - before["actorlog_append_events_count"]),
	}
	if s.Appends > 0 {
		s.EventsPerAppend = (after["actorlog_append_events_sum"] - before["actorlog_append_events_sum"]) / float64(s.Appends)
	}
	return s
}

// fill completes the report with the run's counts.
func (r *loadRun) fill(rep *loadReport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.OK = r.ok.Load()
	rep.ErrorsByStatus = map[string]int64{}
	for k, n := range r.errs {
		if strings.HasPrefix(k, "ws-") {
			continue // WebSocket errors are in the chat and websocket parts
		}
		rep.ErrorsByStatus[k] = n
		rep.Errors += n
	}
	rep.FirstErrors = map[string]string{}
	for k, msg := range r.firstErr {
		rep.FirstErrors[k] = msg
	}
	rep.Requests = rep.OK + rep.Errors
	if rep.Seconds > 0 {
		rep.RequestsPerSec = float64(rep.Requests) / rep.Seconds
	}
	rep.Latency = r.latency.report()
}

func (r *loadRun) firstErrOf(key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstErr[key]
}

// loadReport is what actorlog load prints; --json prints it as is.
type loadReport struct {
	Scenario       string             `json:"scenario"`
	Server         string             `json:"server"`
	Conns          int                `json:"conns"`
	Seconds        float64            `json:"seconds"`
	Interrupted    bool               `json:"interrupted"`
	Requests       int64              `json:"requests"`
	OK             int64              `json:"ok"`
	Errors         int64              `json:"errors"`
	ErrorsByStatus map[string]int64   `json:"errors_by_status"`
	FirstErrors    map[string]string  `json:"first_errors,omitempty"`
	RequestsPerSec float64            `json:"requests_per_sec"`
	Latency        latencyReport      `json:"latency_ms"`
	Chat           *chatReport        `json:"chat,omitempty"`
	WebSocket      *wsReport          `json:"websocket,omitempty"`
	Turns          int                `json:"turns,omitempty"` // mixed: turns of --idle-phase
	ServerStats    *serverReport      `json:"server_stats,omitempty"`
	Projections    []projectionReport `json:"projections,omitempty"`
	ServerSamples  []serverSample     `json:"server_samples,omitempty"` // every --sample-every
}

// latencyReport holds percentiles in milliseconds.
type latencyReport struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

type chatReport struct {
	Room           string           `json:"room"`
	Subscribers    int              `json:"subscribers"`
	Connected      int              `json:"connected"`
	MessagesSent   int64            `json:"messages_sent"`
	FramesExpected int64            `json:"frames_expected"`
	FramesReceived int64            `json:"frames_received"`
	OutOfOrder     int64            `json:"out_of_order"`
	Errors         map[string]int64 `json:"subscriber_errors"`
	Delivery       latencyReport    `json:"delivery_ms"`
}

type wsReport struct {
	Connects      int64 `json:"connects"`
	ConnectErrors int64 `json:"connect_errors"`
	Dropped       int64 `json:"dropped"` // closed by the server or broken
	Frames        int64 `json:"frames"`
}

type serverReport struct {
	GoroutinesStart int64   `json:"goroutines_start"`
	GoroutinesEnd   int64   `json:"goroutines_end"`
	RSSStartBytes   int64   `json:"rss_start_bytes"`
	RSSEndBytes     int64   `json:"rss_end_bytes"`
	HeapStartBytes  int64   `json:"heap_inuse_start_bytes"`
	HeapEndBytes    int64   `json:"heap_inuse_end_bytes"`
	ActiveActorsEnd int64   `json:"active_actors_end"`
	Wakes           int64   `json:"wakes"`
	Appends         int64   `json:"appends"`
	EventsPerAppend float64 `json:"events_per_append"`
}

func (rep *loadReport) firstError() string {
	keys := make([]string, 0, len(rep.FirstErrors))
	for k := range rep.FirstErrors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "no error recorded"
	}
	return keys[0] + ": " + rep.FirstErrors[keys[0]]
}

func (rep *loadReport) print(w io.Writer) {
	state := ""
	if rep.Interrupted {
		state = ", interrupted"
	}
	fmt.Fprintf(w, "actorlog load: scenario %s, %d conns, %.1fs, %s%s\n", rep.Scenario, rep.Conns, rep.Seconds, rep.Server, state)
	fmt.Fprintf(w, "requests    %s (ok %s, errors %s)\n", commas(rep.Requests), commas(rep.OK), commas(rep.Errors))
	fmt.Fprintf(w, "throughput  %s req/s\n", commas(int64(math.Round(rep.RequestsPerSec))))
	fmt.Fprintf(w, "latency     %s\n", rep.Latency)
	if rep.Errors > 0 {
		keys := make([]string, 0, len(rep.ErrorsByStatus))
		for k := range rep.ErrorsByStatus {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "errors      %s: %s (first: %s)\n", k, commas(rep.ErrorsByStatus[k]), rep.FirstErrors[k])
		}
	}
	if c := rep.Chat; c != nil {
		fmt.Fprintf(w, "chat        %s: %d subscribers (%d connected), %s messages sent\n", c.Room, c.Subscribers, c.Connected, commas(c.MessagesSent))
		fmt.Fprintf(w, "frames      %s received / %s expected, %d out of order\n", commas(c.FramesReceived), commas(c.FramesExpected), c.OutOfOrder)
		fmt.Fprintf(w, "delivery    %s\n", c.Delivery)
		for k, n := range c.Errors {
			fmt.Fprintf(w, "subscribers %s: %d\n", k, n)
		}
	}
	if ws := rep.WebSocket; ws != nil {
		fmt.Fprintf(w, "websockets  %s connects (%d failed, %d dropped), %s frames\n", commas(ws.Connects), ws.ConnectErrors, ws.Dropped, commas(ws.Frames))
	}
	if rep.Turns > 0 {
		fmt.Fprintf(w, "turns       %d (each half of the counters idles one turn in two)\n", rep.Turns)
	}
	if s := rep.ServerStats; s != nil {
		fmt.Fprintf(w, "server      goroutines %d -> %d, RSS %.1f -> %.1f MiB, heap in use %.1f -> %.1f MiB\n",
			s.GoroutinesStart, s.GoroutinesEnd, mib(s.RSSStartBytes), mib(s.RSSEndBytes), mib(s.HeapStartBytes), mib(s.HeapEndBytes))
		fmt.Fprintf(w, "actors      %s wakes, %d awake at the end, %s appends (%.1f events each)\n", commas(s.Wakes), s.ActiveActorsEnd, commas(s.Appends), s.EventsPerAppend)
	}
	if ss := rep.ServerSamples; len(ss) > 1 {
		minMax := func(f func(serverSample) int64) (lo, hi int64) {
			lo, hi = f(ss[0]), f(ss[0])
			for _, s := range ss[1:] {
				lo, hi = min(lo, f(s)), max(hi, f(s))
			}
			return lo, hi
		}
		hLo, hHi := minMax(func(s serverSample) int64 { return s.HeapInuse })
		rLo, rHi := minMax(func(s serverSample) int64 { return s.RSS })
		gLo, gHi := minMax(func(s serverSample) int64 { return s.Goroutines })
		fmt.Fprintf(w, "during run  %d samples: heap in use %.1f..%.1f MiB, RSS %.1f..%.1f MiB, goroutines %d..%d\n",
			len(ss), mib(hLo), mib(hHi), mib(rLo), mib(rHi), gLo, gHi)
	}
	for _, p := range rep.Projections {
		caught := "not at the head 10s after the load"
		if p.CatchUpMs >= 0 {
			caught = "at the head " + ms(p.CatchUpMs) + " after the load"
		}
		fmt.Fprintf(w, "projection  %s: lag p50/p99/max %.0f/%.0f/%.0f events, %.0f/%.0f/%.0f ms (%d samples); %s\n",
			p.Name, p.LagEvents.P50, p.LagEvents.P99, p.LagEvents.Max, p.LagMs.P50, p.LagMs.P99, p.LagMs.Max, p.Samples, caught)
	}
}

func (l latencyReport) String() string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
}

func ms(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// latencyHist is a concurrent histogram of durations in nanoseconds, with
// 128 buckets per power of two (under 0.8% error) and the exact maximum.
type latencyHist struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Int64
	max    atomic.Int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histBuckets = 2*histSub + (64-histSubBits-1)*histSub
)

func newLatencyHist() *latencyHist { return &latencyHist{} }

func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	s := bits.Len64(v) - histSubBits - 1 // >= 1
	top := v >> s                        // in [histSub, 2*histSub)
	return 2*histSub + (s-1)*histSub + int(top-histSub)
}

// histValue is the middle of bucket i.
func histValue(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	s := (i-2*histSub)/histSub + 1
	top := uint64((i-2*histSub)%histSub + histSub)
	return top<<s + (uint64(1)<<s)/2
}

func (h *latencyHist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(uint64(d))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantile returns the q-quantile in nanoseconds.
func (h *latencyHist) quantile(q float64) uint64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(histValue(i), uint64(h.max.Load()))
		}
	}
	return uint64(h.max.Load())
}

func (h *latencyHist) report() latencyReport {
	toMS := func(ns uint64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }
	return latencyReport{
		Count: h.n.Load(),
		P50:   toMS(h.quantile(0.50)),
		P90:   toMS(h.quantile(0.90)),
		P99:   toMS(h.quantile(0.99)),
		Max:   toMS(uint64(h.max.Load())),
	}
}
