package api_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/api/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// TestSchema: GET /schema is the description of the server's actor
// types, as wire.Describe makes it (TestToken: behind the token).
func TestSchema(t *testing.T) {
	s := newStack(t, "", config{})
	r := s.get("/schema")
	ok(t, "GET /schema", r, nil)
	var got wire.Description
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("GET /schema: %v: %s", err, r.body)
	}
	want, err := wire.Describe(testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("GET /schema differs from wire.Describe:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	for _, typ := range []string{"alarm", "blob", "chatRoom", "counter", "serverTime"} {
		if _, ok := got.Actors[typ]; !ok {
			t.Errorf("%s is not described", typ)
		}
	}
	var add bytes.Buffer
	json.Compact(&add, got.Actors["counter"].Actions["add"].Args)
	if !strings.Contains(add.String(), `"required":["value"]`) {
		t.Errorf("add's arguments: %s, want value required", add.String())
	}
	if _, ok := got.Actors["serverTime"].Broadcasts["timeUpdated"]; !ok {
		t.Errorf("serverTime's broadcasts: %v, want timeUpdated", got.Actors["serverTime"].Broadcasts)
	}
}

// TestRPC_ArgumentsChecked: arguments that break an action's schema are
// refused over HTTP (JSON or msgpack, the RPC and the seed's routes) and
// over a WebSocket, with a 400 or 422 whose message names the field.
func TestRPC_ArgumentsChecked(t *testing.T) {
	s := newStack(t, "", config{})
	cases := []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"unknown field", "POST", "/rpc/counter:v/add", `{"valu":5}`, 400, "bad_request", `argument "valu" is not a field of add's arguments`},
		{"unknown field beside a good one", "POST", "/rpc/counter:v/add", `{"value":5,"by":1}`, 400, "bad_request", `argument "by" is not a field of add's arguments`},
		{"field of a no-argument action", "POST", "/api/counter/v/increment", `{"by":2}`, 400, "bad_request", `argument "by" is not a field of increment's arguments (it takes none)`},
		{"wrong type", "POST", "/rpc/counter:v/add", `{"value":"5"}`, 400, "bad_request", `argument "value" must be an integer, not string`},
		{"null", "POST", "/rpc/counter:v/add", `{"value":null}`, 400, "bad_request", `argument "value" must be an integer, not null`},
		{"missing required field", "POST", "/rpc/counter:v/add", `{}`, 422, "invalid_argument", `argument "value" is required`},
		{"no body, a required field", "POST", "/api/counter/v/add", ``, 422, "invalid_argument", `argument "value" is required`},
		{"missing plain field", "POST", "/api/chat/v/messages", `{"username":"ann"}`, 422, "invalid_argument", `argument "text" is required`},
		{"above the maximum", "POST", "/rpc/chatRoom:v/getMessages", `{"limit":101}`, 422, "invalid_argument", `argument "limit" must be at most 100, not 101`},
		{"below the minimum, query", "GET", "/api/chat/v/messages?limit=0", ``, 422, "invalid_argument", `argument "limit" must be at least 1, not 0`},
		{"outside the enum", "POST", "/rpc/alarm:v/arm", `{"ms":10,"tag":"t","sound":"gong"}`, 422, "invalid_argument", `argument "sound" must be one of "bell", "buzz", not "gong"`},
	}
	for _, c := range cases {
		var body []byte
		var hdr []string
		if c.body != "" {
			body, hdr = []byte(c.body), []string{"Content-Type", "application/json"}
		}
		r := s.do(c.method, c.path, body, hdr...)
		wantError(t, c.name, r, c.status, c.code)
		if got := errorMessage(r.body); got != c.msg {
			t.Errorf("%s: message %q, want %q", c.name, got, c.msg)
		}
		if c.method != "POST" || c.body == "" || !strings.HasPrefix(c.path, "/rpc/") {
			continue
		}
		// The same arguments in msgpack, and in a WebSocket call.
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		mp, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		r = s.do("POST", c.path, mp, "Content-Type", "application/msgpack")
		wantError(t, c.name+" (msgpack)", r, c.status, c.code)
		if got := errorMessage(r.body); got != c.msg {
			t.Errorf("%s (msgpack): message %q, want %q", c.name, got, c.msg)
		}
		target, action, _ := strings.Cut(strings.TrimPrefix(c.path, "/rpc/"), "/")
		typ, key, _ := strings.Cut(target, ":")
		w := s.ws("/ws/" + typ + "/" + key)
		w.send(map[string]any{"type": "call", "id": "c", "action": action, "args": v})
		f := w.nextOf("error", "init")
		if f.Error == nil || f.Error.Code != c.code || f.Error.Message != c.msg {
			t.Errorf("%s (WebSocket): error frame %s, want %s %q", c.name, f.raw, c.code, c.msg)
		}
		w.c.Close()
	}
	// Good arguments still pass.
	ok(t, "add", s.post("/rpc/counter:v/add", `{"value":5}`), nil)
	ok(t, "getMessages without a limit", s.get("/api/chat/v/messages"), nil)
	ok(t, "arm with a sound", s.post("/rpc/alarm:v/arm", `{"ms":60000,"tag":"t","sound":"bell"}`), nil)
}

// errorMessage returns the message of an error body.
func errorMessage(body []byte) string {
	var e wire.Error
	json.Unmarshal(body, &e)
	return e.Error.Message
}
