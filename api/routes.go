package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

// Routes is what an application's hook (Options.Routes) may add to a
// Server: routes of its own beside the API's, served with the same
// token, CORS, error bodies and limits. A path conflicting with another
// route panics in New, as it is a programming error.
type Routes struct {
	s *Server
	r *httprouter.Router
}

// Action routes method and path to a call of action on the actor of type
// typ whose key is the path's parameter param, as in
//
//	rs.Action("POST", "/api/counter/:key/increment", "counter", "key", "increment")
//
// A POST's body is the call's arguments, as on /rpc. The query parameters
// named in query, integers, are the arguments of a GET.
func (rs *Routes) Action(method, path, typ, param, action string, query ...string) {
	s := rs.s
	rs.r.Handle(method, path, func(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
		if method == http.MethodPost {
			s.serveCall(w, r, typ, p.ByName(param), action)
			return
		}
		args, err := queryArgs(r, query...)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		s.call(w, r, eventlog.ID{Type: typ, Key: p.ByName(param)}, action, args)
	})
}

// Request is what a Handler gets of its request.
type Request struct {
	*http.Request
	params httprouter.Params
}

// Param returns the value of a parameter of the route's path.
func (r *Request) Param(name string) string { return r.params.ByName(name) }

// Limit returns the query parameter limit: 1 to 1000, 100 when absent.
func (r *Request) Limit() (int, error) { return limitParam(r.Request) }

// A Handler answers a request of an application's route with a value,
// sent as JSON with status 200, or an error: an *actors.Error is sent as
// the error body of its code, any other as a 500 with nothing of its text.
type Handler func(r *Request) (any, error)

