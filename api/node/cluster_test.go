package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/node"
	"github.com/actorlog/actorlog/cluster"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
	"github.com/nats-io/nats.go"
)

// clusterNode is one node of a test cluster: its own NATS connection (to
// its own embedded server), its own handle on the shared JetStream log,
// the node, and its API on a loopback port.
type clusterNode struct {
	name string
	nc   *nats.Conn
	log  *jetstream.Log
	n    *node.Node
	hs   *httptest.Server
	down atomic.Bool // calls go to the other nodes
	once sync.Once
}

// stop closes the node, as a graceful shutdown does.
func (c *clusterNode) stop() {
	c.down.Store(true)
	c.once.Do(func() {
		c.hs.Close()
		c.n.Close(context.Background())
		c.log.Close()
		c.nc.Close()
	})
}

const clusterTTL = 3 * time.Second

// startCluster starts three NATS servers and three nodes over one R3
// stream and one R3 lease bucket; each of opts may change every node's
// Config.
func startCluster(t *testing.T, opts ...func(*node.Config)) []*clusterNode {
	t.Helper()
	srv := jetstreamtest.StartT(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	logger := quiet
	if os.Getenv("ACTORLOG_CLUSTER_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var nodes []*clusterNode
	for i := range 3 {
		c := &clusterNode{name: fmt.Sprintf("n%d", i+1)}
		var err error
		if c.nc, err = nats.Connect(srv.Server(i).ClientURL()); err != nil {
			t.Fatal(err)
		}
		if c.log, err = jetstream.Open(ctx, jetstream.Options{Conn: c.nc, Replicas: 3, Logger: quiet, WriteTimeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		cfg := node.Config{
			Log: c.log, Registry: registry(), Logger: logger,
			Cluster: clusterOpts(cluster.Options{}, c),
		}
		for _, o := range opts {
			o(&cfg)
		}
		c.n, err = node.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.hs = httptest.NewServer(c.n.Handler())
		if err := c.n.Cluster().SetURL(ctx, c.hs.URL); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, c)
	}
	t.Cleanup(func() {
		for _, c := range nodes {
			c.stop()
		}
	})
	return nodes
}

func clusterOpts(o cluster.Options, c *clusterNode) *cluster.Options {
	o.Conn, o.Node, o.Shards, o.LeaseTTL, o.Replicas = c.nc, c.name, 8, clusterTTL, 3
	return &o
}

// add calls tally:key add through node c; the total it answers, or an
// error.
func add(c *clusterNode, key, idem string) (int, error) {
	req, _ := http.NewRequest("POST", c.hs.URL+"/rpc/tally:"+key+"/add", strings.NewReader(`{"n":1}`))
	req.Header.Set("Content-Type", "application/json")
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return 0, fmt.Errorf("%d %s", res.StatusCode, b)
	}
	var out tally
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, fmt.Errorf("%s: %w", b, err)
	}
	return out.Total, nil
}

// owners returns the nodes that own the actor's shard now.
func owners(nodes []*clusterNode, key string) []*clusterNode {
	var out []*clusterNode
	for _, c := range nodes {
		if c.down.Load() {
			continue
		}
		cl := c.n.Cluster()
		if cl.Owns(cl.Shard(eventlog.ID{Type: "tally", Key: key})) {
			out = append(out, c)
		}
	}
	return out
}

// TestCluster_OneOwnerAndFailover runs three nodes in the test process.
// Calls made on any node for an actor run on its one owner (each answers
// the next total); when the owner closes, its actors move to another
// node with their state, at once; when an owner is cut off from NATS, its
// shards move once its lease expires, and it stops serving them. Workers
// increment through random live nodes all along, retrying a failed call
// with the same idempotency key; at the end every actor's stream holds
// exactly one event per increment, with dense sequences.
// ACTORLOG_CLUSTER_ROUNDS (default 1) repeats the faults' cycle with
// fresh nodes for a longer run.
func TestCluster_OneOwnerAndFailover(t *testing.T) {
	rounds := 1
	if v := os.Getenv("ACTORLOG_CLUSTER_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	for r := range rounds {
		t.Run(fmt.Sprint("round", r), testClusterRound)
	}
}

func testClusterRound(t *testing.T) {
	start := time.Now()
	nodes := startCluster(t)
	t.Logf("three servers and three nodes up in %v", time.Since(start).Round(time.Millisecond))
	keys := []string{"a", "b", "c", "d", "e", "f"}

	// Sequential calls through every node in turn: each answers the next
	// total, whichever node took the call.
	for i := range 9 {
		for _, k := range keys {
			got, err := add(nodes[i%3], k, "")
			if err != nil {
				t.Fatalf("add %s through %s: %v", k, nodes[i%3].name, err)
			}
			if got != i+1 {
				t.Fatalf("add %s through %s = %d, want %d", k, nodes[i%3].name, got, i+1)
			}
		}
	}
	for _, k := range keys {
		if o := owners(nodes, k); len(o) != 1 {
			t.Fatalf("tally:%s has %d owners, want 1", k, len(o))
		}
	}
	acked := make(map[string]int)
	for _, k := range keys {
		acked[k] = 9
	}

	// Workers increment through random live nodes while owners go.
	var mu sync.Mutex
	stopWorkers := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Value
	for w, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopWorkers:
					return
				default:
				}
				idem := fmt.Sprintf("w%d-%d", w, i)
				deadline := time.Now().Add(20 * time.Second)
				for try := 0; ; try++ {
					c := nodes[(w+i+try)%3]
					if c.down.Load() {
						continue
					}
					if _, err := add(c, k, idem); err == nil {
						break
					} else if time.Now().After(deadline) {
						failed.Store(fmt.Errorf("tally:%s increment %s failed until its deadline: %v", k, idem, err))
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				mu.Lock()
				acked[k]++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)

	// A graceful close: the owner releases its leases, and the next call
	// elsewhere takes the shard.
	gone := owners(nodes, "a")[0]
	t0 := time.Now()
	gone.stop()
	t.Logf("owner %s closed in %v", gone.name, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	got, err := add(liveOther(nodes, gone), "a", "")
	if err != nil {
		t.Fatalf("tally:a after its owner %s closed: %v", gone.name, err)
	}
	mu.Lock()
	acked["a"]++
	mu.Unlock()
	t.Logf("owner %s closed: tally:a answered %d on another node after %v", gone.name, got, time.Since(t0).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)

	// A node cut off from NATS: its leases expire, another node takes
	// its shards, and it stops serving them by itself.
	var cut *clusterNode
	var cutKey string
	for _, k := range keys {
		if o := owners(nodes, k); len(o) == 1 {
			cut, cutKey = o[0], k
			break
		}
	}
	t1 := time.Now()
	cut.down.Store(true) // the workers stop using it
	cut.nc.Close()
	// With an idempotency key: a call forwarded to the owner as it was
	// cut off has an unknown outcome, and only a keyed call is retried.
	got, err = add(liveOther(nodes, cut), cutKey, "after-cut")
	if err != nil {
		t.Fatalf("tally:%s after its owner %s was cut off: %v", cutKey, cut.name, err)
	}
	mu.Lock()
	acked[cutKey]++
	mu.Unlock()
	t.Logf("owner %s cut off: tally:%s answered %d on another node after %v (lease TTL %v)", cut.name, cutKey, got, time.Since(t1).Round(time.Millisecond), clusterTTL)
	if cl := cut.n.Cluster(); cl.Owns(cl.Shard(eventlog.ID{Type: "tally", Key: cutKey})) {
		t.Errorf("%s still serves tally:%s after its lease moved", cut.name, cutKey)
	}
	time.Sleep(500 * time.Millisecond)
	close(stopWorkers)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}

	// Every acknowledged increment is in the log exactly once.
	live := liveOther(nodes, nil)
	ctx := context.Background()
	for _, k := range keys {
		evs, err := eventlog.ReadStream(ctx, live.log, eventlog.ID{Type: "tally", Key: k}, 1, 100000)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range evs {
			if e.Seq != uint64(i+1) {
				t.Fatalf("tally:%s event %d has sequence %d", k, i, e.Seq)
			}
		}
		if len(evs) != acked[k] {
			t.Errorf("tally:%s has %d events, want the %d increments acknowledged", k, len(evs), acked[k])
		}
		got, err := add(live, k, "")
		if err != nil || got != acked[k]+1 {
			t.Errorf("tally:%s's total after one more = %d, %v; want %d", k, got, err, acked[k]+1)
		}
	}
	t.Logf("acknowledged increments: %v; round took %v", acked, time.Since(start).Round(time.Millisecond))
}

// liveOther returns a live node other than not.
func liveOther(nodes []*clusterNode, not *clusterNode) *clusterNode {
	for _, c := range nodes {
		if c != not && !c.down.Load() {
			return c
		}
	}
	return nil
}

// TestCluster_TwoOwnersFenced: two nodes run calls on the same actor at
// once, each on its own runtime, as two owners would for a moment (a
// paused owner whose lease moved). The store's conditional appends make
// one of each pair of racing appends fail with a conflict, so every
// acknowledged call is in the stream exactly once, with its own
// sequence, and no refused one is.
func TestCluster_TwoOwnersFenced(t *testing.T) {
	nodes := startCluster(t)
	id := eventlog.ID{Type: "tally", Key: "contested"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	seqs := make(map[uint64]string)
	var acked, conflicts int
	var wg sync.WaitGroup
	for _, c := range nodes[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 60 {
				r, err := c.n.Runtime().Call(ctx, id, "add", actors.JSONArgs([]byte(`{"n":1}`)), actors.CallOptions{})
				mu.Lock()
				switch {
				case err == nil:
					if prev, ok := seqs[r.Seq]; ok {
						t.Errorf("sequence %d acknowledged to %s and %s", r.Seq, prev, c.name)
					}
					seqs[r.Seq] = c.name
					acked++
				case actors.CodeOf(err) == actors.CodeConflict:
					conflicts++
				default:
					t.Errorf("call on %s: %v", c.name, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	evs, err := eventlog.ReadStream(ctx, nodes[2].log, id, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != acked {
		t.Fatalf("stream holds %d events, want the %d acknowledged calls (%d conflicts)", len(evs), acked, conflicts)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) || seqs[e.Seq] == "" {
			t.Fatalf("event %d: sequence %d, acknowledged to %q", i, e.Seq, seqs[e.Seq])
		}
	}
	t.Logf("%d calls acknowledged, %d refused with a conflict", acked, conflicts)
}

// TestCluster_ShardBackNoStaleState: a node that gave a shard up and takes
// it back serves the actors' state as the log has it, not as it left it
// in memory: a read-only action, which no conditional append would catch,
// answers the other node's writes.
func TestCluster_ShardBackNoStaleState(t *testing.T) {
	// Without the balance: the node that gets a call takes the free shard.
	nodes := startCluster(t, func(c *node.Config) { c.Cluster.NoBalance = true })
	ctx := context.Background()
	id := eventlog.ID{Type: "tally", Key: "back"}
	get := func(c *clusterNode) int {
		t.Helper()
		r, err := c.n.Cluster().Call(ctx, id, "get", actors.JSONArgs(nil), actors.CallOptions{})
		if err != nil {
			t.Fatalf("get through %s: %v", c.name, err)
		}
		var v tally
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatal(err)
		}
		return v.Total
	}
	a, b := nodes[0], nodes[1]
	shard := a.n.Cluster().Shard(id)
	if _, err := add(a, "back", ""); err != nil {
		t.Fatal(err)
	}
	if !a.n.Cluster().Owns(shard) {
		t.Fatalf("%s does not own the shard it took", a.name)
	}
	if err := a.n.Cluster().Release(ctx, shard); err != nil {
		t.Fatal(err)
	}
	if got, err := add(b, "back", ""); err != nil || got != 2 {
		t.Fatalf("add through %s after the release = %d, %v; want 2", b.name, got, err)
	}
	if !b.n.Cluster().Owns(shard) {
		t.Fatalf("%s does not own the shard after the release", b.name)
	}
	if err := b.n.Cluster().Release(ctx, shard); err != nil {
		t.Fatal(err)
	}
	if got := get(a); got != 2 {
		t.Fatalf("get through %s, which took the shard back = %d, want 2 (its actor in memory had 1)", a.name, got)
	}
	if !a.n.Cluster().Owns(shard) {
		t.Fatalf("%s did not take the shard back", a.name)
	}
}

// TestCluster_Timers: timers fire once, on their actor's owner, and a
// timer whose owner closed before it was due fires on another node.
func TestCluster_Timers(t *testing.T) {
	nodes := startCluster(t)
	ctx := context.Background()
	keys := []string{"t1", "t2", "t3", "t4", "t5", "t6"}
	for i, k := range keys {
		c := nodes[i%3]
		if _, err := c.n.Cluster().Call(ctx, eventlog.ID{Type: "tally", Key: k}, "later", actors.JSONArgs([]byte(`{"n":10}`)), actors.CallOptions{}); err != nil {
			t.Fatalf("later on %s through %s: %v", k, c.name, err)
		}
	}
	// The owner of t1 closes before its timers are due: they move.
	gone := owners(nodes, "t1")[0]
	gone.stop()
	live := liveOther(nodes, gone)
	deadline := time.Now().Add(10 * clusterTTL)
	for _, k := range keys {
		id := eventlog.ID{Type: "tally", Key: k}
		for {
			evs, err := eventlog.ReadStream(ctx, live.log, id, 1, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) > 1 {
				t.Fatalf("tally:%s's timer fired %d times", k, len(evs))
			}
			if len(evs) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tally:%s's timer did not fire within %v", k, 10*clusterTTL)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Give a second firing its chance to show.
	time.Sleep(clusterTTL)
	for _, k := range keys {
		evs, err := eventlog.ReadStream(ctx, live.log, eventlog.ID{Type: "tally", Key: k}, 1, 100)
		if err != nil || len(evs) != 1 {
			t.Fatalf("tally:%s: %d events, %v; want its timer's one", k, len(evs), err)
		}
	}
}

// TestCluster_Stats: each call is counted once, on the node it reached,
// as local or forwarded, and each forwarded one as served by its owner;
// /metrics gives the same figures.
func TestCluster_Stats(t *testing.T) {
	// Without the balance: a key's owner is the node its first call
	// reached, for the whole test.
	nodes := startCluster(t, func(c *node.Config) { c.Cluster.NoBalance = true })
	keys := []string{"a", "b", "c", "d", "e", "f"}
	for i := range 6 {
		for _, k := range keys {
			if _, err := add(nodes[i%3], k, ""); err != nil {
				t.Fatalf("add %s through %s: %v", k, nodes[i%3].name, err)
			}
		}
	}
	var sum cluster.Stats
	for _, c := range nodes {
		s := c.n.Cluster().Stats()
		sum.Local += s.Local
		sum.Forwarded += s.Forwarded
		sum.Served += s.Served
		res, err := http.Get(c.hs.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		want := fmt.Sprintf("actorlog_cluster_calls_total{route=\"forwarded\"} %d\n", s.Forwarded)
		if !strings.Contains(string(b), want) {
			t.Errorf("%s's /metrics lacks %q", c.name, want)
		}
	}
	// Every key was called twice through each node, and has one owner:
	// two thirds of the calls reached another node.
	if sum.Local+sum.Forwarded != 36 || sum.Forwarded != 24 || sum.Served != sum.Forwarded {
		t.Errorf("calls counted %+v; want 36 calls, 24 forwarded and served", sum)
	}
}
