// Package api is the HTTP and WebSocket surface of actorlog.
//
// Routes:
//
//	POST /rpc/{type}:{key}/{action}          call an action (JSON or msgpack)
//	POST /actors/{type}/{key}/actions/{action} the same, RivetKit's path
//	GET  /ws/{type}/{key}                    WebSocket: init, events, calls
//	GET  /actors/{type}/{key}/events         WebSocket, or the history as JSON
//	GET  /actors/{type}/{key}/state?at=N     state now, or folded up to N
//	GET  /actors?type=&limit=&after=         list actors
//	GET  /schema                             the actor types, described (JSON Schema)
//	GET  /inspect/..., /projections...        inspection and read models
//	GET  /healthz, GET /metrics
//	     the application's own (Options.Routes), such as the seed's /api/...
//
// Every error is JSON: {"error":{"code":"...","message":"..."}} with the
// status of its code; a WebSocket handshake the server refuses is
// accepted and closed at once with code 4000+status and the message as
// the reason (wire.RefusedCode), which a browser can read. The shapes of every reply and frame are in package
// wire (api/wire), the protocol's one home; the api package serves them
// and owns the WebSocket protocol, giving the runtime its FrameEncoder
// (wire.Frames). With a token set, every route but /healthz needs
// "Authorization: Bearer <token>" (or ?token= on a WebSocket).
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/internal/lifetime"
	"github.com/actorlog/actorlog/projection"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"
	"golang.org/x/time/rate"
)

// The defaults of Options.
const (
	DefaultMaxBodyBytes      = 1 << 20
	DefaultReadTimeout       = 20 * time.Second
	DefaultCallTimeout       = 30 * time.Second
	DefaultPingInterval      = 20 * time.Second
	DefaultMaxFrameBytes     = 1 << 20
	DefaultMaxCallsPerSocket = 64
	DefaultSocketRate        = 1 << 20
	DefaultTotalSocketRate   = 32 << 20
)

// Options configure a Server. The zero value gives the defaults.
type Options struct {
	// Token, if set, is the bearer token every route but /healthz (and
	// the demo page's files) needs, in an "Authorization: Bearer" header;
	// on a WebSocket upgrade it may be ?token= instead.
	Token string
	// AllowedOrigins are the origins of other sites whose pages browsers
	// may call from (CORS, WebSocket, and any request that changes state).
	// Default: any port of localhost, 127.0.0.1 and [::1]. "*" allows
	// every origin. A page of this server's own origin may always call.
	AllowedOrigins []string
	// AllowedHosts are the host names (of the Host header) the server
	// answers to, against DNS rebinding. Default: loopback names only
	// (localhost, names under .localhost, 127.0.0.0/8, ::1): right for a
	// server listening on loopback. "*" answers to any host.
	AllowedHosts []string
	// ReadTimeout bounds the time a request body takes to arrive; past it
	// the request fails with 408 and the connection closes. Default
	// DefaultReadTimeout (20s). The http.Server's ReadHeaderTimeout
	// should bound the headers.
	ReadTimeout time.Duration
	// MaxBodyBytes bounds a request body. Default DefaultMaxBodyBytes
	// (1 MiB).
	MaxBodyBytes int64
	// CallTimeout bounds one call. Default DefaultCallTimeout (30s).
	CallTimeout time.Duration
	// PingInterval is how often a WebSocket is pinged; a socket silent for
	// three intervals is closed. Default DefaultPingInterval (20s).
	PingInterval time.Duration
	// MaxFrameBytes bounds a WebSocket frame from a client. Default
	// DefaultMaxFrameBytes (1 MiB).
	MaxFrameBytes int64
	// MaxCallsPerSocket bounds the calls one socket has in flight.
	// Default DefaultMaxCallsPerSocket (64).
	MaxCallsPerSocket int
	// SocketRate bounds what one WebSocket may send, in bytes a second,
	// each frame (control frames too) counting at least 256 bytes (so
	// 4,096 small frames a second at the default): past it the server
	// reads the socket's frames no faster, so that one client cannot take
	// the server's or an actor's time from the others. A frame is paid
	// for, by the length its header declares, before its payload is
	// read, so that a socket held back does not hold its frame meanwhile.
	// Bursts of MaxFrameBytes (or of a second's worth, if more) pass at
	// once. Default DefaultSocketRate (1 MiB/s).
	SocketRate int64
	// TotalSocketRate bounds what all WebSockets together may send, in
	// bytes a second, counted as for SocketRate: past it every socket's
	// frames wait their turn too, so that many sockets, each within its
	// own rate, cannot together take the server's time from its other
	// clients. Sockets take turns of at most 64 KiB (or a tenth of a
	// second's worth, if less) in the order they ask, so that one
	// socket's large frame does not hold the others back for long.
	// Default DefaultTotalSocketRate (32 MiB/s); negative: no bound.
	TotalSocketRate int64
	// Projections, if set, serves /projections, and GET /actors from the
	// actor directory.
	Projections *projection.Runner
	// Caller, if set, runs the actions of RPC requests instead of the
	// runtime. Calls over a WebSocket run on the runtime.
	Caller Caller
	// Cluster, if set, makes the server a node of a cluster: RPC calls
	// and state reads run on the actor's owner, a WebSocket is sent on to
	// the owner, and GET /cluster describes the cluster. It takes the
	// place of Caller.
	Cluster Cluster
	// Routes add routes of the application's own, such as the seed
	// actors' convenience routes (seed.Routes): each is called once, by
	// New.
	Routes []func(*Routes)
	// Metrics is where the server registers its metrics when the
	// runtime's are not an api *Metrics (which has its registry). Default:
	// a new registry. /metrics serves it.
	Metrics *prometheus.Registry
	// Logger receives the server's messages. Default slog.Default().
	Logger *slog.Logger
}

