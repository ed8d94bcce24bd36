//go:build unix

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/actorlog/actorlog/cluster"
	"github.com/actorlog/actorlog/eventlog"
)

const (
	// faultTTL is the nodes' --lease-ttl: short, so that a dead owner's
	// shards move soon; shorter than JetStream's elections (4-9 s), so a
	// stream leader's death makes the nodes drop their leases too.
	faultTTL = 3 * time.Second
	// faultCallDeadline bounds the retries of one call: a call still
	// unacknowledged after it means the cluster did not recover.
	faultCallDeadline = 60 * time.Second
	// faultRecovery bounds the wait for every actor to answer after a
	// fault.
	faultRecovery = 45 * time.Second
)

// The actors the clients call: counters and chat rooms.
var faultActors = []string{"counter:fk0", "counter:fk1", "counter:fk2", "counter:fk3", "counter:fk4", "chatRoom:fr0", "chatRoom:fr1"}

// serveTestClusterFaults is issue 14's proof, on three real processes:
// clients call counters and chat rooms through random nodes, each call
// with its own idempotency key and retried with it until acknowledged,
// while the test, in turn, SIGKILLs the node whose NATS server leads the
// events stream and restarts it, SIGSTOPs an actor's owner for twice the
// lease TTL (calls sent to it meanwhile are answered after SIGCONT, some
// of them after their retry was acknowledged elsewhere) and SIGKILLs an
// owner and restarts it. Afterwards every acknowledged action is in the
// log once, with its idempotency key, each actor's history is dense,
// every node answers the acknowledged counts, and `actorlog verify --all`
// finds no problem. ACTORLOG_CLUSTER_FAULT_ROUNDS=N runs the three
// faults N times (default once); ACTORLOG_CLUSTER_FAULT_SEED repeats the
// choices of a run (not its timing).
func serveTestClusterFaults(t *testing.T, bin string) {
	rounds := 1
	if s := os.Getenv("ACTORLOG_CLUSTER_FAULT_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("ACTORLOG_CLUSTER_FAULT_ROUNDS=%q: want a number of rounds", s)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ACTORLOG_CLUSTER_FAULT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("ACTORLOG_CLUSTER_FAULT_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d, %d round(s), lease TTL %v", seed, rounds, faultTTL)
	start := time.Now()
	f := &clusterFaults{
		t:        t,
		bin:      bin,
		nodes:    serveClusterStart(t, bin, faultTTL.String()),
		rng:      rand.New(rand.NewPCG(seed, 1)),
		client:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		counts:   map[string][]int64{},
		keys:     map[string][]string{},
		msgs:     map[string]map[string]string{},
		stopping: make(chan struct{}),
	}
	f.ctx, f.abort = context.WithCancel(context.Background())
	defer f.client.CloseIdleConnections()
	for _, n := range f.nodes {
		f.urls = append(f.urls, n.url)
	}
	t.Logf("three nodes up in %v", time.Since(start).Round(time.Millisecond))

	for g := range 4 {
		f.clients.Add(1)
		go func() {
			defer f.clients.Done()
			f.client1(g, rand.New(rand.NewPCG(seed, uint64(10+g))))
		}()
	}
	// A failure ends the clients at once; so does the end of the test.
	t.Cleanup(func() {
		f.abort()
		f.clients.Wait()
	})
	// Every actor answers before the first fault.
	f.recovered("start", start, faultActors)
	// A subscriber of each actor, through any node, all along.
	var watchers []*faultWatcher
	for i, a := range faultActors {
		watchers = append(watchers, f.watch(a, rand.New(rand.NewPCG(seed, uint64(100+i)))))
	}
	t.Cleanup(func() {
		for _, w := range watchers {
			w.halt()
		}
	})
	for round := range rounds {
		f.killLeader(round)
		f.pauseOwner(round)
		f.killOwner(round)
	}
	close(f.stopping)
	f.clients.Wait()
	if t.Failed() {
		return
	}
	f.verify(f.check())
	for i, w := range watchers {
		head := uint64(len(f.keys[faultActors[i]]))
		if err := w.await(head, 30*time.Second); err != nil {
			t.Error(err)
		}
		t.Logf("subscriber of %s: %d events in order over %d connections; ends: %v", w.actor, w.events, w.connections, w.ends)
	}
	t.Logf("failover figures:\n%s", strings.Join(f.figures, "\n"))
	// One at a time, each leaving a quorum of JetStream servers behind to
	// release its leases. The last is killed: with no quorum left, its
	// releases would wait out --shutdown-timeout (30 s) and it would exit
	// 1.
	for _, n := range f.nodes[:2] {
		at := time.Now()
		if st := n.stop(syscall.SIGTERM, 30*time.Second); st.ExitCode() != 0 {
			t.Errorf("%s: exit after SIGTERM: %v\nstderr: %s", n.name, st, n.stderr)
		}
		t.Logf("%s stopped by SIGTERM in %v", n.name, time.Since(at).Round(time.Millisecond))
	}
	t.Logf("cluster fault test took %v", time.Since(start).Round(time.Millisecond))
}

// clusterFaults is the fault test's cluster, its clients and what they
// were acknowledged.
type clusterFaults struct {
	t      *testing.T
	bin    string
	nodes  []*serveClusterNode
	rng    *rand.Rand // the driver's
	client *http.Client

	clients  sync.WaitGroup // the clients, and the calls sent to a paused node
	stopping chan struct{}  // closed when the clients are to end after their call
	ctx      context.Context
	abort    context.CancelFunc // gives up every call at once

	mu      sync.Mutex
	urls    []string           // "" while the test has the node down
	counts  map[string][]int64 // per counter, the counts its increments answered
	keys    map[string][]string
	msgs    map[string]map[string]string // per room, text -> the message id answered
	acks    []faultAck
	figures []string
}

// faultAck is an acknowledged attempt.
type faultAck struct {
	actor     string
	began, at time.Time
}

// faultCall is one action with its idempotency key.
type faultCall struct {
	actor, action, body, key string
}

func faultShard(actor string) int {
	typ, key, _ := strings.Cut(actor, ":")
	return cluster.ShardOf(eventlog.ID{Type: typ, Key: key}, cluster.DefaultShards)
}

// client1 is one client: increments and messages, one at a time.
func (f *clusterFaults) client1(g int, rng *rand.Rand) {
	for i := 0; ; i++ {
		select {
		case <-f.stopping:
			return
		default:
		}
		if !f.do(rng, f.newCall(rng, fmt.Sprintf("c%d-%d", g, i)), "", 0) {
			return
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	}
}

// newCall makes a call to one of the actors of faultActors (or of only,
// if given), with the idempotency key key.
func (f *clusterFaults) newCall(rng *rand.Rand, key string, only ...string) faultCall {
	actors := faultActors
	if len(only) > 0 {
		actors = only
	}
	c := faultCall{actor: actors[rng.IntN(len(actors))], action: "increment", key: key}
	if strings.HasPrefix(c.actor, "chatRoom:") {
		c.action = "sendMessage"
		c.body = fmt.Sprintf(`{"username":"u%d","text":%q}`, rng.IntN(3), "message "+key)
	}
	return c
}

// do makes the call until it is acknowledged, on a random node the test
// has up, with its idempotency key; its first attempt goes to first
// instead if given, and waits up to firstWait. A call unacknowledged
// after faultCallDeadline, or refused as bad, fails the test.
func (f *clusterFaults) do(rng *rand.Rand, c faultCall, first string, firstWait time.Duration) bool {
	deadline := time.Now().Add(faultCallDeadline)
	var last string
	for attempt := 0; ; attempt++ {
		url, wait := first, firstWait
		if attempt > 0 || first == "" {
			url, wait = f.pick(rng), 5*time.Second
		}
		began := time.Now()
		status, body, err := f.post(url+"/rpc/"+c.actor+"/"+c.action, c.body, c.key, wait)
		if attempt == 0 && first != "" {
			f.t.Logf("%s %s (key %s) sent to %s, waiting up to %v: %d %s %v (after %v)", c.actor, c.action, c.key, first, wait, status, body, err, time.Since(began).Round(time.Millisecond))
		}
		switch {
		case f.ctx.Err() != nil:
			return false
		case err == nil && status == 200:
			f.ack(c, began, body)
			return true
		case err == nil && status/100 == 4 && status != 408 && status != 409 && status != 429:
			f.t.Errorf("%s %s (key %s) through %s: %d %s", c.actor, c.action, c.key, url, status, body)
			return false
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("%d %s", status, body)
		}
		if time.Now().After(deadline) {
			f.t.Errorf("%s %s (key %s) not acknowledged in %v; last attempt through %s: %s", c.actor, c.action, c.key, faultCallDeadline, url, last)
			return false
		}
		select {
		case <-f.ctx.Done():
			return false
		case <-time.After(time.Duration(50+rng.IntN(100)) * time.Millisecond):
		}
	}
}

// pick returns the URL of a random node that is up.
func (f *clusterFaults) pick(rng *rand.Rand) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var up []string
	for _, u := range f.urls {
		if u != "" {
			up = append(up, u)
		}
	}
	return up[rng.IntN(len(up))]
}

func (f *clusterFaults) post(url, body, key string, wait time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(f.ctx, wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := f.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// ack records an acknowledged call and its answer.
func (f *clusterFaults) ack(c faultCall, began time.Time, body []byte) {
	var reply struct {
		Count   *int64 `json:"count"`
		Message *struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		f.t.Errorf("%s %s (key %s): reply %s: %v", c.actor, c.action, c.key, body, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks = append(f.acks, faultAck{actor: c.actor, began: began, at: time.Now()})
	f.keys[c.actor] = append(f.keys[c.actor], c.key)
	switch {
	case c.action == "increment" && reply.Count != nil:
		f.counts[c.actor] = append(f.counts[c.actor], *reply.Count)
	case c.action == "sendMessage" && reply.Message != nil:
		if f.msgs[c.actor] == nil {
			f.msgs[c.actor] = map[string]string{}
		}
		f.msgs[c.actor][reply.Message.Text] = reply.Message.ID
	default:
		f.t.Errorf("%s %s (key %s): reply %s", c.actor, c.action, c.key, body)
	}
}

// setUp marks a node up (its current URL) or down for the clients.
func (f *clusterFaults) setUp(i int, up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.urls[i] = ""
	if up {
		f.urls[i] = f.nodes[i].url
	}
}

func (f *clusterFaults) figure(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	f.t.Log(s)
	f.mu.Lock()
	f.figures = append(f.figures, s)
	f.mu.Unlock()
}

// recovery is how long after a fault the first and the last of some
// actors acknowledged an attempt begun after it.
type recovery struct{ first, last time.Duration }

func (r recovery) String() string {
	return fmt.Sprintf("the first after %v, all after %v", r.first.Round(time.Millisecond), r.last.Round(time.Millisecond))
}

// recovered waits until each of the actors has acknowledged an attempt
// begun after the fault.
func (f *clusterFaults) recovered(what string, fault time.Time, actors []string) recovery {
	f.t.Helper()
	want := map[string]bool{}
	for _, a := range actors {
		want[a] = true
	}
	var r recovery
	for {
		f.mu.Lock()
		for _, a := range f.acks {
			if want[a.actor] && !a.began.Before(fault) {
				delete(want, a.actor)
				if took := a.at.Sub(fault); r.first == 0 || took < r.first {
					r.first = took
				}
				r.last = max(r.last, a.at.Sub(fault))
			}
		}
		f.mu.Unlock()
		if len(want) == 0 {
			return r
		}
		if f.t.Failed() {
			f.t.FailNow()
		}
		if time.Since(fault) > faultRecovery {
			f.t.Fatalf("%s: no call to %v acknowledged %v after the fault", what, want, faultRecovery)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs a node and waits for it to exit.
func (f *clusterFaults) kill(i int) time.Time {
	n := f.nodes[i]
	f.setUp(i, false)
	at := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		f.t.Fatal(err)
	}
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		f.t.Fatalf("%s did not exit after SIGKILL", n.name)
	}
	return at
}

// restart starts a killed node again with its flags and data, and waits
// until it answers a call.
func (f *clusterFaults) restart(round, i int) {
	n := f.nodes[i]
	at := time.Now()
	n.launch(f.t, f.bin)
	n.waitListening(time.Now().Add(60 * time.Second))
	listening := time.Since(at)
	f.probe(i, 30*time.Second)
	f.setUp(i, true)
	f.figure("round %d: %s restarted: listening after %v, answering after %v", round, n.name, listening.Round(time.Millisecond), time.Since(at).Round(time.Millisecond))
}

// probe waits until a read-only call through node i succeeds.
func (f *clusterFaults) probe(i int, timeout time.Duration) {
	f.t.Helper()
	n := f.nodes[i]
	deadline := time.Now().Add(timeout)
	for {
		status, b, err := f.post(n.url+"/rpc/counter:fk0/getCount", "", "", 5*time.Second)
		if err == nil && status == 200 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s does not answer %v after it came back: %d %s %v", n.name, timeout, status, b, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killLeader SIGKILLs the node whose NATS server leads the events
// stream, and restarts it once every actor has answered without it.
func (f *clusterFaults) killLeader(round int) {
	v := f.view()
	i := f.node(v.events)
	mine := v.owned(v.events)
	f.t.Logf("round %d: events stream leader %s, lease bucket leader %s, owners %v", round, v.events, v.leases, v.owners)
	at := f.kill(i)
	what := fmt.Sprintf("round %d: stream leader %s killed", round, v.events)
	took := f.recovered(what, at, mine)
	all := f.recovered(what, at, faultActors)
	after := f.view()
	f.figure("round %d: SIGKILL of %s, the events stream's leader (and the lease bucket's: %v): every actor answered, %v; its own %v: %v; new leaders %s, %s",
		round, v.events, v.leases == v.events, all, mine, took, after.events, after.leases)
	f.restart(round, i)
}

// pauseOwner SIGSTOPs an owner (its NATS server with it) for twice the
// lease TTL. Calls to its actors sent to it meanwhile, some given up
// after a second and retried elsewhere, some waited for, are answered
// after SIGCONT: the former owner must forward them or fail them, not
// apply them again.
func (f *clusterFaults) pauseOwner(round int) {
	v := f.view()
	i := f.anOwner(v)
	n := f.nodes[i]
	mine := v.owned(n.name)
	f.t.Logf("round %d: pausing %s, owner of %v; leaders %s, %s", round, n.name, mine, v.events, v.leases)
	f.setUp(i, false)
	stderrAt := len(n.stderr.String())
	at := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		f.t.Fatal(err)
	}
	var stale sync.WaitGroup
	for k := range 4 {
		wait := time.Second // given up, and retried elsewhere
		if k%2 == 1 {
			wait = 2*faultTTL + 5*time.Second // answered after SIGCONT
		}
		c := f.newCall(f.rng, fmt.Sprintf("stale-%d-%d", round, k), mine...)
		rng := rand.New(rand.NewPCG(uint64(round), uint64(k)))
		stale.Add(1)
		f.clients.Add(1)
		go func() {
			defer f.clients.Done()
			defer stale.Done()
			f.do(rng, c, n.url, wait)
		}()
	}
	took := f.recovered(fmt.Sprintf("round %d: %s paused", round, n.name), at, mine)
	time.Sleep(time.Until(at.Add(2 * faultTTL)))
	after := f.view()
	if err := n.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		f.t.Fatal(err)
	}
	paused := time.Since(at)
	stale.Wait()
	f.probe(i, 30*time.Second)
	f.setUp(i, true)
	f.t.Logf("round %d: %s after SIGCONT: %d shard(s) dropped past the fence, %d on a failed renewal", round, n.name,
		strings.Count(n.stderr.String()[stderrAt:], "lease past its fence"), strings.Count(n.stderr.String()[stderrAt:], "lease renewal failed"))
	f.figure("round %d: SIGSTOP of %s for %v: its actors %v answered, %v (owners then %v, leaders %s, %s); after SIGCONT, the calls sent to it were acknowledged and it answered again within %v",
		round, n.name, paused.Round(time.Millisecond), mine, took, after.owners, after.events, after.leases, (time.Since(at) - paused).Round(time.Millisecond))
}

// killOwner SIGKILLs an owner and restarts it.
func (f *clusterFaults) killOwner(round int) {
	v := f.view()
	i := f.anOwner(v)
	n := f.nodes[i]
	mine := v.owned(n.name)
	at := f.kill(i)
	took := f.recovered(fmt.Sprintf("round %d: owner %s killed", round, n.name), at, mine)
	f.figure("round %d: SIGKILL of %s, owner of %v (leaders %s, %s): its actors answered, %v",
		round, n.name, mine, v.events, v.leases, took)
	f.restart(round, i)
}
