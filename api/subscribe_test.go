package api_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api"
	"github.com/gorilla/websocket"
)

// nothingBeforePong checks that nothing comes before the answer to a
// ping: frames are handled in order, so a subscription sent before the
// ping is in effect once the pong is back.
func (w *wsClient) nothingBeforePong(what string) {
	w.t.Helper()
	w.send(map[string]any{"type": "ping"})
	if f := w.next(); f.Type != "pong" {
		w.t.Fatalf("%s: got %s, want nothing before the pong", what, f.raw)
	}
}

// TestWS_Subscriptions: a socket receives the events and broadcasts it
// chose by name, with ?events= at connection and subscribe and
// unsubscribe frames after; replies and state frames are not filtered,
// nor is anything by default.
func TestWS_Subscriptions(t *testing.T) {
	s := newStack(t, "", config{})
	chat := func(action, body string) { ok(t, action, s.post("/api/chat/sub/"+action, body), nil) }

	w := s.ws("/ws/chatRoom/sub?events=newMessage")
	w.next() // init
	chat("join", `{"username":"ann"}`)
	chat("messages", `{"username":"ann","text":"one"}`)
	matchJSON(t, "subscribed event", w.next().raw, `{"type":"newMessage","id":"<uuid>","username":"ann","text":"one","timestamp":"<ts>","seq":2}`)

	w.send(map[string]any{"type": "subscribe", "events": []string{"userLeft"}})
	w.send(map[string]any{"type": "unsubscribe", "events": []string{"newMessage"}})
	w.nothingBeforePong("after changing the subscription")
	chat("messages", `{"username":"ann","text":"two"}`)
	chat("leave", `{"username":"ann"}`)
	matchJSON(t, "event subscribed later", w.next().raw, `{"type":"userLeft","username":"ann","participantCount":0,"seq":4}`)

	// Replies are not filtered.
	w.send(map[string]any{"type": "call", "id": 1, "action": "join", "args": map[string]string{"username": "bob"}})
	matchJSON(t, "reply", w.next().raw, `{"type":"reply","id":1,"seq":5,"result":{"success":true,"participantCount":1}}`)
	w.send(map[string]any{"type": "subscribe", "events": []string{"*"}})
	w.nothingBeforePong("after subscribing to all")
	chat("messages", `{"username":"bob","text":"three"}`)
	if f := w.next(); f.Type != "newMessage" || f.Seq != 6 {
		t.Fatalf("after subscribing to all: got %s", f.raw)
	}
	w.send(map[string]any{"type": "unsubscribe", "events": []string{"*"}})
	w.nothingBeforePong("after unsubscribing from all")
	chat("messages", `{"username":"bob","text":"four"}`)
	w.nothingBeforePong("no events")

	// By default, every event; with ?events= none, but state frames.
	all := s.ws("/ws/chatRoom/sub")
	none := s.ws("/ws/chatRoom/sub?events=&state=1")
	all.next()
	none.next()
	chat("messages", `{"username":"bob","text":"five"}`)
	if f := all.next(); f.Type != "newMessage" || f.Seq != 8 {
		t.Fatalf("default subscription: got %s", f.raw)
	}
	if f := none.next(); f.Type != "state" || f.Seq != 8 {
		t.Fatalf("no events but state frames: got %s", f.raw)
	}

	// Broadcasts are chosen by name too.
	clock := s.ws("/ws/serverTime/sub?events=")
	clock.next()
	time.Sleep(1500 * time.Millisecond) // a tick or more
	clock.nothingBeforePong("no ticks without a subscription")
	clock.send(map[string]any{"type": "subscribe", "events": []string{"timeUpdated"}})
	if f := clock.next(); f.Type != "timeUpdated" {
		t.Fatalf("subscribed to ticks: got %s", f.raw)
	}

	// A resumed socket gets the missed events it chose only.
	r := s.ws("/ws/chatRoom/sub?since=0&events=userJoined,userLeft")
	matchJSON(t, "resume", r.next().raw, `{"type":"resume","actor":"chatRoom:sub","seq":0}`)
	for _, want := range []string{"userJoined 1", "userLeft 4", "userJoined 5"} {
		if f := r.next(); fmt.Sprint(f.Type, " ", f.Seq) != want {
			t.Fatalf("resumed: got %s, want %s", f.raw, want)
		}
	}
	r.nothingBeforePong("after the chosen missed events")

	// Malformed subscriptions are error frames; the socket carries on.
	long := make([]string, 300)
	for i := range long {
		long[i] = fmt.Sprint("e", i)
	}
	for _, bad := range []map[string]any{
		{"type": "subscribe"},
		{"type": "unsubscribe", "id": "u", "events": "newMessage"},
		{"type": "subscribe", "events": []any{1}},
		{"type": "subscribe", "events": long},
	} {
		w.send(bad)
		f := w.next()
		if f.Type != "error" || f.Error == nil || f.Error.Code != "bad_request" {
			t.Errorf("%v: got %s, want a bad_request error frame", bad, f.raw)
		}
	}
	w.nothingBeforePong("after bad subscriptions")
	if code, _ := s.refusedWS("/ws/chatRoom/sub?events="+strings.Repeat("e,", 300), nil); code != 4400 {
		t.Errorf("?events= with too many names: closed with %d, want 4400", code)
	}
}

