package rivetkit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/rivetkit"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gate is an actor that refuses connections without params["pass"] ==
// "yes", and tells a call the parameters of the connection it came over.
func gate() *actors.Def[struct{}] {
	d := actors.Define("gate", func() struct{} { return struct{}{} })
	d.OnBeforeConnect = func(_ *actors.Ctx[struct{}], params map[string]string) error {
		if params["pass"] != "yes" {
			return actors.Errorf(actors.CodeForbidden, "no pass")
		}
		return nil
	}
	actors.Action(d, "params", func(c *actors.Ctx[struct{}], _ actors.NoArgs) (map[string]string, error) {
		if c.Conn() == nil {
			return nil, nil
		}
		return c.Conn().Params, nil
	})
	return d
}

// server is actorlog's API with the RivetKit protocol mounted, on a
// loopback port.
type server struct {
	t   *testing.T
	url string
	rt  *actors.Runtime
}

func newServer(t *testing.T, opts api.Options) *server {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := eventlog.Open(t.TempDir(), eventlog.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	snaps := snapshots.New(l, snapshots.Options{})
	reg := actors.NewRegistry(seed.Counter(), seed.ChatRoom(), seed.ServerTime(), gate())
	rt := actors.New(l, snaps, reg, actors.Options{Frames: wire.Frames{}, Logger: quiet})
	opts.Logger = quiet
	opts.Routes = []func(*api.Routes){seed.Routes, rivetkit.Mount}
	srv, err := api.New(rt, l, snaps, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close(ctx)
		rt.Close(ctx)
		l.Close()
	})
	return &server{t: t, url: ts.URL, rt: rt}
}

type reply struct {
	status int
	ct     string
	body   []byte
}

func (s *server) do(method, path string, body []byte, hdr ...string) reply {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1] // not a header to net/http
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, ct: res.Header.Get("Content-Type"), body: b}
}

// wantJSON checks a reply's status and JSON body.
func wantJSON(t *testing.T, what string, r reply, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	var got, w any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("%s: body %s is not JSON: %v", what, r.body, err)
	}
	json.Unmarshal([]byte(want), &w)
	g, _ := json.Marshal(got)
	ww, _ := json.Marshal(w)
	if string(g) != string(ww) {
		t.Fatalf("%s: body %s, want %s", what, g, ww)
	}
}

// wantError checks a RivetKit error body.
func wantError(t *testing.T, what string, r reply, status int, group, code string) {
	t.Helper()
	var e struct{ Group, Code, Message string }
	if r.status != status || json.Unmarshal(r.body, &e) != nil || e.Group != group || e.Code != code || e.Message == "" {
		t.Fatalf("%s: %d %s, want %d with %s.%s", what, r.status, r.body, status, group, code)
	}
	if !strings.HasPrefix(r.ct, "application/json") {
		t.Fatalf("%s: Content-Type %q, want JSON", what, r.ct)
	}
}

// query is the query gateway's path for an actor route.
func query(name, method, key, path string) string {
	q := url.Values{"rvt-namespace": {"default"}, "rvt-method": {method}}
	if method == "getOrCreate" {
		q.Set("rvt-runner", "default")
		q.Set("rvt-crash-policy", "sleep")
	}
	if key != "" {
		q.Set("rvt-key", key)
	}
	return "/gateway/" + url.PathEscape(name) + path + "?" + q.Encode()
}

func actorID(typ, key string) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(b64(typ+":"+key)), "=")
}

func TestMetadataAndNames(t *testing.T) {
	s := newServer(t, api.Options{})
	names := `{"chatRoom":{"metadata":{}},"counter":{"metadata":{}},"gate":{"metadata":{}},"serverTime":{"metadata":{}}}`
	wantJSON(t, "metadata", s.do("GET", "/metadata?namespace=default", nil), 200,
		`{"runtime":"rivetkit","version":"`+rivetkit.ClientVersion+`","server":"actorlog","envoyProtocolVersion":0,"actorNames":`+names+`}`)
	wantJSON(t, "names", s.do("GET", "/actors/names?namespace=default", nil), 200, `{"names":`+names+`}`)
}

