package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/cluster"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// local answers every call and state read with the node's name.
type local string

func (l local) Call(context.Context, eventlog.ID, string, actors.Args, actors.CallOptions) (actors.Reply, error) {
	return actors.Reply{Body: []byte(`"` + l + `"`), Seq: 1}, nil
}

func (l local) State(context.Context, eventlog.ID) (actors.Init, error) {
	return actors.Init{State: []byte(`"` + l + `"`), Seq: 7}, nil
}

func open(t *testing.T, url, node string, shards int) (*cluster.Cluster, error) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cluster.Open(ctx, cluster.Options{Conn: nc, Node: node, Shards: shards, LeaseTTL: 2 * time.Second, URL: "http://" + node + ".test:3000"}, local(node))
	if err == nil {
		t.Cleanup(func() { c.Close(context.Background()) })
	}
	return c, err
}

// TestConfig: the first node fixes the number of shards; a node given
// another is refused, with the number to use, and joins nothing.
func TestConfig(t *testing.T) {
	srv := jetstreamtest.StartT(t, 1)
	url := srv.Server(0).ClientURL()
	if _, err := open(t, url, "a", 8); err != nil {
		t.Fatal(err)
	}
	_, err := open(t, url, "b", 16)
	if !errors.Is(err, cluster.ErrConfig) || !strings.Contains(err.Error(), "--shards 8") {
		t.Fatalf("a node with 16 shards joining a cluster of 8: %v", err)
	}
	if _, err := open(t, url, "c", 8); err != nil {
		t.Fatalf("a node with the cluster's shards: %v", err)
	}
}

