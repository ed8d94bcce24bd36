package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/gorilla/websocket"
)

// wsPaths are the two routes of the same WebSocket.
var wsPaths = []struct{ name, format string }{
	{"ws", "/ws/%s/%s"},
	{"events", "/actors/%s/%s/events"},
}

func wsPath(format, typ, key string) string { return fmt.Sprintf(format, typ, key) }

// TestWS_InitAndEvents checks the init frame and one frame per committed
// event, in order, on both routes.
func TestWS_InitAndEvents(t *testing.T) {
	s := newStack(t, "", config{})
	for _, p := range wsPaths {
		t.Run(p.name, func(t *testing.T) {
			key := "k-" + p.name
			for i := 0; i < 2; i++ {
				ok(t, "increment", s.post("/api/counter/"+key+"/increment", ""), nil)
			}
			w := s.ws(wsPath(p.format, "counter", key))
			init := w.next()
			matchJSON(t, "init", init.raw, `{"type":"init","actor":"counter:`+key+`","seq":2,"state":{"count":2,"lastUpdated":"<ts>"}}`)
			want := []string{"increment", "add", "decrement", "reset"}
			bodies := []string{"", `{"value":40}`, "", ""}
			counts := []int{3, 43, 42, 0}
			for i, a := range want {
				ok(t, a, s.post("/api/counter/"+key+"/"+a, bodies[i]), nil)
			}
			for i := range want {
				f := w.next()
				matchJSON(t, "event frame", f.raw, fmt.Sprintf(`{"type":"countUpdated","count":%d,"lastUpdated":"<ts>","seq":%d}`, counts[i], i+3))
			}
			// Reads append nothing and send no frame: the next frame is
			// the next write.
			ok(t, "getCount", s.get("/api/counter/"+key), nil)
			ok(t, "increment", s.post("/api/counter/"+key+"/increment", ""), nil)
			matchJSON(t, "frame after a read", w.next().raw, `{"type":"countUpdated","count":1,"lastUpdated":"<ts>","seq":7}`)
		})
	}
	// Query parameters other than since, token and events go to
	// OnBeforeConnect.
	for _, q := range []string{"?user=ann", "?token=x&since=0", "?since=0&user=ann&other=1", "?events=armed&user=ann"} {
		if _, r, err := s.dialWS("/ws/alarm/params"+q, nil); err != nil {
			t.Errorf("alarm%s: %v %v", q, err, r)
		}
	}
	// A chat room's frames carry the event data beside type and seq.
	w := s.ws("/ws/chatRoom/shape")
	matchJSON(t, "chat init", w.next().raw, `{"type":"init","actor":"chatRoom:shape","seq":0,"state":{"messages":[],"participants":[]}}`)
	ok(t, "join", s.post("/api/chat/shape/join", `{"username":"ann"}`), nil)
	ok(t, "send", s.post("/api/chat/shape/messages", `{"username":"ann","text":"hi"}`), nil)
	ok(t, "leave", s.post("/api/chat/shape/leave", `{"username":"ann"}`), nil)
	matchJSON(t, "userJoined", w.next().raw, `{"type":"userJoined","username":"ann","participantCount":1,"seq":1}`)
	matchJSON(t, "newMessage", w.next().raw, `{"type":"newMessage","id":"<uuid>","username":"ann","text":"hi","timestamp":"<ts>","seq":2}`)
	matchJSON(t, "userLeft", w.next().raw, `{"type":"userLeft","username":"ann","participantCount":0,"seq":3}`)
}

