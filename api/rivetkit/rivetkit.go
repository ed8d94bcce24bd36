// Package rivetkit serves RivetKit's client protocol beside actorlog's own
// API, so that an application written against RivetKit's client —
// createClient of the npm package rivetkit, 2.3.11, and the useActor hook
// of @rivetkit/react — talks to actorlog with no change but its endpoint.
// Mount it with api.Options.Routes; cmd/cli mounts it on every server.
//
// What it serves, as RivetKit's engine does (its gateway and management
// API; the client's src/engine-client and src/client in the package are
// the reference):
//
//	GET  /metadata                      the runtime, version and actor names
//	GET  /actors?actor_ids=ID,...       actors by id
//	GET  /actors?name=N&key=K           an actor by name and key, if it exists
//	GET  /actors?name=N                 the actors of a name that exist
//	PUT  /actors                        get or create ({name, key})
//	POST /actors                        create ({name, key})
//	GET  /actors/names                  the actor names
//	     /gateway/{name}/PATH?rvt-namespace=&rvt-method=get|getOrCreate&rvt-key=K
//	     /gateway/{actorId}[@token]/PATH
//	     /PATH with x-rivet-target: actor and x-rivet-actor: ID (or, on a
//	     WebSocket, the rivet_target.actor and rivet_actor.ID subprotocols)
//
// where PATH is an actor's own route:
//
//	POST /action/{name}                 call an action: {"args":[...]} → {"output":...}
//	GET  /connect                       a WebSocket connection (see socket.go)
//	GET  /metadata, GET /health
//
// actorlog's own API keeps its routes: GET /actors without name or
// actor_ids is its listing, and every other path is its own. Everything
// goes through the server's host, origin, CORS and token guards; a
// RivetKit client's token (x-rivet-token, rvt-token, /gateway/{id}@token,
// the rivet_token.* subprotocol, or Authorization) is the server's bearer
// token. The guards' refusals are in the client's form (auth.unauthorized,
// auth.forbidden), and CORS answers allow credentials, which the client
// always sends from a browser.
//
// # Mapping onto actorlog
//
// A name is an actor type; a key's parts are joined with commas (see
// id.go); an actor id encodes type and key. An actor "exists" (get finds
// it, getOrCreate reports it created) once its log holds an event:
// actorlog addresses every key of a type, and keeps no other record of
// creation. Create input (rvt-input, createWithInput) is refused: actorlog
// actors start from their Initial state.
//
// An action's positional arguments are actorlog's one argument: none is
// no arguments, one is that value (the seed's actions take one object,
// as in counter.add({value: 5})), and more than one is the list of them,
// for an action whose Go argument type is a slice. The reply is the
// action's result. Connection parameters are given to OnBeforeConnect: an
// object's string fields as they are, its other fields as JSON text, and
// parameters that are not an object as JSON text under "params". A
// stateless HTTP action runs no connection hooks, as on actorlog's own
// API. Errors carry RivetKit's {group, code, message}, mapped from
// actorlog's codes (errors.go).
//
// # Encodings
//
// The three encodings of the client — "json", "cbor" and "bare" (its
// default) — are codecs (codec.go) over one set of handlers. BARE is read
// and written by hand (bare.go) after the client's own schema, v4; CBOR
// with github.com/fxamacker/cbor.
//
// # Not served
//
// Queues (/queue, handle.send), raw onRequest and onWebSocket handlers
// (/request, /websocket), the inspector, actor destruction (DELETE
// /actors/{id}), schedules created from the client, and hibernating
// WebSockets. Those routes answer 501 with the code feature.not_implemented.
package rivetkit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/gorilla/websocket"
)

// ClientVersion is the version of the rivetkit client whose protocol this
// package serves, as GET /metadata reports it.
const ClientVersion = "2.3.11"

// The protocol's names: headers, subprotocols and query parameters.
const (
	headerEncoding   = "x-rivet-encoding"
	headerConnParams = "x-rivet-conn-params"
	headerToken      = "x-rivet-token"
	headerTarget     = "x-rivet-target"
	headerActor      = "x-rivet-actor"

	protoStandard   = "rivet"
	protoEncoding   = "rivet_encoding."
	protoConnParams = "rivet_conn_params."
	protoTarget     = "rivet_target."
	protoActor      = "rivet_actor."
	protoToken      = "rivet_token."
)

