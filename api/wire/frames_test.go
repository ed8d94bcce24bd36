package wire_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/vmihailenco/msgpack/v5"
)

// TestCheckRegistry_RefusesFrameClashes: an event or a declared broadcast
// whose fields would collide with the frame's own "type" and "seq", or
// whose name is a frame type of the protocol, is refused when the protocol starts, not silently
// overwritten in every frame.
func TestCheckRegistry_RefusesFrameClashes(t *testing.T) {
	type Embedded struct {
		Seq int `json:"seq"`
	}
	type state struct{}
	cases := []struct {
		name string
		on   func(d *actors.Def[state])
		want string // in the error; "" for none
	}{
		{"field tagged type", func(d *actors.Def[state]) {
			actors.On(d, "moved", func(*state, struct {
				Type string `json:"type"`
			}) {
			})
		}, `field named "type"`},
		{"field tagged seq with options", func(d *actors.Def[state]) {
			actors.On(d, "moved", func(*state, struct {
				N int `json:"seq,omitempty"`
			}) {
			})
		}, `field named "seq"`},
		{"untagged field named seq", func(d *actors.Def[state]) {
			actors.On(d, "moved", func(*state, struct{ seq int }) {})
		}, ""}, // unexported: not encoded
		{"untagged exported field named Seq", func(d *actors.Def[state]) {
			actors.On(d, "moved", func(*state, struct{ Seq int }) {})
		}, ""}, // encoded as "Seq": no clash
		{"embedded struct", func(d *actors.Def[state]) {
			actors.On(d, "moved", func(*state, struct{ Embedded }) {})
		}, `field named "seq"`},
		{"pointer to struct", func(d *actors.Def[state]) {
			actors.On(d, "moved", func(*state, *struct {
				T string `json:"type"`
			}) {
			})
		}, `field named "type"`},
		{"reserved event type", func(d *actors.Def[state]) {
			actors.On(d, "init", func(*state, struct{}) {})
		}, `"init" is reserved`},
		{"event type named like the resume frame", func(d *actors.Def[state]) {
			actors.On(d, "resume", func(*state, struct{}) {})
		}, `"resume" is reserved`},
		{"event type named like all events", func(d *actors.Def[state]) {
			actors.On(d, "*", func(*state, struct{}) {})
		}, `"*" is reserved`},
		{"fields that do not clash", func(d *actors.Def[state]) {
			actors.On(d, "moved", func(*state, struct {
				Type string `json:"kind"`
				Seq  int    `json:"-"`
				X    int    `json:"x"`
			}) {
			})
		}, ""},
		{"a map", func(d *actors.Def[state]) {
			actors.On(d, "moved", func(*state, map[string]any) {})
		}, ""},
		{"broadcast with a field tagged seq", func(d *actors.Def[state]) {
			actors.Broadcast[struct {
				N int `json:"seq"`
			}](d, "tick")
		}, `broadcast "tick" has a field named "seq"`},
		{"broadcast named like the state frame", func(d *actors.Def[state]) {
			actors.Broadcast[struct{}](d, "state")
		}, `broadcast "state" is reserved`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := actors.Define("thing", func() state { return state{} })
			c.on(d)
			err := wire.CheckRegistry(actors.NewRegistry(d))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
	if err := wire.CheckRegistry(seed.Registry()); err != nil {
		t.Fatalf("the seed actors are refused: %v", err)
	}
}

func TestEventFrame(t *testing.T) {
	data := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"object", data(map[string]any{"count": 3}), `{"count":3,"seq":7,"type":"moved"}`},
		{"a field named type is the frame's", data(map[string]any{"type": "x"}), `{"seq":7,"type":"moved"}`},
		{"not an object", data([]int{1, 2}), `{"data":[1,2],"seq":7,"type":"moved"}`},
		{"non-string keys", data(map[int]string{1: "a"}), `{"1":"a","seq":7,"type":"moved"}`},
		{"no data", nil, `{"seq":7,"type":"moved"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := wire.EventFrame(&eventlog.Event{Seq: 7, Type: "moved", Data: c.data})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
	if _, err := wire.EventFrame(&eventlog.Event{Seq: 1, Type: "x", Data: []byte{0xc1}}); err == nil {
		t.Fatal("data that is not msgpack made a frame")
	}
}

func TestBroadcastFrame(t *testing.T) {
	got, err := wire.BroadcastFrame("tick", map[string]int{"n": 1})
	if err != nil || string(got) != `{"n":1,"type":"tick"}` {
		t.Fatalf("object: %s, %v", got, err)
	}
	got, err = wire.BroadcastFrame("tick", 5)
	if err != nil || string(got) != `{"data":5,"type":"tick"}` {
		t.Fatalf("number: %s, %v", got, err)
	}
	if _, err := wire.BroadcastFrame("reply", map[string]int{}); err == nil {
		t.Fatal("a broadcast named like a frame type was encoded")
	}
	var f wire.StateFrame
	b, err := wire.Frames{}.State(4, []byte(`{"a":1}`))
	if err != nil || json.Unmarshal(b, &f) != nil || f.Type != wire.FrameState || f.Seq != 4 || string(f.State) != `{"a":1}` {
		t.Fatalf("state frame %s, %v", b, err)
	}
}