// TestWS_Calls makes calls over the socket.
func TestWS_Calls(t *testing.T) {
	s := newStack(t, "", config{})
	for _, p := range wsPaths {
		t.Run(p.name, func(t *testing.T) {
			key := "calls-" + p.name
			w := s.ws(wsPath(p.format, "counter", key))
			if f := w.next(); f.Type != "init" || f.Seq != 0 {
				t.Fatalf("init: %s", f.raw)
			}
			w.send(map[string]any{"type": "call", "id": "c1", "action": "increment", "args": map[string]any{}})
			// The event comes before the reply of the call that made it.
			matchJSON(t, "event of c1", w.next().raw, `{"type":"countUpdated","count":1,"lastUpdated":"<ts>","seq":1}`)
			matchJSON(t, "reply c1", w.next().raw, `{"type":"reply","id":"c1","seq":1,"result":{"count":1}}`)

			w.send(map[string]any{"type": "call", "id": 7, "action": "add", "args": map[string]any{"value": 9}})
			matchJSON(t, "event of 7", w.next().raw, `{"type":"countUpdated","count":10,"lastUpdated":"<ts>","seq":2}`)
			matchJSON(t, "reply 7", w.next().raw, `{"type":"reply","id":7,"seq":2,"result":{"count":10}}`)

			w.send(map[string]any{"type": "call", "id": "g", "action": "getCount"})
			matchJSON(t, "reply g", w.next().raw, `{"type":"reply","id":"g","seq":2,"result":{"count":10,"lastUpdated":"<ts>"}}`)

			errs := []struct {
				frame map[string]any
				code  string
			}{
				{map[string]any{"type": "call", "id": "e1", "action": "add", "args": map[string]any{}}, "invalid_argument"},
				{map[string]any{"type": "call", "id": "e2", "action": "add", "args": map[string]any{"value": "x"}}, "bad_request"},
				{map[string]any{"type": "call", "id": "e3", "action": "explode"}, "not_found"},
				{map[string]any{"type": "call", "id": "e4", "action": "increment", "args": "nope"}, "bad_request"},
			}
			for _, e := range errs {
				w.send(e.frame)
				f := w.next()
				matchJSON(t, "error "+e.frame["id"].(string), f.raw, fmt.Sprintf(`{"type":"error","id":%q,"error":{"code":%q,"message":"<string>"}}`, e.frame["id"], e.code))
			}

			// Idempotent calls over the socket: one event, the same result.
			for i := 0; i < 2; i++ {
				w.send(map[string]any{"type": "call", "id": "i" + strconv.Itoa(i), "action": "increment", "idempotencyKey": "once"})
			}
			matchJSON(t, "event of i0", w.next().raw, `{"type":"countUpdated","count":11,"lastUpdated":"<ts>","seq":3}`)
			replies := map[string]string{}
			for i := 0; i < 2; i++ {
				f := w.nextOf("reply")
				replies[string(f.ID)] = string(f.Result) + "@" + strconv.FormatUint(f.Seq, 10)
			}
			if replies[`"i0"`] != `{"count":11}@3` || replies[`"i1"`] != replies[`"i0"`] {
				t.Fatalf("idempotent replies: got %v, want both {\"count\":11}@3", replies)
			}

			// Application ping.
			w.send(map[string]any{"type": "ping"})
			matchJSON(t, "pong", w.next().raw, `{"type":"pong"}`)

			// Many calls in flight at once all get their replies, and the
			// events arrive in order before the reply for each.
			const n = 40
			for i := 0; i < n; i++ {
				w.send(map[string]any{"type": "call", "id": fmt.Sprint("m", i), "action": "increment"})
			}
			got := map[string]uint64{}
			lastEvent := uint64(3)
			for len(got) < n {
				f := w.next()
				switch f.Type {
				case "countUpdated":
					if f.Seq != lastEvent+1 || *f.Count != int64(f.Seq+8) {
						t.Fatalf("event %s after seq %d", f.raw, lastEvent)
					}
					lastEvent = f.Seq
				case "reply":
					if f.Seq > lastEvent {
						t.Fatalf("reply %s before its event (last event seq %d)", f.raw, lastEvent)
					}
					got[string(f.ID)] = f.Seq
				default:
					t.Fatalf("unexpected frame %s", f.raw)
				}
			}
			if lastEvent != 3+n {
				t.Fatalf("last event seq got %d, want %d", lastEvent, 3+n)
			}
			if n := len(s.history("counter", key, 100)); n != 43 {
				t.Fatalf("history: got %d events, want 43", n)
			}
		})
	}
}