// publicHeaders are the request headers the client sends from a browser
// (actor-router-consts.ts, ALLOWED_PUBLIC_HEADERS), for CORS.
var publicHeaders = []string{
	"User-Agent", "x-rivet-query", headerEncoding, headerConnParams,
	"x-rivet-actor-generation", "x-rivet-actor-key", headerTarget, headerActor,
	"x-rivet-namespace", headerToken, "x-rivet-skip-ready-wait",
}

// server serves the protocol for one api.Server.
type server struct {
	rt       *actors.Runtime
	log      api.Log
	rs       *api.Routes
	opts     api.Options
	lg       *slog.Logger
	upgrader websocket.Upgrader
}

// Mount adds the RivetKit protocol to an api.Server; give it as one of
// api.Options.Routes.
func Mount(rs *api.Routes) {
	s := &server{rt: rs.Runtime(), log: rs.Log(), rs: rs, opts: rs.Options()}
	s.lg = s.opts.Logger
	s.upgrader = websocket.Upgrader{
		Subprotocols:    []string{protoStandard},
		WriteBufferSize: 4096,
		// Idle sockets hold no write buffer: it is taken from the pool
		// for each message.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true }, // checked before the upgrade
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeError(w, &rkError{status: status, group: "request", code: "invalid", message: "WebSocket handshake: " + reason.Error()})
		},
	}
	rs.Intercept(s.match, s)
	rs.AllowCORS([]string{http.MethodPut, http.MethodDelete}, publicHeaders)
	// The client sends every request with credentials "include".
	rs.AllowCredentials(s.match)
	rs.Refuse(s.match, s.refused)
	rs.TokenFrom(clientToken)
}

// match reports whether a request is one of this protocol's.
func (s *server) match(r *http.Request) bool {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/gateway/"):
		return true
	case p == "/metadata":
		return true
	case p == "/actors":
		if r.Method != http.MethodGet {
			return true
		}
		q := r.URL.Query()
		return q.Has("name") || q.Has("actor_ids")
	case p == "/actors/names":
		return true
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/actors/"):
		return true
	case r.Header.Get(headerTarget) == "actor":
		return true
	case websocket.IsWebSocketUpgrade(r) && hasProtocol(r, protoTarget+"actor"):
		return true
	}
	return false
}

// ServeHTTP implements http.Handler for the requests match accepts.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/gateway/"):
		t, rest, err := s.gatewayTarget(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.actorRoute(w, r, t, rest)
	case p == "/metadata":
		s.metadata(w, r)
	case p == "/actors" && r.Method == http.MethodGet:
		s.listActors(w, r)
	case p == "/actors" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		s.createActor(w, r, r.Method == http.MethodPut)
	case p == "/actors/names" && r.Method == http.MethodGet:
		s.actorNames(w)
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/actors/"):
		s.fail(w, r, notImplemented("actorlog keeps every actor's history and does not destroy actors"))
	default:
		// Addressed by header (x-rivet-target) or subprotocol: the path
		// is the actor's own.
		id, ok := directID(r)
		if !ok {
			s.fail(w, r, &rkError{status: http.StatusBadRequest, group: "request", code: "invalid", message: "x-rivet-target: actor needs x-rivet-actor: <actor id>"})
			return
		}
		t, err := s.byID(id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.actorRoute(w, r, t, p)
	}
}

// target is the actor a request is for.
type target struct {
	id eventlog.ID
	// mustExist: the client asked for an existing actor (get), not one
	// to create (getOrCreate) or by id.
	mustExist bool
}

