package api

import (
	"net/http"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
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
