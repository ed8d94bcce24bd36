package api

import (
	"errors"
	"net/http"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
	"github.com/julienschmidt/httprouter"
)

// projectionRoutes serves the read models:
//
//	GET  /projections                 every projection's status
//	POST /projections/{name}/reset    drop the view and rebuild it from zero
//	POST /projections/{name}/pause    stop it where it is
//	POST /projections/{name}/resume
//	GET  /api/chat                    the chat rooms, newest activity first
func (s *Server) projectionRoutes(r *httprouter.Router) {
	r.GET("/projections", s.projections)
	r.POST("/projections/:name/:op", s.projectionOp)
	r.GET("/api/chat", s.chatRooms)
}

func (s *Server) noProjections(w http.ResponseWriter) bool {
	if s.opts.Projections == nil {
		writeError(w, http.StatusNotFound, "not_found", "this server runs no projections")
		return true
	}
	return false
}

// StatusJSON is a projection's status as the API shows it.
type StatusJSON struct {
	projection.Status
	LagMs int64 `json:"lagMs"`
}

func (s *Server) projections(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.noProjections(w) {
		return
	}
	sts := s.opts.Projections.Status()
	out := make([]StatusJSON, len(sts))
	for i, st := range sts {
		out[i] = StatusJSON{Status: st, LagMs: st.LagTime.Milliseconds()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"projections": out})
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
	if err != nil {
		s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the projection could not be changed", Err: err})
		return
	}
	st, _ := run.StatusOf(name)
	writeJSON(w, http.StatusOK, StatusJSON{Status: st, LagMs: st.LagTime.Milliseconds()})
}

// chatRooms serves GET /api/chat?limit=.
func (s *Server) chatRooms(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.noProjections(w) {
		return
	}
	limit, err := limitParam(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	v, err := s.opts.Projections.View(seed.RoomsName)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "this server does not run the chat rooms projection")
		return
	}
	rooms, err := seed.ListRooms(r.Context(), v, limit)
	if err != nil {
		s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the rooms could not be read", Err: err})
		return
	}
	st, _ := s.opts.Projections.StatusOf(seed.RoomsName)
	writeJSON(w, http.StatusOK, map[string]any{"rooms": rooms, "position": st.Position})
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

// listFromDirectory lists actors from the directory projection.
func listFromDirectory(r *http.Request, v *projection.View, o eventlog.ListOptions) ([]ActorJSON, error) {
	list, err := projection.ListActors(r.Context(), v, o)
	if err != nil {
		return nil, err
	}
	out := make([]ActorJSON, len(list))
	for i, d := range list {
		out[i] = ActorJSON{Actor: d.Actor.String(), Type: d.Actor.Type, Key: d.Actor.Key, Head: d.Head, Created: d.Created, Updated: d.Updated}
	}
	return out, nil
}