// TestWS_BadFrames sends malformed frames; each gets an error frame and
// the socket keeps working.
func TestWS_BadFrames(t *testing.T) {
	s := newStack(t, "", config{})
	w := s.ws("/ws/counter/bad")
	w.next() // init
	cases := []struct {
		name string
		mt   int
		data string
		id   string // the id echoed, if any
	}{
		{"not JSON", websocket.TextMessage, `{nope`, ""},
		{"empty", websocket.TextMessage, ``, ""},
		{"array", websocket.TextMessage, `[1,2]`, ""},
		{"string", websocket.TextMessage, `"call"`, ""},
		{"null", websocket.TextMessage, `null`, ""},
		{"unknown type", websocket.TextMessage, `{"type":"dance","id":"d1"}`, `"d1"`},
		{"no type", websocket.TextMessage, `{"id":"d2"}`, `"d2"`},
		{"binary", websocket.BinaryMessage, `{"type":"ping"}`, ""},
		{"call without id", websocket.TextMessage, `{"type":"call","action":"increment"}`, ""},
		{"call without action", websocket.TextMessage, `{"type":"call","id":"q"}`, `"q"`},
		{"type not a string", websocket.TextMessage, `{"type":1}`, ""},
	}
	for _, c := range cases {
		w.sendRaw(c.mt, []byte(c.data))
		f := w.next()
		if f.Type != "error" || f.Error == nil || f.Error.Code != "bad_request" || f.Error.Message == "" {
			t.Errorf("%s: got %s, want an error frame with code bad_request", c.name, f.raw)
		}
		if string(f.ID) != c.id {
			t.Errorf("%s: error id got %s, want %q", c.name, f.ID, c.id)
		}
		w.send(map[string]any{"type": "ping"})
		if f := w.next(); f.Type != "pong" {
			t.Fatalf("%s: the socket stopped working: got %s, want pong", c.name, f.raw)
		}
	}
	w.send(map[string]any{"type": "call", "id": "ok", "action": "increment"})
	w.nextOf("countUpdated")
	matchJSON(t, "call after bad frames", w.next().raw, `{"type":"reply","id":"ok","seq":1,"result":{"count":1}}`)
}

// TestWS_FrameTooBig sends a frame over the limit: the socket is closed
// with 1009 and the actor and other sockets carry on.
func TestWS_FrameTooBig(t *testing.T) {
	s := newStack(t, "", config{api: api.Options{MaxFrameBytes: 1024}})
	other := s.ws("/ws/counter/big")
	other.next()
	// A write buffer larger than the frame: the frame goes out in one
	// fragment and one write, before the server closes the socket.
	w, _, err := s.dialWSWith(&websocket.Dialer{HandshakeTimeout: readTimeout, WriteBufferSize: 64 << 10}, "/ws/counter/big", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.next()
	// Just under the limit is fine.
	pad := strings.Repeat("x", 1024-len(`{"type":"ping","pad":""}`))
	w.send(map[string]any{"type": "ping", "pad": pad})
	if f := w.next(); f.Type != "pong" {
		t.Fatalf("frame at the limit: got %s, want pong", f.raw)
	}
	w.sendRaw(websocket.TextMessage, []byte(`{"type":"ping","pad":"`+strings.Repeat("x", 4096)+`"}`))
	code, _, frames := w.closeCode()
	if code != websocket.CloseMessageTooBig || len(frames) != 0 {
		t.Fatalf("after a frame over the limit: close code %d after %d frames, want %d", code, len(frames), websocket.CloseMessageTooBig)
	}
	ok(t, "increment", s.post("/api/counter/big/increment", ""), nil)
	matchJSON(t, "other socket", other.next().raw, `{"type":"countUpdated","count":1,"lastUpdated":"<ts>","seq":1}`)
	w2 := s.ws("/ws/counter/big")
	if f := w2.next(); f.Type != "init" || f.Seq != 1 {
		t.Fatalf("new socket: %s", f.raw)
	}
}

// TestWS_ResumeSince resumes from a sequence: the frames after it, then the
// live ones, with no gap and no duplicate, while writers run concurrently.
func TestWS_ResumeSince(t *testing.T) {
	s := newStack(t, "", config{})
	const before = 50
	for i := 0; i < before; i++ {
		ok(t, "increment", s.post("/api/counter/r/increment", ""), nil)
	}
	for _, p := range wsPaths {
		for _, since := range []uint64{0, 1, 20, before - 1, before} {
			w := s.ws(wsPath(p.format, "counter", "r") + "?since=" + strconv.FormatUint(since, 10))
			// No state: the client has it at since, and gets each event
			// after it once.
			matchJSON(t, "resume frame", w.next().raw, fmt.Sprintf(`{"type":"resume","actor":"counter:r","seq":%d}`, since))
			for seq := since + 1; seq <= before; seq++ {
				f := w.next()
				matchJSON(t, "replayed frame", f.raw, fmt.Sprintf(`{"type":"countUpdated","count":%d,"lastUpdated":"<ts>","seq":%d}`, seq, seq))
			}
			w.c.Close()
		}
	}
	// Since past the head is refused: the client saw another history.
	for _, p := range wsPaths {
		if code, reason := s.refusedWS(wsPath(p.format, "counter", "r")+"?since=51", nil); code != wire.CloseConflict || !strings.Contains(reason, "head 50") {
			t.Fatalf("%s since past the head: closed with %d %q, want %d", p.name, code, reason, wire.CloseConflict)
		}
	}

	// Writers and resuming readers at once.
	const writers, each = 4, 75
	final := uint64(before + writers*each)
	live := s.ws("/ws/counter/r")
	if f := live.next(); f.Seq != before {
		t.Fatalf("live init %s", f.raw)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				r, err := s.try("POST", "/api/counter/r/increment", nil)
				if err != nil || r.status != 200 {
					errs <- fmt.Errorf("increment: %v %v", r, err)
					return
				}
			}
		}()
	}
	// The resuming reader: read a few frames, drop the socket, resume
	// from the last sequence seen; repeat until the last write.
	last := uint64(20)
	conns := 0
	rng := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(30 * time.Second)
	for last < final {
		if time.Now().After(deadline) {
			t.Fatalf("resuming reader stuck at %d of %d", last, final)
		}
		path := wsPath(wsPaths[conns%2].format, "counter", "r") + "?since=" + strconv.FormatUint(last, 10)
		w := s.ws(path)
		conns++
		if f := w.next(); f.Type != "resume" || f.Seq != last {
			t.Fatalf("resume since=%d: first frame %s", last, f.raw)
		}
		for n := 1 + rng.IntN(40); n > 0 && last < final; n-- {
			f := w.next()
			if f.Type != "countUpdated" || f.Seq != last+1 || f.Count == nil || uint64(*f.Count) != f.Seq {
				t.Fatalf("resumed since=%d on connection %d: got %s, want seq %d", last, conns, f.raw, last+1)
			}
			last = f.Seq
		}
		w.c.Close()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The live reader saw every event once, in order.
	for seq := uint64(before + 1); seq <= final; seq++ {
		f := live.next()
		if f.Seq != seq || uint64(*f.Count) != seq {
			t.Fatalf("live reader: got %s, want seq %d", f.raw, seq)
		}
	}
	if conns < 5 {
		t.Errorf("the reader resumed only %d times", conns)
	}
	if n := uint64(len(s.history("counter", "r", 1000))); n != final {
		t.Fatalf("history: %d events, want %d", n, final)
	}
}