func TestAction_JSON(t *testing.T) {
	s := newServer(t, api.Options{})
	ct := []string{"Content-Type", "application/json", "x-rivet-encoding", "json"}
	wantJSON(t, "increment", s.do("POST", query("counter", "getOrCreate", "a", "/action/increment"), []byte(`{"args":[]}`), ct...), 200, `{"output":{"count":1}}`)
	wantJSON(t, "add", s.do("POST", query("counter", "getOrCreate", "a", "/action/add"), []byte(`{"args":[{"value":["$BigInt","5"]}]}`), ct...), 200, `{"output":{"count":6}}`)
	// The same actor by id, by the id gateway with a token segment, and
	// by header.
	id := actorID("counter", "a")
	wantJSON(t, "by id", s.do("POST", "/gateway/"+id+"/action/decrement", []byte(`{"args":[]}`), ct...), 200, `{"output":{"count":5}}`)
	wantJSON(t, "by header", s.do("POST", "/action/decrement", []byte(`{"args":[]}`), append(ct, "x-rivet-target", "actor", "x-rivet-actor", id)...), 200, `{"output":{"count":4}}`)
	// actorlog's own API sees the same actor.
	wantJSON(t, "rpc", s.do("POST", "/rpc/counter:a/increment", nil), 200, `{"count":5}`)
	// Multi-part keys are joined with commas; the empty key is "default".
	wantJSON(t, "two parts", s.do("POST", query("counter", "getOrCreate", "x,y", "/action/increment"), []byte(`{"args":[]}`), ct...), 200, `{"output":{"count":1}}`)
	wantJSON(t, "rpc two parts", s.do("POST", "/rpc/counter:x,y/increment", nil), 200, `{"count":2}`)
	wantJSON(t, "empty key", s.do("POST", query("counter", "getOrCreate", "", "/action/increment"), []byte(`{"args":[]}`), ct...), 200, `{"output":{"count":1}}`)
	wantJSON(t, "default", s.do("POST", "/rpc/counter:default/increment", nil), 200, `{"count":2}`)

	// Errors, in RivetKit's body, mapped from actorlog's codes.
	wantError(t, "get of a missing actor", s.do("POST", query("counter", "get", "nobody", "/action/getCount"), []byte(`{"args":[]}`), ct...), 404, "actor", "not_found")
	wantError(t, "unknown action", s.do("POST", query("counter", "getOrCreate", "a", "/action/nope"), []byte(`{"args":[]}`), ct...), 404, "actor", "action_not_found")
	wantError(t, "unknown name", s.do("POST", query("nope", "getOrCreate", "a", "/action/x"), []byte(`{"args":[]}`), ct...), 404, "actor", "not_registered")
	wantError(t, "invalid", s.do("POST", query("counter", "getOrCreate", "a", "/action/add"), []byte(`{"args":[{}]}`), ct...), 422, "user", "invalid")
	wantError(t, "bad args", s.do("POST", query("counter", "getOrCreate", "a", "/action/add"), []byte(`{"args":[{"value":"x"}]}`), ct...), 400, "request", "invalid")
	wantError(t, "bad body", s.do("POST", query("counter", "getOrCreate", "a", "/action/add"), []byte(`{"args":[`), ct...), 400, "request", "invalid")
	wantError(t, "input", s.do("POST", query("counter", "getOrCreate", "a", "/action/add")+"&rvt-input=oA", []byte(`{"args":[]}`), ct...), 400, "feature", "not_implemented")
	wantError(t, "unknown rvt", s.do("POST", query("counter", "getOrCreate", "a", "/action/add")+"&rvt-nope=1", []byte(`{"args":[]}`), ct...), 400, "request", "invalid")
	wantError(t, "bad id", s.do("POST", "/gateway/%21%21/action/getCount", []byte(`{"args":[]}`), ct...), 404, "actor", "not_found")
	wantError(t, "queue", s.do("POST", query("counter", "getOrCreate", "a", "/queue/jobs"), []byte(`{}`), ct...), 501, "feature", "not_implemented")
	wantError(t, "raw request", s.do("GET", query("counter", "getOrCreate", "a", "/request/x"), nil), 501, "feature", "not_implemented")
	wantError(t, "encoding", s.do("POST", query("counter", "getOrCreate", "a", "/action/getCount"), []byte(`{"args":[]}`), "x-rivet-encoding", "xml"), 400, "request", "invalid")
}

