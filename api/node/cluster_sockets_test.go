package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/gorilla/websocket"
)

// watcher is a WebSocket subscriber of tally:key that connects through
// one node, and again (with since) through the next live one whenever its
// connection ends, recording the sequence of every event frame.
type watcher struct {
	t     *testing.T
	nodes []*clusterNode
	key   string
	at    int // the node it connects through

	mu       sync.Mutex
	seqs     []uint64 // of the event frames, in order of arrival
	last     uint64   // the last sequence it holds
	resumes  int      // connections after the first
	through  []string // the nodes it connected through
	err      error
	stop     chan struct{}
	done     chan struct{}
	ws       *websocket.Conn
	closedBy []string // why its connections ended
}

func watch(t *testing.T, nodes []*clusterNode, key string, at int) *watcher {
	w := &watcher{t: t, nodes: nodes, key: key, at: at, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	t.Cleanup(w.close)
	return w
}

func (w *watcher) close() {
	w.mu.Lock()
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	if w.ws != nil {
		w.ws.Close()
	}
	w.mu.Unlock()
	<-w.done
}

func (w *watcher) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *watcher) run() {
	defer close(w.done)
	first := true
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		if time.Now().After(deadline) {
			w.fail(fmt.Errorf("watcher of tally:%s: no connection for 60s", w.key))
			return
		}
		c := w.nodes[w.at%len(w.nodes)]
		if c.down.Load() {
			w.at++
			continue
		}
		u := "ws" + strings.TrimPrefix(c.hs.URL, "http") + "/ws/tally/" + w.key
		w.mu.Lock()
		if !first {
			u += fmt.Sprintf("?since=%d", w.last)
		}
		w.mu.Unlock()
		ws, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			w.at++
			time.Sleep(50 * time.Millisecond)
			continue
		}
		w.mu.Lock()
		select {
		case <-w.stop: // close ran while it dialled
			w.mu.Unlock()
			ws.Close()
			return
		default:
		}
		w.ws = ws
		w.through = append(w.through, c.name)
		w.mu.Unlock()
		var f map[string]any
		if err := ws.ReadJSON(&f); err != nil {
			ws.Close()
			w.at++
			continue
		}
		switch {
		case first && f["type"] == wire.FrameInit:
			w.mu.Lock()
			w.last = uint64(f["seq"].(float64))
			w.mu.Unlock()
		case !first && f["type"] == wire.FrameResume:
			if got := uint64(f["seq"].(float64)); got != w.last {
				w.fail(fmt.Errorf("resume frame at %d, want %d", got, w.last))
			}
			w.mu.Lock()
			w.resumes++
			w.mu.Unlock()
		default:
			w.fail(fmt.Errorf("first frame through %s (first connection %v): %v", c.name, first, f))
			ws.Close()
			return
		}
		first = false
		deadline = time.Now().Add(60 * time.Second)
		for {
			f = nil
			if err := ws.ReadJSON(&f); err != nil {
				w.mu.Lock()
				w.closedBy = append(w.closedBy, fmt.Sprintf("%s: %v", c.name, err))
				w.mu.Unlock()
				break
			}
			if f["type"] != "added" {
				continue
			}
			seq := uint64(f["seq"].(float64))
			w.mu.Lock()
			if seq != w.last+1 {
				w.err = fmt.Errorf("watcher of tally:%s through %s: event %d after %d", w.key, c.name, seq, w.last)
			}
			w.seqs = append(w.seqs, seq)
			w.last = seq
			w.mu.Unlock()
		}
		ws.Close()
		w.at++
	}
}

// waitFor waits until the watcher holds sequence seq.
func (w *watcher) waitFor(seq uint64) {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.mu.Lock()
		last, err := w.last, w.err
		w.mu.Unlock()
		if err != nil {
			w.t.Fatal(err)
		}
		if last >= seq {
			return
		}
		if time.Now().After(deadline) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.t.Fatalf("watcher of tally:%s through %v holds %d after 30s, want %d; connections ended: %v", w.key, w.through, last, seq, w.closedBy)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %s: %v", url, b, err)
	}
}