// TestWS_ResumeState: a resumed socket that asked for state frames gets,
// after the events it missed, the state they lead to; live events follow.
// One that resumes where it left off gets neither.
func TestWS_ResumeState(t *testing.T) {
	s := newStack(t, "", config{})
	for i := 0; i < 3; i++ {
		ok(t, "increment", s.post("/api/counter/rs/increment", ""), nil)
	}
	w := s.ws("/ws/counter/rs?since=1&state=1")
	matchJSON(t, "resume", w.next().raw, `{"type":"resume","actor":"counter:rs","seq":1}`)
	matchJSON(t, "missed 2", w.next().raw, `{"type":"countUpdated","count":2,"lastUpdated":"<ts>","seq":2}`)
	matchJSON(t, "missed 3", w.next().raw, `{"type":"countUpdated","count":3,"lastUpdated":"<ts>","seq":3}`)
	matchJSON(t, "state", w.next().raw, `{"type":"state","seq":3,"state":{"count":3,"lastUpdated":"<ts>"}}`)
	ok(t, "increment", s.post("/api/counter/rs/increment", ""), nil)
	matchJSON(t, "live", w.next().raw, `{"type":"countUpdated","count":4,"lastUpdated":"<ts>","seq":4}`)

	w = s.ws("/ws/counter/rs?since=4&state=1")
	matchJSON(t, "resume at the head", w.next().raw, `{"type":"resume","actor":"counter:rs","seq":4}`)
	w.send(map[string]any{"type": "ping"})
	matchJSON(t, "nothing before the pong", w.next().raw, `{"type":"pong"}`)

	// Resuming at the head of an empty actor while it is written to:
	// each event once (none both from the log and live).
	for i := range 20 {
		key := fmt.Sprint("empty", i)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 3 {
				s.try("POST", "/api/counter/"+key+"/increment", nil)
			}
		}()
		w := s.ws("/ws/counter/" + key + "?since=0")
		if f := w.next(); f.Type != "resume" || f.Seq != 0 {
			t.Fatalf("resume at 0: %s", f.raw)
		}
		for seq := uint64(1); seq <= 3; seq++ {
			if f := w.next(); f.Seq != seq {
				t.Fatalf("resumed at 0 while written to: got %s, want seq %d", f.raw, seq)
			}
		}
		<-done
		w.c.Close()
	}
}

