package api

import (
	"net/http"
	"strconv"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

func (s *Server) eventsOrSocket(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
	if websocket.IsWebSocketUpgrade(r) {
		s.websocket(w, r, p)
		return
	}
	s.events(w, r, p)
}

// uintParam parses an optional unsigned query parameter.
func uintParam(r *http.Request, name string, def uint64) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, actors.Errorf(actors.CodeBadRequest, "query parameter %q must be a non-negative integer, not %q", name, v)
	}
	return n, nil
}

const maxPage = 1000

func limitParam(r *http.Request) (int, error) {
	n, err := uintParam(r, "limit", 100)
	if err != nil {
		return 0, err
	}
	if n == 0 || n > maxPage {
		return 0, actors.Errorf(actors.CodeBadRequest, "limit must be between 1 and %d", maxPage)
	}
	return int(n), nil
}

// events serves GET /actors/{type}/{key}/events?from=&limit=.
func (s *Server) events(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
	id, err := s.actorID(p.ByName("type"), p.ByName("key"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	from, err := uintParam(r, "from", 1)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	limit, err := limitParam(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	head, err := s.log.Head(r.Context(), id)
	if err != nil {
		s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the head could not be read", Err: err})
		return
	}
	evs, err := eventlog.ReadStream(r.Context(), s.log, id, from, limit)
	if err != nil {
		s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the events could not be read", Err: err})
		return
	}
	page := wire.EventsPage{Actor: id.String(), Events: make([]wire.Event, 0, len(evs)), First: head.First, Head: head.Head}
	for i := range evs {
		e, err := wire.NewEvent(&evs[i])
		if err != nil {
			s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "an event does not convert to JSON", Err: err})
			return
		}
		page.Events = append(page.Events, e)
	}
	if len(evs) == limit && evs[len(evs)-1].Seq < head.Head {
		next := evs[len(evs)-1].Seq + 1
		page.Next = &next
	}
	writeJSON(w, http.StatusOK, page)
}

// state serves GET /actors/{type}/{key}/state?at=N: without at, the
// live actor's state; with it, the state folded from the log up to N, 0
// being the initial state (the actor is not woken).
func (s *Server) state(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
	id := eventlog.ID{Type: p.ByName("type"), Key: p.ByName("key")}
	if r.URL.Query().Get("at") == "" {
		ctx, cancel := s.callContext(r)
		defer cancel()
		var init actors.Init
		var err error
		if s.opts.Cluster != nil {
			// Checked here, so that an unknown actor takes no shard.
			if _, err = s.actorID(id.Type, id.Key); err == nil {
				init, err = s.opts.Cluster.State(ctx, id)
			}
		} else {
			init, err = s.rt.State(ctx, id)
		}
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, wire.State{Actor: id.String(), Seq: init.Seq, State: init.State})
		return
	}
	at, err := uintParam(r, "at", 0)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	state, seq, err := s.stateAt(r, id, at)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.State{Actor: id.String(), Seq: seq, State: state})
}

// stateAt folds the actor's state from the log up to sequence at; at 0,
// the initial state, which exists while the events from seq 1 do.
func (s *Server) stateAt(r *http.Request, id eventlog.ID, at uint64) ([]byte, uint64, error) {
	def, err := s.rt.Registry().Resolve(id)
	if err != nil {
		return nil, 0, err
	}
	if at > 0 {
		return actors.StateAt(r.Context(), s.log, s.snaps, def, id, at)
	}
	head, err := s.log.Head(r.Context(), id)
	if err != nil {
		return nil, 0, &actors.Error{Code: actors.CodeInternal, Message: "the actor's head could not be read", Err: err}
	}
	if head.First > 1 {
		return nil, 0, actors.Errorf(actors.CodeNotFound, "%s has no state at sequence 0: its events before %d were erased", id, head.First)
	}
	state, err := actors.NewFolder(def, id).StateJSON()
	if err != nil {
		return nil, 0, &actors.Error{Code: actors.CodeInternal, Message: "the initial state does not encode as JSON", Err: err}
	}
	return state, 0, nil
}

// listOptions reads the query of an actor listing: type=, after=type:key
// and limit=.
func listOptions(r *http.Request) (eventlog.ListOptions, error) {
	q := r.URL.Query()
	o := eventlog.ListOptions{Type: q.Get("type")}
	var err error
	if o.Limit, err = limitParam(r); err != nil {
		return o, err
	}
	if o.Type != "" {
		if err := eventlog.ValidateType(o.Type); err != nil {
			return o, badID("type", err)
		}
	}
	if a := q.Get("after"); a != "" {
		if o.After, err = eventlog.ParseID(a); err != nil {
			return o, badID("after must be an actor as type:key", err)
		}
	}
	return o, nil
}

// listActors serves GET /actors?type=&limit=&after=.
func (s *Server) listActors(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	o, err := listOptions(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var page wire.ActorsPage
	if dir, pos, ok := s.directory(); ok {
		// The actor directory projection answers; "position" says how
		// current it is.
		list, err := projection.ListActors(r.Context(), dir, o)
		if err != nil {
			s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the actors could not be listed", Err: err})
			return
		}
		for _, d := range list {
			page.Actors = append(page.Actors, wire.NewActorEntry(eventlog.StreamInfo{Actor: d.Actor, Head: d.Head, Created: d.Created, Updated: d.Updated}))
		}
		page.Position = &pos
	} else {
		list, err := s.log.ListActors(r.Context(), o)
		if err != nil {
			s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the actors could not be listed", Err: err})
			return
		}
		for _, st := range list {
			page.Actors = append(page.Actors, wire.NewActorEntry(st))
		}
	}
	if page.Actors == nil {
		page.Actors = []wire.ActorEntry{}
	}
	if len(page.Actors) == o.Limit {
		next := page.Actors[len(page.Actors)-1].Actor
		page.Next = &next
	}
	writeJSON(w, http.StatusOK, page)
}
