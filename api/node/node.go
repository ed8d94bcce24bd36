// Package node runs a whole actorlog server inside a Go program: the
// event log in a data directory, the actors of the program's registry,
// its projections and the HTTP and WebSocket API, opened together and
// closed together, with no globals. It is what `actorlog serve` runs;
// cmd/cli is the command line around it.
//
// A program that has its own HTTP server mounts the API on its mux:
//
//	n, err := node.Open(ctx, node.Config{Dir: "data", Registry: reg})
//	if err != nil {
//		return err
//	}
//	defer n.Close(context.Background())
//	mux.Handle("/actorlog/", http.StripPrefix("/actorlog", n.Handler()))
//
// One that has none lets the node serve a listener, with the connection
// cap and timeouts of `actorlog serve`:
//
//	ln, err := net.Listen("tcp", "127.0.0.1:3001")
//	...
//	go n.Serve(ln)
//	<-ctx.Done()
//	n.Close(shutdownCtx) // stops serving, lets calls finish, closes the store
//
// Acknowledged writes are durable as they are for `actorlog serve`: no
// reply and no event reaches a client before the events behind it are
// synced to disk.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/cluster"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/internal/connlimit"
	"github.com/actorlog/actorlog/projection"
	"github.com/actorlog/actorlog/snapshots"
)

// Defaults of Config's HTTP fields.
const (
	DefaultKeepAliveTimeout = 60 * time.Second
	DefaultMaxConns         = 16384
)

// Config configures a Node. Dir and Registry are required; the zero
// value of every other field gives the defaults of `actorlog serve`.
type Config struct {
	// Dir is the data directory, created if missing. Required.
	Dir string
	// Registry holds the program's actor types. Required.
	Registry *actors.Registry
	// Projections are the read models the node keeps up to date.
	Projections []projection.Def
	// Routes add routes of the program's own to the API (see api.Routes).
	Routes []func(*api.Routes)
	// Logger receives the node's messages. Default: none.
	Logger *slog.Logger

	// Store configures the event log (block cache, largest event). Its
	// Logger defaults to Config.Logger.
	Store eventlog.Options
	// Log, if set, is the event log the node uses instead of opening one
	// in Dir (which is then not needed, and Store is ignored): a
	// *jetstream.Log, the store nodes of a cluster share. The node leaves
	// it open on Close: whoever opened it closes it, after the node.
	Log eventlog.Store
	// Cluster, if set, makes the node one of several over Log, which it
	// requires: each actor has one owner node at a time (leases in a
	// JetStream KV bucket), and an RPC call made on any node runs on the
	// owner (see package cluster), and so does a state read; a WebSocket
	// connection is sent on to the owner's API, at the URL in its
	// Cluster.URL, which Serve sets to its listener's when it is empty (a
	// program that serves Handler itself calls Cluster().SetURL). When a
	// shard moves, its actors' connections end (resume with since).
	// Projections run on one node at a time, the holder of the
	// lease "singleton.projections" in the same bucket, and each commit
	// of theirs is conditional on their checkpoint; every node serves
	// their status and views from the store. Give every node the same
	// projections.
	Cluster *cluster.Options
	// Snapshots configures the snapshot store (largest state).
	Snapshots snapshots.Options
	// Runtime configures the actors (idle timeout, snapshot policy,
	// memory budget, limits, retention). Its Frames, Metrics and Logger
	// are the node's own.
	Runtime actors.Options
	// API configures the HTTP and WebSocket API (token, origins, hosts,
	// body and frame limits, socket rates). Its Projections, Routes and
	// Logger are the node's own.
	API api.Options

	// KeepAliveTimeout is how long Serve keeps an idle keep-alive
	// connection open. Default DefaultKeepAliveTimeout (60s).
	KeepAliveTimeout time.Duration
	// MaxConns is the most connections Serve holds open at once,
	// WebSockets included; past it a new connection takes the place of
	// the one idle the longest, or waits (see internal/connlimit).
	// Default DefaultMaxConns (16,384).
	MaxConns int
}

// Node is an open actorlog server. Its methods are safe for concurrent
// use.
type Node struct {
	cfg     Config
	log     eventlog.Store
	ownLog  bool // opened by the node, closed by it
	cluster *cluster.Cluster
	// clusterRef is cluster, for the runtime's goroutines, which start
	// before it is set.
	clusterRef atomic.Pointer[cluster.Cluster]
	snaps      *snapshots.Store
	rt         *actors.Runtime
	projs      *projection.Runner
	// projLease, in a cluster with projections, is the lease under which
	// this node runs them.
	projLease atomic.Pointer[cluster.Singleton]
	api       *api.Server

	mu       sync.Mutex
	closed   bool
	servers  []*http.Server
	closeErr error
	done     chan struct{} // closed when Close has finished
}

