// Package load generates load against a running actorlog server and
// reports what it measured; it is what `actorlog load` runs.
//
// Run sends the requests of one scenario (Distinct, Hot, Chat or Mixed,
// described by Config) from Config.Conns concurrent HTTP clients, each
// with its own keep-alive connection, with WebSocket subscribers in Chat
// and Mixed, and returns a Report. Abuse instead runs a steady client
// through a baseline phase and one phase per attack (SlowBodies,
// IdleConns, BigFrames, ManyKeys), and reports each phase (AbuseReport).
//
// A run keeps to these bounds:
//
//   - Loopback only: unless Config.AllowRemote is set, Run refuses a
//     server URL whose host is not localhost or a loopback IP, and its
//     dialer refuses any address that is not loopback, whatever a name
//     resolves to.
//   - Bounded: the load is sent for at most Config.Duration or until
//     Config.Requests have been sent, whichever comes first; every
//     request and WebSocket connect is bounded by Config.Timeout, every
//     read of the server's figures by 5s, and each wait after the load
//     (Chat's Config.Drain, the projections reaching the head: 10s, the
//     server settling: 2s) by its own bound. Abuse runs for Duration and
//     the time its attacks take to stop, then lets its steady client send
//     the requests already due for at most Config.Timeout.
//   - Stops by itself: when its bounds are reached or its context ends,
//     Run stops sending, waits for every goroutine it started, closes its
//     connections and returns. A run cut short by its context still
//     returns its report, with Report.Interrupted set. Each attack of
//     Abuse ends its goroutines and closes its connections at the end of
//     its phase, before the next one starts.
//
// The Report holds the client's figures (requests, errors by status with
// the first message of each, requests/s, latency percentiles), Chat's
// delivery latency and frames received against those expected, Mixed's
// WebSocket connects and turns, Abuse's phases, the server's goroutines,
// memory, wakes and appends from its /metrics before and after the run
// and sampled during it, and, when the server runs projections, each
// one's lag behind the log while the load ran and how soon after it
// reached the head.
package load

import (
	"bytes"
	"context"
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

// runner is one run of the load.
type runner struct {
	cfg    Config // with its defaults
	ctx    context.Context
	client *http.Client
	ws     *websocket.Dialer
	// dial connects to the server's address: loopback only unless
	// AllowRemote.
	dial func(ctx context.Context, network, address string) (net.Conn, error)
	base string // the server URL, without a trailing slash
	// bases are the URLs of Config.Server, base the first; connection
	// w of Distinct and Hot sends to bases[w%len(bases)].
	bases    []string
	wsBase   string
	start    time.Time
	deadline time.Time // zero: none
	claimed  atomic.Int64

	*tally // the run's requests
}

// tally counts requests: those that succeeded, the latency of every one
// answered, and the failures by kind with the first message of each.
type tally struct {
	ok      atomic.Int64
	latency *latencyHist

	mu       sync.Mutex // guards errs and firstErr
	errs     map[string]int64
	firstErr map[string]string
}

func newTally() *tally {
	return &tally{latency: newLatencyHist(), errs: map[string]int64{}, firstErr: map[string]string{}}
}

// Run checks cfg, runs the load it describes until it is done or ctx
// ends, and returns its report. It returns an error, and no report, if
// cfg is not valid, if the server does not answer /healthz, or if no
// subscriber of Chat could connect.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, server, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	servers, _ := cfg.serverURLs() // checked by resolve
	var bases []string
	for _, u := range servers {
		bases = append(bases, u.String())
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	if !cfg.AllowRemote {
		// The URL names a loopback host; make sure that what it resolves
		// to is loopback too.
		dialer.Control = loopbackOnly
	}
	idle := cfg.Conns + cfg.Subscribers + 16
	tr := &http.Transport{
		Proxy:               nil, // straight to the server
		DialContext:         dialer.DialContext,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSHandshakeTimeout: cfg.Timeout,
	}
	defer tr.CloseIdleConnections()
	r := &runner{
		cfg:    cfg,
		ctx:    ctx,
		client: &http.Client{Transport: tr},
		ws:     &websocket.Dialer{NetDialContext: dialer.DialContext, HandshakeTimeout: cfg.Timeout, ReadBufferSize: 4096, WriteBufferSize: 1024},
		dial:   dialer.DialContext,
		base:   server.String(),
		bases:  bases,
		wsBase: wsURL(*server),
		tally:  newTally(),
	}
	if err := r.health(); err != nil {
		return nil, err
	}
	before, _ := r.scrape()

	rep := &Report{Scenario: cfg.Scenario, Server: strings.Join(r.servers(), ","), Conns: cfg.Conns}
	watch := r.watch(cfg.SampleEvery)
	switch cfg.Scenario {
	case Distinct, Hot:
		r.begin()
		r.counters(rep)
	case Chat:
		err = r.chat(rep)
	case Mixed:
		r.begin()
		r.mixed(rep)
	case Abuse:
		r.abuse(rep)
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
			if rep.Requests > 0 {
				rep.ServerStats.CPUPerRequestUs = rep.ServerStats.CPUSeconds * 1e6 / float64(rep.Requests)
			}
		}
	}
	return rep, nil
}