// TestWS_CallersWithoutEvents: sockets that only call actions choose no
// events, and 64 of them calling one hot counter, with a small buffer,
// are not closed as slow consumers; each gets its replies and nothing
// else. With every event (the default), each socket is sent every
// caller's events: it either gets its replies among them, in order
// without a gap, or falls behind and is closed with 4008 (all of them
// do, as a rule).
func TestWS_CallersWithoutEvents(t *testing.T) {
	const sockets, calls, inFlight = 64, 30, 4
	s := newStack(t, "", config{rt: actors.Options{ConnBuffer: 8}})
	run := func(path string) []callerResult {
		t.Helper()
		ws := make([]*wsClient, sockets)
		for i := range ws {
			ws[i] = s.ws(path)
			if f := ws[i].next(); f.Type != "init" {
				t.Fatalf("init: %s", f.raw)
			}
		}
		results := make([]callerResult, sockets)
		var wg sync.WaitGroup
		for i, w := range ws {
			wg.Go(func() { results[i] = callIncrements(w.c, calls, inFlight) })
		}
		wg.Wait()
		return results
	}

	for i, r := range run("/ws/counter/hot?events=") {
		if r.err != nil || r.closed != 0 || r.replies != calls || r.events != 0 {
			t.Errorf("socket %d without events: %+v; want %d replies, no event, not closed", i, r, calls)
		}
	}
	var head struct{ Seq uint64 }
	ok(t, "state", s.get("/actors/counter/hot/state"), &head)
	if head.Seq != sockets*calls {
		t.Fatalf("head %d, want %d", head.Seq, sockets*calls)
	}

	slow := 0
	for i, r := range run("/ws/counter/hot-all") {
		switch {
		case r.err != nil:
			t.Errorf("socket %d with every event: %v", i, r.err)
		case r.closed == api.CloseSlowConsumer:
			slow++
		case r.closed != 0 || r.replies != calls:
			t.Errorf("socket %d with every event: %+v", i, r)
		}
	}
	t.Logf("with every event, %d of %d sockets were closed as slow consumers", slow, sockets)
}

type callerResult struct {
	replies, events int
	closed          int // the close code, if the server closed the socket
	err             error
}

// callIncrements makes calls increments over c, inFlight at a time,
// reading every frame until its replies are in or the server closes it.
// Event frames must come in order, without a gap. A socket the runtime
// drops as too slow may first answer its calls in flight with an
// unavailable error, and may be gone before a call is sent: both are
// part of being closed, and the close code says so.
func callIncrements(c *websocket.Conn, calls, inFlight int) callerResult {
	var r callerResult
	sent, dropped := 0, false
	send := func() {
		if dropped {
			return
		}
		sent++
		if c.WriteJSON(map[string]any{"type": "call", "id": sent, "action": "increment"}) != nil {
			dropped = true // the close frame, read next, says why
		}
	}
	for sent < inFlight && !dropped {
		send()
	}
	var last uint64
	for r.replies < calls {
		c.SetReadDeadline(time.Now().Add(2 * readTimeout))
		var f frame
		if err := c.ReadJSON(&f); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				r.closed = ce.Code
			} else {
				r.err = err
			}
			return r
		}
		switch {
		case f.Type == "reply":
			r.replies++
			if sent < calls {
				send()
			}
		case f.Type == "countUpdated":
			if last != 0 && f.Seq != last+1 {
				r.err = fmt.Errorf("event %d after %d", f.Seq, last)
				return r
			}
			last = f.Seq
			r.events++
		case f.Type == "error" && f.Error != nil && f.Error.Code == "unavailable":
			dropped = true // dropped: the close follows
		default:
			r.err = fmt.Errorf("unexpected frame of type %q: %+v", f.Type, f.Error)
			return r
		}
	}
	return r
}