// TestCluster_Sockets: a WebSocket subscriber connected through any node
// gets every committed event of its actor, in order, whichever node took
// the call: its connection is sent on to the actor's owner. A state read
// on any node answers the owner's state. When the shard moves (handed
// over, then its owner closed) the connections end, and subscribers that
// resume with since through another node get every event after it once:
// no gap, no duplicate. GET /cluster and /metrics describe the cluster.
func TestCluster_Sockets(t *testing.T) {
	nodes := startCluster(t)
	const key = "watched"
	id := eventlog.ID{Type: "tally", Key: key}
	if _, err := add(nodes[0], key, ""); err != nil {
		t.Fatal(err)
	}
	var ws []*watcher
	for i := range nodes {
		ws = append(ws, watch(t, nodes, key, i))
	}
	for _, w := range ws {
		w.waitFor(1)
	}
	total := 1
	addSome := func(n int) {
		for i := range n {
			c := nodes[i%3]
			if c.down.Load() {
				c = liveOther(nodes, c)
			}
			got, err := add(c, key, fmt.Sprintf("k%d", total))
			if err != nil {
				t.Fatalf("add through %s: %v", c.name, err)
			}
			total++
			if got != total {
				t.Fatalf("add through %s = %d, want %d", c.name, got, total)
			}
		}
	}
	addSome(9)
	for _, w := range ws {
		w.waitFor(uint64(total))
	}

	// State reads answer the owner's state on every node.
	for _, c := range nodes {
		var st wire.State
		getJSON(t, c.hs.URL+"/actors/tally/"+key+"/state", &st)
		var s tally
		if err := json.Unmarshal(st.State, &s); err != nil || s.Total != total || st.Seq != uint64(total) {
			t.Fatalf("state through %s: %s at %d, want total %d at %d", c.name, st.State, st.Seq, total, total)
		}
	}

	// GET /cluster: three members with their URLs, one owner of the
	// actor's shard, three copies of the stream.
	owner := owners(nodes, key)[0]
	var cs wire.Cluster
	getJSON(t, nodes[1].hs.URL+"/cluster", &cs)
	if cs.Node != "n2" || len(cs.Members) != 3 || cs.Shards != 8 {
		t.Fatalf("GET /cluster: %+v", cs)
	}
	for i, m := range cs.Members {
		if m.Node != nodes[i].name || m.URL != nodes[i].hs.URL {
			t.Fatalf("member %d: %+v, want %s at %s", i, m, nodes[i].name, nodes[i].hs.URL)
		}
	}
	shard := owner.n.Cluster().Shard(id)
	found := false
	for _, o := range cs.Owners {
		if o.Shard == shard {
			found = true
			if o.Node != owner.name || o.Revision == 0 {
				t.Fatalf("shard %d's lease: %+v, want %s", shard, o, owner.name)
			}
		}
	}
	if !found {
		t.Fatalf("GET /cluster lists no owner of shard %d: %+v", shard, cs.Owners)
	}
	if cs.Stream == nil || len(cs.Stream.Replicas) != 3 || cs.Stream.Leader == "" {
		t.Fatalf("GET /cluster stream: %+v", cs.Stream)
	}
	res, err := http.Get(liveOther(nodes, owner).hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, m := range []string{`actorlog_cluster_calls_total{route="forwarded"}`, "actorlog_cluster_shards_owned", `actorlog_cluster_calls_total{route="served"}`} {
		if !strings.Contains(string(b), m) {
			t.Fatalf("/metrics has no %s", m)
		}
	}

	// The owner hands the shard over: its actors go, their connections
	// end, and the subscribers resume through the next node.
	if err := owner.n.Cluster().Release(context.Background(), shard); err != nil {
		t.Fatal(err)
	}
	addSome(6)
	for _, w := range ws {
		w.waitFor(uint64(total))
	}

	// The owner now closes: the same, after a graceful shutdown.
	owner = owners(nodes, key)[0]
	owner.stop()
	addSome(6)
	for _, w := range ws {
		w.waitFor(uint64(total))
	}
	for _, w := range ws {
		w.close()
		w.mu.Lock()
		if w.err != nil {
			t.Fatal(w.err)
		}
		for i, s := range w.seqs {
			if s != uint64(i+2) {
				t.Fatalf("watcher through %v: event %d is %d", w.through, i, s)
			}
		}
		if len(w.seqs) != total-1 {
			t.Fatalf("watcher through %v got %d events, want %d", w.through, len(w.seqs), total-1)
		}
		t.Logf("watcher connected through %v, resumed %d times; ends: %v", w.through, w.resumes, w.closedBy)
		w.mu.Unlock()
	}
}

// TestCluster_SocketGuards: a WebSocket handshake that reaches a node
// that is not the actor's owner is checked there before it is sent on:
// a page on another site is refused (4403) and nothing reaches the owner;
// a client that claims the handshake was already sent on by a node
// (Actorlog-Forwarded) gets no second hop from a non-owner (refused,
// 4503), so it cannot make nodes send it round; the owner serves a
// handshake with the header as its own.
func TestCluster_SocketGuards(t *testing.T) {
	nodes := startCluster(t)
	const key = "guarded"
	if _, err := add(nodes[0], key, ""); err != nil {
		t.Fatal(err)
	}
	owner := owners(nodes, key)[0]
	other := liveOther(nodes, owner)
	servedBefore := owner.n.Cluster().Stats().Served
	dial := func(c *clusterNode, h http.Header) (int, error) {
		t.Helper()
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(c.hs.URL, "http")+"/ws/tally/"+key, h)
		if err != nil {
			return 0, err
		}
		defer ws.Close()
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, nil
		}
		if err != nil {
			return 0, err
		}
		var f map[string]any
		json.Unmarshal(b, &f)
		if f["type"] != wire.FrameInit {
			return 0, fmt.Errorf("first frame %s", b)
		}
		return 0, nil // served
	}
	if code, err := dial(other, http.Header{"Origin": {"https://evil.example"}}); err != nil || code != 4403 {
		t.Fatalf("cross-site handshake through a non-owner: close %d, %v; want 4403", code, err)
	}
	if got := owner.n.Cluster().Stats().Served; got != servedBefore {
		t.Fatalf("the owner served %d requests for the refused handshake", got-servedBefore)
	}
	if code, err := dial(other, http.Header{"Actorlog-Forwarded": {"1"}}); err != nil || code != 4503 {
		t.Fatalf("a handshake claiming to be sent on, through a non-owner: close %d, %v; want 4503", code, err)
	}
	if code, err := dial(owner, http.Header{"Actorlog-Forwarded": {"1"}}); err != nil || code != 0 {
		t.Fatalf("the same on the owner: close %d, %v; want it served", code, err)
	}
	if code, err := dial(other, nil); err != nil || code != 0 {
		t.Fatalf("a plain handshake through a non-owner: close %d, %v; want it served", code, err)
	}
}
