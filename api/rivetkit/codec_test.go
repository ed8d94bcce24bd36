package rivetkit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/eventlog"
)

func TestActorID_RoundTrip(t *testing.T) {
	for _, id := range []eventlog.ID{
		{Type: "counter", Key: "default"},
		{Type: "chatRoom", Key: "team/general"},
		{Type: "a", Key: "x:y,z@w é"},
	} {
		s := actorID(id)
		got, ok := parseActorID(s)
		if !ok || got != id {
			t.Errorf("parseActorID(actorID(%v)) = %v, %v", id, got, ok)
		}
		if bytes.ContainsAny([]byte(s), "/@+=%") {
			t.Errorf("actorID(%v) = %q: not safe in a path segment", id, s)
		}
	}
	for _, bad := range []string{"", "!!", actorID(eventlog.ID{Type: "x", Key: ""}), "Y291bnRlcg"} {
		if id, ok := parseActorID(bad); ok {
			t.Errorf("parseActorID(%q) = %v, want refused", bad, id)
		}
	}
}

func TestKeys(t *testing.T) {
	// The client's serializeActorKey, as actor/keys.test.ts has it.
	for _, c := range []struct {
		parts []string
		ser   string
		key   string
	}{
		{nil, "/", "default"},
		{[]string{"lobby"}, "lobby", "lobby"},
		{[]string{"a", "b"}, "a/b", "a,b"},
		{[]string{"a/b"}, `a\/b`, "a/b"},
		{[]string{`a\b`, ""}, `a\\b/\0`, `a\b,`},
	} {
		if got := serializeKey(c.parts); got != c.ser {
			t.Errorf("serializeKey(%q) = %q, want %q", c.parts, got, c.ser)
		}
		if got := deserializeKey(c.ser); !reflect.DeepEqual(got, c.parts) {
			t.Errorf("deserializeKey(%q) = %q, want %q", c.ser, got, c.parts)
		}
		if got := keyOf(c.parts); got != c.key {
			t.Errorf("keyOf(%q) = %q, want %q", c.parts, got, c.key)
		}
	}
}

func TestRevive(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`[["$BigInt","12345678901234567890"]]`, `[12345678901234567890]`},
		{`{"a":["$Undefined",0],"b":["$Set",[1,["$BigInt","2"]]]}`, `{"a":null,"b":[1,2]}`},
		{`["$$x",["$Uint8Array","AQI="]]`, `["$x","AQI="]`},
		{`["a",["$$$y",1]]`, `["a",["$$y",1]]`},
		{`[1,"$x",3]`, `[1,"$x",3]`},
	} {
		v, _ := decodeJSON([]byte(c.in))
		got, err := revive(v)
		if err != nil {
			t.Errorf("revive(%s): %v", c.in, err)
			continue
		}
		b, _ := json.Marshal(got)
		if string(b) != c.want {
			t.Errorf("revive(%s) = %s, want %s", c.in, b, c.want)
		}
		// escape undoes revive for what has no compat tag of its own.
	}
	for _, bad := range []string{`["$Nope",1]`, `["$BigInt","1.5"]`, `["$Uint8Array","%%"]`} {
		v, _ := decodeJSON([]byte(bad))
		if _, err := revive(v); err == nil {
			t.Errorf("revive(%s) succeeded, want an error", bad)
		}
	}
}

func TestEscapedJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"count":1,"a":2}`, `{"count":1,"a":2}`}, // untouched, order kept
		{``, `null`},
		{`{"t":["$x",1]}`, `{"t":["$$x",1]}`},
		{`["$a","$b"]`, `["$$a","$b"]`},
	} {
		got, err := escapedJSON([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("escapedJSON(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestEncodeCBOR_NumbersAsTheClientWritesThem(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`1`, "01"},
		{`-1`, "20"},
		{`4294967295`, "1affffffff"},
		{`4294967296`, "fb41f0000000000000"}, // past 32 bits: a float64, as cbor-x writes a JS number
		{`1.5`, "fb3ff8000000000000"},
		{`{"b":1,"a":"x"}`, "a2616161786162" + "01"},
		{`[true,null]`, "82f5f6"},
	} {
		v, _ := decodeJSON([]byte(c.in))
		b, err := encodeCBOR(v)
		if err != nil || hex.EncodeToString(b) != c.want {
			t.Errorf("encodeCBOR(%s) = %x, %v; want %s", c.in, b, err, c.want)
		}
	}
	b, _ := cborEnc.Marshal(uint64CBOR(5))
	if hex.EncodeToString(b) != "1b0000000000000005" {
		t.Errorf("uint64CBOR(5) = %x, want the 8-byte form", b)
	}
}

func TestDecodeCBOR(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a1646172677382f6fb3ff8000000000000", `{"args":[null,1.5]}`},
		{"1b0000000000000007", `7`},
		{"c249010000000000000000", `18446744073709551616`}, // a bignum
		{"4401020304", `"AQIDBA=="`},                       // bytes: base64
	} {
		in, _ := hex.DecodeString(c.in)
		v, err := decodeCBOR(in)
		b, _ := json.Marshal(v)
		if err != nil || string(b) != c.want {
			t.Errorf("decodeCBOR(%s) = %s, %v; want %s", c.in, b, err, c.want)
		}
	}
	for _, bad := range []string{"c11a5f5e1000", "a2616101616102", "fbfff0000000000000"} { // a date tag, a key twice, -Inf
		in, _ := hex.DecodeString(bad)
		if v, err := decodeCBOR(in); err == nil {
			t.Errorf("decodeCBOR(%s) = %v, want an error", bad, v)
		}
	}
}

// The BARE messages, byte for byte after the client's schema (v4).
func TestBare_Messages(t *testing.T) {
	c := bareCodec{}
	id := uint64(300)
	for _, m := range []struct {
		msg  any
		want string
	}{
		{initMsg{actorID: "ab", connID: "7"}, "0400" + "00" + "026162" + "0137"},
		{errorMsg{group: "g", code: "c", message: "m", actionID: &id}, "0400" + "01" + "0167" + "0163" + "016d" + "00" + "01ac02" + "00"},
		{errorMsg{group: "g", code: "c", message: ""}, "0400" + "01" + "0167" + "0163" + "00" + "00" + "00" + "00"},
		{actionResponse{id: 1, output: []byte(`{"count":2}`)}, "0400" + "02" + "01" + "08" + "a165636f756e7402"},
		{eventMsg{name: "e", data: []byte(`5`)}, "0400" + "03" + "0165" + "02" + "8105"},
	} {
		b, err := c.encode(m.msg)
		if err != nil || hex.EncodeToString(b) != m.want {
			t.Errorf("encode(%#v) = %x, %v; want %s", m.msg, b, err, m.want)
		}
	}

	// ActionRequest{id: 300, name: "add", args: CBOR [{"value": 5}]},
	// then SubscriptionRequest{"countUpdated", true}, as client v4 and v1
	// write them.
	args, _ := hex.DecodeString("81a16576616c756505")
	req := append([]byte{0x04, 0x00, 0x00, 0xac, 0x02, 0x03, 'a', 'd', 'd', byte(len(args))}, args...)
	got, err := c.decode(req)
	if err != nil || got.action == nil || got.action.id != 300 || got.action.name != "add" {
		t.Fatalf("decode(ActionRequest) = %+v, %v", got.action, err)
	}
	if b, _ := json.Marshal(got.action.args); string(b) != `[{"value":5}]` {
		t.Errorf("ActionRequest args = %s", b)
	}
	sub := append([]byte{0x01, 0x00, 0x01, 12}, "countUpdated\x01"...)
	got, err = c.decode(sub)
	if err != nil || got.sub == nil || *got.sub != (subscriptionRequest{event: "countUpdated", subscribe: true}) {
		t.Errorf("decode(SubscriptionRequest) = %+v, %v", got.sub, err)
	}
	for _, bad := range [][]byte{
		{0x05, 0x00, 0x01, 0x00, 0x00},   // version 5
		{0x04, 0x00, 0x02},               // no such tag
		{0x04, 0x00, 0x01, 0x01, 'x'},    // ends early
		append(sub, 0x00),                // bytes left over
		{0x04, 0x00, 0x01, 0x01, 'x', 2}, // a bool of 2
	} {
		if m, err := c.decode(bad); err == nil {
			t.Errorf("decode(%x) = %+v, want an error", bad, m)
		}
	}

	// HTTP: HttpActionRequest{args} and HttpActionResponse{output}.
	body := append([]byte{0x04, 0x00, byte(len(args))}, args...)
	list, err := c.actionArgs(body)
	if b, _ := json.Marshal(list); err != nil || string(b) != `[{"value":5}]` {
		t.Errorf("actionArgs = %s, %v", b, err)
	}
	out, err := c.actionOutput([]byte(`{"count":2}`))
	if err != nil || hex.EncodeToString(out) != "040008a165636f756e7402" {
		t.Errorf("actionOutput = %x, %v", out, err)
	}
}

func TestJSON_Messages(t *testing.T) {
	c := jsonCodec{}
	id := uint64(3)
	for _, m := range []struct {
		msg  any
		want string
	}{
		{initMsg{actorID: "ab", connID: "7"}, `{"body":{"tag":"Init","val":{"actorId":"ab","connectionId":"7"}}}`},
		{actionResponse{id: 3, output: []byte(`{"z":1,"a":["$q",2]}`)}, `{"body":{"tag":"ActionResponse","val":{"id":["$BigInt","3"],"output":{"a":["$$q",2],"z":1}}}}`},
		{eventMsg{name: "e", data: []byte(`{"count":1}`)}, `{"body":{"tag":"Event","val":{"args":[{"count":1}],"name":"e"}}}`},
		{errorMsg{group: "g", code: "c", message: "m", actionID: &id}, `{"body":{"tag":"Error","val":{"actionId":["$BigInt","3"],"code":"c","group":"g","message":"m"}}}`},
	} {
		b, err := c.encode(m.msg)
		if err != nil || string(b) != m.want {
			t.Errorf("encode(%#v) =\n%s, %v; want\n%s", m.msg, b, err, m.want)
		}
	}
	got, err := c.decode([]byte(`{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","9"],"name":"add","args":[{"value":["$BigInt","5"]}]}}}`))
	if b, _ := json.Marshal(got.action.args); err != nil || got.action.id != 9 || string(b) != `[{"value":5}]` {
		t.Errorf("decode(ActionRequest) = %+v %s, %v", got.action, b, err)
	}
	for _, bad := range []string{`{}`, `{"body":{"tag":"ActionRequest","val":{"id":-1,"name":"x"}}}`, `{"body":{"tag":"Nope","val":{}}}`, `[`} {
		if m, err := c.decode([]byte(bad)); err == nil {
			t.Errorf("decode(%s) = %+v, want an error", bad, m)
		}
	}
	out, _ := c.actionOutput([]byte(`{"count":2}`))
	if string(out) != `{"output":{"count":2}}` {
		t.Errorf("actionOutput = %s", out)
	}
	for body, want := range map[string]string{`{"args":[1,2]}`: `[1,2]`, `{"args":null}`: `null`, `{"args":{"v":1}}`: `[{"v":1}]`, ``: `null`} {
		list, err := c.actionArgs([]byte(body))
		if b, _ := json.Marshal(list); err != nil || string(b) != want {
			t.Errorf("actionArgs(%s) = %s, %v; want %s", body, b, err, want)
		}
	}
}