// TestMembersAndRouting: each node publishes its record; a call, a state
// read and a location go to the owner of the actor's shard, whichever
// node they are made on; Status lists the members and the lease; a node
// that closes leaves the members at once.
func TestMembersAndRouting(t *testing.T) {
	srv := jetstreamtest.StartT(t, 1)
	url := srv.Server(0).ClientURL()
	a, err := open(t, url, "a", 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := open(t, url, "b", 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := eventlog.ID{Type: "t", Key: "k"}
	// a takes the shard with the first call.
	if r, err := a.Call(ctx, id, "x", actors.Args{}, actors.CallOptions{}); err != nil || string(r.Body) != `"a"` {
		t.Fatalf("call on a: %s %v", r.Body, err)
	}
	if r, err := b.Call(ctx, id, "x", actors.Args{}, actors.CallOptions{}); err != nil || string(r.Body) != `"a"` {
		t.Fatalf("call on b, for a's shard: %s %v", r.Body, err)
	}
	if st, err := b.State(ctx, id); err != nil || string(st.State) != `"a"` || st.Seq != 7 {
		t.Fatalf("state read on b: %+v %v", st, err)
	}
	if u, err := b.Locate(ctx, id); err != nil || u != "http://a.test:3000" {
		t.Fatalf("Locate on b = %q, %v; want a's URL", u, err)
	}
	if u, err := a.Locate(ctx, id); err != nil || u != "" {
		t.Fatalf("Locate on the owner = %q, %v; want \"\"", u, err)
	}
	st, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 2 || st.Members[0].Node != "a" || st.Members[1].URL != "http://b.test:3000" {
		t.Fatalf("members: %+v", st.Members)
	}
	if len(st.Owners) != 1 || st.Owners[0].Node != "a" || st.Owners[0].Shard != a.Shard(id) {
		t.Fatalf("owners: %+v", st.Owners)
	}
	if s := b.Stats(); s.Forwarded != 3 || s.Owned != 0 { // the call, the state read, Locate
		t.Fatalf("b's stats: %+v", s)
	}
	if s := a.Stats(); s.Served != 3 || s.Owned != 1 || s.Acquired != 1 {
		t.Fatalf("a's stats: %+v", s)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ms, err := b.Members(ctx)
	if err != nil || len(ms) != 1 || ms[0].Node != "b" {
		t.Fatalf("members after a closed: %+v %v", ms, err)
	}
	if u, err := b.Locate(ctx, id); err != nil || u != "" {
		t.Fatalf("Locate on b after a closed = %q, %v; want b itself", u, err)
	}
}

// TestStaleSubscription: the servers may still hold a former owner's
// subscription (a paused node's, until they notice it is gone); calls
// for the shard's new owner must not go to it and wait out their
// deadline.
func TestStaleSubscription(t *testing.T) {
	srv := jetstreamtest.StartT(t, 1)
	url := srv.URL()
	a, err := open(t, url, "a", 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := eventlog.ID{Type: "t", Key: "k"}
	if _, err := a.Call(ctx, id, "x", actors.Args{}, actors.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	shard := a.Shard(id)
	// What a paused a leaves behind: a subscription that never answers,
	// on every subject a has served the shard on.
	zombie, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer zombie.Close()
	for _, subj := range []string{fmt.Sprintf("%s.%d.a", cluster.DefaultPrefix, shard), fmt.Sprintf("%s.%d", cluster.DefaultPrefix, shard)} {
		if _, err := zombie.QueueSubscribe(subj, "owner", func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	zombie.Flush()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := open(t, url, "b", 4)
	if err != nil {
		t.Fatal(err)
	}
	c, err := open(t, url, "c", 4)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := b.Call(ctx, id, "x", actors.Args{}, actors.CallOptions{}); err != nil || string(r.Body) != `"b"` {
		t.Fatalf("call on b after a left: %s %v", r.Body, err)
	}
	for i := range 20 {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := c.Call(cctx, id, "x", actors.Args{}, actors.CallOptions{})
		cancel()
		if err != nil || string(r.Body) != `"b"` {
			t.Fatalf("call %d on c, for b's shard, beside a's stale subscription: %s %v", i, r.Body, err)
		}
	}
}

// TestBalance: actors called through one node end up spread over the
// three, each shard on the node it ranks first for; when a node closes,
// its shards go to the others, and when it comes back it gets its share
// again. Calls keep answering throughout.
func TestBalance(t *testing.T) {
	srv := jetstreamtest.StartT(t, 1)
	url := srv.URL()
	const shards = 24
	nodes := map[string]*cluster.Cluster{}
	for _, n := range []string{"a", "b", "c"} {
		c, err := open(t, url, n, shards)
		if err != nil {
			t.Fatal(err)
		}
		nodes[n] = c
	}
	ctx := context.Background()
	ids := make([]eventlog.ID, 200)
	for i := range ids {
		ids[i] = eventlog.ID{Type: "t", Key: fmt.Sprint(i)}
	}
	callAll := func(via *cluster.Cluster) map[string]int {
		t.Helper()
		ran := map[string]int{}
		for _, id := range ids {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			r, err := via.Call(cctx, id, "x", actors.Args{}, actors.CallOptions{})
			cancel()
			if err != nil {
				t.Fatalf("call %s: %v", id, err)
			}
			ran[strings.Trim(string(r.Body), `"`)]++
		}
		return ran
	}
	// settled waits until the owned shards of the live nodes cover every
	// shard the calls took, and none moves for a round.
	settled := func(live ...string) map[string]int {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			owned := map[string]int{}
			total := 0
			for _, n := range live {
				owned[n] = len(nodes[n].Owned())
				total += owned[n]
			}
			ok := total == shards
			for _, n := range live {
				ok = ok && owned[n] >= shards/len(live)/3
			}
			if ok {
				return owned
			}
			if time.Now().After(deadline) {
				t.Fatalf("shards not spread over %v after 20s: %v", live, owned)
			}
			callAll(nodes[live[0]])
			time.Sleep(500 * time.Millisecond)
		}
	}
	ran := callAll(nodes["a"])
	t.Logf("first calls ran on %v", ran)
	owned := settled("a", "b", "c")
	t.Logf("shards owned: %v", owned)

	if err := nodes["c"].Close(ctx); err != nil {
		t.Fatal(err)
	}
	ran = callAll(nodes["b"])
	if ran["c"] != 0 {
		t.Fatalf("calls ran on the closed node: %v", ran)
	}
	owned = settled("a", "b")
	t.Logf("after c closed: %v", owned)

	c2, err := open(t, url, "c", shards)
	if err != nil {
		t.Fatal(err)
	}
	nodes["c"] = c2
	owned = settled("a", "b", "c")
	t.Logf("after c came back: %v", owned)
	if s := nodes["a"].Stats(); s.HandedOver == 0 {
		t.Fatalf("a handed no shard over: %+v", s)
	}
}

// TestSingleton: of three nodes competing for a singleton, one holds it
// and runs its task; when it closes, another takes it within about a
// quarter of the TTL; the task never runs on two nodes at once.
func TestSingleton(t *testing.T) {
	srv := jetstreamtest.StartT(t, 1)
	url := srv.URL()
	var mu sync.Mutex
	running := map[string]bool{}
	overlap := false
	var singles []*cluster.Singleton
	names := []string{"a", "b", "c"}
	for _, n := range names {
		c, err := open(t, url, n, 4)
		if err != nil {
			t.Fatal(err)
		}
		s, err := cluster.OpenSingleton(c, "task", cluster.SingletonOptions{
			OnAcquire: func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				for _, r := range running {
					overlap = overlap || r
				}
				running[n] = true
				return nil
			},
			OnDrop: func() {
				mu.Lock()
				defer mu.Unlock()
				running[n] = false
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		singles = append(singles, s)
	}
	holder := func() int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			held := -1
			count := 0
			for i, s := range singles {
				if s != nil && s.Held() {
					held, count = i, count+1
				}
			}
			if count > 1 {
				t.Fatalf("%d nodes hold the singleton", count)
			}
			if count == 1 {
				return held
			}
			if time.Now().After(deadline) {
				t.Fatal("no node holds the singleton after 10s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	first := holder()
	mu.Lock()
	if !running[names[first]] {
		t.Fatalf("%s holds the singleton but its task does not run", names[first])
	}
	mu.Unlock()
	start := time.Now()
	if err := singles[first].Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	singles[first] = nil
	next := holder()
	t.Logf("%s closed; %s took the singleton %v later", names[first], names[next], time.Since(start).Round(time.Millisecond))
	if next == first {
		t.Fatal("the closed node still holds the singleton")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the singleton was taken %v after its holder closed; the TTL is 2s", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if running[names[first]] || !running[names[next]] || overlap {
		t.Fatalf("tasks running: %v (overlap %v)", running, overlap)
	}
}
