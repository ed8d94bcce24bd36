package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/verify"
)

// remote reads a running server through its HTTP API: the history and
// state routes, and the /inspect routes for what they do not give.
type remote struct {
	base   *url.URL
	token  string
	client *http.Client
}

func newRemote(server, token string) (*remote, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q is not a server URL: write http://host:port", server)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return &remote{base: u, token: token, client: &http.Client{}}, nil
}

func (r *remote) close() error { return nil }

// errorReply is the API's error body.
type errorReply struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// apiError is an error reply of the server.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

// url returns the server's URL of path, which is escaped (its keys went
// through url.PathEscape), with the query q.
func (r *remote) url(path string, q url.Values) string {
	u := *r.base
	// Join the escaped forms: adding path to u.Path, which is unescaped,
	// would escape its escapes again ("%2F" as "%252F").
	full, err := url.Parse(u.EscapedPath() + path)
	if err == nil {
		u.Path, u.RawPath = full.Path, full.RawPath
	} else {
		u.Path += path
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// send sends a request for path?q, with the token if there is one.
func (r *remote) send(ctx context.Context, method, path string, q url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.url(path, q), nil)
	if err != nil {
		return nil, err
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	return r.client.Do(req)
}

// get sends GET path?q and decodes the JSON reply into v.
func (r *remote) get(ctx context.Context, path string, q url.Values, v any) error {
	res, err := r.send(ctx, http.MethodGet, path, q)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("cannot reach the server at %s: %v", r.base, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("server at %s: %w", r.base, err)
	}
	if res.StatusCode != http.StatusOK {
		var e errorReply
		json.Unmarshal(body, &e)
		switch {
		case res.StatusCode == http.StatusUnauthorized && r.token == "":
			return fmt.Errorf("the server at %s wants a token: pass --token or set ACTORLOG_TOKEN", r.base)
		case res.StatusCode == http.StatusUnauthorized:
			return fmt.Errorf("the server at %s refused the token", r.base)
		case res.StatusCode == http.StatusNotFound && strings.HasPrefix(e.Error.Message, "no route for"):
			return fmt.Errorf("the server at %s has no %s route (an older actorlog?); stop it and use --data on its directory", r.base, path)
		case e.Error.Message != "":
			return &apiError{status: res.StatusCode, code: e.Error.Code, message: e.Error.Message}
		}
		return fmt.Errorf("server at %s: %s", r.base, res.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("server at %s: reply to %s is not what this actorlog reads: %v", r.base, path, err)
	}
	return nil
}

func actorPath(id eventlog.ID) string {
	return "/actors/" + url.PathEscape(id.Type) + "/" + url.PathEscape(id.Key)
}

func (r *remote) listActors(ctx context.Context, typ string, fn func(*wire.ActorInfo) error) error {
	after := ""
	for {
		q := url.Values{"limit": {"1000"}}
		if typ != "" {
			q.Set("type", typ)
		}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Actors []wire.ActorInfo `json:"actors"`
			Next   *string          `json:"next"`
		}
		if err := r.get(ctx, "/inspect/actors", q, &page); err != nil {
			return err
		}
		for i := range page.Actors {
			if err := fn(&page.Actors[i]); err != nil {
				return err
			}
		}
		if page.Next == nil || len(page.Actors) == 0 {
			return nil
		}
		after = *page.Next
	}
}

// historyPage is the reply of GET /actors/{type}/{key}/events.
type historyPage struct {
	Head   uint64       `json:"head"`
	First  uint64       `json:"first"`
	Events []wire.Event `json:"events"`
	Next   *uint64      `json:"next"`
}

func (r *remote) head(ctx context.Context, id eventlog.ID) (eventlog.StreamInfo, error) {
	var p historyPage
	if err := r.get(ctx, actorPath(id)+"/events", url.Values{"limit": {"1"}}, &p); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.code == "not_found" && strings.HasPrefix(ae.message, "unknown actor type") {
			// The server knows no such type, so no such actor: say so
			// as a data directory would.
			return eventlog.StreamInfo{Actor: id, First: 1}, nil
		}
		return eventlog.StreamInfo{}, err
	}
	st := eventlog.StreamInfo{Actor: id, Head: p.Head, First: p.First}
	if st.First == 0 {
		st.First = 1
	}
	return st, nil
}

func (r *remote) history(ctx context.Context, id eventlog.ID, from, to uint64, fn func(*wire.Event) error) error {
	if from == 0 {
		from = 1
	}
	for {
		var p historyPage
		q := url.Values{"from": {strconv.FormatUint(from, 10)}, "limit": {"1000"}}
		if err := r.get(ctx, actorPath(id)+"/events", q, &p); err != nil {
			return err
		}
		for i := range p.Events {
			e := &p.Events[i]
			if to != 0 && e.Seq > to {
				return nil
			}
			e.Actor = id.String()
			if err := fn(e); err != nil {
				return err
			}
		}
		if p.Next == nil || len(p.Events) == 0 {
			return nil
		}
		from = *p.Next
	}
}

// eventsPage is the reply of GET /inspect/events.
type eventsPage struct {
	Events []wire.Record `json:"events"`
	Next   uint64        `json:"next"`
}

func (r *remote) page(ctx context.Context, id eventlog.ID, from, to uint64, wait time.Duration) (eventsPage, error) {
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "limit": {"10000"}}
	if id != (eventlog.ID{}) {
		q.Set("actor", id.String())
	}
	if to != 0 {
		q.Set("to", strconv.FormatUint(to, 10))
	}
	if wait > 0 {
		q.Set("wait", strconv.Itoa(int(wait/time.Second)))
	}
	var p eventsPage
	err := r.get(ctx, "/inspect/events", q, &p)
	return p, err
}

