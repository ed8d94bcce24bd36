package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/vmihailenco/msgpack/v5"
)

// TestRoutes_Counter calls every route of a counter and checks each reply
// and its Actorlog-Seq.
func TestRoutes_Counter(t *testing.T) {
	s := newStack(t, "", config{})
	cases := []struct {
		name, method, path, body string
		want                     string // JSON pattern of the reply
		seq                      uint64 // Actorlog-Seq
	}{
		{"rpc empty body", "POST", "/rpc/counter:c1/increment", "", `{"count":1}`, 1},
		{"rpc empty object", "POST", "/rpc/counter:c1/increment", `{}`, `{"count":2}`, 2},
		{"rpc null", "POST", "/rpc/counter:c1/increment", `null`, `{"count":3}`, 3},
		{"rpc add", "POST", "/rpc/counter:c1/add", `{"value":5}`, `{"count":8}`, 4},
		{"rpc add negative", "POST", "/rpc/counter:c1/add", `{"value":-2}`, `{"count":6}`, 5},
		{"actions path", "POST", "/actors/counter/c1/actions/decrement", ``, `{"count":5}`, 6},
		{"actions path getCount", "POST", "/actors/counter/c1/actions/getCount", ``, `{"count":5,"lastUpdated":"<ts>"}`, 6},
		{"seed increment", "POST", "/api/counter/c1/increment", ``, `{"count":6}`, 7},
		{"seed decrement", "POST", "/api/counter/c1/decrement", ``, `{"count":5}`, 8},
		{"seed add", "POST", "/api/counter/c1/add", `{"value":10}`, `{"count":15}`, 9},
		{"seed get", "GET", "/api/counter/c1", ``, `{"count":15,"lastUpdated":"<ts>"}`, 9},
		{"rpc getCount", "POST", "/rpc/counter:c1/getCount", ``, `{"count":15,"lastUpdated":"<ts>"}`, 9},
		{"seed reset", "POST", "/api/counter/c1/reset", ``, `{"count":0}`, 10},
		{"seed get after reset", "GET", "/api/counter/c1", ``, `{"count":0,"lastUpdated":"<ts>"}`, 10},
		{"other counter", "POST", "/api/counter/c2/increment", ``, `{"count":1}`, 1},
		{"key with colon and space", "POST", "/rpc/counter:a:b%20c/increment", ``, `{"count":1}`, 1},
		{"same key on the path route", "GET", "/api/counter/a:b%20c", ``, `{"count":1,"lastUpdated":"<ts>"}`, 1},
	}
	for _, c := range cases {
		var b []byte
		if c.body != "" {
			b = []byte(c.body)
		}
		r := s.do(c.method, c.path, b)
		ok(t, c.name, r, nil)
		matchJSON(t, c.name, r.body, c.want)
		if got := seqHeader(t, r); got != c.seq {
			t.Errorf("%s: Actorlog-Seq got %d, want %d", c.name, got, c.seq)
		}
	}
}

func TestRoutes_Msgpack(t *testing.T) {
	s := newStack(t, "", config{})
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// msgpack in, msgpack out.
	r := s.do("POST", "/rpc/counter:m/add", enc(map[string]any{"value": 7}), "Content-Type", "application/msgpack", "Accept", "application/msgpack")
	if r.status != 200 || r.header.Get("Content-Type") != "application/msgpack" {
		t.Fatalf("msgpack add: got %d %q, want 200 application/msgpack", r.status, r.header.Get("Content-Type"))
	}
	var m map[string]any
	if err := msgpack.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("msgpack reply %x: %v", r.body, err)
	}
	if len(m) != 1 || fmt.Sprint(m["count"]) != "7" {
		t.Fatalf("msgpack reply got %v, want map[count:7]", m)
	}
	if got := seqHeader(t, r); got != 1 {
		t.Fatalf("Actorlog-Seq got %d, want 1", got)
	}
	// msgpack in, JSON out.
	r = s.do("POST", "/rpc/counter:m/add", enc(map[string]any{"value": int8(-3)}), "Content-Type", "application/x-msgpack")
	ok(t, "msgpack in, JSON out", r, nil)
	matchJSON(t, "msgpack in, JSON out", r.body, `{"count":4}`)
	// Empty msgpack body: no arguments.
	r = s.do("POST", "/rpc/counter:m/increment", []byte{}, "Content-Type", "application/msgpack", "Accept", "application/json, application/msgpack;q=0.9")
	if r.status != 200 {
		t.Fatalf("empty msgpack body: got %v", r)
	}
	m = nil
	if err := msgpack.Unmarshal(r.body, &m); err != nil || fmt.Sprint(m["count"]) != "5" {
		t.Fatalf("empty msgpack body: reply %x (%v), want count 5", r.body, err)
	}
	// JSON in, msgpack out, state-shaped result.
	r = s.do("GET", "/api/counter/m", nil, "Accept", "application/msgpack")
	var st struct {
		Count       int64 `msgpack:"count"`
		LastUpdated int64 `msgpack:"lastUpdated"`
	}
	if err := msgpack.Unmarshal(r.body, &st); err != nil || st.Count != 5 || st.LastUpdated == 0 {
		t.Fatalf("msgpack getCount: %+v (%v), want count 5 and a time", st, err)
	}
	// Chat message as msgpack.
	r = s.do("POST", "/api/chat/m/messages", enc(map[string]string{"username": "ann", "text": "hi"}), "Content-Type", "application/msgpack", "Accept", "application/msgpack")
	var msg struct {
		Message struct {
			ID       string `msgpack:"id"`
			Username string `msgpack:"username"`
			Text     string `msgpack:"text"`
			Time     int64  `msgpack:"timestamp"`
		} `msgpack:"message"`
	}
	if err := msgpack.Unmarshal(r.body, &msg); err != nil || msg.Message.Username != "ann" || msg.Message.Text != "hi" || !uuidRE.MatchString(msg.Message.ID) || msg.Message.Time == 0 {
		t.Fatalf("msgpack sendMessage: %+v (%v)", msg, err)
	}
}