// Handle routes method and path to h.
func (rs *Routes) Handle(method, path string, h Handler) {
	s := rs.s
	rs.r.Handle(method, path, func(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
		v, err := h(&Request{Request: r, params: p})
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// View returns a view of the server's projections and the position it
// has reached, or a not_found error if the server runs no projection of
// that name.
func (rs *Routes) View(name string) (*projection.View, projection.Status, error) {
	run := rs.s.opts.Projections
	if run == nil {
		return nil, projection.Status{}, actors.Errorf(actors.CodeNotFound, "this server runs no projections")
	}
	v, err := run.View(name)
	if err != nil {
		return nil, projection.Status{}, actors.Errorf(actors.CodeNotFound, "this server does not run the projection %s", name)
	}
	st, err := run.StatusOf(name)
	return v, st, err
}

// The hooks below are for an application's route that speaks a protocol
// of its own beside actorlog's (package api/rivetkit serves RivetKit's
// client protocol with them): its own request matching, encodings and
// WebSockets, over the same runtime, guards and limits.

// An intercept serves the requests match accepts, before the router.
type intercept struct {
	match func(*http.Request) bool
	h     http.Handler
}

// Intercept serves with h every request that match accepts, before the
// API's own routes see it, behind the same host, origin, CORS and token
// guards. It is for paths the router cannot share, such as GET /actors
// with query parameters of another protocol. Intercepts are tried in the
// order they were added; match must not read the body.
func (rs *Routes) Intercept(match func(*http.Request) bool, h http.Handler) {
	rs.s.intercepts = append(rs.s.intercepts, intercept{match: match, h: h})
}

// intercepted serves a request an intercept accepts, and the others with
// next.
func (s *Server) intercepted(next http.Handler) http.Handler {
	if len(s.intercepts) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, ic := range s.intercepts {
			if ic.match(r) {
				ic.h.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// AllowCORS adds methods and request headers to those a page of an
// allowed origin may send (Options.AllowedOrigins).
func (rs *Routes) AllowCORS(methods, headers []string) {
	s := rs.s
	for _, m := range methods {
		if !slices.Contains(s.corsMethods, m) {
			s.corsMethods = append(s.corsMethods, m)
		}
	}
	for _, h := range headers {
		if !slices.Contains(s.corsHeaders, h) {
			s.corsHeaders = append(s.corsHeaders, h)
		}
	}
}

// AllowCredentials makes the CORS answers to the requests match accepts
// (preflights included: match sees the OPTIONS request) say
// Access-Control-Allow-Credentials: true, for a client that sends every
// request with credentials "include", as RivetKit's does: a browser
// refuses such a cross-origin answer without it. The origin must still be
// an allowed one; actorlog's own routes keep answering without it (its
// token is a header, never a cookie).
func (rs *Routes) AllowCredentials(match func(*http.Request) bool) {
	rs.s.corsCredentials = append(rs.s.corsCredentials, match)
}

// Refuse makes refuse answer the requests match accepts that the
// server's guards turn away — a Host it does not answer to, a page's
// origin not allowed to change state, a missing or wrong token — so that
// a protocol's client reads the refusal in its own form. refuse gets the
// status and actorlog's code and message; it must answer a WebSocket
// handshake too. Without it, refusals are actorlog's error body, or a
// WebSocket closed with its code.
func (rs *Routes) Refuse(match func(*http.Request) bool, refuse func(w http.ResponseWriter, r *http.Request, status int, code, msg string)) {
	rs.s.refusers = append(rs.s.refusers, refuser{match: match, refuse: refuse})
}

// A refuser answers a guard's refusal of the requests match accepts.
type refuser struct {
	match  func(*http.Request) bool
	refuse func(w http.ResponseWriter, r *http.Request, status int, code, msg string)
}

// guardRefuse answers a guard's refusal: by the refuser whose match
// accepts the request, else as actorlog does.
func (s *Server) guardRefuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	for _, rf := range s.refusers {
		if rf.match(r) {
			rf.refuse(w, r, status, code, msg)
			return
		}
	}
	s.refuse(w, r, status, code, msg)
}

// TokenFrom adds a place a request may carry the bearer token
// (Options.Token) when it has no Authorization header: from returns the
// token and whether the request carries one there.
func (rs *Routes) TokenFrom(from func(*http.Request) (string, bool)) {
	rs.s.tokens = append(rs.s.tokens, from)
}

// Caller runs calls where the server runs them: on the runtime, or on
// the actor's owner in a cluster (Options.Cluster).
func (rs *Routes) Caller() Caller { return rs.s.caller }

// ToOwner sends a WebSocket handshake for actor id on to the node that
// owns the actor in a cluster, and reports whether it did; refuse
// answers one that cannot be sent. Without a cluster, or on the owner,
// it does nothing and reports false: serve the handshake here.
func (rs *Routes) ToOwner(w http.ResponseWriter, r *http.Request, id eventlog.ID, refuse func(http.ResponseWriter, *http.Request, error)) bool {
	return rs.s.toOwner(w, r, id, refuse)
}

// Upgrade accepts a WebSocket handshake with up as the server accepts its
// own, under the same guards: the socket's frames are paid for before
// they are read, from a budget of its own (Options.SocketRate) and from
// the one all sockets share (Options.TotalSocketRate), until ctx ends —
// give it the socket's context. The data frames written to the socket
// collect until flush, which writes them at once within the given time:
// the socket's writer calls it whenever it has nothing more ready to
// send. Control frames go out at once, after what is collected. On an
// error the handshake has been answered.
func (rs *Routes) Upgrade(ctx context.Context, w http.ResponseWriter, r *http.Request, up *websocket.Upgrader) (ws *websocket.Conn, flush func(time.Duration) error, err error) {
	ws, bc, err := rs.s.upgrade(ctx, w, r, up)
	if err != nil {
		return nil, nil, err
	}
	return ws, bc.flush, nil
}

// Runtime returns the runtime the server calls.
func (rs *Routes) Runtime() *actors.Runtime { return rs.s.rt }

// Log returns the store the server reads history from.
func (rs *Routes) Log() Log { return rs.s.log }

// Options returns the server's options, defaults applied: the limits
// (CallTimeout, MaxBodyBytes, MaxFrameBytes, PingInterval, SocketRate,
// MaxCallsPerSocket) and the Logger a protocol of its own keeps to.
func (rs *Routes) Options() Options { return rs.s.opts }

// CheckOrigin is the server's check of a WebSocket handshake's Origin:
// none (not a browser), the server's own, or an allowed one.
func (rs *Routes) CheckOrigin(r *http.Request) bool { return rs.s.checkOrigin(r) }

// Status returns the HTTP status, code and message the API answers err
// with: the same mapping of the runtime's error codes everywhere.
func (rs *Routes) Status(err error) (status int, code, message string) { return statusOf(err) }

// Context is the root context of the server's own goroutines: it ends
// once Close is done waiting for them.
func (rs *Routes) Context() context.Context { return rs.s.scope.Context() }

// Go runs f in a goroutine the server owns: Close waits for it. It
// returns false, not running f, once the server is closed.
func (rs *Routes) Go(f func()) bool { return rs.s.scope.Go(f) }

// Stopping is closed when the server's Close begins: connections of a
// protocol of its own should then close, going away, so that Close does
// not wait for them.
func (rs *Routes) Stopping() <-chan struct{} { return rs.s.scope.Stopping() }
