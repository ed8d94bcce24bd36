package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/projection"
)

// waitProjected waits until every projection has processed the log's
// durable end.
func (s *stack) waitProjected(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range s.proj.Names() {
		if err := s.proj.WaitFor(ctx, name, s.log.Durable()); err != nil {
			t.Fatalf("projection %s did not catch up: %v", name, err)
		}
	}
}

func TestProjections_ChatRoomsAndDirectory(t *testing.T) {
	s := newStack(t, "", config{projections: true})
	for i, room := range []string{"quiet", "busy", "lobby"} {
		s.post("/api/chat/"+room+"/join", `{"username":"ann"}`)
		for j := 0; j <= i*2; j++ {
			s.post("/api/chat/"+room+"/messages", fmt.Sprintf(`{"username":"ann","text":"m%d"}`, j))
		}
		time.Sleep(5 * time.Millisecond) // distinct activity times
	}
	s.post("/api/chat/busy/join", `{"username":"bob"}`)
	s.post("/api/counter/c1/increment", "")
	s.waitProjected(t)

	var rooms struct {
		Rooms    []seed.Room `json:"rooms"`
		Position uint64      `json:"position"`
	}
	ok(t, "GET /api/chat", s.get("/api/chat"), &rooms)
	if len(rooms.Rooms) != 3 || rooms.Position != s.log.Durable() {
		t.Fatalf("rooms = %+v", rooms)
	}
	// busy had the last activity (bob joined), then lobby, then quiet.
	want := []struct {
		room         string
		messages     uint64
		participants int
	}{{"busy", 3, 2}, {"lobby", 5, 1}, {"quiet", 1, 1}}
	for i, w := range want {
		r := rooms.Rooms[i]
		if r.Room != w.room || r.MessageCount != w.messages || r.ParticipantCount != w.participants || r.LastMessageAt == 0 {
			t.Fatalf("room %d = %+v, want %s with %d messages and %d participants", i, r, w.room, w.messages, w.participants)
		}
	}

	var actors struct {
		Actors []struct {
			Actor string `json:"actor"`
			Head  uint64 `json:"head"`
		} `json:"actors"`
		Position uint64 `json:"position"`
	}
	ok(t, "GET /actors", s.get("/actors?limit=10"), &actors)
	if len(actors.Actors) != 4 || actors.Position == 0 {
		t.Fatalf("actors from the directory = %+v", actors)
	}
	got := map[string]uint64{}
	for _, a := range actors.Actors {
		got[a.Actor] = a.Head
	}
	if got["chatRoom:busy"] != 5 || got["counter:c1"] != 1 {
		t.Fatalf("directory heads = %v", got)
	}

	var st struct {
		Projections []projection.Status `json:"projections"`
	}
	ok(t, "GET /projections", s.get("/projections"), &st)
	if len(st.Projections) != 2 || st.Projections[0].Name != projection.DirectoryName || st.Projections[0].Position != s.log.Durable() || st.Projections[1].Name != seed.RoomsName {
		t.Fatalf("status = %+v", st)
	}
}

func TestProjections_ResetPauseResume(t *testing.T) {
	s := newStack(t, "", config{projections: true})
	for i := 0; i < 5; i++ {
		s.post("/api/chat/r/messages", `{"username":"ann","text":"x"}`)
	}
	s.waitProjected(t)
	before := s.get("/api/chat")

	ok(t, "pause", s.post("/projections/chatRooms/pause", ""), nil)
	s.post("/api/chat/r/messages", `{"username":"ann","text":"y"}`)
	time.Sleep(50 * time.Millisecond)
	var paused projection.Status
	ok(t, "GET status", s.post("/projections/chatRooms/resume", ""), &paused)

	ok(t, "reset", s.post("/projections/chatRooms/reset", ""), nil)
	s.waitProjected(t)
	var rooms struct {
		Rooms []seed.Room `json:"rooms"`
	}
	if err := json.Unmarshal(s.get("/api/chat").body, &rooms); err != nil {
		t.Fatal(err)
	}
	if len(rooms.Rooms) != 1 || rooms.Rooms[0].MessageCount != 6 {
		t.Fatalf("after pause, resume and reset: %+v (before: %s)", rooms, before)
	}
	wantError(t, "reset of an unknown projection", s.post("/projections/nope/reset", ""), http.StatusNotFound, "not_found")
	wantError(t, "unknown operation", s.post("/projections/chatRooms/explode", ""), http.StatusNotFound, "not_found")
}

func TestProjections_NotRunning(t *testing.T) {
	s := newStack(t, "", config{})
	wantError(t, "GET /projections without projections", s.get("/projections"), http.StatusNotFound, "not_found")
	wantError(t, "GET /api/chat without projections", s.get("/api/chat"), http.StatusNotFound, "not_found")
}