// gatewayTarget reads the actor of a /gateway/... request, and the path
// that follows it.
func (s *server) gatewayTarget(r *http.Request) (target, string, error) {
	raw := strings.TrimPrefix(r.URL.EscapedPath(), "/gateway/")
	seg, rest, _ := strings.Cut(raw, "/")
	rest = "/" + rest
	if rest == "/" {
		rest = ""
	}
	if restPath, err := url.PathUnescape(rest); err == nil {
		rest = restPath
	}
	q := r.URL.Query()
	for k, v := range q {
		if strings.HasPrefix(k, "rvt-") && !knownQuery[k] {
			return target{}, "", invalid("unknown gateway query parameter %s", k)
		}
		if strings.HasPrefix(k, "rvt-") && len(v) > 1 {
			return target{}, "", invalid("gateway query parameter %s given twice", k)
		}
	}
	if !q.Has("rvt-method") {
		// /gateway/{actorId}[@token]/...
		idPart, _, _ := strings.Cut(seg, "@")
		id, err := url.PathUnescape(idPart)
		if err != nil {
			return target{}, "", invalid("the actor id does not unescape")
		}
		t, err2 := s.byID(id)
		return t, rest, err2
	}
	name, err := url.PathUnescape(seg)
	if err != nil {
		return target{}, "", invalid("the actor name does not unescape")
	}
	if q.Has("rvt-input") {
		return target{}, "", errNoInput
	}
	var parts []string
	if q.Has("rvt-key") {
		parts = strings.Split(q.Get("rvt-key"), ",")
	}
	switch m := q.Get("rvt-method"); m {
	case "get", "getOrCreate":
		return target{id: eventlog.ID{Type: name, Key: keyOf(parts)}, mustExist: m == "get"}, rest, nil
	default:
		return target{}, "", invalid("rvt-method must be get or getOrCreate, not %q", m)
	}
}

// knownQuery are the gateway's query parameters.
var knownQuery = map[string]bool{
	"rvt-namespace": true, "rvt-method": true, "rvt-key": true, "rvt-runner": true,
	"rvt-input": true, "rvt-region": true, "rvt-crash-policy": true, "rvt-token": true,
	"rvt-skip-ready-wait": true,
}

// errNoInput refuses create input: actorlog actors have none.
var errNoInput = &rkError{status: http.StatusBadRequest, group: "feature", code: "not_implemented",
	message: "actorlog actors take no create input (createWithInput, rvt-input): they start from their initial state; pass the data to an action instead"}

// byID reads an actor id.
func (s *server) byID(id string) (target, error) {
	aid, ok := parseActorID(id)
	if !ok {
		return target{}, &rkError{status: http.StatusNotFound, group: "actor", code: "not_found", message: "no actor has the id " + strconv.Quote(id)}
	}
	return target{id: aid}, nil
}

// directID is the actor id of a request addressed by header or
// subprotocol.
func directID(r *http.Request) (string, bool) {
	if id := r.Header.Get(headerActor); id != "" {
		return id, true
	}
	for _, p := range websocket.Subprotocols(r) {
		if id, ok := strings.CutPrefix(p, protoActor); ok {
			return id, true
		}
	}
	return "", false
}

// resolve checks a target against the registry, and for get, that the
// actor exists; it returns its definition.
func (s *server) resolve(ctx context.Context, t target) (actors.Definition, error) {
	def, err := s.rt.Registry().Resolve(t.id)
	if err != nil {
		if actors.CodeOf(err) == actors.CodeNotFound {
			return nil, &rkError{status: http.StatusNotFound, group: "actor", code: "not_registered", message: "no actor is named " + strconv.Quote(t.id.Type)}
		}
		return nil, err
	}
	if t.mustExist {
		ok, err := s.exists(ctx, t.id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, actorNotFound(t.id)
		}
	}
	return def, nil
}

func actorNotFound(id eventlog.ID) error {
	return &rkError{status: http.StatusNotFound, group: "actor", code: "not_found", message: "actor " + id.String() + " does not exist: it has no history yet (getOrCreate creates it)"}
}

// exists reports whether the actor's log holds an event.
func (s *server) exists(ctx context.Context, id eventlog.ID) (bool, error) {
	st, err := s.log.Head(ctx, id)
	if err != nil {
		return false, err
	}
	return st.Head > 0, nil
}

// actorRoute serves an actor's own path.
func (s *server) actorRoute(w http.ResponseWriter, r *http.Request, t target, path string) {
	path, _, _ = strings.Cut(path, "?")
	switch {
	case path == "/connect":
		s.connect(w, r, t)
	case strings.HasPrefix(path, "/action/") && r.Method == http.MethodPost:
		s.action(w, r, t, strings.TrimPrefix(path, "/action/"))
	case path == "/health" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok")
	case (path == "/metadata" || path == "/" || path == "") && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]string{"runtime": "rivetkit", "version": ClientVersion, "type": "actor", "server": "actorlog"})
	case strings.HasPrefix(path, "/queue"):
		s.fail(w, r, notImplemented("actorlog actors have no queues; call an action instead"))
	case strings.HasPrefix(path, "/request"), strings.HasPrefix(path, "/websocket"):
		s.fail(w, r, notImplemented("actorlog actors have no raw onRequest or onWebSocket handlers"))
	case strings.HasPrefix(path, "/inspector"):
		s.fail(w, r, notImplemented("the RivetKit inspector is not served; use actorlog inspect and the /inspect routes"))
	default:
		s.fail(w, r, &rkError{status: http.StatusNotFound, group: "request", code: "not_found", message: "no actor route " + r.Method + " " + path})
	}
}

