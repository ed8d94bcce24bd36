package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/inspect"
	"github.com/actorlog/actorlog/verify"
	"github.com/julienschmidt/httprouter"
)

// The inspection routes serve the "actorlog" command's online mode. They
// only read, and never wake an actor:
//
//	GET /inspect/actors?type=&after=&limit=   actors with their newest snapshot
//	GET /inspect/events?actor=&from=&to=&limit=&wait=
//	                                          an actor's events (or, without
//	                                          actor, the global feed) in the
//	                                          export format, raw data included;
//	                                          wait=N long-polls up to N seconds
//	                                          for the first event past from
//	GET /inspect/verify?actor=                check the store (package verify)
func (s *Server) inspectRoutes(r *httprouter.Router) {
	r.GET("/inspect/actors", s.inspectActors)
	r.GET("/inspect/events", s.inspectEvents)
	r.GET("/inspect/verify", s.inspectVerify)
}

// inspectActors serves GET /inspect/actors?type=&after=&limit=.
func (s *Server) inspectActors(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	o, err := listOptions(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out, err := inspect.Actors(r.Context(), s.log, s.snaps, o)
	if err != nil {
		s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the actors could not be listed", Err: err})
		return
	}
	page := wire.ActorInfoPage{Actors: out}
	if len(out) == o.Limit {
		next := out[len(out)-1].Actor
		page.Next = &next
	}
	writeJSON(w, http.StatusOK, page)
}

// maxInspectPage bounds a page of /inspect/events.
const maxInspectPage = 10000

// maxWait bounds the long poll of /inspect/events.
const maxWait = 60 * time.Second

// inspectEvents serves GET /inspect/events.
func (s *Server) inspectEvents(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	q := r.URL.Query()
	var id eventlog.ID
	if a := q.Get("actor"); a != "" {
		var err error
		if id, err = eventlog.ParseID(a); err != nil {
			s.writeErr(w, r, badID("actor must be type:key", err))
			return
		}
	}
	from, err := uintParam(r, "from", 1)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	to, err := uintParam(r, "to", 0)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	limit, err := uintParam(r, "limit", 1000)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if limit == 0 || limit > maxInspectPage {
		s.writeErr(w, r, actors.Errorf(actors.CodeBadRequest, "limit must be between 1 and %d", maxInspectPage))
		return
	}
	wait, err := uintParam(r, "wait", 0)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if from == 0 {
		from = 1
	}
	stream := id != (eventlog.ID{})
	read := func(ctx context.Context) ([]wire.Record, error) {
		var out []wire.Record
		fn := func(e *eventlog.Event) error {
			rec, err := wire.NewRecord(e)
			if err != nil {
				return err
			}
			out = append(out, rec)
			if len(out) == int(limit) {
				return errPageFull
			}
			return nil
		}
		var err error
		if stream {
			err = s.log.ScanStream(ctx, id, from, to, fn)
		} else {
			err = s.log.ScanFeed(ctx, from, to, fn)
		}
		if errors.Is(err, errPageFull) {
			err = nil
		}
		return out, err
	}
	events, err := read(r.Context())
	if err == nil && len(events) == 0 && wait > 0 {
		events, err = s.waitEvents(r.Context(), id, from, min(time.Duration(wait)*time.Second, maxWait), read)
	}
	if err != nil {
		s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the events could not be read", Err: err})
		return
	}
	if events == nil {
		events = []wire.Record{}
	}
	next := from
	if n := len(events); n > 0 {
		next = events[n-1].Seq + 1
		if !stream {
			next = events[n-1].Pos + 1
		}
	}
	page := wire.RecordsPage{Events: events, Next: next}
	if stream {
		st, err := s.log.Head(r.Context(), id)
		if err != nil {
			s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the head could not be read", Err: err})
			return
		}
		page.Actor, page.Head, page.First = id.String(), &st.Head, &st.First
	} else {
		durable := s.log.Durable()
		page.Durable = &durable
	}
	writeJSON(w, http.StatusOK, page)
}

var errPageFull = errors.New("api: page full")

// waitEvents waits up to d for an event at or after from, then reads the
// page again. Nothing arriving is not an error: the page is empty.
func (s *Server) waitEvents(ctx context.Context, id eventlog.ID, from uint64, d time.Duration, read func(context.Context) ([]wire.Record, error)) ([]wire.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var sub eventlog.Subscription
	var err error
	if id != (eventlog.ID{}) {
		sub, err = s.log.SubscribeStream(ctx, id, from)
	} else {
		sub, err = s.log.SubscribeFeed(ctx, from)
	}
	if err != nil {
		return nil, err
	}
	_, err = sub.Next(ctx)
	sub.Close()
	var lagged *eventlog.LaggedError
	switch {
	case err == nil, errors.As(err, &lagged):
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return nil, nil
	default:
		return nil, err
	}
	return read(context.WithoutCancel(ctx))
}

// inspectVerify serves GET /inspect/verify?actor=: the report of package
// verify, with status 200 whether or not it found problems.
func (s *Server) inspectVerify(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var o verify.Options
	if a := r.URL.Query().Get("actor"); a != "" {
		var err error
		if o.Actor, err = eventlog.ParseID(a); err != nil {
			s.writeErr(w, r, badID("actor must be type:key", err))
			return
		}
	}
	rep, err := verify.Run(r.Context(), s.log, s.snaps, s.rt.Registry(), o)
	switch {
	case errors.Is(err, verify.ErrNoActor):
		s.writeErr(w, r, actors.Errorf(actors.CodeNotFound, "%s has no events", o.Actor))
		return
	case err != nil:
		s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the store could not be verified", Err: err})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
