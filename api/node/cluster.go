package node

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/cluster"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// clusterAPI is the api.Cluster of a node: the cluster, and the store
// whose stream it describes.
type clusterAPI struct {
	*cluster.Cluster
	log eventlog.Store
}

// Status implements api.Cluster.
func (c clusterAPI) Status(ctx context.Context) (wire.Cluster, error) {
	st, err := c.Cluster.Status(ctx)
	if err != nil {
		return wire.Cluster{}, err
	}
	out := wire.Cluster{
		Node: st.Node, Shards: st.Shards, LeaseTTL: st.LeaseTTL.String(),
		Members: []wire.ClusterMember{}, Owners: []wire.ShardOwner{},
		Stats: wire.ClusterStats{
			Owned: st.Stats.Owned, Acquired: st.Stats.Acquired, Dropped: st.Stats.Dropped, HandedOver: st.Stats.HandedOver,
			Local: st.Stats.Local, Forwarded: st.Stats.Forwarded, ForwardRetries: st.Stats.ForwardRetries,
			ForwardFailed: st.Stats.ForwardFailed, Served: st.Stats.Served,
		},
	}
	owned := map[string]int{}
	for _, o := range st.Owners {
		out.Owners = append(out.Owners, wire.ShardOwner{Shard: o.Shard, Node: o.Node, Revision: o.Revision})
		owned[o.Node]++
	}
	for _, m := range st.Members {
		out.Members = append(out.Members, wire.ClusterMember{Node: m.Node, URL: m.URL, Started: m.Started.Format(time.RFC3339), Shards: owned[m.Node]})
	}
	if js, ok := c.log.(*jetstream.Log); ok {
		ws := &wire.ClusterStream{Replicas: []wire.StreamReplica{}}
		if ss, err := js.Status(ctx); err != nil {
			ws.Error = err.Error()
		} else {
			ws.Name, ws.Messages, ws.Bytes, ws.Leader = ss.Stream, ss.Messages, ss.Bytes, ss.Leader
			for _, r := range ss.Replicas {
				ws.Replicas = append(ws.Replicas, wire.StreamReplica{Server: r.Server, Leader: r.Leader, Current: r.Current, Offline: r.Offline, ActiveMs: r.Active.Milliseconds(), Lag: r.Lag})
			}
		}
		out.Stream = ws
	}
	return out, nil
}

// clusterMetrics are the cluster's figures for /metrics.
func clusterMetrics(c *cluster.Cluster) []prometheus.Collector {
	counter := func(name, help string, v func(cluster.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(c.Stats())) })
	}
	return append(routed(c),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "actorlog_cluster_shards_owned", Help: "Shards this node serves now."},
			func() float64 { return float64(len(c.Owned())) }),
		counter("actorlog_cluster_shards_acquired_total", "Shard leases this node took.", func(s cluster.Stats) uint64 { return s.Acquired }),
		counter("actorlog_cluster_shards_dropped_total", "Shards this node stopped serving before closing (lease lost or released).", func(s cluster.Stats) uint64 { return s.Dropped }),
		counter("actorlog_cluster_shards_handed_over_total", "Shards this node released because they belong on another member.", func(s cluster.Stats) uint64 { return s.HandedOver }),
		counter("actorlog_cluster_forward_retries_total", "Forwarded requests retried because the owner moved, was gone or conflicted.", func(s cluster.Stats) uint64 { return s.ForwardRetries }),
		counter("actorlog_cluster_forward_failures_total", "Routed requests that failed for the cluster's sake (no owner in time, cut off).", func(s cluster.Stats) uint64 { return s.ForwardFailed }),
	)
}

// routed is actorlog_cluster_calls_total by route: "local" (requests
// made on the owner), "forwarded" (made here, sent to the owner) and
// "served" (forwarded here, run as the owner).
func routed(c *cluster.Cluster) []prometheus.Collector {
	var cs []prometheus.Collector
	for route, get := range map[string]func(cluster.Stats) uint64{
		"local":     func(s cluster.Stats) uint64 { return s.Local },
		"forwarded": func(s cluster.Stats) uint64 { return s.Forwarded },
		"served":    func(s cluster.Stats) uint64 { return s.Served },
	} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "actorlog_cluster_calls_total",
			Help:        "Calls, state reads and socket placements routed by this node: local (run here, the owner), forwarded (sent to the owner), served (forwarded here, run as the owner). Calls over WebSockets are not counted.",
			ConstLabels: prometheus.Labels{"route": route},
		}, func() float64 { return float64(get(c.Stats())) }))
	}
	return cs
}

// listenURL is the URL of a listener's address: its host, or this
// machine's name when it listens on every address.
func listenURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	p, _ := strconv.Atoi(port)
	return "http://" + net.JoinHostPort(host, strconv.Itoa(p))
}
