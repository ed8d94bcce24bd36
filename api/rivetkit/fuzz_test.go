package rivetkit

import (
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
)

// FuzzDecode feeds outside bytes to every decoder of the protocol: each
// codec's WebSocket messages and HTTP action bodies, connection
// parameters, keys and actor ids. None may panic; what decodes must map
// onto actorlog's arguments or be refused as a client's error, and ids
// and keys must read back as they were written.
func FuzzDecode(f *testing.F) {
	args, _ := hex.DecodeString("81a16576616c756505") // CBOR [{"value": 5}]
	bareAction := append([]byte{0x04, 0x00, 0x00, 0xac, 0x02, 0x03, 'a', 'd', 'd', byte(len(args))}, args...)
	bareSub := append([]byte{0x04, 0x00, 0x01, 12}, "countUpdated\x01"...)
	cborAction, _ := cborEnc.Marshal(map[string]any{"body": map[string]any{"tag": "ActionRequest", "val": map[string]any{"id": uint64CBOR(4), "name": "add", "args": []any{map[string]any{"value": 5}}}}})
	for _, seed := range [][]byte{
		bareAction, bareSub, cborAction, args,
		append([]byte{0x04, 0x00, byte(len(args))}, args...),
		[]byte(`{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","9"],"name":"add","args":[{"value":["$BigInt","5"]}]}}}`),
		[]byte(`{"body":{"tag":"SubscriptionRequest","val":{"eventName":"countUpdated","subscribe":true}}}`),
		[]byte(`{"args":[{"value":5},["$Uint8Array","AAE="],["$$x",1]]}`),
		[]byte(`{"username":"ann","n":1}`),
		[]byte(`a\/b/\0`),
		[]byte(actorID(eventlog.ID{Type: "counter", Key: "default"})),
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for name, c := range codecs {
			if m, err := c.decode(data); err == nil {
				if (m.action == nil) == (m.sub == nil) {
					t.Fatalf("%s: decode(%x) = %+v: want exactly one message", name, data, m)
				}
				if m.action != nil {
					checkArgs(t, name, data, m.action.args)
				}
			}
			if list, err := c.actionArgs(data); err == nil {
				checkArgs(t, name, data, list)
			}
		}
		connParams(string(data))

		// Keys: what the management API carries reads back the same way
		// once written.
		parts := deserializeKey(string(data))
		if again := deserializeKey(serializeKey(parts)); !reflect.DeepEqual(again, parts) {
			t.Fatalf("deserializeKey(serializeKey(%q)) = %q", parts, again)
		}
		// Ids: any id that parses is the id of what it parses to.
		if id, ok := parseActorID(string(data)); ok {
			if back, ok := parseActorID(actorID(id)); !ok || back != id {
				t.Fatalf("parseActorID(actorID(%v)) = %v, %v", id, back, ok)
			}
		}
	})
}

// checkArgs checks that decoded arguments become actorlog's argument, or
// a refusal the client is told of (not an internal error).
func checkArgs(t *testing.T, codec string, data []byte, list []any) {
	t.Helper()
	if _, err := callArgs(list); err != nil && actors.CodeOf(err) != actors.CodeBadRequest {
		t.Fatalf("%s: callArgs of %x: %v, want a bad request", codec, data, err)
	}
}
