package api_test

import (
	"slices"
	"testing"
	"time"
)

// TestChat_SocketUserLeavesWithSocket: a user who joined a chat room over
// a WebSocket leaves when the socket closes (userLeft in the log); one who
// joined over HTTP stays.
func TestChat_SocketUserLeavesWithSocket(t *testing.T) {
	s := newStack(t, "", config{})
	w := s.ws("/ws/chatRoom/presence?events=")
	w.next() // init
	w.send(map[string]any{"type": "call", "id": 1, "action": "join", "args": map[string]string{"username": "ann"}})
	matchJSON(t, "join over the socket", w.next().raw, `{"type":"reply","id":1,"seq":1,"result":{"success":true,"participantCount":1}}`)
	ok(t, "join over HTTP", s.post("/api/chat/presence/join", `{"username":"bob"}`), nil)
	participants := func() []string {
		var p struct{ Participants []string }
		ok(t, "participants", s.get("/api/chat/presence/participants"), &p)
		return p.Participants
	}
	if got := participants(); !slices.Equal(got, []string{"ann", "bob"}) {
		t.Fatalf("participants %v", got)
	}
	w.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(participants(), []string{"bob"}) {
		if time.Now().After(deadline) {
			t.Fatalf("after the socket closed: participants %v, want [bob]", participants())
		}
		time.Sleep(10 * time.Millisecond)
	}
	h := s.history("chatRoom", "presence", 10)
	if len(h) != 3 || h[2].Type != "userLeft" {
		t.Fatalf("history %+v, want userJoined, userJoined, userLeft", h)
	}
	matchJSON(t, "userLeft", h[2].Data, `{"username":"ann","participantCount":1}`)
	matchJSON(t, "userJoined over the socket", h[0].Data, `{"username":"ann","participantCount":1,"connected":true}`)
}
