package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/julienschmidt/httprouter"
)

// rpc serves POST /rpc/{type}:{key}/{action}.
func (s *Server) rpc(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
	target := p.ByName("target")
	typ, key, ok := strings.Cut(target, ":")
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", "the actor must be written type:key, as in /rpc/counter:default/increment")
		return
	}
	s.serveCall(w, r, typ, key, p.ByName("action"))
}

// rpcPath serves POST /actors/{type}/{key}/actions/{action}.
func (s *Server) rpcPath(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
	s.serveCall(w, r, p.ByName("type"), p.ByName("key"), p.ByName("action"))
}

func (s *Server) serveCall(w http.ResponseWriter, r *http.Request, typ, key, action string) {
	id := eventlog.ID{Type: typ, Key: key} // the runtime checks it
	args, err := s.readArgs(w, r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	s.call(w, r, id, action, args)
}

// readArgs reads the body as the call's arguments, JSON or msgpack by
// Content-Type.
func (s *Server) readArgs(w http.ResponseWriter, r *http.Request) (actors.Args, error) {
	format := actors.JSON
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return actors.Args{}, actors.Errorf(actors.CodeBadRequest, "Content-Type %q does not parse", ct)
		}
		switch mt {
		case "application/msgpack", "application/x-msgpack", "application/vnd.msgpack":
			format = actors.Msgpack
		case "multipart/form-data":
			return actors.Args{}, actors.Errorf(actors.CodeBadRequest, "Content-Type %q is not supported; send application/json or application/msgpack", mt)
		}
		// Anything else is read as JSON: curl -d sends JSON labelled as a
		// form.
	}
	if r.ContentLength == 0 {
		return actors.Args{Format: format}, nil // no body: no arguments
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return actors.Args{}, actors.Errorf(actors.CodeTooLarge, "the body is over %d bytes", s.opts.MaxBodyBytes)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return actors.Args{}, errBodyTimeout
		}
		return actors.Args{}, actors.Errorf(actors.CodeBadRequest, "the body could not be read")
	}
	if format == actors.JSON && len(bytes.TrimSpace(body)) == 0 {
		body = nil // whitespace is no arguments
	}
	if format == actors.JSON && len(body) > 0 && !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		// A *json.SyntaxError, whose text names no package.
		return actors.Args{}, &actors.Error{Code: actors.CodeBadRequest, Message: "the body is not valid JSON: " + err.Error(), Err: err}
	}
	if format == actors.Msgpack && len(body) > 0 {
		if err := eventlog.ValidValue(body); err != nil {
			return actors.Args{}, &actors.Error{Code: actors.CodeBadRequest, Message: "the body is not one msgpack value: " + err.Error(), Err: err}
		}
	}
	return actors.Args{Format: format, Data: body}, nil
}

// wantsMsgpack reports whether the client asked for a msgpack reply.
func wantsMsgpack(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if !strings.Contains(strings.ToLower(accept), "msgpack") {
		return false
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		switch mt {
		case "application/msgpack", "application/x-msgpack", "application/vnd.msgpack":
			return true
		}
	}
	return false
}

// call runs the action and writes its reply.
func (s *Server) call(w http.ResponseWriter, r *http.Request, id eventlog.ID, action string, args actors.Args) {
	opts := actors.CallOptions{
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		CorrelationID:  r.Header.Get("X-Correlation-Id"),
		Timeout:        s.opts.CallTimeout,
	}
	if len(opts.IdempotencyKey) > 255 || len(opts.CorrelationID) > 255 {
		writeError(w, http.StatusBadRequest, "bad_request", "Idempotency-Key and X-Correlation-Id are limited to 255 bytes")
		return
	}
	msgpackOut := wantsMsgpack(r)
	if msgpackOut {
		opts.Format = actors.Msgpack
	}
	reply, err := s.caller.Call(r.Context(), id, action, args, opts)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.Header().Set("Actorlog-Seq", strconv.FormatUint(reply.Seq, 10))
	if reply.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if msgpackOut {
		w.Header().Set("Content-Type", "application/msgpack")
		w.WriteHeader(http.StatusOK)
		w.Write(reply.Body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(reply.Body)
	w.Write([]byte("\n"))
}

// queryArgs turns the named integer query parameters into JSON arguments.
func queryArgs(r *http.Request, names ...string) (actors.Args, error) {
	m := map[string]any{}
	q := r.URL.Query()
	for _, n := range names {
		v := q.Get(n)
		if v == "" {
			continue
		}
		i, err := strconv.Atoi(v)
		if err != nil {
			return actors.Args{}, actors.Errorf(actors.CodeBadRequest, "query parameter %q must be an integer, not %q", n, v)
		}
		m[n] = i
	}
	b, _ := json.Marshal(m)
	return actors.JSONArgs(b), nil
}