// loopbackOnly is the dialer's control when the server must be loopback:
// it refuses to connect to any other address.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to connect to %s: not a loopback address (see --allow-remote)", address)
	}
	return nil
}

// wsURL is the WebSocket URL of the server at u.
func wsURL(u url.URL) string {
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	return u.String()
}

// begin starts the clock of the bounded part of the run.
func (r *runner) begin() {
	r.start = time.Now()
	if r.cfg.Duration > 0 {
		r.deadline = r.start.Add(r.cfg.Duration)
	}
}

// next claims the next request of the run, waiting for its turn under
// Config.Rate. It returns false once the run is over: the duration is up,
// the requests are all claimed, or the run was interrupted.
func (r *runner) next() (int64, bool) {
	if r.ctx.Err() != nil {
		return 0, false
	}
	k := r.claimed.Add(1)
	if r.cfg.Requests > 0 && k > r.cfg.Requests {
		return 0, false
	}
	if r.cfg.Rate > 0 {
		due := r.start.Add(time.Duration(float64(k-1) / r.cfg.Rate * float64(time.Second)))
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
// do not claim requests (WebSocket subscribers of Mixed).
func (r *runner) over() bool {
	if r.ctx.Err() != nil {
		return true
	}
	if r.cfg.Requests > 0 && r.claimed.Load() >= r.cfg.Requests {
		return true
	}
	return !r.deadline.IsZero() && !time.Now().Before(r.deadline)
}

// workers runs fn from n goroutines, each claiming requests with next,
// and waits for them.
func (r *runner) workers(n int, fn func(w int, k int64)) {
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
func (t *tally) fail(key, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs[key]++
	if _, ok := t.firstErr[key]; !ok {
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		t.firstErr[key] = strings.TrimSpace(msg)
	}
}

// firstErrOf is the first message counted under key.
func (t *tally) firstErrOf(key string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstErr[key]
}

// do sends one request and counts it. It returns the reply body of a
// successful request. A request cut short by an interrupt is not counted.
func (r *runner) do(method, path string, body []byte) ([]byte, bool) {
	return r.doAt(r.base, method, path, body)
}

// doAt is do to the server at base, one of bases.
func (r *runner) doAt(base, method, path string, body []byte) ([]byte, bool) {
	return r.sendAt(r.ctx, r.client, base, time.Now(), method, path, body, r.tally)
}

// servers are the URLs of the run's servers: bases, or base alone.
func (r *runner) servers() []string {
	if len(r.bases) == 0 {
		return []string{r.base}
	}
	return r.bases
}

// send is do by client, under ctx, with the latency taken from t0 (a
// paced request's due time) and counted in each of into. A request cut
// short by the end of ctx is not counted.
func (r *runner) send(ctx context.Context, client *http.Client, t0 time.Time, method, path string, body []byte, into ...*tally) ([]byte, bool) {
	return r.sendAt(ctx, client, r.base, t0, method, path, body, into...)
}

// sendAt is send to the server at base.
func (r *runner) sendAt(ctx context.Context, client *http.Client, base string, t0 time.Time, method, path string, body []byte, into ...*tally) ([]byte, bool) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	fail := func(key, msg string) {
		for _, t := range into {
			t.fail(key, msg)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		fail("request", err.Error())
		return nil, false
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	r.authorize(req.Header)
	resp, err := client.Do(req)
	var reply []byte
	if err == nil {
		reply, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	d := time.Since(t0)
	if err != nil {
		if parent.Err() != nil {
			return nil, false
		}
		key := "conn"
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			key = "timeout"
		}
		fail(key, err.Error())
		return nil, false
	}
	for _, t := range into {
		t.latency.record(d)
	}
	if resp.StatusCode != http.StatusOK {
		fail(strconv.Itoa(resp.StatusCode), string(reply))
		return nil, false
	}
	for _, t := range into {
		t.ok.Add(1)
	}
	return reply, true
}

// authorize sets the bearer token, if there is one, in h.
func (r *runner) authorize(h http.Header) {
	if r.cfg.Token != "" {
		h.Set("Authorization", "Bearer "+r.cfg.Token)
	}
}

// fill completes the report with the run's counts.
func (r *runner) fill(rep *Report) {
	rep.Calls = r.calls()
	if rep.Seconds > 0 {
		rep.RequestsPerSec = float64(rep.Requests) / rep.Seconds
	}
}

// calls sums up the tally. The errors of WebSockets, counted under keys
// starting with "ws-", are in FirstErrors only (the chat and websocket
// parts of a report give them).
func (t *tally) calls() Calls {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Calls{OK: t.ok.Load(), ErrorsByStatus: map[string]int64{}, FirstErrors: map[string]string{}}
	for k, n := range t.errs {
		if !strings.HasPrefix(k, "ws-") {
			c.ErrorsByStatus[k] = n
			c.Errors += n
		}
	}
	for k, msg := range t.firstErr {
		c.FirstErrors[k] = msg
	}
	c.Requests = c.OK + c.Errors
	c.Latency = t.latency.report()
	return c
}
