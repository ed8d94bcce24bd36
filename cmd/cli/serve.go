package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/node"
	"github.com/actorlog/actorlog/cluster"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Defaults of serve's own flags.
const (
	defaultKeepAlive = 60 * time.Second
	defaultMaxConns  = 16384
	// filesReserve are the open files kept from connections for the store
	// (Pebble's tables, logs and manifests) and the process.
	filesReserve = 1024
)

// defaultMaxMemoryMiB is half of the memory of the machine, or of the
// cgroup the process runs in if that is less; 2 GiB when neither is
// known.
func defaultMaxMemoryMiB() int {
	total, err := memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem)()
	if err != nil || total == 0 {
		return 2048
	}
	return int(total / 2 >> 20)
}

// goMemoryLimit is the share of --max-memory-mib left to Go's heap and
// stacks once Pebble has its block cache and memtables (which it
// allocates outside the Go heap): the Go runtime's memory limit, of which
// the actors may hold three quarters.
func goMemoryLimit(total, cache int64) (int64, error) {
	pebble := cache + 2*eventlog.DefaultMemTableSize
	const least = 64 << 20
	if total-pebble < least {
		return 0, fmt.Errorf("--max-memory-mib %d leaves less than %d MiB beside the block cache (--cache-mib) and memtables (%d MiB)", total>>20, least>>20, pebble>>20)
	}
	return total - pebble, nil
}

// list splits a comma-separated flag; nil for none.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// loopback reports whether a --host value listens on loopback only.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

// connLimit is --max-conns, lowered to leave filesReserve open files of
// the process's limit to the store.
func connLimit(want int) int {
	if limit := openFilesLimit(); limit > 0 && want > limit-filesReserve {
		want = max(limit-filesReserve, 16)
	}
	return want
}