func TestRoutes_Chat(t *testing.T) {
	s := newStack(t, "", config{})
	steps := []struct {
		name, method, path, body, want string
	}{
		{"join ann", "POST", "/api/chat/r1/join", `{"username":"ann"}`, `{"success":true,"participantCount":1}`},
		{"join bob", "POST", "/api/chat/r1/join", `{"username":"bob"}`, `{"success":true,"participantCount":2}`},
		{"join ann again", "POST", "/api/chat/r1/join", `{"username":" ann "}`, `{"success":true,"participantCount":2}`},
		{"participants", "GET", "/api/chat/r1/participants", ``, `{"participants":["ann","bob"],"count":2}`},
		{"send 1", "POST", "/api/chat/r1/messages", `{"username":"ann","text":"hello"}`, `{"message":{"id":"<uuid>","username":"ann","text":"hello","timestamp":"<ts>"}}`},
		{"send 2", "POST", "/api/chat/r1/messages", `{"username":"bob","text":"  world  "}`, `{"message":{"id":"<uuid>","username":"bob","text":"world","timestamp":"<ts>"}}`},
		{"send rpc", "POST", "/rpc/chatRoom:r1/sendMessage", `{"username":"ann","text":"über ✓"}`, `{"message":{"id":"<uuid>","username":"ann","text":"über ✓","timestamp":"<ts>"}}`},
		{"leave bob", "POST", "/api/chat/r1/leave", `{"username":"bob"}`, `{"success":true,"participantCount":1}`},
		{"leave bob again", "POST", "/api/chat/r1/leave", `{"username":"bob"}`, `{"success":true,"participantCount":1}`},
		{"participants after leave", "GET", "/api/chat/r1/participants", ``, `{"participants":["ann"],"count":1}`},
		{"empty room", "GET", "/api/chat/empty/participants", ``, `{"participants":[],"count":0}`},
		{"empty messages", "GET", "/api/chat/empty/messages", ``, `{"messages":[]}`},
	}
	var sent []map[string]any
	for _, st := range steps {
		var b []byte
		if st.body != "" {
			b = []byte(st.body)
		}
		r := s.do(st.method, st.path, b)
		ok(t, st.name, r, nil)
		got := matchJSON(t, st.name, r.body, st.want)
		if m, isMsg := got["message"].(map[string]any); isMsg {
			sent = append(sent, m)
		}
	}
	var all struct {
		Messages []map[string]any `json:"messages"`
	}
	ok(t, "get messages", s.get("/api/chat/r1/messages"), &all)
	if len(all.Messages) != 3 {
		t.Fatalf("messages: got %d, want 3", len(all.Messages))
	}
	for i := range sent {
		if err := match(all.Messages[i], sent[i]); err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	var last struct {
		Messages []map[string]any `json:"messages"`
	}
	ok(t, "get messages limit=2", s.get("/api/chat/r1/messages?limit=2"), &last)
	if len(last.Messages) != 2 || last.Messages[0]["id"] != sent[1]["id"] || last.Messages[1]["id"] != sent[2]["id"] {
		t.Fatalf("limit=2: got %v, want the last two sent", last.Messages)
	}
	// The room's history: userJoined x2, newMessage x3, userLeft.
	var types []string
	for _, e := range s.history("chatRoom", "r1", 100) {
		types = append(types, e.Type)
	}
	want := []string{"userJoined", "userJoined", "newMessage", "newMessage", "newMessage", "userLeft"}
	if !slices.Equal(types, want) {
		t.Fatalf("events: got %v, want %v", types, want)
	}
}

func TestRoutes_ServerTime(t *testing.T) {
	s := newStack(t, "", config{})
	r := s.get("/api/time/t1")
	ok(t, "getTime", r, nil)
	m := matchJSON(t, "getTime", r.body, `{"currentTime":"<ts>","timezone":"UTC","formatted":"<string>"}`)
	if f, _ := m["formatted"].(string); !strings.HasSuffix(f, "Z") {
		t.Errorf("formatted got %q, want RFC 3339 in UTC", f)
	}
	r = s.post("/rpc/serverTime:t1/setTimezone", `{"timezone":"Asia/Kolkata"}`)
	ok(t, "setTimezone", r, nil)
	matchJSON(t, "setTimezone", r.body, `{"timezone":"Asia/Kolkata"}`)
	if got := seqHeader(t, r); got != 1 {
		t.Errorf("setTimezone Actorlog-Seq got %d, want 1", got)
	}
	r = s.post("/rpc/serverTime:t1/getTime", "")
	ok(t, "getTime after setTimezone", r, nil)
	m = matchJSON(t, "getTime after setTimezone", r.body, `{"currentTime":"<ts>","timezone":"Asia/Kolkata","formatted":"<string>"}`)
	f, _ := m["formatted"].(string)
	tm, err := time.Parse(time.RFC3339, f)
	if err != nil || !strings.HasSuffix(f, "+05:30") {
		t.Fatalf("formatted got %q (%v), want RFC 3339 at +05:30", f, err)
	}
	if d := time.Since(tm); d < -time.Minute || d > time.Minute {
		t.Errorf("formatted time %v is %v from now", tm, d)
	}
	var st struct {
		Seq   uint64         `json:"seq"`
		State map[string]any `json:"state"`
	}
	ok(t, "state", s.get("/actors/serverTime/t1/state"), &st)
	if st.Seq != 1 || st.State["timezone"] != "Asia/Kolkata" {
		t.Fatalf("state got %+v, want seq 1 in Asia/Kolkata", st)
	}
}

func TestHistoryAndTimeTravel(t *testing.T) {
	s := newStack(t, "", config{})
	// counts after each action: 1 2 3 13 12 0 1 ... 1+(i-6)
	actions := []struct{ action, body string }{
		{"increment", ""}, {"increment", ""}, {"increment", ""}, {"add", `{"value":10}`}, {"decrement", ""}, {"reset", ""},
	}
	for _, a := range actions {
		ok(t, a.action, s.post("/rpc/counter:h/"+a.action, a.body, "X-Correlation-Id", "corr-"+a.action), nil)
	}
	for i := 0; i < 24; i++ {
		ok(t, "increment", s.post("/api/counter/h/increment", ""), nil)
	}
	wantCount := []int64{1, 2, 3, 13, 12, 0}
	for i := 1; i <= 24; i++ {
		wantCount = append(wantCount, int64(i))
	}
	// Pages of 7: next points after each page, and null at the end.
	var p historyPage
	ok(t, "page 1", s.get("/actors/counter/h/events?from=1&limit=7"), &p)
	if p.Actor != "counter:h" || p.Head != 30 || p.First != 1 || len(p.Events) != 7 || p.Next == nil || *p.Next != 8 {
		t.Fatalf("page 1: got actor %q head %d first %d events %d next %v, want counter:h 30 1 7 8", p.Actor, p.Head, p.First, len(p.Events), p.Next)
	}
	var last historyPage
	ok(t, "last page", s.get("/actors/counter/h/events?from=29&limit=7"), &last)
	if len(last.Events) != 2 || last.Next != nil || last.Events[0].Seq != 29 {
		t.Fatalf("last page: got %d events from %d, next %v; want 2 from 29 and no next", len(last.Events), last.Events[0].Seq, last.Next)
	}
	var exact historyPage
	ok(t, "page ending at the head", s.get("/actors/counter/h/events?from=25&limit=6"), &exact)
	if len(exact.Events) != 6 || exact.Next != nil {
		t.Fatalf("page ending at head: got %d events, next %v; want 6 and no next", len(exact.Events), exact.Next)
	}
	var past historyPage
	ok(t, "past the head", s.get("/actors/counter/h/events?from=31"), &past)
	if len(past.Events) != 0 || past.Next != nil || past.Head != 30 {
		t.Fatalf("from past head: got %+v, want no events", past)
	}
	var none historyPage
	ok(t, "no events", s.get("/actors/counter/never/events"), &none)
	if none.Head != 0 || len(none.Events) != 0 || none.Next != nil {
		t.Fatalf("unknown actor history: got %+v, want empty", none)
	}
	if r := s.get("/actors/counter/h/events?limit=3"); !bytes.Contains(r.body, []byte(`"next":4`)) {
		t.Fatalf("default from: got %s, want next 4", r.body)
	}
	var raw map[string]any
	ok(t, "raw page", s.get("/actors/counter/h/events?from=4&limit=1"), &raw)
	if err := match(raw, map[string]any{
		"actor": "counter:h", "head": 30.0, "first": 1.0, "next": 5.0,
		"events": []any{map[string]any{
			"seq": 4.0, "pos": "<num>", "type": "countUpdated", "time": "<ts>",
			"data": map[string]any{"count": 13.0, "lastUpdated": "<ts>"},
			"meta": map[string]any{"causation": "add", "correlationId": "corr-add"},
		}},
	}); err != nil {
		t.Fatalf("event shape: %v", err)
	}

	all := s.history("counter", "h", 7)
	var lastPos uint64
	for i, e := range all {
		var d struct {
			Count       int64 `json:"count"`
			LastUpdated int64 `json:"lastUpdated"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil || d.Count != wantCount[i] || d.LastUpdated != e.Time {
			t.Fatalf("event %d: data %s (%v), want count %d and lastUpdated = time %d", e.Seq, e.Data, err, wantCount[i], e.Time)
		}
		if e.Pos <= lastPos {
			t.Fatalf("event %d: pos %d not after %d", e.Seq, e.Pos, lastPos)
		}
		lastPos = e.Pos
		wantCause := "increment"
		if i < len(actions) {
			wantCause = actions[i].action
		}
		if e.Meta == nil || e.Meta.Causation != wantCause {
			t.Fatalf("event %d: meta %+v, want causation %q", e.Seq, e.Meta, wantCause)
		}
	}

	// State now, and folded to a sequence: 0 is the initial state.
	for _, c := range []struct {
		query string
		seq   uint64
		count int64
	}{
		{"", 30, 24}, {"?at=", 30, 24}, {"?at=0", 0, 0}, {"?at=1", 1, 1}, {"?at=4", 4, 13}, {"?at=6", 6, 0}, {"?at=29", 29, 23}, {"?at=30", 30, 24},
	} {
		var st struct {
			Actor string `json:"actor"`
			Seq   uint64 `json:"seq"`
			State struct {
				Count       int64 `json:"count"`
				LastUpdated int64 `json:"lastUpdated"`
			} `json:"state"`
		}
		r := s.get("/actors/counter/h/state" + c.query)
		ok(t, "state"+c.query, r, &st)
		lastUpdated := int64(0)
		if c.seq > 0 {
			lastUpdated = all[c.seq-1].Time
		}
		if st.Actor != "counter:h" || st.Seq != c.seq || st.State.Count != c.count || st.State.LastUpdated != lastUpdated {
			t.Errorf("state%s: got %s, want seq %d count %d", c.query, r.body, c.seq, c.count)
		}
	}
	initial := map[string]any{"actor": "counter:fresh", "seq": 0.0, "state": map[string]any{"count": 0.0, "lastUpdated": 0.0}}
	for _, q := range []string{"", "?at=0"} {
		var fresh map[string]any
		ok(t, "state of a new actor"+q, s.get("/actors/counter/fresh/state"+q), &fresh)
		if err := match(fresh, initial); err != nil {
			t.Fatalf("state%s of a new actor: %v", q, err)
		}
	}
	// Once the first events are erased, sequence 0 is out of range, as
	// any sequence that cannot be rebuilt.
	if err := s.log.Delete(context.Background(), eventlog.ID{Type: "counter", Key: "h"}, 3); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"?at=0", "?at=1"} {
		wantError(t, "state"+q+" after erasure", s.get("/actors/counter/h/state"+q), http.StatusNotFound, "not_found")
	}
	ok(t, "state now after erasure", s.get("/actors/counter/h/state"), nil)
}

func TestListActors(t *testing.T) {
	s := newStack(t, "", config{})
	keys := []string{"e", "a", "c", "b", "d"}
	for i, k := range keys {
		for j := 0; j <= i; j++ {
			ok(t, "increment", s.post("/api/counter/"+k+"/increment", ""), nil)
		}
	}
	ok(t, "join", s.post("/api/chat/lobby/join", `{"username":"ann"}`), nil)
	ok(t, "read only", s.get("/api/counter/readonly"), nil) // no event, so no stream

	type listing struct {
		Actors []wire.ActorEntry `json:"actors"`
		Next   *string           `json:"next"`
	}
	var got []string
	after := ""
	pages := 0
	for {
		path := "/actors?type=counter&limit=2"
		if after != "" {
			path += "&after=" + after
		}
		var l listing
		ok(t, path, s.get(path), &l)
		pages++
		for _, a := range l.Actors {
			got = append(got, a.Actor)
			i := slices.Index(keys, a.Key)
			if a.Type != "counter" || a.Actor != "counter:"+a.Key || a.Head != uint64(i+1) || a.First != 1 || a.Created <= 0 || a.Updated < a.Created {
				t.Errorf("actor %+v: want type counter, head %d, first 1, times set", a, i+1)
			}
		}
		if l.Next == nil {
			break
		}
		if *l.Next != l.Actors[len(l.Actors)-1].Actor {
			t.Fatalf("next got %q, want the last actor %q", *l.Next, l.Actors[len(l.Actors)-1].Actor)
		}
		after = *l.Next
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	want := []string{"counter:a", "counter:b", "counter:c", "counter:d", "counter:e"}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("paged listing: got %v in %d pages, want %v in 3", got, pages, want)
	}
	var l listing
	ok(t, "every type", s.get("/actors"), &l)
	var all []string
	for _, a := range l.Actors {
		all = append(all, a.Actor)
	}
	if want := append([]string{"chatRoom:lobby"}, want...); !slices.Equal(all, want) || l.Next != nil {
		t.Fatalf("listing of every type: got %v next %v, want %v", all, l.Next, want)
	}
	ok(t, "type chatRoom", s.get("/actors?type=chatRoom"), &l)
	if len(l.Actors) != 1 || l.Actors[0].Actor != "chatRoom:lobby" {
		t.Fatalf("type=chatRoom: got %+v", l.Actors)
	}
	ok(t, "unknown type", s.get("/actors?type=nobody"), &l)
	if len(l.Actors) != 0 || l.Next != nil {
		t.Fatalf("type=nobody: got %+v", l)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	s := newStack(t, "", config{})
	var h struct {
		Status  string  `json:"status"`
		Durable *uint64 `json:"durable"`
	}
	ok(t, "healthz", s.get("/healthz"), &h)
	if h.Status != "ok" || h.Durable == nil || *h.Durable != 0 {
		t.Fatalf("healthz on an empty log: got %+v, want ok and durable 0", h)
	}
	for i := 0; i < 3; i++ {
		ok(t, "increment", s.post("/api/counter/m/increment", ""), nil)
	}
	wantError(t, "add {}", s.post("/api/counter/m/add", `{}`), 422, "invalid_argument")
	ok(t, "healthz", s.get("/healthz"), &h)
	if *h.Durable != 3 {
		t.Fatalf("healthz durable: got %d, want 3", *h.Durable)
	}
	want := []string{
		`actorlog_action_duration_seconds_count{action="increment",code="",type="counter"} 3`,
		`actorlog_action_duration_seconds_count{action="add",code="invalid_argument",type="counter"} 1`,
		`actorlog_append_duration_seconds_count`,
		`actorlog_append_events_bucket`,
		`actorlog_wake_duration_seconds_count{type="counter"} 1`,
		`actorlog_active_actors 1`,
		`actorlog_connections 0`,
		`actorlog_log_durable_position 3`,
	}
	// The runtime records a call's duration just after it replies: poll
	// for a moment.
	var missing []string
	var body string
	for deadline := time.Now().Add(2 * time.Second); ; {
		r := s.get("/metrics")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("metrics: got %d %q", r.status, r.header.Get("Content-Type"))
		}
		body, missing = string(r.body), nil
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Errorf("metrics: missing %q in\n%s", missing, body)
	}
}

// TestBadInputs sends malformed requests; each gets its error, nothing is
// appended, and the server keeps serving.
func TestBadInputs(t *testing.T) {
	s := newStack(t, "", config{api: api.Options{MaxBodyBytes: 8 << 10}})
	long := strings.Repeat("x", 300)
	cases := []struct {
		name, method, path string
		body               []byte
		hdr                []string
		status             int
		code               string
	}{
		{"malformed JSON", "POST", "/rpc/counter:bad/add", []byte(`{"value":`), nil, 400, "bad_request"},
		{"trailing garbage", "POST", "/rpc/counter:bad/add", []byte(`{"value":1} x`), nil, 400, "bad_request"},
		{"wrong type", "POST", "/rpc/counter:bad/add", []byte(`{"value":"x"}`), nil, 400, "bad_request"},
		{"fraction", "POST", "/api/counter/bad/add", []byte(`{"value":1.5}`), nil, 400, "bad_request"},
		{"arguments not an object", "POST", "/api/counter/bad/add", []byte(`[1]`), nil, 400, "bad_request"},
		{"args to a no-arg action", "POST", "/api/counter/bad/increment", []byte(`"x"`), nil, 400, "bad_request"},
		{"missing value", "POST", "/api/counter/bad/add", []byte(`{}`), nil, 422, "invalid_argument"},
		{"null value", "POST", "/api/counter/bad/add", []byte(`{"value":null}`), nil, 400, "bad_request"}, // null is no integer
		{"empty username", "POST", "/api/chat/bad/join", []byte(`{"username":"  "}`), nil, 422, "invalid_argument"},
		{"username too long", "POST", "/api/chat/bad/join", []byte(`{"username":"` + strings.Repeat("u", 65) + `"}`), nil, 422, "invalid_argument"},
		{"empty text", "POST", "/api/chat/bad/messages", []byte(`{"username":"ann","text":""}`), nil, 422, "invalid_argument"},
		{"text too long", "POST", "/api/chat/bad/messages", []byte(`{"username":"ann","text":"` + strings.Repeat("é", 2001) + `"}`), nil, 422, "invalid_argument"},
		{"messages limit 0", "GET", "/api/chat/bad/messages?limit=0", nil, nil, 422, "invalid_argument"},
		{"messages limit 101", "GET", "/api/chat/bad/messages?limit=101", nil, nil, 422, "invalid_argument"},
		{"messages limit abc", "GET", "/api/chat/bad/messages?limit=abc", nil, nil, 400, "bad_request"},
		{"unknown timezone", "POST", "/rpc/serverTime:bad/setTimezone", []byte(`{"timezone":"Mars/Olympus"}`), nil, 422, "invalid_argument"},
		{"Local timezone", "POST", "/rpc/serverTime:bad/setTimezone", []byte(`{"timezone":"Local"}`), nil, 422, "invalid_argument"},
		{"unknown actor type", "POST", "/rpc/nope:k/x", nil, nil, 404, "not_found"},
		{"unknown actor type, path route", "POST", "/actors/nope/k/actions/x", nil, nil, 404, "not_found"},
		{"unknown actor type, history", "GET", "/actors/nope/k/events", nil, nil, 404, "not_found"},
		{"unknown actor type, state", "GET", "/actors/nope/k/state", nil, nil, 404, "not_found"},
		{"unknown action", "POST", "/rpc/counter:bad/explode", nil, nil, 404, "not_found"},
		{"unknown action, path route", "POST", "/actors/counter/bad/actions/explode", nil, nil, 404, "not_found"},
		{"key not UTF-8", "POST", "/rpc/counter:%FF/increment", nil, nil, 400, "bad_request"},
		{"key not UTF-8, seed route", "POST", "/api/counter/%FF%FE/increment", nil, nil, 400, "bad_request"},
		{"key not UTF-8, history", "GET", "/actors/counter/%C3/events", nil, nil, 400, "bad_request"},
		{"key not UTF-8, state", "GET", "/actors/counter/%C3/state", nil, nil, 400, "bad_request"},
		{"empty key", "POST", "/rpc/counter:/increment", nil, nil, 400, "bad_request"},
		{"key too long", "POST", "/rpc/counter:" + long + "/increment", nil, nil, 400, "bad_request"},
		{"no colon", "POST", "/rpc/counter/increment", nil, nil, 400, "bad_request"},
		{"type starts with a digit", "POST", "/rpc/9counter:k/increment", nil, nil, 400, "bad_request"},
		{"type with a symbol", "POST", "/actors/count$er/k/actions/increment", nil, nil, 400, "bad_request"},
		{"type too long", "GET", "/actors/" + strings.Repeat("t", 65) + "/k/state", nil, nil, 400, "bad_request"},
		{"GET on rpc", "GET", "/rpc/counter:bad/increment", nil, nil, 405, "method_not_allowed"},
		{"PUT on a seed route", "PUT", "/api/counter/bad/increment", []byte(`{}`), nil, 405, "method_not_allowed"},
		{"DELETE on history", "DELETE", "/actors/counter/bad/events", nil, nil, 405, "method_not_allowed"},
		{"body over the limit", "POST", "/rpc/counter:bad/add", []byte(`{"value":1,"pad":"` + strings.Repeat("p", 9<<10) + `"}`), nil, 413, "too_large"},
		{"msgpack garbage", "POST", "/rpc/counter:bad/add", []byte{0xc1, 0x00}, []string{"Content-Type", "application/msgpack"}, 400, "bad_request"},
		{"msgpack truncated", "POST", "/rpc/counter:bad/add", []byte{0x81, 0xa5, 'v', 'a'}, []string{"Content-Type", "application/msgpack"}, 400, "bad_request"},
		{"msgpack two values", "POST", "/rpc/counter:bad/add", []byte{0x80, 0x80}, []string{"Content-Type", "application/msgpack"}, 400, "bad_request"},
		{"msgpack wrong type", "POST", "/rpc/counter:bad/add", []byte{0x81, 0xa5, 'v', 'a', 'l', 'u', 'e', 0xa1, 'x'}, []string{"Content-Type", "application/msgpack"}, 400, "bad_request"},
		{"bad Content-Type", "POST", "/rpc/counter:bad/increment", []byte(`{}`), []string{"Content-Type", "a/b; ;;="}, 400, "bad_request"},
		{"multipart", "POST", "/rpc/counter:bad/increment", []byte(`{}`), []string{"Content-Type", "multipart/form-data; boundary=x"}, 400, "bad_request"},
		{"Idempotency-Key too long", "POST", "/api/counter/bad/increment", nil, []string{"Idempotency-Key", long}, 400, "bad_request"},
		{"history limit 0", "GET", "/actors/counter/good/events?limit=0", nil, nil, 400, "bad_request"},
		{"history limit abc", "GET", "/actors/counter/good/events?limit=abc", nil, nil, 400, "bad_request"},
		{"history limit too big", "GET", "/actors/counter/good/events?limit=1001", nil, nil, 400, "bad_request"},
		{"history from negative", "GET", "/actors/counter/good/events?from=-1", nil, nil, 400, "bad_request"},
		{"state at past head", "GET", "/actors/counter/good/state?at=100000", nil, nil, 404, "not_found"},
		{"state at on an empty actor", "GET", "/actors/counter/bad/state?at=1", nil, nil, 404, "not_found"},
		{"state at abc", "GET", "/actors/counter/good/state?at=abc", nil, nil, 400, "bad_request"},
		{"list limit 0", "GET", "/actors?limit=0", nil, nil, 400, "bad_request"},
		{"list bad type", "GET", "/actors?type=9x", nil, nil, 400, "bad_request"},
		{"list bad after", "GET", "/actors?after=nocolon", nil, nil, 400, "bad_request"},
		{"WebSocket route without a handshake", "GET", "/ws/counter/good", nil, nil, 400, "bad_request"},
		{"WebSocket handshake of another version", "GET", "/ws/counter/good", nil, wsHandshake("8"), 400, "bad_request"},
		{"WebSocket handshake without a key", "GET", "/ws/counter/good", nil, wsHandshake("13")[:6], 400, "bad_request"},
		{"WebSocket POST", "POST", "/ws/counter/good", nil, nil, 405, "method_not_allowed"},
		{"panicking action", "POST", "/rpc/alarm:bad/boom", nil, nil, 500, "internal"},
		{"unknown route", "GET", "/nope", nil, nil, 404, "not_found"},
		{"unknown seed route", "POST", "/api/counter/bad/explode", nil, nil, 404, "not_found"},
		{"trailing slash", "GET", "/healthz/", nil, nil, 404, "not_found"},
	}
	good := 0
	for _, c := range cases {
		hdr := c.hdr
		if c.body != nil && !slices.Contains(hdr, "Content-Type") {
			hdr = append([]string{"Content-Type", "application/json"}, hdr...)
		}
		r, err := s.try(c.method, c.path, c.body, hdr...)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		wantError(t, c.name, r, c.status, c.code)
		if c.status == 500 && bytes.Contains(r.body, []byte("secret")) {
			t.Errorf("%s: the panic value reached the client: %s", c.name, r.body)
		}
		// The server keeps serving.
		good++
		r = s.post("/api/counter/good/increment", "")
		ok(t, c.name+": good request after", r, nil)
		matchJSON(t, c.name+": good request after", r.body, fmt.Sprintf(`{"count":%d}`, good))
	}
	for _, a := range []string{"counter/bad", "chatRoom/bad", "serverTime/bad", "alarm/bad"} {
		var p historyPage
		ok(t, "history of "+a, s.get("/actors/"+a+"/events"), &p)
		if p.Head != 0 {
			t.Errorf("%s: bad requests appended %d events", a, p.Head)
		}
	}
	// The actor whose action panicked is rebuilt and serves.
	ok(t, "alarm after panic", s.post("/rpc/alarm:bad/get", ""), nil)
}

// wsHandshake is the headers of a WebSocket handshake of a version.
func wsHandshake(version string) []string {
	return []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", version, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
}

func TestToken(t *testing.T) {
	s := newStack(t, "", config{api: api.Options{Token: "s3cret"}})
	cases := []struct {
		name, method, path string
		hdr                []string
		status             int
	}{
		{"health is open", "GET", "/healthz", nil, 200},
		{"no token", "POST", "/api/counter/t/increment", nil, 401},
		{"wrong token", "POST", "/api/counter/t/increment", []string{"Authorization", "Bearer nope"}, 401},
		{"token as prefix", "POST", "/api/counter/t/increment", []string{"Authorization", "Bearer s3cretX"}, 401},
		{"token not bearer", "POST", "/api/counter/t/increment", []string{"Authorization", "Basic s3cret"}, 401},
		{"empty bearer", "POST", "/api/counter/t/increment", []string{"Authorization", "Bearer "}, 401},
		{"right token", "POST", "/api/counter/t/increment", []string{"Authorization", "Bearer s3cret"}, 200},
		{"right token in the query, off a WebSocket", "POST", "/api/counter/t/increment?token=s3cret", nil, 401},
		{"wrong token, query", "POST", "/api/counter/t/increment?token=nope", nil, 401},
		{"history", "GET", "/actors/counter/t/events", nil, 401},
		{"state", "GET", "/actors/counter/t/state", nil, 401},
		{"list", "GET", "/actors", nil, 401},
		{"schema", "GET", "/schema", nil, 401},
		{"metrics", "GET", "/metrics", nil, 401},
		{"unknown route", "GET", "/nope", nil, 401},
		{"metrics with token", "GET", "/metrics", []string{"Authorization", "Bearer s3cret"}, 200},
		{"history with token", "GET", "/actors/counter/t/events", []string{"Authorization", "Bearer s3cret"}, 200},
	}
	for _, c := range cases {
		r := s.do(c.method, c.path, nil, c.hdr...)
		if c.status == 401 {
			wantError(t, c.name, r, 401, "unauthorized")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate got %q", c.name, r.header.Get("WWW-Authenticate"))
			}
		} else if r.status != c.status {
			t.Errorf("%s: got %v, want %d", c.name, r, c.status)
		}
	}
	// Only the authorized increment happened.
	r := s.get("/api/counter/t", "Authorization", "Bearer s3cret")
	ok(t, "count", r, nil)
	matchJSON(t, "count", r.body, `{"count":1,"lastUpdated":"<ts>"}`)

	// WebSocket: refused without the token, accepted with it in the query
	// or the header.
	for _, c := range []struct {
		name, path string
		hdr        http.Header
		status     int
	}{
		{"no token", "/ws/counter/t", nil, 401},
		{"wrong query token", "/ws/counter/t?token=nope", nil, 401},
		{"wrong header token", "/actors/counter/t/events", http.Header{"Authorization": {"Bearer nope"}}, 401},
		{"query token", "/ws/counter/t?token=s3cret", nil, 101},
		{"header token", "/actors/counter/t/events", http.Header{"Authorization": {"Bearer s3cret"}}, 101},
	} {
		if c.status != 101 {
			// Closed with 4401, which a browser can read.
			if code, reason := s.refusedWS(c.path, c.hdr); code != wire.CloseUnauthorized || reason != "a valid bearer token is required" {
				t.Errorf("WebSocket %s: closed with %d %q, want %d", c.name, code, reason, wire.CloseUnauthorized)
			}
			continue
		}
		w, r, err := s.dialWS(c.path, c.hdr)
		if err != nil {
			t.Errorf("WebSocket %s: %v (%v)", c.name, err, r)
			continue
		}
		f := w.next()
		if f.Type != "init" || f.Seq != 1 {
			t.Errorf("WebSocket %s: first frame %s, want init at seq 1", c.name, f.raw)
		}
		// Calls over the socket need no more token.
		w.send(map[string]any{"type": "call", "id": c.name, "action": "getCount"})
		if f := w.nextOf("reply"); string(f.ID) != fmt.Sprintf("%q", c.name) {
			t.Errorf("WebSocket %s: reply %s", c.name, f.raw)
		}
	}
}

func TestCORS(t *testing.T) {
	preflight := func(s *stack, origin string) resp {
		return s.do("OPTIONS", "/rpc/counter:x/increment", nil,
			"Origin", origin,
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization,content-type,idempotency-key") // sorted, as browsers send it
	}
	s := newStack(t, "", config{api: api.Options{Token: "tok"}})
	for _, c := range []struct {
		origin  string
		allowed bool
	}{
		{"http://localhost:5173", true},
		{"http://localhost", true},
		{"https://localhost:8443", true},
		{"http://127.0.0.1:3000", true},
		{"http://[::1]:8080", true},
		{"http://evil.example", false},
		{"http://localhost.evil.example", false},
		{"null", false},
		{"ftp://localhost:21", false},
	} {
		r := preflight(s, c.origin)
		got := r.header.Get("Access-Control-Allow-Origin")
		if c.allowed {
			if r.status/100 != 2 || got != c.origin {
				t.Errorf("preflight from %s: got %d, Allow-Origin %q; want 2xx and %q", c.origin, r.status, got, c.origin)
			}
			if m := r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
				t.Errorf("preflight from %s: Allow-Methods %q, want POST", c.origin, m)
			}
			if h := strings.ToLower(r.header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "idempotency-key") || !strings.Contains(h, "authorization") {
				t.Errorf("preflight from %s: Allow-Headers %q", c.origin, h)
			}
		} else if got != "" {
			t.Errorf("preflight from %s: Allow-Origin %q, want none", c.origin, got)
		}
	}
	// The actual request from an allowed origin exposes the sequence.
	r := s.post("/api/counter/x/increment", "", "Origin", "http://localhost:5173", "Authorization", "Bearer tok")
	ok(t, "POST from localhost:5173", r, nil)
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "http://localhost:5173" {
		t.Errorf("POST from localhost:5173: Allow-Origin %q", got)
	}
	if got := r.header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Actorlog-Seq") {
		t.Errorf("POST: Expose-Headers %q, want Actorlog-Seq", got)
	}
	r = s.post("/api/counter/x/increment", "", "Origin", "http://evil.example", "Authorization", "Bearer tok")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("POST from evil.example: Allow-Origin %q", got)
	}

	// WebSocket from a disallowed origin: closed with 4403.
	if code, _ := s.refusedWS("/ws/counter/x?token=tok", http.Header{"Origin": {"http://evil.example"}}); code != wire.CloseForbidden {
		t.Fatalf("WebSocket from evil.example: closed with %d, want %d", code, wire.CloseForbidden)
	}
	w, res, err := s.dialWS("/ws/counter/x?token=tok", http.Header{"Origin": {"http://localhost:5173"}})
	if err != nil {
		t.Fatalf("WebSocket from localhost:5173: %v %v", err, res)
	}
	if f := w.next(); f.Type != "init" {
		t.Fatalf("WebSocket from localhost:5173: first frame %s", f.raw)
	}

	// Configured origins replace the default.
	s2 := newStack(t, "", config{api: api.Options{AllowedOrigins: []string{"https://app.example"}}})
	if got := preflight(s2, "https://app.example").header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("configured origin: Allow-Origin %q", got)
	}
	if got := preflight(s2, "http://localhost:5173").header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("localhost with configured origins: Allow-Origin %q, want none", got)
	}
	if code, _ := s2.refusedWS("/ws/counter/x", http.Header{"Origin": {"http://localhost:5173"}}); code != wire.CloseForbidden {
		t.Errorf("WebSocket from localhost with configured origins: closed with %d, want %d", code, wire.CloseForbidden)
	}
	if _, _, err := s2.dialWS("/ws/counter/x", http.Header{"Origin": {"https://app.example"}}); err != nil {
		t.Errorf("WebSocket from the configured origin: %v", err)
	}

	// Every origin allowed ("*"): a request without an Origin is no
	// cross-origin request and gets no Allow-Origin, but still Vary:
	// Origin for caches; one with an Origin gets it.
	s3 := newStack(t, "", config{api: api.Options{AllowedOrigins: []string{"*"}}})
	r = s3.post("/rpc/counter:star/increment", "")
	ok(t, "POST without Origin", r, nil)
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("POST without Origin: Allow-Origin %q, want none", got)
	}
	if got := r.header.Get("Vary"); !strings.Contains(got, "Origin") {
		t.Errorf("POST without Origin: Vary %q, want Origin", got)
	}
	r = s3.post("/rpc/counter:star/increment", "", "Origin", "https://any.example")
	ok(t, "POST from any.example", r, nil)
	if got := r.header.Get("Access-Control-Allow-Origin"); got == "" {
		t.Errorf("POST from any.example with every origin allowed: no Allow-Origin")
	}
}

// TestRPC_MediaTypes: the shortcuts for the usual Content-Type and
// Accept (application/json, no msgpack asked for) give what parsing
// them does: msgpack is still found in any case and with parameters, and
// a JSON body labelled with a charset is still read as JSON.
func TestRPC_MediaTypes(t *testing.T) {
	s := newStack(t, "", config{})
	for _, c := range []struct {
		accept, want string
	}{
		{"", "application/json"},
		{"*/*", "application/json"},
		{"application/json", "application/json"},
		{"Application/MsgPack", "application/msgpack"},
		{"text/html, application/x-msgpack;q=0.5", "application/msgpack"},
	} {
		r := s.post("/rpc/counter:mt/add", `{"value":2}`, "Content-Type", "application/json", "Accept", c.accept)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != c.want {
			t.Errorf("Accept %q: got %d %q, want 200 %s", c.accept, r.status, r.header.Get("Content-Type"), c.want)
		}
	}
	var v map[string]any
	ok(t, "JSON with a charset", s.post("/rpc/counter:mt/add", `{"value":3}`, "Content-Type", "application/json; charset=utf-8"), &v)
	if v["count"] != float64(13) {
		t.Fatalf("count after 2+2+2+2+2+3: %v, want 13", v["count"])
	}
	r := s.post("/rpc/counter:mt/add", `{"value":`, "Content-Type", "application/json")
	if r.status != http.StatusBadRequest {
		t.Fatalf("bad JSON labelled application/json: %d, want 400", r.status)
	}
}

// TestPersistence_GracefulRestart closes the whole stack and opens it again
// on the same directory.
func TestPersistence_GracefulRestart(t *testing.T) {
	s := newStack(t, "", config{})
	for i := 0; i < 5; i++ {
		ok(t, "increment", s.post("/api/counter/p/increment", ""), nil)
	}
	ok(t, "add", s.post("/api/counter/p/add", `{"value":10}`), nil)
	ok(t, "join", s.post("/api/chat/p/join", `{"username":"ann"}`), nil)
	var sent []map[string]any
	for _, text := range []string{"one", "two", "three"} {
		var m map[string]map[string]any
		ok(t, "send", s.post("/api/chat/p/messages", `{"username":"ann","text":"`+text+`"}`), &m)
		sent = append(sent, m["message"])
	}
	ok(t, "setTimezone", s.post("/rpc/serverTime:p/setTimezone", `{"timezone":"America/New_York"}`), nil)
	before := s.get("/api/counter/p")

	s = s.restart()

	r := s.get("/api/counter/p")
	ok(t, "count after restart", r, nil)
	if !bytes.Equal(r.body, before.body) {
		t.Errorf("counter after restart: got %s, want %s", r.body, before.body)
	}
	matchJSON(t, "count after restart", r.body, `{"count":15,"lastUpdated":"<ts>"}`)
	if got := seqHeader(t, r); got != 6 {
		t.Errorf("counter seq after restart: got %d, want 6", got)
	}
	var msgs struct {
		Messages []map[string]any `json:"messages"`
	}
	ok(t, "messages after restart", s.get("/api/chat/p/messages"), &msgs)
	if len(msgs.Messages) != 3 {
		t.Fatalf("messages after restart: got %d, want 3", len(msgs.Messages))
	}
	for i := range sent {
		if err := match(msgs.Messages[i], sent[i]); err != nil {
			t.Errorf("message %d after restart: %v", i, err)
		}
	}
	matchJSON(t, "participants after restart", s.get("/api/chat/p/participants").body, `{"participants":["ann"],"count":1}`)
	matchJSON(t, "time zone after restart", s.get("/api/time/p").body, `{"currentTime":"<ts>","timezone":"America/New_York","formatted":"<string>"}`)
	// Writing goes on from the stored head.
	r = s.post("/api/counter/p/increment", "")
	matchJSON(t, "increment after restart", r.body, `{"count":16}`)
	if got := seqHeader(t, r); got != 7 {
		t.Errorf("seq of the first write after restart: got %d, want 7", got)
	}
	if n := len(s.history("counter", "p", 3)); n != 7 {
		t.Errorf("counter history after restart: %d events, want 7", n)
	}
	// And the WebSocket init reflects the restored state.
	w := s.ws("/ws/counter/p")
	f := w.next()
	if f.Type != "init" || f.Seq != 7 || f.Actor != "counter:p" {
		t.Fatalf("init after restart: %s", f.raw)
	}
	matchJSON(t, "init state", f.State, `{"count":16,"lastUpdated":"<ts>"}`)
}

// TestIdempotentRetry retries calls with the same Idempotency-Key, before
// and after a restart.
func TestIdempotentRetry(t *testing.T) {
	s := newStack(t, "", config{})
	key := []string{"Idempotency-Key", "k1"}
	first := s.post("/api/counter/i/increment", "", key...)
	ok(t, "first", first, nil)
	matchJSON(t, "first", first.body, `{"count":1}`)
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first call: Idempotent-Replayed %q, want none", first.header.Get("Idempotent-Replayed"))
	}
	for i := 0; i < 2; i++ {
		r := s.post("/api/counter/i/increment", "", key...)
		ok(t, "retry", r, nil)
		if !bytes.Equal(r.body, first.body) || r.header.Get("Idempotent-Replayed") != "true" || seqHeader(t, r) != seqHeader(t, first) {
			t.Fatalf("retry %d: got %s replayed %q seq %s, want %s replayed true seq %s", i, r.body, r.header.Get("Idempotent-Replayed"), r.header.Get("Actorlog-Seq"), first.body, first.header.Get("Actorlog-Seq"))
		}
	}
	// The same key on the RPC route of the same actor is the same call.
	r := s.post("/rpc/counter:i/increment", "", key...)
	if !bytes.Equal(r.body, first.body) || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry on /rpc: got %s %q", r.body, r.header.Get("Idempotent-Replayed"))
	}
	// A new key is a new call; a key is per actor.
	matchJSON(t, "k2", s.post("/api/counter/i/increment", "", "Idempotency-Key", "k2").body, `{"count":2}`)
	matchJSON(t, "k1 on another actor", s.post("/api/counter/other/increment", "", key...).body, `{"count":1}`)
	// Concurrent retries of one new key: one event, one answer.
	var wg sync.WaitGroup
	bodies := make([]string, 8)
	for i := range bodies {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := s.try("POST", "/api/counter/i/add", []byte(`{"value":10}`), "Content-Type", "application/json", "Idempotency-Key", "k3")
			if err != nil || r.status != 200 {
				bodies[i] = fmt.Sprint(r, err)
				return
			}
			bodies[i] = string(r.body)
		}(i)
	}
	wg.Wait()
	for i, b := range bodies {
		if b != "{\"count\":12}\n" {
			t.Fatalf("concurrent retry %d: got %q, want {\"count\":12}", i, b)
		}
	}
	// A struct reply replays to the same JSON value.
	join := s.post("/api/chat/i/join", `{"username":"ann"}`, "Idempotency-Key", "j1")
	joinAgain := s.post("/api/chat/i/join", `{"username":"ann"}`, "Idempotency-Key", "j1")
	if joinAgain.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("join retry not replayed: %v", joinAgain)
	}
	matchJSON(t, "join", join.body, `{"success":true,"participantCount":1}`)
	matchJSON(t, "join retry", joinAgain.body, `{"success":true,"participantCount":1}`)
	// A msgpack retry of a JSON call.
	mp := s.post("/api/counter/i/increment", "", "Idempotency-Key", "k1", "Accept", "application/msgpack")
	var m map[string]any
	if err := msgpack.Unmarshal(mp.body, &m); err != nil || fmt.Sprint(m["count"]) != "1" || mp.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("msgpack retry: %x %v %v", mp.body, m, err)
	}

	checkLog := func(when string) {
		t.Helper()
		evs := s.history("counter", "i", 100)
		if len(evs) != 3 {
			t.Fatalf("%s: the log holds %d events, want 3 (k1, k2, k3)", when, len(evs))
		}
		for i, k := range []string{"k1", "k2", "k3"} {
			if evs[i].Meta == nil || evs[i].Meta.IdempotencyKey != k {
				t.Fatalf("%s: event %d meta %+v, want idempotency key %s", when, i+1, evs[i].Meta, k)
			}
		}
	}
	checkLog("before restart")

	s = s.restart()
	for _, c := range []struct{ key, want string }{{"k1", `{"count":1}`}, {"k2", `{"count":2}`}, {"k3", `{"count":12}`}} {
		path, body := "/api/counter/i/increment", ""
		if c.key == "k3" {
			path, body = "/api/counter/i/add", `{"value":10}`
		}
		r := s.post(path, body, "Idempotency-Key", c.key)
		ok(t, "retry after restart", r, nil)
		matchJSON(t, "retry "+c.key+" after restart", r.body, c.want)
		if r.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry %s after restart: Idempotent-Replayed %q", c.key, r.header.Get("Idempotent-Replayed"))
		}
	}
	if got := seqHeader(t, s.post("/api/counter/i/increment", "", "Idempotency-Key", "k1")); got != 1 {
		t.Errorf("retry k1 after restart: Actorlog-Seq %d, want 1", got)
	}
	joinAgain = s.post("/api/chat/i/join", `{"username":"ann"}`, "Idempotency-Key", "j1")
	matchJSON(t, "join retry after restart", joinAgain.body, `{"success":true,"participantCount":1}`)
	checkLog("after restart")
	matchJSON(t, "count after restart", s.get("/api/counter/i").body, `{"count":12,"lastUpdated":"<ts>"}`)
}

// TestIdempotencyMismatch reuses keys: for the same call (the same
// action and arguments, in any field order or format) the key replays the
// first answer; for another call it is refused with 422
// idempotency_mismatch, saying what differs, and nothing is written. Calls
// that emit no event are recorded too.
func TestIdempotencyMismatch(t *testing.T) {
	s := newStack(t, "", config{})
	key := func(k string) []string { return []string{"Idempotency-Key", k} }
	ok(t, "increment", s.post("/api/counter/m/increment", "", key("a")...), nil)
	r := s.post("/api/counter/m/decrement", "", key("a")...)
	wantError(t, "decrement with increment's key", r, http.StatusUnprocessableEntity, "idempotency_mismatch")
	if !strings.Contains(string(r.body), `\"increment\"`) || !strings.Contains(string(r.body), `\"decrement\"`) {
		t.Errorf("mismatch of actions: %s, want both actions named", r.body)
	}
	ok(t, "add", s.post("/api/counter/m/add", `{"value":1}`, key("b")...), nil)
	r = s.post("/api/counter/m/add", `{"value":2}`, key("b")...)
	wantError(t, "add 2 with add 1's key", r, http.StatusUnprocessableEntity, "idempotency_mismatch")
	if !strings.Contains(string(r.body), "other arguments") {
		t.Errorf("mismatch of arguments: %s, want it to say the arguments differ", r.body)
	}
	// The same call, written otherwise, replays.
	mp, _ := msgpack.Marshal(map[string]int{"value": 1})
	for _, same := range []resp{
		s.post("/api/counter/m/add", ` { "value" : 1 } `, key("b")...),
		s.do("POST", "/rpc/counter:m/add", mp, "Content-Type", "application/msgpack", "Idempotency-Key", "b"),
	} {
		if same.status != http.StatusOK || same.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("the same add, written otherwise: %v, want a replay", same)
		}
	}
	ok(t, "send", s.post("/api/chat/m/messages", `{"username":"ann","text":"hi"}`, key("c")...), nil)
	if r := s.post("/api/chat/m/messages", `{"text":"hi","username":"ann"}`, key("c")...); r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the same message, fields in another order: %v, want a replay", r)
	}
	// Nothing was written by the refused calls: 1 + 1, one message.
	matchJSON(t, "count", s.get("/api/counter/m").body, `{"count":2,"lastUpdated":"<ts>"}`)
	if evs := s.history("chatRoom", "m", 100); len(evs) != 1 {
		t.Errorf("chat history: %d events, want the one message", len(evs))
	}

	// A call that emits nothing is recorded: its retry answers the same,
	// whatever happened since.
	var first, again struct{ Count int }
	ok(t, "getCount", s.post("/rpc/counter:m/getCount", "", key("g")...), &first)
	ok(t, "increment", s.post("/api/counter/m/increment", ""), nil)
	r = s.post("/rpc/counter:m/getCount", "", key("g")...)
	ok(t, "getCount retry", r, &again)
	if again.Count != first.Count || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("getCount retry: %v, want the first answer (%d), replayed", r, first.Count)
	}

	// The records are durable: after a restart, the same answers.
	s = s.restart()
	wantError(t, "decrement with increment's key after restart", s.post("/api/counter/m/decrement", "", key("a")...), http.StatusUnprocessableEntity, "idempotency_mismatch")
	ok(t, "getCount retry after restart", s.post("/rpc/counter:m/getCount", "", key("g")...), &again)
	if again.Count != first.Count {
		t.Errorf("getCount retry after restart = %d, want %d", again.Count, first.Count)
	}
}

// TestTimersSurviveRestart arms a durable timer, restarts the stack before
// it is due, and watches it fire after.
func TestTimersSurviveRestart(t *testing.T) {
	t.Parallel()
	s := newStack(t, "", config{})
	const delay = 1200 * time.Millisecond
	armed := time.Now()
	r := s.post("/rpc/alarm:a/arm", fmt.Sprintf(`{"ms":%d,"tag":"late"}`, delay.Milliseconds()))
	ok(t, "arm", r, nil)
	matchJSON(t, "arm", r.body, `{"timer":"<string>"}`)
	ok(t, "arm soon", s.post("/rpc/alarm:b/arm", `{"ms":1,"tag":"soon"}`), nil)

	s = s.restart()
	if d := time.Since(armed); d >= delay {
		t.Logf("the restart took %v, longer than the delay: the timer is overdue, not pending", d)
	}
	state := func(key string) alarmState {
		var st struct {
			State alarmState `json:"state"`
		}
		ok(t, "state", s.get("/actors/alarm/"+key+"/state"), &st)
		return st.State
	}
	deadline := time.Now().Add(delay + 5*time.Second)
	for len(state("a").Rang) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	fired := time.Since(armed)
	if got := state("a"); !slices.Equal(got.Rang, []string{"late"}) || !slices.Equal(got.Armed, []string{"late"}) {
		t.Fatalf("after restart: state %+v, want armed and rang [late]", got)
	}
	if fired < delay {
		t.Fatalf("the timer fired after %v, before its delay %v", fired, delay)
	}
	for len(state("b").Rang) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := state("b"); !slices.Equal(got.Rang, []string{"soon"}) {
		t.Fatalf("timer due around the restart: state %+v, want rang [soon]", got)
	}
	// It fires once: no second ring, and the log shows it was the timer.
	time.Sleep(200 * time.Millisecond)
	evs := s.history("alarm", "a", 10)
	if len(evs) != 2 || evs[0].Type != "armed" || evs[1].Type != "rang" || evs[1].Meta == nil || evs[1].Meta.Causation != "timer:ring" {
		t.Fatalf("alarm history: %+v, want armed then rang caused by timer:ring", evs)
	}
	// And once more across a second restart: nothing fires again.
	s = s.restart()
	time.Sleep(300 * time.Millisecond)
	if got := state("a"); len(got.Rang) != 1 {
		t.Fatalf("after a second restart: rang %v, want once", got.Rang)
	}
}

// TestSleepWakeAndSnapshots lets actors sleep and wake, with snapshots
// taken, and reads their state and history through the API.
func TestSleepWakeAndSnapshots(t *testing.T) {
	t.Parallel()
	cfg := config{rt: actors.Options{IdleTimeout: 100 * time.Millisecond, Snapshots: snapshots.Policy{Every: 5}}}
	s := newStack(t, "", cfg)
	const n = 23
	for i := 0; i < n; i++ {
		ok(t, "increment", s.post("/api/counter/sw/increment", ""), nil)
	}
	waitAsleep := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for s.rt.Awake() != 0 || s.metric("actorlog_active_actors") != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("actors still awake: %d", s.rt.Awake())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitAsleep()
	list, err := s.snaps.List(context.Background(), eventlog.ID{Type: "counter", Key: "sw"})
	if err != nil || len(list) == 0 {
		t.Fatalf("snapshots: %v %v, want some with a policy of every 5 events", list, err)
	}
	check := func(when string) {
		t.Helper()
		r := s.get("/api/counter/sw")
		matchJSON(t, when, r.body, fmt.Sprintf(`{"count":%d,"lastUpdated":"<ts>"}`, n))
		for at := 1; at <= n; at++ {
			var st struct {
				Seq   int `json:"seq"`
				State struct {
					Count int `json:"count"`
				} `json:"state"`
			}
			ok(t, when, s.get(fmt.Sprintf("/actors/counter/sw/state?at=%d", at)), &st)
			if st.Seq != at || st.State.Count != at {
				t.Fatalf("%s: state at %d: got seq %d count %d", when, at, st.Seq, st.State.Count)
			}
		}
	}
	check("woken from a snapshot")
	waitAsleep()
	// A socket keeps its actor awake past the idle timeout; frames carry on
	// from the woken state.
	w := s.ws("/ws/counter/sw")
	if f := w.next(); f.Seq != n {
		t.Fatalf("init after wake: %s", f.raw)
	}
	time.Sleep(300 * time.Millisecond)
	if got := s.rt.Awake(); got != 1 {
		t.Fatalf("awake actors with a socket open: got %d, want 1", got)
	}
	ok(t, "increment", s.post("/api/counter/sw/increment", ""), nil)
	matchJSON(t, "frame", w.next().raw, fmt.Sprintf(`{"type":"countUpdated","count":%d,"lastUpdated":"<ts>","seq":%d}`, n+1, n+1))
	ok(t, "decrement", s.post("/api/counter/sw/decrement", ""), nil)
	w.next()
	w.c.Close()
	waitAsleep()
	s = s.restart()
	check("after a restart")
	if wakes := s.metric("actorlog_wake_replayed_events_total"); wakes >= n {
		t.Errorf("the wake after restart replayed %v events: the snapshots were not used", wakes)
	}
}

// TestKeysWithSlashes: a key holding "/" is addressed with it escaped
// ("%2F") on every route that carries a key in its path, and stays one
// actor, distinct from the actors its parts would name.
func TestKeysWithSlashes(t *testing.T) {
	s := newStack(t, "", config{})
	const esc = "team%2Fgeneral" // the key "team/general"
	steps := []struct {
		name, method, path, body, want string
	}{
		{"rpc", "POST", "/rpc/counter:" + esc + "/increment", ``, `{"count":1}`},
		{"actions path", "POST", "/actors/counter/" + esc + "/actions/increment", ``, `{"count":2}`},
		{"seed route", "POST", "/api/counter/" + esc + "/increment", ``, `{"count":3}`},
		{"seed get", "GET", "/api/counter/" + esc, ``, `{"count":3,"lastUpdated":"<ts>"}`},
		{"lower-case escape", "GET", "/api/counter/team%2fgeneral", ``, `{"count":3,"lastUpdated":"<ts>"}`},
		{"another part of the name", "POST", "/api/counter/team/increment", ``, `{"count":1}`},
		{"chat join", "POST", "/api/chat/" + esc + "/join", `{"username":"ann"}`, `{"success":true,"participantCount":1}`},
		{"chat send", "POST", "/api/chat/" + esc + "/messages", `{"username":"ann","text":"hi"}`, `{"message":{"id":"<uuid>","username":"ann","text":"hi","timestamp":"<ts>"}}`},
		{"chat read", "GET", "/api/chat/" + esc + "/participants", ``, `{"participants":["ann"],"count":1}`},
		{"state at", "GET", "/actors/counter/" + esc + "/state?at=2", ``, `{"actor":"counter:team/general","seq":2,"state":{"count":2,"lastUpdated":"<ts>"}}`},
	}
	for _, st := range steps {
		var b []byte
		if st.body != "" {
			b = []byte(st.body)
		}
		r := s.do(st.method, st.path, b)
		ok(t, st.name, r, nil)
		matchJSON(t, st.name, r.body, st.want)
	}

	h := s.history("counter", esc, 10)
	if len(h) != 3 {
		t.Fatalf("history of counter:team/general: %d events, want 3", len(h))
	}

	var l struct {
		Actors []wire.ActorEntry `json:"actors"`
	}
	ok(t, "list", s.get("/actors?type=counter"), &l)
	var keys []string
	for _, a := range l.Actors {
		keys = append(keys, a.Key)
	}
	if !slices.Contains(keys, "team/general") || !slices.Contains(keys, "team") {
		t.Errorf("listed counters %v, want team/general and team", keys)
	}

	w := s.ws("/ws/counter/" + esc)
	init := w.next()
	if init.Type != "init" || init.Actor != "counter:team/general" || init.Seq != 3 {
		t.Fatalf("init frame: %+v", init)
	}
	ok(t, "increment while connected", s.post("/api/counter/"+esc+"/increment", ""), nil)
	if f := w.nextOf("countUpdated"); f.Seq != 4 {
		t.Errorf("event frame seq %d, want 4", f.Seq)
	}
	w2 := s.ws("/actors/counter/" + esc + "/events?since=2")
	if f := w2.nextOf("countUpdated", "resume"); f.Seq != 3 {
		t.Errorf("resumed from 2: first event %d, want 3", f.Seq)
	}
}
