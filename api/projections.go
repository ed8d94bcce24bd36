package api

import (
	"errors"
	"net/http"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/projection"
	"github.com/julienschmidt/httprouter"
)

// projectionRoutes serves the read models:
//
//	GET  /projections                 every projection's status (in a
//	                                  cluster, on every node: "node" says
//	                                  which runs them)
//	POST /projections/{name}/reset    drop the view and rebuild it from zero
//	POST /projections/{name}/pause    stop it where it is
//	POST /projections/{name}/resume
func (s *Server) projectionRoutes(r *httprouter.Router) {
	r.GET("/projections", s.projections)
	r.POST("/projections/:name/:op", s.projectionOp)
}

func (s *Server) noProjections(w http.ResponseWriter) bool {
	if s.opts.Projections == nil {
		writeError(w, http.StatusNotFound, "not_found", "this server runs no projections")
		return true
	}
	return false
}

func (s *Server) projections(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.noProjections(w) {
		return
	}
	sts := s.opts.Projections.Status()
	out := wire.Projections{Projections: make([]wire.Status, len(sts))}
	for i, st := range sts {
		out.Projections[i] = wire.NewStatus(st)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) projectionOp(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
	if s.noProjections(w) {
		return
	}
	name, run := p.ByName("name"), s.opts.Projections
	var err error
	switch p.ByName("op") {
	case "reset":
		ctx, cancel := s.callContext(r)
		defer cancel()
		err = run.Reset(ctx, name)
	case "pause":
		err = run.Pause(name)
	case "resume":
		err = run.Resume(name)
	default:
		writeError(w, http.StatusNotFound, "not_found", "unknown operation "+p.ByName("op")+"; use reset, pause or resume")
		return
	}
	if errors.Is(err, projection.ErrUnknown) {
		writeError(w, http.StatusNotFound, "not_found", "no projection named "+name)
		return
	}
	if errors.Is(err, projection.ErrStandby) {
		// In a cluster: the node that runs the projections changes them.
		st, _ := run.StatusOf(name)
		msg := "this node does not run the projections now; ask the node that does"
		if st.Node != "" {
			msg = "the projections run on node " + st.Node + "; ask it"
		}
		writeError(w, http.StatusConflict, "conflict", msg)
		return
	}
	if err != nil {
		s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the projection could not be changed", Err: err})
		return
	}
	st, _ := run.StatusOf(name)
	writeJSON(w, http.StatusOK, wire.NewStatus(st))
}

// directory returns the actor directory's view, if the server runs it.
func (s *Server) directory() (*projection.View, uint64, bool) {
	if s.opts.Projections == nil {
		return nil, 0, false
	}
	v, err := s.opts.Projections.View(projection.DirectoryName)
	if err != nil {
		return nil, 0, false
	}
	st, _ := s.opts.Projections.StatusOf(projection.DirectoryName)
	return v, st.Position, true
}
