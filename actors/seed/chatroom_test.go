package seed_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/snapshots"
)

// room is a runtime of the seed actors that takes connections, on a
// store in dir, and the chat room "chatRoom:presence" in it.
type room struct {
	t   *testing.T
	log eventlog.Store
	rt  *actors.Runtime
	id  eventlog.ID
}

func openRoom(t *testing.T, dir string) *room {
	t.Helper()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := eventlogtest.Open(t, dir, eventlog.Options{Logger: lg})
	rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: lg, Frames: wire.Frames{}})
	r := &room{t: t, log: l, rt: rt, id: eventlog.ID{Type: "chatRoom", Key: "presence"}}
	t.Cleanup(r.close)
	return r
}

func (r *room) close() {
	if r.rt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.rt.Close(ctx); err != nil {
			r.t.Errorf("close: %v", err)
		}
		r.log.Close()
		r.rt = nil
	}
}

func (r *room) connect() *actors.Conn {
	r.t.Helper()
	c, _, err := r.rt.Connect(context.Background(), r.id, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// join joins user over conn (nil: over HTTP).
func (r *room) join(user string, conn *actors.Conn) {
	r.t.Helper()
	args := actors.JSONArgs([]byte(`{"username":"` + user + `"}`))
	if _, err := r.rt.Call(context.Background(), r.id, "join", args, actors.CallOptions{Conn: conn}); err != nil {
		r.t.Fatalf("join %s: %v", user, err)
	}
}

func (r *room) participants() []string {
	r.t.Helper()
	res, err := r.rt.Call(context.Background(), r.id, "getParticipants", actors.Args{}, actors.CallOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	var p struct{ Participants []string }
	json.Unmarshal(res.Body, &p)
	return p.Participants
}

// presence returns the userJoined and userLeft events of the log, as
// "+user" and "-user".
func (r *room) presence() []string {
	r.t.Helper()
	evs, err := eventlog.ReadStream(context.Background(), r.log, r.id, 1, 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		var p seed.Presence
		if err := actors.DecodeData(e.Data, &p); err != nil {
			r.t.Fatal(err)
		}
		switch e.Type {
		case "userJoined":
			out = append(out, "+"+p.Username)
		case "userLeft":
			out = append(out, "-"+p.Username)
		}
	}
	return out
}

// waitPresence waits, making no call, until the log's presence events
// are want.
func (r *room) waitPresence(want ...string) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(r.presence(), want) {
		if time.Now().After(deadline) {
			r.t.Fatalf("presence events %v, want %v", r.presence(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChatRoom_ConnectedUsersLeave: a user who joined over a connection
// leaves when it closes (userLeft, durable, with no call needed), unless
// another connection joined them too or they joined over HTTP.
func TestChatRoom_ConnectedUsersLeave(t *testing.T) {
	r := openRoom(t, t.TempDir())
	a, b, other := r.connect(), r.connect(), r.connect()
	r.join("ann", a)
	r.join("bob", nil) // over HTTP
	r.join("cid", a)
	r.join("cid", b) // over two connections
	r.join("dee", a)
	r.join("dee", nil) // then over HTTP too: stays
	r.join("bob", a)   // over HTTP first: stays
	if got := r.participants(); !slices.Equal(got, []string{"ann", "bob", "cid", "dee"}) {
		t.Fatalf("participants %v", got)
	}
	a.Close()
	r.waitPresence("+ann", "+bob", "+cid", "+dee", "+dee", "-ann")
	if got := r.participants(); !slices.Equal(got, []string{"bob", "cid", "dee"}) {
		t.Fatalf("after a closed: participants %v", got)
	}
	b.Close()
	r.waitPresence("+ann", "+bob", "+cid", "+dee", "+dee", "-ann", "-cid")
	if got := r.participants(); !slices.Equal(got, []string{"bob", "dee"}) {
		t.Fatalf("after b closed: participants %v", got)
	}
	// A user who left and rejoined over HTTP is not taken away by the
	// connection they first joined over.
	r.join("eve", other)
	if _, err := r.rt.Call(context.Background(), r.id, "leave", actors.JSONArgs([]byte(`{"username":"eve"}`)), actors.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	r.join("eve", nil)
	other.Close()
	time.Sleep(50 * time.Millisecond)
	if got := r.participants(); !slices.Equal(got, []string{"bob", "dee", "eve"}) {
		t.Fatalf("after other closed: participants %v", got)
	}
}

// TestChatRoom_ConnectedUsersLeaveAfterRestart: users still connected in
// the log when the runtime stopped (its connections ended with it, not
// closed by their clients) leave when the room wakes.
func TestChatRoom_ConnectedUsersLeaveAfterRestart(t *testing.T) {
	dir := t.TempDir()
	r := openRoom(t, dir)
	r.join("ann", r.connect())
	r.join("bob", nil)
	r.close()

	r = openRoom(t, dir)
	if got := r.participants(); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("after a restart: participants %v", got)
	}
	if got := r.presence(); !slices.Equal(got, []string{"+ann", "+bob", "-ann"}) {
		t.Fatalf("presence events %v", got)
	}
}