// Log is what the server reads of the event log's store: streams, the
// feed, live subscriptions and the records of snapshots and projections.
// It never writes through it. Any eventlog.Store is one.
type Log interface {
	eventlog.StreamReader
	eventlog.FeedReader
	eventlog.Subscriber
	eventlog.Records
	Health() eventlog.Health
}

// Server serves the API. Create it with New; it is an http.Handler.
// Caller runs an action on an actor: the runtime's Call, or one that
// sends it elsewhere.
type Caller interface {
	Call(ctx context.Context, id eventlog.ID, action string, args actors.Args, opts actors.CallOptions) (actors.Reply, error)
}

type Server struct {
	rt      *actors.Runtime
	caller  Caller
	log     Log
	snaps   *snapshots.Store
	opts    Options
	handler http.Handler
	metrics *Metrics
	lg      *slog.Logger

	description []byte // GET /schema: wire.Description as JSON, made once

	writeBuffers sync.Pool // WebSocket write buffers, shared by sockets
	batchBuffers sync.Pool // the frames a socket's writer collects (batch.go)

	// socketsBudget is Options.TotalSocketRate, which every socket's
	// frames are paid from too; nil if there is no bound.
	socketsBudget *rate.Limiter

	// scope owns the sockets' goroutines (a reader and a writer each, and
	// one per call in flight); its context is the root of their work.
	scope *lifetime.Scope

	// proxied are the WebSockets sent on to their actor's owner.
	proxied       proxies
	transportOnce sync.Once
	transport     *http.Transport

	mu      sync.Mutex // guards sockets and closed
	sockets map[*socket]struct{}
	closed  bool // Close was called: no new sockets

	// What the application's routes (Options.Routes) added beside the
	// router: set by New, read-only after it.
	intercepts  []intercept
	corsMethods []string
	corsHeaders []string
	// corsCredentials match the requests whose CORS answers allow
	// credentials (Routes.AllowCredentials).
	corsCredentials []func(*http.Request) bool
	refusers        []refuser
	tokens          []func(*http.Request) (string, bool)
}

// New returns a Server for rt, reading history from log and snaps. Give
// the runtime a *Metrics (NewMetrics, as actors.Options.Metrics) to get
// its figures at /metrics, beside the server's, and wire.Frames (as
// actors.Options.Frames) for the WebSocket protocol's frames. New refuses
// a registry whose events the protocol cannot carry (wire.CheckRegistry),
// and describes the registry's actor types once, for GET /schema.
func New(rt *actors.Runtime, log Log, snaps *snapshots.Store, opts Options) (*Server, error) {
	if err := wire.CheckRegistry(rt.Registry()); err != nil {
		return nil, err
	}
	desc, err := wire.Describe(rt.Registry())
	if err != nil {
		return nil, err
	}
	descJSON, err := json.MarshalIndent(desc, "", "  ")
	if err != nil {
		return nil, err
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.MaxFrameBytes <= 0 {
		opts.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if opts.MaxCallsPerSocket <= 0 {
		opts.MaxCallsPerSocket = DefaultMaxCallsPerSocket
	}
	if opts.SocketRate <= 0 {
		opts.SocketRate = DefaultSocketRate
	}
	if opts.TotalSocketRate == 0 {
		opts.TotalSocketRate = DefaultTotalSocketRate
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m, ok := rt.Metrics().(*Metrics)
	if !ok {
		m = NewMetrics(opts.Metrics)
	}
	caller := opts.Caller
	if opts.Cluster != nil {
		caller = opts.Cluster
	}
	if caller == nil {
		caller = rt
	}
	s := &Server{rt: rt, caller: caller, log: log, snaps: snaps, opts: opts, metrics: m, lg: opts.Logger, description: append(descJSON, '\n'), scope: lifetime.New(), sockets: make(map[*socket]struct{})}
	s.batchBuffers.New = newBatchBuffer
	if opts.TotalSocketRate > 0 {
		turn := min(max(opts.TotalSocketRate/10, minFrameCost), maxTurn)
		s.socketsBudget = rate.NewLimiter(rate.Limit(opts.TotalSocketRate), int(turn))
	}
	m.watch(s)

	r := httprouter.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no route for "+req.Method+" "+req.URL.Path)
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", req.Method+" is not allowed on "+req.URL.Path+"; allowed: "+w.Header().Get("Allow"))
	})
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
		s.lg.Error("handler panicked", "path", req.URL.Path, "panic", v)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}

	r.GET("/healthz", s.health)
	r.Handler(http.MethodGet, "/metrics", m.handler())
	r.POST("/rpc/:target/:action", s.rpc)
	r.POST("/actors/:type/:key/actions/:action", s.rpcPath)
	r.GET("/ws/:type/:key", s.websocket)
	r.GET("/actors/:type/:key/events", s.eventsOrSocket)
	r.GET("/actors/:type/:key/state", s.state)
	r.GET("/actors", s.listActors)
	r.GET("/schema", s.schema)
	r.GET("/cluster", s.cluster)
	s.inspectRoutes(r)
	s.projectionRoutes(r)
	s.demoRoutes(r)
	for _, add := range opts.Routes {
		add(&Routes{s: s, r: r})
	}

	s.handler = s.hostGuard(s.corsHandler(s.originGuard(s.auth(s.bodyDeadline(s.intercepted(escapedSlashes(r)))))))
	return s, nil
}

