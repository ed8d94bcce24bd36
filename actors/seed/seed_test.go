package seed_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/snapshots"
)

func runtime(t *testing.T) *actors.Runtime {
	t.Helper()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := eventlogtest.Open(t, t.TempDir(), eventlog.Options{Logger: lg})
	rt := actors.New(l, snapshots.New(l, snapshots.Options{}), seed.Registry(), actors.Options{Logger: lg})
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

func TestSeed_Validation(t *testing.T) {
	rt := runtime(t)
	long := strings.Repeat("x", seed.MaxTextLen+1)
	cases := []struct {
		actor, action, args string
		want                actors.Code // "" for success
	}{
		{"counter:o", "add", `{"value": 9223372036854775807}`, ""},
		{"counter:o", "add", `{"value": 1}`, actors.CodeInvalid},
		{"counter:o", "increment", ``, actors.CodeInvalid},
		{"counter:o", "reset", ``, ""},
		{"counter:o", "add", `{"value": -9223372036854775808}`, ""},
		{"counter:o", "decrement", ``, actors.CodeInvalid},
		{"counter:o", "add", `{"value": -1}`, actors.CodeInvalid},
		{"counter:o", "add", `{"valu": 5}`, actors.CodeBadRequest},
		{"counter:o", "add", `{}`, actors.CodeInvalid},
		{"counter:o", "increment", `{"by": 2}`, actors.CodeBadRequest},
		{"chatRoom:v", "sendMessage", `{"username": "ann", "text": "` + long + `"}`, actors.CodeInvalid},
		{"chatRoom:v", "sendMessage", `{"username": "` + strings.Repeat("u", 65) + `", "text": "hi"}`, actors.CodeInvalid},
		{"chatRoom:v", "sendMessage", `{"username": "ann", "text": "héllo"}`, ""},
		{"chatRoom:v", "getMessages", `{"limit": 101}`, actors.CodeInvalid},
		{"chatRoom:v", "getMessages", `{"limit": 100}`, ""},
		{"chatRoom:v", "getMessages", `{"limit": 0}`, actors.CodeInvalid},
		{"chatRoom:v", "getMessages", ``, ""},
		{"chatRoom:v", "sendMessage", `{"username": "ann"}`, actors.CodeInvalid},
		{"chatRoom:v", "join", `{}`, actors.CodeInvalid},
		{"serverTime:v", "setTimezone", `{"timezone": "Local"}`, actors.CodeInvalid},
		{"serverTime:v", "setTimezone", `{"timezone": ""}`, actors.CodeInvalid},
		{"serverTime:v", "setTimezone", `{"timezone": "Asia/Kolkata"}`, ""},
	}
	for _, c := range cases {
		id, _ := eventlog.ParseID(c.actor)
		_, err := rt.Call(context.Background(), id, c.action, actors.JSONArgs([]byte(c.args)), actors.CallOptions{})
		if got := actors.Code(""); err != nil {
			got = actors.CodeOf(err)
			if got != c.want {
				t.Errorf("%s.%s(%.40s): err = %v, want code %q", c.actor, c.action, c.args, err, c.want)
			}
		} else if c.want != "" {
			t.Errorf("%s.%s(%.40s) succeeded, want code %q", c.actor, c.action, c.args, c.want)
		}
	}
}

func TestChatRoom_KeepsLastMessages(t *testing.T) {
	rt := runtime(t)
	id := eventlog.ID{Type: "chatRoom", Key: "busy"}
	for i := 0; i < seed.KeptMessages+20; i++ {
		if _, err := rt.Call(context.Background(), id, "sendMessage", actors.JSONArgs([]byte(`{"username":"a","text":"m"}`)), actors.CallOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := rt.Call(context.Background(), id, "getMessages", actors.JSONArgs([]byte(`{"limit": 100}`)), actors.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(r.Body), `"id":`); n != seed.KeptMessages {
		t.Fatalf("getMessages returned %d messages, want %d", n, seed.KeptMessages)
	}
}