func (r *remote) events(ctx context.Context, id eventlog.ID, from, to uint64, fn func(*eventlog.Event) error) error {
	if from == 0 {
		from = 1
	}
	for {
		p, err := r.page(ctx, id, from, to, 0)
		if err != nil {
			return err
		}
		if len(p.Events) == 0 {
			return nil
		}
		if err := r.deliver(p, fn); err != nil {
			return err
		}
		from = p.Next
		if to != 0 && from > to {
			return nil
		}
	}
}

func (r *remote) deliver(p eventsPage, fn func(*eventlog.Event) error) error {
	for i := range p.Events {
		e, err := p.Events[i].Event()
		if err != nil {
			return fmt.Errorf("server sent an event that does not decode: %v", err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return nil
}

func (r *remote) stateAt(ctx context.Context, id eventlog.ID, at uint64) ([]byte, error) {
	var s struct {
		State json.RawMessage `json:"state"`
	}
	if err := r.get(ctx, actorPath(id)+"/state", url.Values{"at": {strconv.FormatUint(at, 10)}}, &s); err != nil {
		return nil, err
	}
	return s.State, nil
}

func (r *remote) durable(ctx context.Context) (uint64, error) {
	var h struct {
		Durable uint64 `json:"durable"`
	}
	err := r.get(ctx, "/healthz", nil, &h)
	return h.Durable, err
}

// pollWait is how long one long poll of /inspect/events waits.
const pollWait = 25 * time.Second

func (r *remote) follow(ctx context.Context, id eventlog.ID, from uint64, fn func(*eventlog.Event) error) error {
	if from == 0 {
		from = 1
	}
	for {
		p, err := r.page(ctx, id, from, 0, pollWait)
		if err != nil {
			return err
		}
		if err := r.deliver(p, fn); err != nil {
			return err
		}
		from = p.Next
	}
}

func (r *remote) verify(ctx context.Context, id eventlog.ID, _ func(verify.Progress)) (*verify.Report, error) {
	q := url.Values{}
	if id != (eventlog.ID{}) {
		q.Set("actor", id.String())
	}
	var rep verify.Report
	if err := r.get(ctx, "/inspect/verify", q, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