func TestCBOR_Messages(t *testing.T) {
	c := cborCodec{}
	b, err := c.encode(actionResponse{id: 1, output: []byte(`{"count":2}`)})
	// {"body":{"tag":"ActionResponse","val":{"id":1 (8 bytes),"output":{"count":2}}}}
	want := "a164626f6479a2637461676e416374696f6e526573706f6e73656376616ca26269641b0000000000000001666f7574707574a165636f756e7402"
	if err != nil || hex.EncodeToString(b) != want {
		t.Errorf("encode(ActionResponse) = %x, %v\nwant %s", b, err, want)
	}
	req, _ := cborEnc.Marshal(map[string]any{"body": map[string]any{"tag": "ActionRequest", "val": map[string]any{"id": uint64CBOR(4), "name": "increment", "args": []any{}}}})
	got, err := c.decode(req)
	if err != nil || got.action == nil || got.action.id != 4 || got.action.name != "increment" || len(got.action.args) != 0 {
		t.Errorf("decode(ActionRequest) = %+v, %v", got.action, err)
	}
}

func TestCallArgs(t *testing.T) {
	for _, c := range []struct {
		list []any
		want string
	}{
		{nil, ``},
		{[]any{nil}, ``},
		{[]any{map[string]any{"value": json.Number("5")}}, `{"value":5}`},
		{[]any{json.Number("1"), "a"}, `[1,"a"]`},
	} {
		a, err := callArgs(c.list)
		if err != nil || string(a.Data) != c.want || a.Format != actors.JSON {
			t.Errorf("callArgs(%v) = %s, %v; want %s", c.list, a.Data, err, c.want)
		}
	}
}