func (ap *app) serve(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	defPort := 3001
	if p := os.Getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("PORT=%q is not a port number", p)
		}
		defPort = n
	}
	var (
		port        = fs.Int("port", defPort, "port to listen on (env PORT)")
		host        = fs.String("host", "127.0.0.1", "address to listen on: loopback by default; 0.0.0.0 (or ::) for every interface")
		hosts       = fs.String("allowed-hosts", "", "comma-separated host names the server answers to (Host header, against DNS rebinding); default loopback names when listening on loopback, any otherwise; * for any")
		data        = fs.String("data", "./data", "data directory (created if missing)")
		token       = fs.String("token", os.Getenv("ACTORLOG_TOKEN"), "bearer token required on every route but /healthz (env ACTORLOG_TOKEN)")
		origins     = fs.String("cors-origins", "", "comma-separated origins allowed to call from browsers; default any localhost port; * for all")
		idle        = fs.Duration("idle-timeout", actors.DefaultIdleTimeout, "how long an actor with no calls and no connections stays awake")
		snapEvery   = fs.Int("snapshot-every", snapshots.DefaultEvery, "take a snapshot every N events of an actor (negative: never)")
		cacheMiB    = fs.Int("cache-mib", eventlog.DefaultCacheSize>>20, "block cache size in MiB")
		maxBody     = fs.Int64("max-body", api.DefaultMaxBodyBytes, "largest request body in bytes")
		readTimeout = fs.Duration("read-timeout", api.DefaultReadTimeout, "longest time a request's headers, and then its body, may take to arrive (408 past it)")
		keepAlive   = fs.Duration("keepalive-timeout", defaultKeepAlive, "how long an idle keep-alive connection stays open")
		maxConns    = fs.Int("max-conns", defaultMaxConns, "most connections open at once (WebSockets included); past it a new one takes the place of the connection idle the longest (a keep-alive one quiet for half a second since its last reply, or a new one silent for half a second), or else waits to be accepted. Capped below the open-files limit, so that the store always has files")
		wsRate      = fs.Int64("ws-rate", api.DefaultSocketRate, "bytes per second one WebSocket may send (each frame counts at least 256); a faster client is slowed")
		wsTotalRate = fs.Int64("ws-total-rate", api.DefaultTotalSocketRate, "bytes per second all WebSockets together may send, counted as for --ws-rate; past it each socket waits its turn (0: no bound)")
		maxFrame    = fs.Int64("max-frame", api.DefaultMaxFrameBytes, "largest WebSocket frame from a client, in bytes")
		connBuffer  = fs.Int("conn-buffer", actors.DefaultConnBuffer, "frames a WebSocket may fall behind before it is dropped as too slow")
		actorConns  = fs.Int("max-conns-per-actor", actors.DefaultMaxConnsPerActor, "most WebSocket connections to one actor")
		maxAwake    = fs.Int("max-awake", actors.DefaultMaxAwake, "most actors in memory; past it the least recently used idle ones sleep")
		maxMemory   = fs.Int("max-memory-mib", defaultMaxMemoryMiB(), "memory the server may take, in MiB: the block cache and memtables, then the actors, whose least recently used idle ones sleep early near it; default half of the machine's (or its cgroup's) memory")
		maxEvent    = fs.Int("max-event-bytes", actors.DefaultMaxEventSize, "largest event an action may emit, in bytes (413 beyond)")
		maxEvents   = fs.Int("max-events-per-action", actors.DefaultMaxEventsPerAction, "most events one action may emit (413 beyond)")
		maxState    = fs.Int("max-state-bytes", snapshots.DefaultMaxStateSize, "largest state a snapshot may hold, in bytes (larger states are not snapshotted, and replay from the log)")
		pingEvery   = fs.Duration("ping-interval", api.DefaultPingInterval, "how often WebSockets are pinged; one silent for three intervals is closed")
		idemTTL     = fs.Duration("idempotency-ttl", actors.DefaultIdempotencyTTL, "how long the result of a call with an Idempotency-Key is kept for retries")
		logLevel    = fs.String("log-level", "info", "debug, info, warn or error")
		shutdownMax = fs.Duration("shutdown-timeout", 30*time.Second, "longest wait for in-flight work at shutdown")
	)
	cf := addClusterFlags(fs)
	retention := map[string]actors.Retention{}
	fs.Func("retain", "drop an actor type's old events once a snapshot covers them: TYPE:N keeps the last N events, TYPE:DURATION (e.g. chatRoom:720h) keeps younger ones; repeat for more types", func(v string) error {
		typ, keep, ok := strings.Cut(v, ":")
		if !ok || eventlog.ValidateType(typ) != nil {
			return fmt.Errorf("want TYPE:N or TYPE:DURATION, such as counter:1000")
		}
		r := retention[typ]
		if n, err := strconv.Atoi(keep); err == nil && n > 0 {
			r.KeepEvents = n
		} else if d, err := time.ParseDuration(keep); err == nil && d > 0 {
			r.KeepFor = d
		} else {
			return fmt.Errorf("%q is neither a positive count nor a duration", keep)
		}
		retention[typ] = r
		return nil
	})
	if err := parse(fs, args); err != nil {
		return err
	}
	if *maxEvents <= 0 || *maxEvents > actors.MaxEventsPerActionLimit {
		return fmt.Errorf("--max-events-per-action must be between 1 and %d", actors.MaxEventsPerActionLimit)
	}
	if *wsTotalRate < 0 {
		return fmt.Errorf("--ws-total-rate must be 0 (no bound) or more")
	}
	totalRate := *wsTotalRate
	if totalRate == 0 {
		totalRate = -1 // api's "no bound"
	}
	if *maxEvent <= 0 || *maxEvent > 64<<20 {
		return fmt.Errorf("--max-event-bytes must be between 1 and %d", 64<<20)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	lg := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	goMemory, err := goMemoryLimit(int64(*maxMemory)<<20, int64(*cacheMiB)<<20)
	if err != nil {
		return err
	}
	debug.SetMemoryLimit(goMemory)

	allowedHosts := list(*hosts)
	if allowedHosts == nil && !loopback(*host) {
		allowedHosts = []string{"*"}
	}
	conns := connLimit(*maxConns)
	var cs *clusterStore
	var clusterOpts *cluster.Options
	if cf.enabled() {
		if cs, err = cf.open(ap.ctx, *data, lg); err != nil {
			return err
		}
		defer cs.close()
		clusterOpts = &cs.opts
		// The projections run on one node at a time, under a lease;
		// every node serves their status and views (see node.Config).
		lg.Info("cluster node", "node", cs.opts.Node, "shards", cs.opts.Shards, "lease_ttl", cs.opts.LeaseTTL, "replicas", cs.opts.Replicas)
	}
	cfg := node.Config{
		Dir:         *data,
		Registry:    ap.reg,
		Projections: ap.projs,
		Routes:      ap.routes,
		Logger:      lg,
		Store:       eventlog.Options{CacheSize: int64(*cacheMiB) << 20, MaxEventSize: *maxEvent},
		Snapshots:   snapshots.Options{MaxStateSize: *maxState},
		Runtime: actors.Options{
			IdleTimeout:        *idle,
			ConnBuffer:         *connBuffer,
			MaxConnsPerActor:   *actorConns,
			Snapshots:          snapshots.Policy{Every: *snapEvery},
			MaxAwake:           *maxAwake,
			MemoryBudget:       goMemory / 4 * 3,
			MaxEventSize:       *maxEvent,
			MaxEventsPerAction: *maxEvents,
			Retention:          retention,
			IdempotencyTTL:     *idemTTL,
		},
		API: api.Options{
			Token:           *token,
			AllowedOrigins:  list(*origins),
			AllowedHosts:    allowedHosts,
			ReadTimeout:     *readTimeout,
			MaxBodyBytes:    *maxBody,
			MaxFrameBytes:   *maxFrame,
			SocketRate:      *wsRate,
			TotalSocketRate: totalRate,
			PingInterval:    *pingEvery,
		},
		KeepAliveTimeout: *keepAlive,
		MaxConns:         conns,
	}
	if cs != nil {
		cfg.Log, cfg.Cluster = cs.log, clusterOpts
	}
	n, err := node.Open(ap.ctx, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		n.Close(context.Background())
		return err
	}
	where := "http://" + net.JoinHostPort(*host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	if !loopback(*host) {
		where += " (every interface)"
		if *token == "" {
			lg.Warn("listening beyond loopback without a token: anyone who reaches this port may call every actor; set --token", "addr", ln.Addr().String())
		}
	}
	fmt.Fprintf(stdout, "actorlog listening on %s (data %s)\n", where, escape(*data))
	lg.Info("limits", "max_conns", conns, "read_timeout", *readTimeout, "keepalive_timeout", *keepAlive, "ws_rate", *wsRate, "ws_total_rate", *wsTotalRate)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- n.Serve(ln) }()
	select {
	case sig := <-sigs:
		lg.Info("shutting down", "signal", sig.String())
	case <-ap.ctx.Done():
		lg.Info("shutting down", "reason", context.Cause(ap.ctx).Error())
	case err := <-served:
		lg.Error("server stopped", "err", err)
		served = nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), *shutdownMax)
	defer cancel()
	// Stop accepting and let in-flight requests finish; then close the
	// sockets (going away), let the actors finish and sleep, and close the
	// store.
	if err := n.Close(ctx); err != nil {
		return err
	}
	if served != nil {
		<-served
	}
	lg.Info("stopped")
	return nil
}