// TestWS_ResumeGap: when the events after since were erased (retention),
// the socket starts with the state at the head, marked as a gap, and no
// resume frame.
func TestWS_ResumeGap(t *testing.T) {
	s := newStack(t, "", config{rt: actors.Options{
		Snapshots: snapshots.Policy{Every: 5},
		Retention: map[string]actors.Retention{"counter": {KeepEvents: 2}},
	}})
	for i := 0; i < 20; i++ {
		ok(t, "increment", s.post("/api/counter/gap/increment", ""), nil)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		head, err := s.log.Head(context.Background(), eventlog.ID{Type: "counter", Key: "gap"})
		if err != nil {
			t.Fatal(err)
		}
		if head.First > 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention kept events from %d", head.First)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w := s.ws("/ws/counter/gap?since=1")
	matchJSON(t, "init with a gap", w.next().raw, `{"type":"init","actor":"counter:gap","seq":20,"gap":true,"state":{"count":20,"lastUpdated":"<ts>"}}`)
	ok(t, "increment", s.post("/api/counter/gap/increment", ""), nil)
	matchJSON(t, "live", w.next().raw, `{"type":"countUpdated","count":21,"lastUpdated":"<ts>","seq":21}`)
}

var resumeRE = regexp.MustCompile(`since=(\d+)`)

// TestWS_SlowConsumer lets one socket fall behind: it is closed with
// CloseSlowConsumer, the actor and the other socket carry on, and it
// resumes by sequence with nothing lost. The actor emits 32 KiB events so
// that the socket buffers between the server and the client that does
// not read fill after about a hundred (4 MiB of kernel buffers).
func TestWS_SlowConsumer(t *testing.T) {
	s := newStack(t, "", config{rt: actors.Options{ConnBuffer: 4}})
	const size = 32 << 10
	put := func() uint64 {
		t.Helper()
		r := s.post("/rpc/blob:slow/put", fmt.Sprintf(`{"size":%d}`, size))
		ok(t, "put", r, nil)
		return seqHeader(t, r)
	}
	fast := s.ws("/ws/blob/slow")
	fast.next()
	type got struct {
		f   frame
		err error
	}
	fastFrames := make(chan got, 100000)
	go func() {
		for {
			f, err := fast.read()
			fastFrames <- got{f, err}
			if err != nil {
				return
			}
		}
	}()
	fastUpTo := func(from, to uint64) {
		t.Helper()
		for seq := from; seq <= to; seq++ {
			select {
			case g := <-fastFrames:
				if g.err != nil || g.f.Seq != seq || g.f.Type != "put" {
					t.Fatalf("fast socket: got %.80s (%v), want put at seq %d", g.f.raw, g.err, seq)
				}
			case <-time.After(readTimeout):
				t.Fatalf("fast socket: no frame %d", seq)
			}
		}
	}
	slow := s.ws("/ws/blob/slow")
	if f := slow.next(); f.Type != "init" || f.Seq != 0 {
		t.Fatalf("slow init: %s", f.raw)
	}
	if got := s.metric("actorlog_connections"); got != 2 {
		t.Fatalf("connections: got %v, want 2", got)
	}
	// Write, one call at a time, until the slow socket is dropped.
	var head uint64
	deadline := time.Now().Add(8 * time.Second)
	for s.metric("actorlog_connections") == 2 {
		if time.Now().After(deadline) || head > 2000 {
			t.Fatalf("the slow socket was not dropped after %d events", head)
		}
		head = put()
	}
	t.Logf("slow socket dropped after %d events", head)
	// The actor keeps serving.
	for i := 0; i < 5; i++ {
		head = put()
	}
	// The fast socket got everything, in order.
	fastUpTo(1, head)
	// The slow socket reads what was sent before the drop, then the close.
	code, reason, frames := slow.closeCode()
	if code != api.CloseSlowConsumer {
		t.Fatalf("slow socket: close code %d (%q), want %d", code, reason, api.CloseSlowConsumer)
	}
	last := uint64(0)
	for _, f := range frames {
		if f.Seq != last+1 {
			t.Fatalf("slow socket: frame %.80s after seq %d", f.raw, last)
		}
		last = f.Seq
	}
	if m := resumeRE.FindStringSubmatch(reason); m == nil || m[1] != strconv.FormatUint(last, 10) {
		t.Errorf("close reason %q: want since=%d, the last sequence received", reason, last)
	}
	if last >= head {
		t.Fatalf("slow socket received everything (%d of %d): it was not slow", last, head)
	}
	// Resume: nothing is lost.
	w := s.ws("/ws/blob/slow?since=" + strconv.FormatUint(last, 10))
	if f := w.next(); f.Type != "resume" || f.Seq != last {
		t.Fatalf("resume: first frame %.80s, want resume at seq %d", f.raw, last)
	}
	for seq := last + 1; seq <= head; seq++ {
		if f := w.next(); f.Seq != seq {
			t.Fatalf("resume: got %.80s, want seq %d", f.raw, seq)
		}
	}
	// Both still work, live.
	head = put()
	fastUpTo(head, head)
	if f := w.next(); f.Seq != head {
		t.Fatalf("resumed socket live frame: %.80s, want seq %d", f.raw, head)
	}
	var st struct {
		State blobState `json:"state"`
	}
	ok(t, "state", s.get("/actors/blob/slow/state"), &st)
	if st.State.N != int(head) || st.State.Bytes != int(head)*size {
		t.Fatalf("state %+v, want n %d", st.State, head)
	}
}

// TestWS_ServerTimeTicks checks the ephemeral timeUpdated broadcasts.
func TestWS_ServerTimeTicks(t *testing.T) {
	t.Parallel()
	s := newStack(t, "", config{})
	w := s.ws("/ws/serverTime/clock")
	matchJSON(t, "init", w.next().raw, `{"type":"init","actor":"serverTime:clock","seq":0,"state":{"currentTime":0,"timezone":"UTC"}}`)
	var ticks []time.Time
	start := time.Now()
	for len(ticks) < 2 {
		f := w.next()
		matchJSON(t, "tick", f.raw, `{"type":"timeUpdated","currentTime":"<ts>","timezone":"UTC"}`)
		ticks = append(ticks, time.Now())
	}
	if d := ticks[0].Sub(start); d > 2500*time.Millisecond {
		t.Errorf("first tick after %v, want about a second", d)
	}
	if d := ticks[1].Sub(ticks[0]); d < 500*time.Millisecond || d > 2*time.Second {
		t.Errorf("ticks %v apart, want about a second", d)
	}
	// A persisted change comes with its seq; later ticks use the new zone.
	w.send(map[string]any{"type": "call", "id": 1, "action": "setTimezone", "args": map[string]string{"timezone": "Europe/Paris"}})
	matchJSON(t, "timezoneChanged", w.nextOf("timezoneChanged", "timeUpdated").raw, `{"type":"timezoneChanged","timezone":"Europe/Paris","currentTime":"<ts>","seq":1}`)
	matchJSON(t, "reply", w.nextOf("reply", "timeUpdated").raw, `{"type":"reply","id":1,"seq":1,"result":{"timezone":"Europe/Paris"}}`)
	matchJSON(t, "tick in Paris", w.nextOf("timeUpdated").raw, `{"type":"timeUpdated","currentTime":"<ts>","timezone":"Europe/Paris"}`)
	// Ticks are not events.
	if n := len(s.history("serverTime", "clock", 10)); n != 1 {
		t.Fatalf("history: %d events, want 1", n)
	}
}

// TestWS_ChatFanout has several subscribers of one room, and concurrent
// writers: every subscriber gets the same frames in the same order.
func TestWS_ChatFanout(t *testing.T) {
	s := newStack(t, "", config{})
	const subs, posters, each = 4, 3, 10
	var ws []*wsClient
	for i := 0; i < subs; i++ {
		w := s.ws(wsPath(wsPaths[i%2].format, "chatRoom", "lobby"))
		if f := w.next(); f.Type != "init" {
			t.Fatalf("init: %s", f.raw)
		}
		ws = append(ws, w)
	}
	var wg sync.WaitGroup
	errs := make(chan error, posters)
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("user", p)
			if r, err := s.try("POST", "/api/chat/lobby/join", []byte(`{"username":"`+user+`"}`), "Content-Type", "application/json"); err != nil || r.status != 200 {
				errs <- fmt.Errorf("join: %v %v", r, err)
				return
			}
			for i := 0; i < each; i++ {
				body := fmt.Sprintf(`{"username":%q,"text":"message %d"}`, user, i)
				if r, err := s.try("POST", "/api/chat/lobby/messages", []byte(body), "Content-Type", "application/json"); err != nil || r.status != 200 {
					errs <- fmt.Errorf("send: %v %v", r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = posters * (1 + each)
	var first []string
	for i, w := range ws {
		var seen []string
		joined, sent := 0, map[string]int{}
		for seq := uint64(1); seq <= total; seq++ {
			f := w.next()
			if f.Seq != seq {
				t.Fatalf("subscriber %d: got %s, want seq %d", i, f.raw, seq)
			}
			switch f.Type {
			case "userJoined":
				joined++
				matchJSON(t, "userJoined", f.raw, fmt.Sprintf(`{"type":"userJoined","username":"<string>","participantCount":%d,"seq":%d}`, joined, seq))
			case "newMessage":
				var m struct{ Username, Text string }
				json.Unmarshal(f.raw, &m)
				if m.Text != fmt.Sprint("message ", sent[m.Username]) {
					t.Fatalf("subscriber %d: %s out of order for %s", i, f.raw, m.Username)
				}
				sent[m.Username]++
				matchJSON(t, "newMessage", f.raw, fmt.Sprintf(`{"type":"newMessage","id":"<uuid>","username":"<string>","text":"<string>","timestamp":"<ts>","seq":%d}`, seq))
			default:
				t.Fatalf("subscriber %d: unexpected frame %s", i, f.raw)
			}
			seen = append(seen, string(f.raw))
		}
		if i == 0 {
			first = seen
		} else if !slices.Equal(seen, first) {
			t.Fatalf("subscriber %d saw other frames than subscriber 0", i)
		}
	}
}

// TestWS_Shutdown closes the stack with sockets open: each gets "going
// away".
func TestWS_Shutdown(t *testing.T) {
	s := newStack(t, "", config{})
	var ws []*wsClient
	for i, target := range []string{"/ws/counter/s", "/actors/counter/s/events", "/ws/chatRoom/s", "/ws/serverTime/s"} {
		w := s.ws(target)
		if f := w.next(); f.Type != "init" {
			t.Fatalf("socket %d init: %s", i, f.raw)
		}
		ws = append(ws, w)
	}
	ok(t, "increment", s.post("/api/counter/s/increment", ""), nil)
	s.closeWithin(10 * time.Second)
	for i, w := range ws {
		code, reason, _ := w.closeCode()
		if code != websocket.CloseGoingAway {
			t.Errorf("socket %d: close code %d (%q), want %d", i, code, reason, websocket.CloseGoingAway)
		}
	}
	// The event written before the shutdown is there after a restart.
	s = newStack(t, s.dir, config{})
	matchJSON(t, "after restart", s.get("/api/counter/s").body, `{"count":1,"lastUpdated":"<ts>"}`)
}

// TestWS_RuntimeClosedFirst closes the runtime before the server: the
// sockets still get "going away".
func TestWS_RuntimeClosedFirst(t *testing.T) {
	s := newStack(t, "", config{})
	w := s.ws("/ws/counter/rc")
	w.next()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		done <- s.rt.Close(ctx)
	}()
	code, reason, _ := w.closeCode()
	if code != websocket.CloseGoingAway {
		t.Errorf("close code %d (%q), want %d", code, reason, websocket.CloseGoingAway)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Calls are refused with 503 while shutting down.
	wantError(t, "call after runtime close", s.post("/api/counter/rc/increment", ""), 503, "unavailable")
}

// TestWS_CloseRacesUpgrade closes the server while sockets are being
// opened: each socket that opens is closed with "going away" (or refused),
// none outlives Close.
func TestWS_CloseRacesUpgrade(t *testing.T) {
	for i := 0; i < 20; i++ {
		s := newStack(t, "", config{})
		ok(t, "wake", s.post("/api/counter/race/increment", ""), nil)
		const n = 4
		results := make(chan error, n)
		for j := 0; j < n; j++ {
			go func() {
				d := websocket.Dialer{HandshakeTimeout: readTimeout}
				c, _, err := d.Dial(s.wsURL("/ws/counter/race"), nil)
				if err != nil {
					results <- nil // refused or cut off: fine
					return
				}
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(readTimeout))
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						var ce *websocket.CloseError
						if asCloseError(err, &ce) && ce.Code != websocket.CloseGoingAway {
							results <- fmt.Errorf("close code %d, want %d", ce.Code, websocket.CloseGoingAway)
							return
						}
						if !asCloseError(err, &ce) && strings.Contains(err.Error(), "timeout") {
							results <- fmt.Errorf("the socket outlived the server: %v", err)
							return
						}
						results <- nil
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(i%5) * 200 * time.Microsecond)
		s.closeWithin(10 * time.Second)
		for j := 0; j < n; j++ {
			if err := <-results; err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestWS_Refused: every connection the server refuses is accepted and
// closed at once with 4000 plus the HTTP status of its error and the
// error's message, which a browser can read (it cannot read an HTTP
// reply to a handshake); no frame comes before the close. What is
// refused before the actor is reached runs none of its code: it stays
// asleep.
func TestWS_Refused(t *testing.T) {
	s := newStack(t, "", config{
		api: api.Options{Token: "tok"},
		rt:  actors.Options{MaxConnsPerActor: 1},
	})
	port := s.ts.URL[strings.LastIndex(s.ts.URL, ":")+1:]
	bearer := http.Header{"Authorization": {"Bearer tok"}}
	cases := []struct {
		name, path string
		hdr        http.Header
		code       int
		reason     string // in the reason
	}{
		{"no token", "/ws/counter/a", nil, wire.CloseUnauthorized, "bearer token"},
		{"wrong token", "/actors/counter/a/events?token=nope", nil, wire.CloseUnauthorized, "bearer token"},
		{"disallowed origin", "/ws/counter/a?token=tok", http.Header{"Origin": {"http://evil.example"}}, wire.CloseForbidden, "origin http://evil.example"},
		{"disallowed Host", "/ws/counter/a?token=tok", http.Header{"Host": {"evil.example:" + port}}, wire.CloseForbidden, "host evil.example"},
		{"unknown actor type", "/ws/nope/a", bearer, wire.CloseNotFound, `unknown actor type "nope"`},
		{"bad type", "/ws/9x/a", bearer, wire.CloseBadRequest, "type"},
		{"bad key", "/actors/counter/%FF/events", bearer, wire.CloseBadRequest, "UTF-8"},
		{"since not a number", "/ws/counter/a?since=x", bearer, wire.CloseBadRequest, `"since"`},
		{"long since", "/ws/counter/a?since=" + strings.Repeat("9", 300), bearer, wire.CloseBadRequest, "…"},
		{"since past the head", "/ws/counter/a?since=3", bearer, wire.CloseConflict, "since 3 is past the actor's head 0"},
	}
	for _, c := range cases {
		code, reason := s.refusedWS(c.path, c.hdr)
		if code != c.code || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: closed with %d %q, want %d and a reason with %q", c.name, code, reason, c.code, c.reason)
		}
		if len(reason) > 123 {
			t.Errorf("%s: reason of %d bytes", c.name, len(reason))
		}
	}
	if n := s.rt.Awake(); n != 0 {
		t.Fatalf("%d actors awake after refusals before the actor", n)
	}
	// Refusals of the actor's own: OnBeforeConnect, and too many
	// connections.
	if code, reason := s.refusedWS("/ws/alarm/b?deny=1&token=tok", nil); code != wire.CloseForbidden || reason != "the alarm refuses this connection" {
		t.Errorf("OnBeforeConnect: closed with %d %q", code, reason)
	}
	if code, _ := s.refusedWS("/actors/alarm/b/events?user=bob&token=tok", nil); code != wire.CloseForbidden {
		t.Errorf("OnBeforeConnect with a plain error: closed with %d", code)
	}
	first := s.ws("/ws/counter/full?token=tok")
	first.next()
	if code, reason := s.refusedWS("/ws/counter/full?token=tok", nil); code != wire.CloseUnavailable || !strings.Contains(reason, "connections") {
		t.Errorf("too many connections: closed with %d %q", code, reason)
	}
	// Without a handshake, a WebSocket route answers with a JSON error.
	wantError(t, "GET without a handshake", s.get("/ws/counter/a", "Authorization", "Bearer tok"), 400, "bad_request")
	wantError(t, "GET without a handshake or token", s.get("/ws/counter/a"), 401, "unauthorized")
}
