package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/actorlog/actorlog/cluster"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// clusterFlags are serve's flags for cluster mode.
type clusterFlags struct {
	url         *string
	nats        *string // --nats: --cluster's other name, as import takes it
	node        *string
	natsListen  *string
	natsCluster *string
	natsRoutes  *string
	replicas    *int
	shards      *int
	leaseTTL    *time.Duration
	advertise   *string
}

func addClusterFlags(fs *flag.FlagSet) *clusterFlags {
	host, _ := os.Hostname()
	return &clusterFlags{
		nats:        fs.String("nats", "", "the same as --cluster"),
		url:         fs.String("cluster", "", "run as a node of a cluster over the NATS JetStream servers at these URLs (comma-separated): events, records and leases live in JetStream, not in --data"),
		node:        fs.String("node", host, "this node's name in the cluster, unique"),
		natsListen:  fs.String("nats-listen", "", "run as a node of a cluster on a NATS JetStream server embedded in this process, taking clients on HOST:PORT; its store is under --data/nats"),
		natsCluster: fs.String("nats-cluster", "", "HOST:PORT where the embedded NATS server takes routes from its peers (with --nats-listen)"),
		natsRoutes:  fs.String("nats-routes", "", "comma-separated routes to the embedded servers' peers, such as nats-route://127.0.0.1:6222 (with --nats-cluster)"),
		replicas:    fs.Int("replicas", 0, "copies JetStream keeps of the events and leases when it creates them: 3 in a cluster of three (default 3 with --nats-routes, else 1)"),
		shards:      fs.Int("shards", cluster.DefaultShards, "shards the actors are spread over, the same on every node"),
		leaseTTL:    fs.Duration("lease-ttl", cluster.DefaultLeaseTTL, "how long a node's ownership of a shard lasts unrenewed: the longest a dead node's actors wait for a new owner"),
		advertise:   fs.String("advertise", "", "the URL at which the other nodes reach this one's API, to send it the WebSockets of the actors it owns (default http://HOST:PORT of the listener, this machine's name for 0.0.0.0)"),
	}
}

func (f *clusterFlags) enabled() bool {
	return *f.url != "" || *f.nats != "" || *f.natsListen != ""
}

// clusterStore is what cluster mode opens before the node: the embedded
// server if any, the connection and the JetStream log.
type clusterStore struct {
	srv  *server.Server
	nc   *nats.Conn
	log  *jetstream.Log
	opts cluster.Options
}

