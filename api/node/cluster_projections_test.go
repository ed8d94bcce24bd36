package node_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/actorlog/actorlog/api/node"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
)

// eventCount counts each actor's events under its id: a view in which an
// event lost or counted twice shows.
func eventCount() projection.Def {
	return projection.Def{Name: "count", Version: 1, Handle: func(tx *projection.Tx, e *eventlog.Event) error {
		k := []byte(e.Actor.String())
		b, _, err := tx.Get(k)
		if err != nil {
			return err
		}
		var n uint64
		if len(b) == 8 {
			n = binary.BigEndian.Uint64(b)
		}
		tx.Put(k, binary.BigEndian.AppendUint64(nil, n+1))
		return nil
	}}
}

// runners returns the live nodes that run the projections now.
func runners(nodes []*clusterNode) []*clusterNode {
	var out []*clusterNode
	for _, c := range nodes {
		if !c.down.Load() && c.n.Projections().Active() {
			out = append(out, c)
		}
	}
	return out
}

// waitRunner waits until exactly one live node runs the projections, and
// checks that it stays the only one for a while.
func waitRunner(t *testing.T, nodes []*clusterNode, within time.Duration) *clusterNode {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if rs := runners(nodes); len(rs) == 1 {
			for range 5 {
				time.Sleep(100 * time.Millisecond)
				if again := runners(nodes); len(again) != 1 || again[0] != rs[0] {
					t.Fatalf("the projections run on %d nodes", len(again))
				}
			}
			return rs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single node runs the projections after %v (%d do)", within, len(runners(nodes)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkViews waits until every live node serves, from the shared store,
// views that agree with a fold of the log: the directory lists each
// actor at its head and the count view counts each of its events once;
// and GET /projections on every node names the same runner.
func checkViews(t *testing.T, nodes []*clusterNode, keys []string, runner *clusterNode) {
	t.Helper()
	l := runner.log
	want := map[string]uint64{}
	for _, k := range keys {
		id := eventlog.ID{Type: "tally", Key: k}
		var n uint64
		if err := l.ScanStream(context.Background(), id, 1, 0, func(*eventlog.Event) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		want[id.String()] = n
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range nodes {
		if c.down.Load() {
			continue
		}
		for {
			problem := viewProblem(t, c, want, runner.name)
			if problem == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: %s", c.name, problem)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// viewProblem says what node c serves that disagrees with want, "" if
// nothing.
func viewProblem(t *testing.T, c *clusterNode, want map[string]uint64, runner string) string {
	var ps wire.Projections
	getJSON(t, c.hs.URL+"/projections", &ps)
	if len(ps.Projections) != 2 {
		return fmt.Sprintf("GET /projections lists %d", len(ps.Projections))
	}
	for _, p := range ps.Projections {
		if p.Node != runner || p.State != "running" {
			return fmt.Sprintf("projection %s: node %q, state %s; want running on %s", p.Name, p.Node, p.State, runner)
		}
	}
	var page wire.ActorsPage
	getJSON(t, c.hs.URL+"/actors?type=tally", &page)
	if page.Position == nil {
		return "GET /actors did not read the directory"
	}
	if len(page.Actors) != len(want) {
		return fmt.Sprintf("the directory lists %d actors, want %d", len(page.Actors), len(want))
	}
	for _, a := range page.Actors {
		if a.Head != want[a.Actor] {
			return fmt.Sprintf("the directory has %s at %d, the log at %d", a.Actor, a.Head, want[a.Actor])
		}
	}
	v, err := c.n.Projections().View("count")
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range want {
		b, _, err := v.Get(context.Background(), []byte(id))
		if err != nil {
			return err.Error()
		}
		var got uint64
		if len(b) == 8 {
			got = binary.BigEndian.Uint64(b)
		}
		if got != n {
			return fmt.Sprintf("%s counted %d times, the log holds %d events", id, got, n)
		}
	}
	return ""
}

// TestCluster_Projections: in a cluster the projections run on exactly
// one node, under a lease; every node serves GET /projections (naming
// that node) and the views (GET /actors, a view read) from the shared
// store, and they agree with a fold of the log. When the running node
// closes, it hands the lease over and another node takes it at once,
// going on from the stored checkpoint: with events written all along,
// each is in the views exactly once.
func TestCluster_Projections(t *testing.T) {
	nodes := startCluster(t, func(c *node.Config) {
		c.Projections = []projection.Def{projection.Directory(), eventCount()}
	})
	keys := []string{"p0", "p1", "p2", "p3", "p4"}
	write := func(from, n int) {
		for i := from; i < from+n; i++ {
			var live []*clusterNode
			for _, c := range nodes {
				if !c.down.Load() {
					live = append(live, c)
				}
			}
			// A call may meet a shard changing hands: it is retried
			// under its idempotency key, so that it counts once.
			var err error
			for try := range 20 {
				if _, err = add(live[(i+try)%len(live)], keys[i%len(keys)], fmt.Sprintf("p-%d", i)); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 30)
	first := waitRunner(t, nodes, 2*clusterTTL)
	checkViews(t, nodes, keys, first)

	// The runner closes while events are written; another takes over.
	stopped := make(chan struct{})
	first.down.Store(true) // no more calls through it
	go func() {
		defer close(stopped)
		first.stop()
	}()
	write(30, 30)
	<-stopped
	start := time.Now()
	next := waitRunner(t, nodes, 2*clusterTTL)
	if next == first {
		t.Fatal("the closed node still runs the projections")
	}
	t.Logf("%s took over from %s (seen %v after the close)", next.name, first.name, time.Since(start))
	write(60, 15)
	checkViews(t, nodes, keys, next)
}