// escapedSlashes routes a request whose path holds an escaped slash
// ("%2F", as a client sends the key "team/general") by its escaped form,
// so that the slash stays inside its segment, and unescapes the route's
// parameters before the handler sees them. Other requests, and ones that
// match no route that way, go to the router as they are.
func escapedSlashes(r *httprouter.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw := req.URL.RawPath
		if raw == "" || !strings.Contains(raw, "%2F") && !strings.Contains(raw, "%2f") {
			r.ServeHTTP(w, req)
			return
		}
		h, ps, _ := r.Lookup(req.Method, raw)
		if h == nil {
			r.ServeHTTP(w, req)
			return
		}
		for i := range ps {
			v, err := url.PathUnescape(ps[i].Value)
			if err != nil {
				writeError(w, http.StatusBadRequest, "bad_request", "the path does not unescape: "+err.Error())
				return
			}
			ps[i].Value = v
		}
		if r.PanicHandler != nil {
			defer func() {
				if v := recover(); v != nil {
					r.PanicHandler(w, req, v)
				}
			}()
		}
		h(w, req, ps)
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close closes every WebSocket with "going away" and waits for their
// goroutines until ctx ends. Call it after http.Server.Shutdown, which does
// not wait for hijacked connections, and before or after the runtime's
// Close (which ends the sockets' connections).
func (s *Server) Close(ctx context.Context) error {
	// socket.end takes s.mu to leave the set: shut the sockets down
	// outside the lock.
	s.mu.Lock()
	s.closed = true
	open := make([]*socket, 0, len(s.sockets))
	for so := range s.sockets {
		open = append(open, so)
	}
	s.mu.Unlock()
	for _, so := range open {
		so.shutdown()
	}
	s.proxied.closeAll()
	s.transportOnce.Do(func() {}) // orders the read below after a proxy's Do
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	if err := s.scope.Close(ctx); err != nil {
		return fmt.Errorf("api: close: %w", err)
	}
	return nil
}

// schema serves the description of the actor types.
func (s *Server) schema(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(s.description)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	h := s.log.Health()
	if !h.Writable {
		// Degraded: reads go on, writes are refused until the store
		// recovers. A load balancer may send writes elsewhere meanwhile.
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, wire.Health{
			Durable: s.log.Durable(), Status: "degraded", Reason: h.Reason, Since: h.Since.UTC().Format(time.RFC3339Nano),
		})
		return
	}
	writeJSON(w, http.StatusOK, wire.Health{Durable: s.log.Durable(), Status: "ok"})
}