// open starts the embedded server if asked, connects and opens the log,
// waiting up to a minute for JetStream (openJetStream).
func (f *clusterFlags) open(ctx context.Context, dataDir string, lg *slog.Logger) (*clusterStore, error) {
	if *f.nats != "" {
		if *f.url != "" && *f.url != *f.nats {
			return nil, errors.New("--cluster and --nats name the same servers: give one")
		}
		*f.url = *f.nats
	}
	if *f.url != "" && *f.natsListen != "" {
		return nil, errors.New("--cluster and --nats-listen: give one (an external NATS, or an embedded one)")
	}
	if *f.node == "" {
		return nil, errors.New("--node is required in cluster mode")
	}
	if a := *f.advertise; a != "" {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--advertise %q: give the URL other nodes reach this one at, such as http://10.0.0.5:3000", a)
		}
	}
	cs := &clusterStore{}
	replicas := *f.replicas
	if *f.natsListen != "" {
		o := &server.Options{
			ServerName: *f.node,
			NoSigs:     true,
			NoLog:      os.Getenv("ACTORLOG_NATS_LOG") == "",
			JetStream:  true,
			StoreDir:   filepath.Join(dataDir, "nats"),
			// Durability is the product: without it JetStream syncs every
			// two minutes and a power loss takes acknowledged writes.
			SyncAlways: true,
			MaxPayload: 8 << 20,
			// The runtime writes up to 2,000 records at once.
			JetStreamLimits: server.JSLimitOpts{MaxBatchSize: 4096, MaxBatchInflightPerStream: 1000},
		}
		var err error
		if o.Host, o.Port, err = hostPort(*f.natsListen); err != nil {
			return nil, fmt.Errorf("--nats-listen: %w", err)
		}
		if *f.natsCluster != "" {
			o.Cluster.Name = "actorlog"
			if o.Cluster.Host, o.Cluster.Port, err = hostPort(*f.natsCluster); err != nil {
				return nil, fmt.Errorf("--nats-cluster: %w", err)
			}
			o.Routes = server.RoutesFromStr(*f.natsRoutes)
			if replicas == 0 {
				replicas = min(3, 1+len(o.Routes))
			}
		}
		if cs.srv, err = server.NewServer(o); err != nil {
			return nil, fmt.Errorf("nats server: %w", err)
		}
		if os.Getenv("ACTORLOG_NATS_LOG") != "" {
			cs.srv.ConfigureLogger()
		}
		go cs.srv.Start()
		if !cs.srv.ReadyForConnections(10 * time.Second) {
			cs.close()
			return nil, errors.New("the embedded nats server did not start")
		}
		if cs.nc, err = nats.Connect("", nats.InProcessServer(cs.srv), nats.Name(*f.node), nats.MaxReconnects(-1)); err != nil {
			cs.close()
			return nil, err
		}
	} else {
		var err error
		if cs.nc, err = dialNATS(*f.url, *f.node); err != nil {
			return nil, fmt.Errorf("--cluster: %w", err)
		}
	}
	if replicas <= 0 {
		replicas = 1
	}
	var err error
	if cs.log, err = openJetStream(ctx, cs.nc, replicas, time.Minute, lg); err != nil {
		cs.close()
		return nil, err
	}
	cs.opts = cluster.Options{Conn: cs.nc, Node: *f.node, Shards: *f.shards, LeaseTTL: *f.leaseTTL, Replicas: replicas, URL: *f.advertise, Logger: lg}
	return cs, nil
}

// dialNATS connects to external NATS servers (URLs comma-separated) as
// cluster mode does, naming the connection name. It fails at once if no
// server answers (each is given the client's dial timeout, 2 s); once
// connected it reconnects for ever.
func dialNATS(urls, name string) (*nats.Conn, error) {
	return nats.Connect(urls, nats.Name(name), nats.MaxReconnects(-1), nats.PingInterval(5*time.Second))
}

// openJetStream opens the JetStream log on nc as cluster mode runs it,
// creating its stream with replicas copies if it does not exist: serve
// and import --nats both open it here, so that the stream is the same
// whichever of them creates it. It tries again until wait has passed
// (the peers of a new cluster elect a leader once enough of them are up).
func openJetStream(ctx context.Context, nc *nats.Conn, replicas int, wait time.Duration, lg *slog.Logger) (*jetstream.Log, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		// Each attempt's requests wait 5 s: one that went to a stream
		// still electing its leader is asked again.
		try, cancelTry := context.WithTimeout(wctx, 5*time.Second)
		l, err := jetstream.Open(try, jetstream.Options{Conn: nc, Replicas: replicas, MaxAppendEvents: 4096, Logger: lg})
		cancelTry()
		if err == nil {
			return l, nil
		}
		select {
		case <-wctx.Done():
			return nil, fmt.Errorf("jetstream: %w", err)
		case <-time.After(500 * time.Millisecond):
			lg.Info("waiting for JetStream", "err", err)
		}
	}
}

// close closes what open opened, after the node.
func (cs *clusterStore) close() error {
	var errs []error
	if cs.log != nil {
		errs = append(errs, cs.log.Close())
	}
	if cs.nc != nil {
		cs.nc.Close()
	}
	if cs.srv != nil {
		cs.srv.Shutdown()
		cs.srv.WaitForShutdown()
	}
	return errors.Join(errs...)
}

func hostPort(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return h, n, nil
}
