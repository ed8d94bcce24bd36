package load

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
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
