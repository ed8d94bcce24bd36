package actors_test

import (
	"strings"
	"testing"

	"github.com/actorlog/actorlog/actors"
)

// TestOnRefusesFrameClashes: an event whose fields would collide with the
// frame's own "type" and "seq", or whose type is a frame type of the
// protocol, is refused when it is registered, not silently overwritten in
// every frame.
func TestOnRefusesFrameClashes(t *testing.T) {
	type Embedded struct {
		Seq int `json:"seq"`
	}
	type state struct{}
	cases := []struct {
		name string
		on   func(d *actors.Def[state])
		want string // in the panic; "" for no panic
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
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := actors.Define("thing", func() state { return state{} })
			var got string
			func() {
				defer func() {
					if v := recover(); v != nil {
						got = v.(string)
					}
				}()
				c.on(d)
			}()
			switch {
			case c.want == "" && got != "":
				t.Fatalf("panicked: %s", got)
			case c.want != "" && !strings.Contains(got, c.want):
				t.Fatalf("panic %q, want one containing %q", got, c.want)
			}
		})
	}
}