func TestAction_CBORAndBARE(t *testing.T) {
	s := newServer(t, api.Options{})
	// {args: [{value: 5}]} in CBOR, and the same args in a BARE
	// HttpActionRequest (version 4).
	args, _ := hex.DecodeString("81a16576616c756505")
	cborBody := append([]byte{0xa1, 0x64, 'a', 'r', 'g', 's'}, args...)
	r := s.do("POST", query("counter", "getOrCreate", "c", "/action/add"), cborBody, "x-rivet-encoding", "cbor", "Content-Type", "application/octet-stream")
	// {output: {count: 5}}
	if r.status != 200 || hex.EncodeToString(r.body) != "a1666f7574707574a165636f756e7405" {
		t.Fatalf("cbor add: %d %x", r.status, r.body)
	}
	bareBody := append([]byte{0x04, 0x00, byte(len(args))}, args...)
	r = s.do("POST", query("counter", "getOrCreate", "c", "/action/add"), bareBody, "x-rivet-encoding", "bare", "Content-Type", "application/octet-stream")
	// version 4, data(CBOR {count: 10})
	if r.status != 200 || hex.EncodeToString(r.body) != "040008a165636f756e740a" {
		t.Fatalf("bare add: %d %x", r.status, r.body)
	}
	// An error is JSON whatever the encoding: the client reads it by its
	// Content-Type.
	wantError(t, "bare error", s.do("POST", query("counter", "getOrCreate", "c", "/action/nope"), bareBody, "x-rivet-encoding", "bare", "Content-Type", "application/octet-stream"), 404, "actor", "action_not_found")
	wantError(t, "bad bare", s.do("POST", query("counter", "getOrCreate", "c", "/action/add"), []byte{0x09, 0x00}, "x-rivet-encoding", "bare", "Content-Type", "application/octet-stream"), 400, "request", "invalid")
}

