package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/archive"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
	"github.com/actorlog/actorlog/snapshots"
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

// SnapshotInfoJSON describes an actor's newest snapshot.
type SnapshotInfoJSON struct {
	Seq    uint64 `json:"seq"`
	Time   int64  `json:"time"`
	Schema uint32 `json:"schema"`
	Size   int    `json:"size"`
	Error  string `json:"error,omitempty"` // why it does not decode
}

// ActorInfoJSON is an actor in the inspection listing: ActorJSON, the
// position of its last event and its newest snapshot (null if none).
type ActorInfoJSON struct {
	ActorJSON
	LastPos  uint64            `json:"lastPos"`
	Snapshot *SnapshotInfoJSON `json:"snapshot"`
}

// inspectActors serves GET /inspect/actors?type=&after=&limit=.
func (s *Server) inspectActors(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	o, err := listOptions(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out, err := ListActorInfo(r.Context(), s.log, s.snaps, o)
	if err != nil {
		s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the actors could not be listed", Err: err})
		return
	}
	var next any
	if len(out) == o.Limit {
		next = out[len(out)-1].Actor
	}
	writeJSON(w, http.StatusOK, map[string]any{"actors": out, "next": next})
}

// ListActorInfo lists actors with their newest snapshot, for the
// inspection tools. The actor directory projection answers when it is
// current (its checkpoint at the log's durable end); otherwise, say on a
// store whose server never ran the projections, the log's own stream
// records do. Either way each actor's stored range is read from its
// stream record, so the answer is exact.
func ListActorInfo(ctx context.Context, log Log, snaps *snapshots.Store, o eventlog.ListOptions) ([]ActorInfoJSON, error) {
	var streams []eventlog.StreamInfo
	pos, ver, _, err := projection.ReadCheckpoint(ctx, log, projection.DirectoryName)
	if err != nil {
		return nil, err
	}
	if ver == projection.Directory().Version && pos > 0 && pos == log.Durable() {
		list, err := projection.ListActors(ctx, projection.OpenView(log, projection.DirectoryName), o)
		if err != nil {
			return nil, err
		}
		for _, d := range list {
			st, err := log.Head(ctx, d.Actor)
			if err != nil {
				return nil, err
			}
			streams = append(streams, st)
		}
	} else if streams, err = log.ListActors(ctx, o); err != nil {
		return nil, err
	}
	out := make([]ActorInfoJSON, len(streams))
	for i, st := range streams {
		a := ActorInfoJSON{
			ActorJSON: ActorJSON{Actor: st.Actor.String(), Type: st.Actor.Type, Key: st.Actor.Key, Head: st.Head, First: st.First, Created: st.Created, Updated: st.Updated},
			LastPos:   st.LastPos,
		}
		if snaps != nil {
			infos, err := snaps.List(ctx, st.Actor)
			if err != nil {
				return nil, err
			}
			if n := len(infos); n > 0 {
				in := infos[n-1]
				a.Snapshot = &SnapshotInfoJSON{Seq: in.Seq, Time: in.Time, Schema: in.Schema, Size: in.Size}
				if in.Err != nil {
					a.Snapshot.Error = in.Err.Error()
				}
			}
		}
		out[i] = a
	}
	return out, nil
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
	read := func(ctx context.Context) ([]archive.Record, error) {
		var out []archive.Record
		fn := func(e *eventlog.Event) error {
			rec, err := archive.NewRecord(e)
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
		events = []archive.Record{}
	}
	next := from
	if n := len(events); n > 0 {
		next = events[n-1].Seq + 1
		if !stream {
			next = events[n-1].Pos + 1
		}
	}
	body := map[string]any{"events": events, "next": next}
	if stream {
		st, err := s.log.Head(r.Context(), id)
		if err != nil {
			s.writeErr(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the head could not be read", Err: err})
			return
		}
		body["actor"], body["head"], body["first"] = id.String(), st.Head, st.First
	} else {
		body["durable"] = s.log.Durable()
	}
	writeJSON(w, http.StatusOK, body)
}

var errPageFull = errors.New("api: page full")

// waitEvents waits up to d for an event at or after from, then reads the
// page again. Nothing arriving is not an error: the page is empty.
func (s *Server) waitEvents(ctx context.Context, id eventlog.ID, from uint64, d time.Duration, read func(context.Context) ([]archive.Record, error)) ([]archive.Record, error) {
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