// ErrClosed is what Serve returns once Close has stopped it.
var ErrClosed = errors.New("node: closed")

// Open opens the store in cfg.Dir, replays nothing it need not (actors
// wake on their first call), starts the projections and builds the API.
// ctx bounds the opening only: the node runs until Close.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Dir == "" && cfg.Log == nil {
		return nil, errors.New("node: Config.Dir is required (or Config.Log)")
	}
	if cfg.Cluster != nil && cfg.Log == nil {
		return nil, errors.New("node: Config.Cluster needs the shared Config.Log")
	}
	if cfg.Registry == nil {
		return nil, errors.New("node: Config.Registry is required")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.KeepAliveTimeout <= 0 {
		cfg.KeepAliveTimeout = DefaultKeepAliveTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.API.ReadTimeout <= 0 {
		cfg.API.ReadTimeout = api.DefaultReadTimeout
	}
	if cfg.Store.Logger == nil {
		cfg.Store.Logger = cfg.Logger
	}
	var l eventlog.Store = cfg.Log
	if l == nil {
		pl, err := eventlog.Open(cfg.Dir, cfg.Store)
		if err != nil {
			return nil, err
		}
		l = pl
	}
	n := &Node{cfg: cfg, log: l, ownLog: cfg.Log == nil, done: make(chan struct{})}
	var err error
	n.snaps = snapshots.New(l, cfg.Snapshots)
	ropts := cfg.Runtime
	ropts.Frames = wire.Frames{}
	metrics := api.NewMetrics(cfg.API.Metrics)
	ropts.Metrics = metrics
	ropts.Logger = cfg.Logger
	if cfg.Cluster != nil {
		// A node fires the timers of the actors it owns, and claims the
		// shards of due timers no node owns.
		ropts.FiresTimer = func(id eventlog.ID) bool {
			cl := n.clusterRef.Load()
			return cl != nil && cl.Claim(cl.Shard(id))
		}
	}
	n.rt = actors.New(l, n.snaps, cfg.Registry, ropts)
	popts := projection.Options{Logger: cfg.Logger}
	if cfg.Cluster != nil && len(cfg.Projections) > 0 {
		// The projections run while this node holds their lease (below).
		popts.Standby, popts.Node = true, cfg.Cluster.Node
		popts.Holder = func() string {
			if s := n.projLease.Load(); s != nil {
				return s.Holder()
			}
			return ""
		}
	}
	n.projs, err = projection.Start(l, popts, cfg.Projections...)
	if err != nil {
		n.rt.Close(context.Background())
		n.closeLog()
		return nil, err
	}
	aopts := cfg.API
	if cfg.Cluster != nil {
		copts := *cfg.Cluster
		if copts.Logger == nil {
			copts.Logger = cfg.Logger
		}
		// A shard taken (back) may have actors awake here from an
		// earlier ownership, with state older than the log: they load
		// again. n.cluster is set before any shard is taken.
		copts.OnAcquire = func(ctx context.Context, shard int) error {
			cl := n.clusterRef.Load()
			if err := n.rt.Sleep(ctx, func(id eventlog.ID) bool { return cl.Shard(id) == shard }); err != nil {
				return err
			}
			// The shard's timers are this node's to fire now.
			n.rt.KickTimers()
			return nil
		}
		copts.OnRenew = n.rt.KickTimers
		// A shard lost or handed over: its actors here go, and their
		// connections end, so that their clients reach the new owner.
		copts.OnDrop = func(shard int) {
			cl := n.clusterRef.Load()
			ctx, cancel := context.WithTimeout(context.Background(), copts.LeaseTTL)
			defer cancel()
			if err := n.rt.Sleep(ctx, func(id eventlog.ID) bool { return cl.Shard(id) == shard }); err != nil {
				cfg.Logger.Warn("actors of a dropped shard still awake", "shard", shard, "err", err)
			}
		}
		if n.cluster, err = cluster.Open(ctx, copts, n.rt); err != nil {
			n.rt.Close(context.Background())
			n.projs.Close(context.Background())
			n.closeLog()
			return nil, err
		}
		n.clusterRef.Store(n.cluster)
		if len(cfg.Projections) > 0 {
			lease, err := cluster.OpenSingleton(n.cluster, "projections", cluster.SingletonOptions{
				OnAcquire: func(context.Context) error { return n.projs.Activate() },
				OnDrop: func() {
					ctx, cancel := context.WithTimeout(context.Background(), copts.LeaseTTL)
					defer cancel()
					if err := n.projs.Deactivate(ctx); err != nil {
						cfg.Logger.Warn("projections not stopped in time", "err", err)
					}
				},
			})
			if err != nil {
				n.cluster.Close(context.Background())
				n.rt.Close(context.Background())
				n.projs.Close(context.Background())
				n.closeLog()
				return nil, err
			}
			n.projLease.Store(lease)
		}
		n.rt.KickTimers()
		aopts.Cluster = clusterAPI{n.cluster, l}
		if err := metrics.Register(clusterMetrics(n.cluster)...); err != nil {
			cfg.Logger.Warn("cluster metrics not registered", "err", err)
		}
	}
	aopts.Projections = n.projs
	aopts.Routes = cfg.Routes
	aopts.Logger = cfg.Logger
	if n.api, err = api.New(n.rt, l, n.snaps, aopts); err != nil {
		if s := n.projLease.Load(); s != nil {
			s.Close(context.Background())
		}
		if n.cluster != nil {
			n.cluster.Close(context.Background())
		}
		n.rt.Close(context.Background())
		n.projs.Close(context.Background())
		n.closeLog()
		return nil, err
	}
	return n, nil
}

func (n *Node) closeLog() error {
	if !n.ownLog {
		return nil
	}
	return n.log.Close()
}

// Cluster is the node's part of its cluster, nil when Config.Cluster is.
func (n *Node) Cluster() *cluster.Cluster { return n.cluster }

// Handler is the node's HTTP and WebSocket API, to serve or to mount on
// a mux of the program's own. The program's own http.Server should bound
// request headers (ReadHeaderTimeout) and idle connections as Serve's
// does.
func (n *Node) Handler() http.Handler { return n.api }

// Runtime is the node's actor runtime, for calls from inside the
// program (Runtime.Call) that need no HTTP.
func (n *Node) Runtime() *actors.Runtime { return n.rt }

// Store is the node's event log, for reading histories.
func (n *Node) Store() eventlog.Store { return n.log }

// Projections is the node's projection runner. In a cluster it runs the
// projections only while this node holds their lease (Runner.Active),
// and otherwise reads what the node that runs them writes.
func (n *Node) Projections() *projection.Runner { return n.projs }

// Serve serves the API on ln until Close, with the connection cap
// (Config.MaxConns), the read timeout (Config.API.ReadTimeout) and the
// keep-alive timeout (Config.KeepAliveTimeout) of `actorlog serve`. It
// may be called for several listeners. It returns ErrClosed once Close
// has stopped it, and any other error of ln's. It closes ln.
func (n *Node) Serve(ln net.Listener) error {
	limited := connlimit.New(ln, n.cfg.MaxConns, connlimit.Options{})
	hs := &http.Server{
		Handler:           n.api,
		ConnState:         limited.ConnState,
		ReadHeaderTimeout: n.cfg.API.ReadTimeout,
		IdleTimeout:       n.cfg.KeepAliveTimeout,
		ErrorLog:          slog.NewLogLogger(n.cfg.Logger.Handler(), slog.LevelDebug),
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	n.servers = append(n.servers, hs)
	n.mu.Unlock()
	if n.cluster != nil && n.cfg.Cluster.URL == "" {
		// The nodes that send this one the connections of its actors
		// reach it here.
		if err := n.cluster.SetURL(context.Background(), listenURL(ln.Addr())); err != nil {
			n.cfg.Logger.Warn("this node's URL not published", "err", err)
		}
	}
	err := hs.Serve(limited)
	if errors.Is(err, http.ErrServerClosed) {
		return ErrClosed
	}
	return err
}

// Close stops the node: Serve stops accepting and lets the requests in
// flight finish, the sockets close (going away), the actors finish what
// they have begun and sleep, the projections stop, and the store closes.
// ctx bounds the wait for work in flight; past it, what remains is cut
// off (nothing acknowledged is lost: acknowledged means durable). Calls
// after the first wait for it and return its error.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		select {
		case <-n.done:
			return n.closeErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n.closed = true
	servers := n.servers
	n.mu.Unlock()

	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	if err := n.api.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	// Stop the projections and hand their lease over, then stop serving
	// forwarded calls and hand the shards over before the actors sleep:
	// other nodes take them at once.
	if s := n.projLease.Load(); s != nil {
		if err := s.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("projections' lease: %w", err))
		}
	}
	if n.cluster != nil {
		if err := n.cluster.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := n.rt.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := n.projs.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := n.closeLog(); err != nil {
		errs = append(errs, err)
	}
	n.closeErr = errors.Join(errs...)
	close(n.done)
	return n.closeErr
}
