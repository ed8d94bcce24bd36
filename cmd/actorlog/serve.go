package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
	"github.com/actorlog/actorlog/snapshots"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func serve(args []string, stdout, stderr io.Writer) error {
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
		host        = fs.String("host", "", "address to listen on; empty for every interface")
		data        = fs.String("data", "./data", "data directory (created if missing)")
		token       = fs.String("token", os.Getenv("ACTORLOG_TOKEN"), "bearer token required on every route but /healthz (env ACTORLOG_TOKEN)")
		origins     = fs.String("cors-origins", "", "comma-separated origins allowed to call from browsers; default any localhost port; * for all")
		idle        = fs.Duration("idle-timeout", actors.DefaultIdleTimeout, "how long an actor with no calls and no connections stays awake")
		snapEvery   = fs.Int("snapshot-every", snapshots.DefaultEvery, "take a snapshot every N events of an actor (negative: never)")
		cacheMiB    = fs.Int("cache-mib", eventlog.DefaultCacheSize>>20, "block cache size in MiB")
		maxBody     = fs.Int64("max-body", api.DefaultMaxBodyBytes, "largest request body in bytes")
		maxFrame    = fs.Int64("max-frame", api.DefaultMaxFrameBytes, "largest WebSocket frame from a client, in bytes")
		connBuffer  = fs.Int("conn-buffer", actors.DefaultConnBuffer, "frames a WebSocket may fall behind before it is dropped as too slow")
		maxConns    = fs.Int("max-conns-per-actor", actors.DefaultMaxConnsPerActor, "most WebSocket connections to one actor")
		maxAwake    = fs.Int("max-awake", actors.DefaultMaxAwake, "most actors in memory; past it the least recently used idle ones sleep")
		maxEvent    = fs.Int("max-event-bytes", actors.DefaultMaxEventSize, "largest event an action may emit, in bytes (413 beyond)")
		maxEvents   = fs.Int("max-events-per-action", actors.DefaultMaxEventsPerAction, "most events one action may emit (413 beyond)")
		maxState    = fs.Int("max-state-bytes", snapshots.DefaultMaxStateSize, "largest state a snapshot may hold, in bytes (larger states are not snapshotted, and replay from the log)")
		pingEvery   = fs.Duration("ping-interval", api.DefaultPingInterval, "how often WebSockets are pinged; one silent for three intervals is closed")
		idemTTL     = fs.Duration("idempotency-ttl", actors.DefaultIdempotencyTTL, "how long the result of a call with an Idempotency-Key is kept for retries")
		logLevel    = fs.String("log-level", "info", "debug, info, warn or error")
		shutdownMax = fs.Duration("shutdown-timeout", 30*time.Second, "longest wait for in-flight work at shutdown")
	)
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
	if *maxEvent <= 0 || *maxEvent > 64<<20 {
		return fmt.Errorf("--max-event-bytes must be between 1 and %d", 64<<20)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	lg := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	l, err := eventlog.Open(*data, eventlog.Options{CacheSize: int64(*cacheMiB) << 20, MaxEventSize: *maxEvent, Logger: lg})
	if err != nil {
		return err
	}
	snaps := snapshots.New(l, snapshots.Options{MaxStateSize: *maxState})
	rt := actors.New(l, snaps, seed.Registry(), actors.Options{
		IdleTimeout:        *idle,
		ConnBuffer:         *connBuffer,
		MaxConnsPerActor:   *maxConns,
		Snapshots:          snapshots.Policy{Every: *snapEvery},
		MaxAwake:           *maxAwake,
		MaxEventSize:       *maxEvent,
		MaxEventsPerAction: *maxEvents,
		Retention:          retention,
		IdempotencyTTL:     *idemTTL,
		Frames:             wire.Frames{},
		Metrics:            api.NewMetrics(nil),
		Logger:             lg,
	})
	projections, err := projection.Start(l, projection.Options{Logger: lg}, projection.Directory(), seed.ChatRooms())
	if err != nil {
		rt.Close(context.Background())
		l.Close()
		return err
	}
	var allowed []string
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			allowed = append(allowed, o)
		}
	}
	srv, err := api.New(rt, l, snaps, api.Options{
		Token:          *token,
		AllowedOrigins: allowed,
		MaxBodyBytes:   *maxBody,
		MaxFrameBytes:  *maxFrame,
		PingInterval:   *pingEvery,
		Projections:    projections,
		Routes:         []func(*api.Routes){seed.Routes},
		Logger:         lg,
	})
	if err != nil {
		rt.Close(context.Background())
		projections.Close(context.Background())
		l.Close()
		return err
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		rt.Close(context.Background())
		projections.Close(context.Background())
		l.Close()
		return err
	}
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	shown := *host
	if shown == "" || shown == "0.0.0.0" || shown == "::" {
		shown = "localhost"
	}
	fmt.Fprintf(stdout, "actorlog listening on http://%s (data %s)\n", net.JoinHostPort(shown, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)), escape(*data))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	select {
	case sig := <-sigs:
		lg.Info("shutting down", "signal", sig.String())
	case err := <-served:
		lg.Error("server stopped", "err", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *shutdownMax)
	defer cancel()
	// Stop accepting and let in-flight requests finish; then close the
	// sockets (going away), let the actors finish and sleep, and close the
	// store.
	var errs []error
	if err := httpSrv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := srv.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := rt.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := projections.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := l.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	lg.Info("stopped")
	return nil
}
