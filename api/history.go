package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
)

// EventJSON is one event as the history API returns it.
type EventJSON struct {
	Seq   uint64          `json:"seq"`
	Pos   uint64          `json:"pos"`
	Type  string          `json:"type"`
	Time  int64           `json:"time"`
	Data  json.RawMessage `json:"data"`
	Meta  *MetaJSON       `json:"meta,omitempty"`
	Actor string          `json:"actor,omitempty"`
}

// MetaJSON is an event's metadata.
type MetaJSON struct {
	CorrelationID  string `json:"correlationId,omitempty"`
	Causation      string `json:"causation,omitempty"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// NewEventJSON converts a stored event.
func NewEventJSON(e *eventlog.Event) (EventJSON, error) {
	data := json.RawMessage("null")
	if len(e.Data) > 0 {
		b, err := actors.DataJSON(e.Data)
		if err != nil {
			return EventJSON{}, err
		}
		data = b
	}
	out := EventJSON{Seq: e.Seq, Pos: e.Pos, Type: e.Type, Time: e.Time, Data: data}
	if !e.Meta.IsZero() {
		out.Meta = &MetaJSON{CorrelationID: e.Meta.CorrelationID, Causation: e.Meta.Causation, IdempotencyKey: e.Meta.IdempotencyKey}
	}
	return out, nil
}

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
		s.writeErr(w, r, actors.Errorf(actors.CodeInternal, "read head: %v", err))
		return
	}
	evs, err := eventlog.ReadStream(r.Context(), s.log, id, from, limit)
	if err != nil {
		s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the events could not be read", Err: err})
		return
	}
	out := make([]EventJSON, 0, len(evs))
	for i := range evs {
		e, err := NewEventJSON(&evs[i])
		if err != nil {
			s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "an event does not convert to JSON", Err: err})
			return
		}
		out = append(out, e)
	}
	var next any
	if len(evs) == limit && evs[len(evs)-1].Seq < head.Head {
		next = evs[len(evs)-1].Seq + 1
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"actor":  id.String(),
		"head":   head.Head,
		"first":  head.First,
		"events": out,
		"next":   next,
	})
}

// state serves GET /actors/{type}/{key}/state?at=N: the live actor's
// state, or one folded from the log up to N (the actor is not woken).
func (s *Server) state(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
	id := eventlog.ID{Type: p.ByName("type"), Key: p.ByName("key")}
	at, err := uintParam(r, "at", 0)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var state []byte
	var seq uint64
	if at == 0 {
		ctx, cancel := s.callContext(r)
		defer cancel()
		init, err := s.rt.State(ctx, id)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		state, seq = init.State, init.Seq
	} else {
		def, err := s.rt.Registry().Resolve(id)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		state, seq, err = actors.StateAt(r.Context(), s.log, s.snaps, def, id, at)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"actor": id.String(), "seq": seq, "state": json.RawMessage(state)})
}

// ActorJSON is one actor in a listing.
type ActorJSON struct {
	Actor   string `json:"actor"`
	Type    string `json:"type"`
	Key     string `json:"key"`
	Head    uint64 `json:"head"`
	First   uint64 `json:"first,omitempty"`
	Created int64  `json:"created"`
	Updated int64  `json:"updated"`
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
	var out []ActorJSON
	reply := map[string]any{}
	if dir, pos, ok := s.directory(); ok {
		// The actor directory projection answers; "position" says how
		// current it is.
		if out, err = listFromDirectory(r, dir, o); err != nil {
			s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the actors could not be listed", Err: err})
			return
		}
		reply["position"] = pos
	} else {
		list, err := s.log.ListActors(r.Context(), o)
		if err != nil {
			s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the actors could not be listed", Err: err})
			return
		}
		out = make([]ActorJSON, len(list))
		for i, st := range list {
			out[i] = ActorJSON{Actor: st.Actor.String(), Type: st.Actor.Type, Key: st.Actor.Key, Head: st.Head, First: st.First, Created: st.Created, Updated: st.Updated}
		}
	}
	var next any
	if len(out) == o.Limit {
		next = out[len(out)-1].Actor
	}
	reply["actors"], reply["next"] = out, next
	writeJSON(w, http.StatusOK, reply)
}
