package rivetkit

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// metadata serves GET /metadata, the client's first request.
func (s *server) metadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"runtime":              "rivetkit",
		"version":              ClientVersion,
		"server":               "actorlog",
		"envoyProtocolVersion": 0,
		"actorNames":           s.names(),
	})
}

// names is the map of actor names the client expects: each with its
// (empty) metadata.
func (s *server) names() map[string]any {
	names := map[string]any{}
	for _, typ := range s.rt.Registry().Types() {
		names[typ] = map[string]any{"metadata": map[string]any{}}
	}
	return names
}

func (s *server) actorNames(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{"names": s.names()})
}

// apiActor is an actor as the management API describes it.
type apiActor struct {
	ActorID            string `json:"actor_id"`
	Name               string `json:"name"`
	Key                string `json:"key"`
	NamespaceID        string `json:"namespace_id"`
	RunnerNameSelector string `json:"runner_name_selector"`
	CreateTS           int64  `json:"create_ts"`
	StartTS            *int64 `json:"start_ts"`
	ConnectableTS      *int64 `json:"connectable_ts"`
	SleepTS            *int64 `json:"sleep_ts"`
	DestroyTS          *int64 `json:"destroy_ts"`
	Error              any    `json:"error"`
}

// describe returns an actor as the management API describes it; parts
// is its key as the client gave it, nil to derive it from the actorlog
// key.
func describe(st eventlog.StreamInfo, id eventlog.ID, parts []string, namespace string) apiActor {
	if parts == nil && id.Key != defaultKey {
		parts = []string{id.Key}
	}
	created := st.Created
	if created == 0 {
		created = time.Now().UnixMilli()
	}
	if namespace == "" {
		namespace = "default"
	}
	return apiActor{
		ActorID: actorID(id), Name: id.Type, Key: serializeKey(parts), NamespaceID: namespace,
		RunnerNameSelector: "default", CreateTS: created, StartTS: &created, ConnectableTS: &created,
	}
}

// listActors serves GET /actors?actor_ids= | ?name=&key= | ?name=.
func (s *server) listActors(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns := q.Get("namespace")
	out := []apiActor{}
	ctx := r.Context()
	switch {
	case q.Has("actor_ids"):
		for _, one := range strings.Split(q.Get("actor_ids"), ",") {
			id, ok := parseActorID(strings.TrimSpace(one))
			if !ok {
				continue
			}
			if _, err := s.rt.Registry().Resolve(id); err != nil {
				continue
			}
			st, err := s.log.Head(ctx, id)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			out = append(out, describe(st, id, nil, ns))
		}
	case q.Has("key"):
		parts := deserializeKey(q.Get("key"))
		id := eventlog.ID{Type: q.Get("name"), Key: keyOf(parts)}
		if _, err := s.rt.Registry().Resolve(id); err != nil {
			break // no such actor: an empty list, as for any other
		}
		st, err := s.log.Head(ctx, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if st.Head > 0 {
			out = append(out, describe(st, id, parts, ns))
		}
	default:
		name := q.Get("name")
		if _, ok := s.rt.Registry().Lookup(name); !ok {
			break
		}
		list, err := s.log.ListActors(ctx, eventlog.ListOptions{Type: name, Limit: 1000})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, st := range list {
			out = append(out, describe(st, st.Actor, nil, ns))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"actors": out})
}

// createRequest is the body of PUT and POST /actors.
type createRequest struct {
	Name  string  `json:"name"`
	Key   *string `json:"key"`
	Input *string `json:"input"`
}

// createActor serves PUT /actors (get or create) and POST /actors
// (create). Nothing is written: an actor comes into being with its first
// event. POST refuses a key whose actor exists.
func (s *server) createActor(w http.ResponseWriter, r *http.Request, orGet bool) {
	var req createRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err := dec.Decode(&req); err != nil {
		s.fail(w, r, invalid("the body is not a JSON object {name, key}: %v", err))
		return
	}
	if req.Input != nil && *req.Input != "" {
		s.fail(w, r, errNoInput)
		return
	}
	var parts []string
	if req.Key != nil {
		parts = deserializeKey(*req.Key)
	}
	id := eventlog.ID{Type: req.Name, Key: keyOf(parts)}
	if _, err := s.resolve(r.Context(), target{id: id}); err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.log.Head(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	created := st.Head == 0
	if !orGet && !created {
		s.fail(w, r, &rkError{status: http.StatusConflict, group: "actor", code: "duplicate_key", message: "actor " + id.String() + " already exists"})
		return
	}
	a := describe(st, id, parts, r.URL.Query().Get("namespace"))
	if orGet {
		writeJSON(w, http.StatusOK, map[string]any{"actor": a, "created": created})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"actor": a})
}