// action serves POST .../action/{name}.
func (s *server) action(w http.ResponseWriter, r *http.Request, t target, name string) {
	c, err := requestCodec(r.Header.Get(headerEncoding))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, &rkError{status: http.StatusRequestEntityTooLarge, group: "message", code: "incoming_too_long", message: "the body is over " + strconv.FormatInt(s.opts.MaxBodyBytes, 10) + " bytes"})
			return
		}
		s.fail(w, r, actors.Errorf(actors.CodeBadRequest, "the body could not be read"))
		return
	}
	list, err := c.actionArgs(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	def, err := s.resolve(ctx, t)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.call(ctx, t.id, def, name, list, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := c.actionOutput(out)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", c.contentType())
	w.Header().Set(headerActor, actorID(t.id))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// call runs an action with a client's positional arguments and returns
// its result as JSON.
func (s *server) call(ctx context.Context, id eventlog.ID, def actors.Definition, name string, list []any, conn *actors.Conn) ([]byte, error) {
	if !def.HasAction(name) {
		return nil, &rkError{status: http.StatusNotFound, group: "actor", code: "action_not_found", message: "actor " + id.Type + " has no action " + strconv.Quote(name)}
	}
	args, err := callArgs(list)
	if err != nil {
		return nil, err
	}
	var reply actors.Reply
	if conn != nil {
		reply, err = s.rt.Call(ctx, id, name, args, actors.CallOptions{Conn: conn})
	} else {
		// In a cluster, on the actor's owner.
		reply, err = s.rs.Caller().Call(ctx, id, name, args, actors.CallOptions{})
	}
	if err != nil {
		return nil, err
	}
	return reply.Body, nil
}

// callArgs maps positional arguments onto actorlog's one argument: none,
// the only one, or the list of several.
func callArgs(list []any) (actors.Args, error) {
	var v any
	switch len(list) {
	case 0:
		return actors.JSONArgs(nil), nil
	case 1:
		v = list[0]
	default:
		v = list
	}
	if v == nil {
		return actors.JSONArgs(nil), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return actors.Args{}, actors.Errorf(actors.CodeBadRequest, "the arguments do not encode as JSON")
	}
	return actors.JSONArgs(b), nil
}

// requestCodec is the codec of an x-rivet-encoding value (json if none).
func requestCodec(name string) (codec, error) {
	if name == "" {
		name = "json"
	}
	c, ok := codecs[name]
	if !ok {
		return nil, invalid("unknown encoding %q; json, cbor and bare are served", name)
	}
	return c, nil
}

// clientToken reads a RivetKit client's token from where it puts one
// (api.Routes.TokenFrom).
func clientToken(r *http.Request) (string, bool) {
	if t := r.Header.Get(headerToken); t != "" {
		return t, true
	}
	if q := r.URL.Query(); q.Has("rvt-token") {
		return q.Get("rvt-token"), true
	}
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/gateway/"); ok {
		seg, _, _ := strings.Cut(rest, "/")
		if _, tok, ok := strings.Cut(seg, "@"); ok {
			t, err := url.PathUnescape(tok)
			return t, err == nil
		}
	}
	if websocket.IsWebSocketUpgrade(r) {
		for _, p := range websocket.Subprotocols(r) {
			if t, ok := strings.CutPrefix(p, protoToken); ok {
				return t, true
			}
		}
	}
	return "", false
}

// hasProtocol reports whether a WebSocket handshake offers a subprotocol.
func hasProtocol(r *http.Request, proto string) bool {
	for _, p := range websocket.Subprotocols(r) {
		if p == proto {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"group":"actor","code":"internal_error","message":"reply does not encode"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