func TestManagement(t *testing.T) {
	s := newServer(t, api.Options{})
	id := actorID("chatRoom", "lobby")
	put := `{"name":"chatRoom","key":"lobby","runner_name_selector":"default","crash_policy":"sleep"}`
	r := s.do("PUT", "/actors?namespace=default", []byte(put), "Content-Type", "application/json")
	var got struct {
		Actor struct {
			ActorID string `json:"actor_id"`
			Name    string `json:"name"`
			Key     string `json:"key"`
		} `json:"actor"`
		Created *bool `json:"created"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &got) != nil || got.Actor.ActorID != id || got.Actor.Name != "chatRoom" || got.Actor.Key != "lobby" || got.Created == nil || !*got.Created {
		t.Fatalf("PUT /actors: %d %s", r.status, r.body)
	}
	// Not found by key until it has history.
	wantJSON(t, "by key, before", s.do("GET", "/actors?name=chatRoom&key=lobby&namespace=default", nil), 200, `{"actors":[]}`)
	s.do("POST", "/rpc/chatRoom:lobby/join", []byte(`{"username":"ann"}`))
	r = s.do("GET", "/actors?name=chatRoom&key=lobby&namespace=default", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"actor_id":"`+id+`"`)) {
		t.Fatalf("by key, after: %d %s", r.status, r.body)
	}
	r = s.do("GET", "/actors?actor_ids="+id+",bogus&namespace=default", nil)
	if r.status != 200 || bytes.Count(r.body, []byte(`"actor_id"`)) != 1 {
		t.Fatalf("by ids: %d %s", r.status, r.body)
	}
	r = s.do("GET", "/actors?name=chatRoom&namespace=default", nil)
	if r.status != 200 || bytes.Count(r.body, []byte(`"actor_id"`)) != 1 {
		t.Fatalf("by name: %d %s", r.status, r.body)
	}
	r = s.do("PUT", "/actors?namespace=default", []byte(put), "Content-Type", "application/json")
	if !bytes.Contains(r.body, []byte(`"created":false`)) {
		t.Fatalf("PUT again: %d %s", r.status, r.body)
	}
	wantError(t, "POST existing", s.do("POST", "/actors?namespace=default", []byte(put), "Content-Type", "application/json"), 409, "actor", "duplicate_key")
	wantError(t, "input", s.do("PUT", "/actors", []byte(`{"name":"counter","key":"k","input":"oA=="}`), "Content-Type", "application/json"), 400, "feature", "not_implemented")
	wantError(t, "destroy", s.do("DELETE", "/actors/"+id, nil), 501, "feature", "not_implemented")
	// actorlog's own listing is unchanged.
	r = s.do("GET", "/actors?type=chatRoom", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"actor":"chatRoom:lobby"`)) {
		t.Fatalf("actorlog's GET /actors: %d %s", r.status, r.body)
	}
}

func TestToken(t *testing.T) {
	s := newServer(t, api.Options{Token: "s3cret"})
	body := []byte(`{"args":[]}`)
	path := query("counter", "getOrCreate", "t", "/action/increment")
	// Refused in the client's form, which it reads as an ActorError.
	wantError(t, "no token", s.do("POST", path, body), 401, "auth", "unauthorized")
	wantError(t, "no token, /metadata", s.do("GET", "/metadata", nil), 401, "auth", "unauthorized")
	if r := s.do("GET", "/actors?type=counter", nil); r.status != 401 || !bytes.Contains(r.body, []byte(`"error":{"code":"unauthorized"`)) {
		t.Fatalf("actorlog's own route without a token: %d %s, want its own 401", r.status, r.body)
	}
	wantJSON(t, "x-rivet-token", s.do("POST", path, body, "x-rivet-token", "s3cret"), 200, `{"output":{"count":1}}`)
	wantJSON(t, "rvt-token", s.do("POST", path+"&rvt-token=s3cret", body), 200, `{"output":{"count":2}}`)
	wantJSON(t, "@token", s.do("POST", "/gateway/"+actorID("counter", "t")+"@s3cret/action/increment", body), 200, `{"output":{"count":3}}`)
	wantJSON(t, "bearer", s.do("GET", "/metadata", nil, "Authorization", "Bearer s3cret"), 200, s.metadataOf())
	wantError(t, "wrong token", s.do("POST", path, body, "x-rivet-token", "wrong"), 401, "auth", "unauthorized")

	// A WebSocket without the token: the Error message, then a close
	// with the reason auth.unauthorized.
	u := "ws" + strings.TrimPrefix(s.url, "http") + query("counter", "getOrCreate", "t", "/connect")
	ws, _, err := (&websocket.Dialer{Subprotocols: []string{"rivet", "rivet_encoding.json"}}).Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_, msg, err := ws.ReadMessage()
	if err != nil || !bytes.Contains(msg, []byte(`"code":"unauthorized"`)) {
		t.Fatalf("first frame %s, %v: want an Error auth.unauthorized", msg, err)
	}
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Text != "auth.unauthorized" {
		t.Fatalf("close %v, want the reason auth.unauthorized", err)
	}
}

func (s *server) metadataOf() string {
	return `{"runtime":"rivetkit","version":"` + rivetkit.ClientVersion + `","server":"actorlog","envoyProtocolVersion":0,"actorNames":{"chatRoom":{"metadata":{}},"counter":{"metadata":{}},"gate":{"metadata":{}},"serverTime":{"metadata":{}}}}`
}

// conn is a RivetKit connection, in JSON.
type conn struct {
	t  *testing.T
	ws *websocket.Conn
}

func (s *server) dial(path string, protocols ...string) (*conn, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 5 * time.Second}
	ws, res, err := d.Dial("ws"+strings.TrimPrefix(s.url, "http")+path, nil)
	if err != nil {
		return nil, res, err
	}
	s.t.Cleanup(func() { ws.Close() })
	return &conn{t: s.t, ws: ws}, res, nil
}

// next returns the next message's body: {"tag":..,"val":..}.
func (c *conn) next() map[string]any {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m struct{ Body map[string]any }
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("message %s: %v", b, err)
	}
	return m.Body
}

func (c *conn) send(msg string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		c.t.Fatal(err)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestConnect_EventsOnlyWhenSubscribed(t *testing.T) {
	s := newServer(t, api.Options{})
	c, res, err := s.dial(query("counter", "getOrCreate", "ws", "/connect"), "rivet", "rivet_encoding.json")
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Header.Get("Sec-WebSocket-Protocol"); p != "rivet" {
		t.Fatalf("selected subprotocol %q, want rivet", p)
	}
	init := c.next()
	if init["tag"] != "Init" || jsonOf(init["val"].(map[string]any)["actorId"]) != `"`+actorID("counter", "ws")+`"` {
		t.Fatalf("first message %v, want Init", init)
	}
	// Not subscribed: the reply only.
	c.send(`{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","0"],"name":"increment","args":[]}}}`)
	if m := c.next(); jsonOf(m) != `{"tag":"ActionResponse","val":{"id":["$BigInt","0"],"output":{"count":1}}}` {
		t.Fatalf("reply %s", jsonOf(m))
	}
	c.send(`{"body":{"tag":"SubscriptionRequest","val":{"eventName":"countUpdated","subscribe":true}}}`)
	c.send(`{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","1"],"name":"add","args":[{"value":2}]}}}`)
	ev := c.next()
	if ev["tag"] != "Event" || !strings.HasPrefix(jsonOf(ev["val"]), `{"args":[{"count":3,"lastUpdated":`) || ev["val"].(map[string]any)["name"] != "countUpdated" {
		t.Fatalf("event %s", jsonOf(ev))
	}
	if m := c.next(); jsonOf(m) != `{"tag":"ActionResponse","val":{"id":["$BigInt","1"],"output":{"count":3}}}` {
		t.Fatalf("reply %s", jsonOf(m))
	}
	// Another client's write shows up; after unsubscribing it does not.
	s.do("POST", "/rpc/counter:ws/increment", nil)
	if ev := c.next(); ev["tag"] != "Event" {
		t.Fatalf("want the event of another client's write, got %s", jsonOf(ev))
	}
	c.send(`{"body":{"tag":"SubscriptionRequest","val":{"eventName":"countUpdated","subscribe":false}}}`)
	c.send(`{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","2"],"name":"increment","args":[]}}}`)
	if m := c.next(); m["tag"] != "ActionResponse" {
		t.Fatalf("after unsubscribing: %s, want the reply alone", jsonOf(m))
	}
	c.send(`{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","3"],"name":"nope","args":[]}}}`)
	if m := c.next(); jsonOf(m) != `{"tag":"Error","val":{"actionId":["$BigInt","3"],"code":"action_not_found","group":"actor","message":"actor counter has no action \"nope\""}}` {
		t.Fatalf("error %s", jsonOf(m))
	}
	// A message it cannot read ends the connection, with the reason.
	c.send(`{"body":{"tag":"Nope"}}`)
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ws.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Text != "actor.invalid_request" {
		t.Fatalf("after a bad message: %v, want a close with actor.invalid_request", err)
	}
}

func TestConnect_ParamsAndRefusal(t *testing.T) {
	s := newServer(t, api.Options{})
	c, _, err := s.dial(query("gate", "getOrCreate", "g", "/connect"), "rivet", "rivet_encoding.json", "rivet_conn_params."+url.PathEscape(`{"pass":"yes","n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	c.next() // Init
	c.send(`{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","5"],"name":"params","args":[]}}}`)
	if m := c.next(); jsonOf(m) != `{"tag":"ActionResponse","val":{"id":["$BigInt","5"],"output":{"n":"1","pass":"yes"}}}` {
		t.Fatalf("params %s", jsonOf(m))
	}
	// OnBeforeConnect refuses: an Error without an action id, then the
	// close with its group.code.
	c, _, err = s.dial(query("gate", "getOrCreate", "g", "/connect"), "rivet", "rivet_encoding.json")
	if err != nil {
		t.Fatal(err)
	}
	if m := c.next(); jsonOf(m) != `{"tag":"Error","val":{"actionId":null,"code":"forbidden","group":"auth","message":"no pass"}}` {
		t.Fatalf("refusal %s", jsonOf(m))
	}
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ws.ReadMessage(); err == nil || !strings.Contains(err.Error(), "auth.forbidden") {
		t.Fatalf("after the refusal: %v, want a close with auth.forbidden", err)
	}
	// get of an actor with no history.
	c, _, err = s.dial(query("counter", "get", "none", "/connect"), "rivet", "rivet_encoding.json")
	if err != nil {
		t.Fatal(err)
	}
	if m := c.next(); m["tag"] != "Error" || m["val"].(map[string]any)["code"] != "not_found" {
		t.Fatalf("get of a missing actor: %s", jsonOf(m))
	}
}

func TestConnect_BARE(t *testing.T) {
	s := newServer(t, api.Options{})
	c, _, err := s.dial("/gateway/"+actorID("counter", "b")+"/connect", "rivet", "rivet_encoding.bare")
	if err != nil {
		t.Fatal(err)
	}
	read := func() string {
		t.Helper()
		c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, b, err := c.ws.ReadMessage()
		if err != nil || mt != websocket.BinaryMessage {
			t.Fatalf("read: %v (type %d)", err, mt)
		}
		return hex.EncodeToString(b)
	}
	id := actorID("counter", "b")
	if got, want := read(), "040000"+hex.EncodeToString(append([]byte{byte(len(id))}, id...))+"0131"; got != want {
		t.Fatalf("Init %s, want %s", got, want)
	}
	c.ws.WriteMessage(websocket.BinaryMessage, append([]byte{0x04, 0x00, 0x01, 12}, "countUpdated\x01"...))
	// ActionRequest{id: 2, name: "increment", args: CBOR []}
	c.ws.WriteMessage(websocket.BinaryMessage, []byte{0x04, 0x00, 0x00, 0x02, 9, 'i', 'n', 'c', 'r', 'e', 'm', 'e', 'n', 't', 1, 0x80})
	if got := read(); !strings.HasPrefix(got, "0400030c"+hex.EncodeToString([]byte("countUpdated"))) {
		t.Fatalf("Event %s", got)
	}
	if got := read(); got != "04000202"+"08a165636f756e7401" {
		t.Fatalf("ActionResponse %s", got)
	}
}

func TestOwnAPIUnchanged(t *testing.T) {
	s := newServer(t, api.Options{})
	wantJSON(t, "rpc", s.do("POST", "/rpc/counter:default/increment", nil), 200, `{"count":1}`)
	wantJSON(t, "seed route", s.do("POST", "/api/counter/default/increment", nil), 200, `{"count":2}`)
	r := s.do("GET", "/actors?type=counter&limit=10", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"actors":[`)) {
		t.Fatalf("GET /actors: %d %s", r.status, r.body)
	}
	if r := s.do("GET", "/nope", nil); r.status != 404 || !bytes.Contains(r.body, []byte(`"error"`)) {
		t.Fatalf("unknown route: %d %s, want actorlog's 404", r.status, r.body)
	}
}

func TestCORS(t *testing.T) {
	s := newServer(t, api.Options{})
	preflight := func(path, method, headers string) http.Header {
		t.Helper()
		req, _ := http.NewRequest("OPTIONS", s.url+path, nil)
		req.Header.Set("Origin", "http://localhost:5173")
		req.Header.Set("Access-Control-Request-Method", method)
		req.Header.Set("Access-Control-Request-Headers", headers) // sorted, as browsers send it
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header
	}
	if h := preflight("/actors", "PUT", "content-type"); h.Get("Access-Control-Allow-Methods") != "PUT" {
		t.Errorf("PUT /actors preflight: %v", h)
	}
	h := preflight("/gateway/counter/action/x", "POST", "content-type,x-rivet-conn-params,x-rivet-encoding")
	if a := strings.ToLower(h.Get("Access-Control-Allow-Headers")); !strings.Contains(a, "x-rivet-encoding") {
		t.Errorf("Access-Control-Allow-Headers %q lacks x-rivet-encoding", a)
	}

	// The client fetches with credentials "include": a browser takes the
	// answer only if it allows credentials, preflight and request alike.
	// actorlog's own routes do not allow them.
	if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("gateway preflight: Access-Control-Allow-Credentials %q, want true", got)
	}
	get := func(path string) http.Header {
		t.Helper()
		req, _ := http.NewRequest("GET", s.url+path, nil)
		req.Header.Set("Origin", "http://localhost:5173")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header
	}
	if h := get("/metadata"); h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("GET /metadata from a page: %v, want credentials allowed for its origin", h)
	}
	if h := get("/healthz"); h.Get("Access-Control-Allow-Credentials") != "" || h.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("GET /healthz from a page: %v, want its origin allowed without credentials", h)
	}
	if h := preflight("/rpc/counter:a/increment", "POST", "content-type"); h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("actorlog's own preflight allows credentials: %v", h)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestGuards: RivetKit's routes are behind the guards of actorlog's own.
// A page of another site cannot make a browser write through them (any
// content type), a rebound Host is refused, and an oversized body is
// refused; none of them changes the actor. The same call from the
// allowed origin, and from a client that sends no Origin, works.
func TestGuards(t *testing.T) {
	s := newServer(t, api.Options{MaxBodyBytes: 1 << 10})
	path := query("counter", "getOrCreate", "g", "/action/increment")
	body := []byte(`{"args":[]}`)
	for _, ct := range []string{"application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream"} {
		r := s.do("POST", path, body, "Content-Type", ct, "x-rivet-encoding", "json", "Origin", "http://evil.example")
		if r.status != http.StatusForbidden {
			t.Errorf("cross-site %s: %d %s, want 403", ct, r.status, r.body)
		}
	}
	if r := s.do("POST", path, body, "Content-Type", "application/json", "x-rivet-encoding", "json", "Host", "evil.example"); r.status != http.StatusForbidden && r.status != http.StatusMisdirectedRequest && r.status != http.StatusBadRequest {
		t.Errorf("rebound Host: %d %s, want refused", r.status, r.body)
	}
	big := []byte(`{"args":[{"pad":"` + strings.Repeat("x", 4<<10) + `"}]}`)
	if r := s.do("POST", path, big, "Content-Type", "application/json", "x-rivet-encoding", "json"); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %s, want 413", r.status, r.body)
	}
	var st struct{ Count int }
	if r := s.do("POST", "/rpc/counter:g/getCount", nil); r.status != 200 || json.Unmarshal(r.body, &st) != nil || st.Count != 0 {
		t.Errorf("after the refused calls: %d %s, want a count of 0", r.status, r.body)
	}
	ct := []string{"Content-Type", "application/json", "x-rivet-encoding", "json"}
	wantJSON(t, "allowed origin", s.do("POST", path, body, append(ct, "Origin", "http://localhost:5173")...), 200, `{"output":{"count":1}}`)
	wantJSON(t, "no origin", s.do("POST", path, body, ct...), 200, `{"output":{"count":2}}`)
}

// TestConnect_SocketBudgets: a RivetKit socket's messages are paid for
// from the budget all the server's sockets share (TotalSocketRate), as
// actorlog's own sockets' are, and from its own (SocketRate): a socket
// within its own budget that floods is read no faster than the shared
// one allows, and one over its own is read no faster than that.
func TestConnect_SocketBudgets(t *testing.T) {
	const frame, frames = 16 << 10, 12
	pad := strings.Repeat("x", frame-120)
	flood := func(t *testing.T, s *server, key string) time.Duration {
		c, _, err := s.dial(query("counter", "getOrCreate", key, "/connect"), "rivet", "rivet_encoding.json")
		if err != nil {
			t.Fatal(err)
		}
		if m := c.next(); m["tag"] != "Init" {
			t.Fatalf("first message %s", jsonOf(m))
		}
		start := time.Now()
		go func() {
			for i := range frames {
				msg := fmt.Sprintf(`{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","%d"],"name":"getCount","args":["%s"]}}}`, i, pad)
				c.ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if c.ws.WriteMessage(websocket.TextMessage, []byte(msg)) != nil {
					return
				}
			}
		}()
		for range frames {
			c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
			if m := c.next(); m["tag"] != "ActionResponse" && m["tag"] != "Error" {
				t.Fatalf("answer %s", jsonOf(m))
			}
		}
		return time.Since(start)
	}
	t.Run("shared", func(t *testing.T) {
		const total = 128 << 10
		s := newServer(t, api.Options{SocketRate: 16 << 20, TotalSocketRate: total, MaxFrameBytes: 32 << 10})
		// The shared budget passes a turn (a tenth of a second's worth)
		// at once, then total a second.
		want := time.Duration(frames*frame-total/10) * time.Second / total
		if d := flood(t, s, "shared"); d < want*8/10 {
			t.Fatalf("%d messages of %d bytes answered in %v; at %d bytes/s for all sockets they take at least %v", frames, frame, d, total, want)
		}
	})
	t.Run("own", func(t *testing.T) {
		const own = 64 << 10
		s := newServer(t, api.Options{SocketRate: own, MaxFrameBytes: 32 << 10})
		// The socket's budget passes MaxFrameBytes or a second's worth,
		// the more, at once, then own a second.
		want := time.Duration(frames*frame-own) * time.Second / own
		if d := flood(t, s, "own"); d < want*8/10 {
			t.Fatalf("%d messages of %d bytes answered in %v; at %d bytes/s they take at least %v", frames, frame, d, own, want)
		}
	})
}