// auth checks the bearer token.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.opts.Token == "" {
		return next
	}
	want := []byte(s.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The demo page's static files are public; the page passes the
		// token from its own URL (?token=) to the API.
		public := r.URL.Path == "/healthz" || r.Method == http.MethodGet && (r.URL.Path == "/" || r.URL.Path == "/demo" || strings.HasPrefix(r.URL.Path, "/demo/"))
		if public || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok && websocket.IsWebSocketUpgrade(r) {
			// A browser cannot set headers on a WebSocket: the token may
			// come in the URL there, and only there (URLs end up in logs).
			got, ok = r.URL.Query().Get("token"), r.URL.Query().Has("token")
		}
		for _, from := range s.tokens {
			if ok {
				break
			}
			got, ok = from(r)
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="actorlog"`)
			s.guardRefuse(w, r, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) corsHandler(next http.Handler) http.Handler {
	opts := cors.Options{
		AllowOriginFunc:  s.originAllowed,
		AllowedMethods:   append([]string{http.MethodGet, http.MethodPost, http.MethodOptions}, s.corsMethods...),
		AllowedHeaders:   append([]string{"Content-Type", "Accept", "Authorization", "Idempotency-Key", "X-Correlation-Id"}, s.corsHeaders...),
		ExposedHeaders:   []string{"Actorlog-Seq", "Idempotent-Replayed"},
		AllowCredentials: false,
		MaxAge:           600,
	}
	plain := cors.New(opts).Handler(next)
	if len(s.corsCredentials) == 0 {
		return plain
	}
	opts.AllowCredentials = true
	credentialed := cors.New(opts).Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, match := range s.corsCredentials {
			if match(r) {
				credentialed.ServeHTTP(w, r)
				return
			}
		}
		plain.ServeHTTP(w, r)
	})
}

// originAllowed applies Options.AllowedOrigins.
func (s *Server) originAllowed(origin string) bool {
	if origin == "" {
		return false // not a browser's cross-origin request: nothing to allow
	}
	if len(s.opts.AllowedOrigins) == 0 {
		u, err := url.Parse(origin)
		if err != nil {
			return false
		}
		switch h := u.Hostname(); h {
		case "localhost", "127.0.0.1", "::1":
			return u.Scheme == "http" || u.Scheme == "https"
		}
		return false
	}
	for _, o := range s.opts.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, wire.Error{Error: wire.ErrorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"reply does not encode"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

// httpError is an error of HTTP itself, not of the runtime: its status,
// code and message.
type httpError struct {
	status    int
	code, msg string
}

func (e *httpError) Error() string { return "api: " + e.msg }

// errBodyTimeout answers a request whose body did not arrive within
// Options.ReadTimeout.
var errBodyTimeout = &httpError{http.StatusRequestTimeout, "timeout", "the request body did not arrive in time"}

// statusOf maps an error from the runtime to a status and code.
func statusOf(err error) (int, string, string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.code, he.msg
	}
	var e *actors.Error
	ok := errors.As(err, &e)
	if (!ok || e.Code == actors.CodeInternal) && errors.Is(err, eventlog.ErrUnavailable) {
		// The store refused a write for now (or, rarely, could not be
		// opened at all to read): no bug, and it recovers by itself.
		return http.StatusServiceUnavailable, string(actors.CodeUnavailable), "the store is unavailable now; try again later"
	}
	if !ok {
		return http.StatusInternalServerError, "internal", "internal error"
	}
	msg := e.Message
	switch e.Code {
	case actors.CodeBadRequest:
		return http.StatusBadRequest, string(e.Code), msg
	case actors.CodeInvalid:
		return http.StatusUnprocessableEntity, string(e.Code), msg
	case actors.CodeNotFound:
		return http.StatusNotFound, string(e.Code), msg
	case actors.CodeConflict:
		return http.StatusConflict, string(e.Code), msg
	case actors.CodeIdempotencyMismatch:
		return http.StatusUnprocessableEntity, string(e.Code), msg
	case actors.CodeForbidden:
		return http.StatusForbidden, string(e.Code), msg
	case actors.CodeTooLarge:
		return http.StatusRequestEntityTooLarge, string(e.Code), msg
	case actors.CodeUnavailable:
		return http.StatusServiceUnavailable, string(e.Code), msg
	}
	return http.StatusInternalServerError, "internal", msg
}

func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := statusOf(err)
	if status == http.StatusInternalServerError {
		s.lg.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if errors.Is(err, eventlog.ErrUnavailable) {
		// The store recovers by itself, trying every few seconds at most.
		w.Header().Set("Retry-After", retryAfter)
	}
	writeError(w, status, code, msg)
}

// retryAfter is the Retry-After of a refusal because the store cannot
// write, in seconds.
const retryAfter = "5"

// actorID checks an actor id from the path, for the routes that read the
// store without going through the runtime (which checks the ids of calls
// itself): a registered type and a valid key.
func (s *Server) actorID(typ, key string) (eventlog.ID, error) {
	id := eventlog.ID{Type: typ, Key: key}
	_, err := s.rt.Registry().Resolve(id)
	return id, err
}

// badID is the error of a malformed actor id in a query parameter.
func badID(what string, err error) error {
	msg := err.Error()
	var ie *eventlog.IDError
	if errors.As(err, &ie) {
		msg = ie.Message()
	}
	return actors.Errorf(actors.CodeBadRequest, "%s: %s", what, msg)
}

// callContext bounds a call by Options.CallTimeout.
func (s *Server) callContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.opts.CallTimeout)
}
