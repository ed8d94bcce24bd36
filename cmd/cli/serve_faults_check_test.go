//go:build unix

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/actorlog/actorlog/cluster"
	jslog "github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// What serveTestClusterFaults asks the JetStream servers, and its checks
// at the end.

// clusterView is what the JetStream servers say: the leaders of the
// events stream and of the lease bucket, and the owners of the shards of
// faultActors.
type clusterView struct {
	events, leases string
	owners         map[int]string
}

// view asks the NATS server of a node that is up.
func (f *clusterFaults) view() clusterView {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := f.view1()
		if err == nil && v.events != "" && v.leases != "" {
			return v
		}
		f.t.Logf("view: %v", err)
		if time.Now().After(deadline) {
			f.t.Fatalf("no view of the cluster in 30s: %v (%+v)", err, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (f *clusterFaults) view1() (clusterView, error) {
	var v clusterView
	f.mu.Lock()
	var server string
	for i, u := range f.urls {
		if u != "" {
			server = f.nodes[i].nats
		}
	}
	f.mu.Unlock()
	nc, err := nats.Connect(server, nats.Timeout(2*time.Second), nats.MaxReconnects(0))
	if err != nil {
		return v, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return v, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range []struct {
		name   string
		leader *string
	}{{jslog.DefaultStream, &v.events}, {"KV_" + cluster.DefaultBucket, &v.leases}} {
		st, err := js.Stream(ctx, s.name)
		if err != nil {
			return v, fmt.Errorf("stream %s: %w", s.name, err)
		}
		if info := st.CachedInfo(); info.Cluster != nil {
			*s.leader = info.Cluster.Leader
		}
	}
	// The leases through the bucket's leader: a KV Get is a direct get,
	// which any replica may answer, and one sent to a paused replica gets
	// no answer.
	v.owners = map[int]string{}
	for _, a := range faultActors {
		s := faultShard(a)
		req := fmt.Sprintf(`{"last_by_subj":"$KV.%s.shard.%d"}`, cluster.DefaultBucket, s)
		m, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+cluster.DefaultBucket, []byte(req))
		if err != nil {
			return v, fmt.Errorf("lease of shard %d through %s: %w", s, server, err)
		}
		var res struct {
			Message *struct {
				Data []byte `json:"data"`
				Hdrs []byte `json:"hdrs"`
			} `json:"message"`
			Error *struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		switch err := json.Unmarshal(m.Data, &res); {
		case err != nil:
			return v, fmt.Errorf("lease of shard %d: %s: %w", s, m.Data, err)
		case res.Error != nil && res.Error.Code == 404: // none
		case res.Message == nil:
			return v, fmt.Errorf("lease of shard %d: %s", s, m.Data)
		case !strings.Contains(string(res.Message.Hdrs), "KV-Operation"): // not deleted
			v.owners[s] = string(res.Message.Data)
		}
	}
	return v, nil
}

// node returns the index of the node named name.
func (f *clusterFaults) node(name string) int {
	f.t.Helper()
	for i, n := range f.nodes {
		if n.name == name {
			return i
		}
	}
	f.t.Fatalf("no node named %q", name)
	return -1
}

// owned returns the actors of faultActors whose shards the view gives
// to node.
func (v clusterView) owned(node string) []string {
	var out []string
	for _, a := range faultActors {
		if v.owners[faultShard(a)] == node {
			out = append(out, a)
		}
	}
	return out
}

// anOwner returns a node that owns a shard of faultActors.
func (f *clusterFaults) anOwner(v clusterView) int {
	var owners []string
	for _, o := range v.owners {
		owners = append(owners, o)
	}
	if len(owners) == 0 {
		f.t.Fatalf("no shard of %v is owned", faultActors)
	}
	slices.Sort(owners)
	return f.node(owners[f.rng.IntN(len(owners))])
}

// check reads every actor's history through each node in turn: each
// acknowledged action is there once, with its idempotency key, and
// nothing else; and each node answers the acknowledged counts.
func (f *clusterFaults) check() int {
	t := f.t
	total := 0
	for k, a := range faultActors {
		p := f.nodes[k%3].serveProc
		typ, key, _ := strings.Cut(a, ":")
		evs := p.history(typ, key) // dense, or fatal
		total += len(evs)
		keys := f.keys[a]
		if len(evs) != len(keys) {
			t.Errorf("%s: the log holds %d events, %d actions were acknowledged", a, len(evs), len(keys))
		}
		seen := map[string]bool{}
		for _, e := range evs {
			if e.Meta == nil || !slices.Contains(keys, e.Meta.IdempotencyKey) || seen[e.Meta.IdempotencyKey] {
				t.Errorf("%s: event %d (%s %s, meta %+v) is not one acknowledged action, once", a, e.Seq, e.Type, e.Data, e.Meta)
				continue
			}
			seen[e.Meta.IdempotencyKey] = true
		}
		if typ == "counter" {
			counts := slices.Sorted(slices.Values(f.counts[a]))
			for j, c := range counts {
				if c != int64(j+1) {
					t.Errorf("%s: the increments answered counts %v, want 1..%d once each", a, counts, len(counts))
					break
				}
			}
			for _, e := range evs {
				var d serveCount
				if err := json.Unmarshal(e.Data, &d); err != nil || e.Type != "countUpdated" || d.Count != int64(e.Seq) {
					t.Errorf("%s: event %d: %s %s, want countUpdated with count %d", a, e.Seq, e.Type, e.Data, e.Seq)
				}
			}
			for _, n := range f.nodes {
				var c serveCount
				n.call("POST", "/rpc/"+a+"/getCount", "", &c)
				if c.Count != int64(len(counts)) {
					t.Errorf("%s: %s answers count %d, %d increments were acknowledged", a, n.name, c.Count, len(counts))
				}
			}
			continue
		}
		texts := map[string]bool{}
		for _, e := range evs {
			var m struct{ ID, Text string }
			if err := json.Unmarshal(e.Data, &m); err != nil || e.Type != "newMessage" || texts[m.Text] || f.msgs[a][m.Text] != m.ID {
				t.Errorf("%s: event %d: %s %s: not an acknowledged message, once, with the id its sender was answered", a, e.Seq, e.Type, e.Data)
			}
			texts[m.Text] = true
		}
		if len(texts) != len(f.msgs[a]) {
			t.Errorf("%s: the log holds %d messages, %d were acknowledged", a, len(texts), len(f.msgs[a]))
		}
	}
	t.Logf("%d acknowledged actions, each in the log once", total)
	return total
}

// verify runs `actorlog verify --all --server URL` through each node:
// no problem, and every acknowledged event covered (a node's verify
// stops at the last position its live tail has delivered: it is run
// again while that lags).
func (f *clusterFaults) verify(total int) {
	for _, n := range f.nodes {
		start := time.Now()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cmd := exec.CommandContext(ctx, f.bin, "verify", "--all", "--json", "--server", n.url)
			cmd.Env = append(os.Environ(), "ACTORLOG_TOKEN=")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			cancel()
			var rep struct {
				Events, Durable uint64
				Problems        []any
			}
			if jerr := json.Unmarshal(out, &rep); err != nil || jerr != nil || len(rep.Problems) > 0 {
				f.t.Fatalf("actorlog verify --all --server %s (%s): %v %v\n%s%s", n.url, n.name, err, jerr, out, stderr.String())
			}
			if rep.Events == uint64(total) {
				f.t.Logf("actorlog verify --all through %s: %d events up to position %d, no problems (after %v)", n.name, rep.Events, rep.Durable, time.Since(start).Round(time.Millisecond))
				break
			}
			if time.Since(start) > 15*time.Second {
				f.t.Errorf("actorlog verify --all through %s covers %d events up to position %d after %v, want the %d acknowledged; the live tails' consumers:\n%s",
					n.name, rep.Events, rep.Durable, time.Since(start).Round(time.Millisecond), total, f.tails())
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// tails describes the consumers of the events stream: each node's live
// tail is one.
func (f *clusterFaults) tails() string {
	nc, err := nats.Connect(f.nodes[0].nats, nats.Timeout(2*time.Second), nats.MaxReconnects(0))
	if err != nil {
		return err.Error()
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, jslog.DefaultStream)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	if info := st.CachedInfo(); info.Cluster != nil {
		fmt.Fprintf(&b, "stream: last %d, leader %s\n", info.State.LastSeq, info.Cluster.Leader)
	}
	cs := st.ListConsumers(ctx)
	for ci := range cs.Info() {
		host := ""
		if ci.Cluster != nil {
			host = ci.Cluster.Leader
		}
		fmt.Fprintf(&b, "%s on %s: created %s, delivered stream seq %d, pending %d, waiting %d\n",
			ci.Name, host, ci.Created.Format("15:04:05.000"), ci.Delivered.Stream, ci.NumPending, ci.NumWaiting)
	}
	if err := cs.Err(); err != nil {
		fmt.Fprintf(&b, "listing: %v\n", err)
	}
	return b.String()
}