func TestEventOf(t *testing.T) {
	reg := seed.Registry()
	counter, _ := reg.Lookup("counter")
	tagged, _ := actors.NewRegistry(taggedDef()).Lookup("tagged")
	for _, c := range []struct {
		def   actors.Definition
		frame actors.Frame
		name  string
		data  string
	}{
		{counter, actors.Frame{Seq: 4, Data: []byte(`{"count":3,"lastUpdated":9,"seq":4,"type":"countUpdated"}`)}, "countUpdated", `{"count":3,"lastUpdated":9}`},
		{tagged, actors.Frame{Seq: 2, Data: []byte(`{"data":"x","seq":2,"type":"tag"}`)}, "tag", `"x"`},
		{tagged, actors.Frame{Seq: 3, Data: []byte(`{"seq":3,"type":"tag"}`)}, "tag", `null`},
		{counter, actors.Frame{Data: []byte(`{"currentTime":1,"type":"timeUpdated"}`)}, "timeUpdated", `{"currentTime":1}`},
		{counter, actors.Frame{Data: []byte(`{"data":[1],"type":"ping"}`)}, "ping", `[1]`},
	} {
		ev, ok := eventOf(c.def, c.frame)
		if !ok || ev.name != c.name || string(ev.data) != c.data {
			t.Errorf("eventOf(%s) = %q %s, %v; want %q %s", c.frame.Data, ev.name, ev.data, ok, c.name, c.data)
		}
	}
	if ev, ok := eventOf(counter, actors.Frame{Seq: 4, Data: []byte(`{"seq":4,"state":{},"type":"state"}`)}); ok {
		t.Errorf("a state frame is an event: %+v", ev)
	}
}

// taggedDef is an actor whose event data is a string, not an object.
func taggedDef() *actors.Def[[]string] {
	d := actors.Define("tagged", func() []string { return nil })
	actors.On(d, "tag", func(s *[]string, tag string) { *s = append(*s, tag) })
	actors.Action(d, "tag", func(c *actors.Ctx[[]string], tag string) (int, error) {
		return len(*c.State()) + 1, c.Emit("tag", tag)
	})
	return d
}

func TestConnParams(t *testing.T) {
	got, err := connParams("%7B%22token%22%3A%22s%C3%A9%22%2C%22n%22%3A1%7D")
	if err != nil || !reflect.DeepEqual(got, map[string]string{"token": "sé", "n": "1"}) {
		t.Errorf("connParams(object) = %v, %v", got, err)
	}
	got, err = connParams("%22abc%22")
	if err != nil || !reflect.DeepEqual(got, map[string]string{"params": `"abc"`}) {
		t.Errorf("connParams(string) = %v, %v", got, err)
	}
	if _, err := connParams("%7Bnot"); err == nil {
		t.Error("connParams(bad JSON) succeeded")
	}
}
