package api

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeFrame feeds arbitrary client frames to the WebSocket frame
// decoder: it must not panic, and must answer every frame that is not a
// well-formed call with a JSON pong or error frame.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"call","id":"c1","action":"increment","args":{}}`,
		`{"type":"call","id":7,"action":"add","args":{"value":5},"idempotencyKey":"k"}`,
		`{"type":"ping"}`, `{"type":"call"}`, `{"type":"call","id":null,"action":"x"}`,
		`[]`, `null`, `"x"`, `{"type":1}`, `{`, ``,
	} {
		f.Add(true, []byte(s))
	}
	f.Add(false, []byte{0x81, 0xa1, 'a', 1})
	f.Fuzz(func(t *testing.T, text bool, data []byte) {
		call, answer := decodeFrame(text, data)
		if call != nil {
			if answer != nil || call.Type != "call" || call.Action == "" || len(call.ID) == 0 {
				t.Fatalf("decodeFrame(%q) = call %+v and answer %v", data, call, answer)
			}
			return
		}
		b, err := json.Marshal(answer)
		if err != nil || !json.Valid(b) {
			t.Fatalf("answer to %q does not encode: %v", data, err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		if m["type"] != "pong" && m["type"] != "error" {
			t.Fatalf("answer to %q is %s", data, b)
		}
	})
}
