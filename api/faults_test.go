package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
)

// TestStoreUnavailable fills the disk under a running server: writes
// answer 503 unavailable with Retry-After and a message that says why
// (and no path); reads of what is durable go on, from awake actors and
// sleeping ones, history included; /healthz says degraded, with the
// reason; and once the disk has room the server writes again by itself,
// every acknowledged write there.
func TestStoreUnavailable(t *testing.T) {
	disk := eventlogtest.NewDisk(nil)
	s := newStack(t, "", config{disk: disk})
	for i := 0; i < 3; i++ {
		ok(t, "increment", s.post("/api/counter/awake/increment", ""), nil)
	}
	ok(t, "increment", s.post("/api/counter/asleep/increment", ""), nil)
	// A restart on the same disk puts every actor to sleep; one wakes.
	s = s.restart()
	ok(t, "wake", s.post("/api/counter/awake/increment", ""), nil)
	disk.Fail()

	for _, path := range []string{"/api/counter/awake/increment", "/rpc/counter:asleep/increment", "/rpc/counter:new/increment"} {
		r := s.post(path, "")
		wantError(t, path+" on a full disk", r, http.StatusServiceUnavailable, "unavailable")
		if !bytes.Contains(r.body, []byte("the disk is full")) {
			t.Errorf("%s on a full disk: %s, want a message saying the disk is full", path, r.body)
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s on a full disk: no Retry-After", path)
		}
		if bytes.Contains(r.body, []byte(s.dir)) || bytes.Contains(r.body, []byte(".log")) {
			t.Errorf("%s on a full disk: %s shows a path", path, r.body)
		}
	}
	var h struct {
		Status, Reason, Since string
		Durable               uint64
	}
	r := s.get("/healthz")
	if r.status != http.StatusServiceUnavailable || json.Unmarshal(r.body, &h) != nil || h.Status != "degraded" || h.Reason != "the disk is full" || h.Since == "" {
		t.Fatalf("healthz on a full disk: %v, want 503 degraded, the disk is full, since when", r)
	}
	if h.Durable != 5 {
		t.Errorf("healthz durable on a full disk = %d, want the 5 acknowledged", h.Durable)
	}
	// Reads go on.
	reads := []struct{ method, path, want string }{
		{"GET", "/api/counter/awake", `"count":4`},
		{"POST", "/rpc/counter:asleep/getCount", `"count":1`},
		{"GET", "/actors/counter/awake/state", `"count":4`},
		{"GET", "/actors/counter/awake/state?at=2", `"count":2`},
		{"GET", "/actors/counter/asleep/events", `"seq":1`},
		{"GET", "/actors?type=counter", `"asleep"`},
	}
	for _, rd := range reads {
		r := s.do(rd.method, rd.path, nil)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), rd.want) {
			t.Errorf("%s %s on a full disk: %v, want 200 with %s", rd.method, rd.path, r, rd.want)
		}
	}

	disk.Heal()
	deadline := time.Now().Add(30 * time.Second)
	for s.get("/healthz").status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("healthz 30s after the disk healed: %v", s.get("/healthz"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	var c struct{ Count int }
	ok(t, "increment after healing", s.post("/api/counter/awake/increment", ""), &c)
	if c.Count != 5 {
		t.Fatalf("count after healing = %d, want 5: the 4 acknowledged and this one", c.Count)
	}
	ok(t, "increment after healing", s.post("/api/counter/asleep/increment", ""), &c)
	if c.Count != 2 {
		t.Fatalf("count after healing = %d, want 2", c.Count)
	}
}

// TestCallTimeout_StalledDisk: a disk that stops answering holds every
// write's sync, and a call answers 503 unavailable, as a JSON error, once
// Options.CallTimeout is up — over HTTP and over the actor's socket —
// instead of waiting with the disk. Once the disk answers, the calls
// given up on are durable (they were taken) and the next is answered.
func TestCallTimeout_StalledDisk(t *testing.T) {
	disk := eventlogtest.NewDisk(nil)
	s := newStack(t, "", config{disk: disk, api: api.Options{CallTimeout: 300 * time.Millisecond}})
	ok(t, "increment", s.post("/rpc/counter:stall/increment", ""), nil)
	w := s.ws("/ws/counter/stall")
	if f := w.next(); f.Type != "init" {
		t.Fatalf("first frame %s", f.raw)
	}
	disk.Stall()
	stalled := true
	defer func() {
		if stalled {
			disk.Resume() // the stack's close syncs
		}
	}()
	t0 := time.Now()
	r := s.post("/rpc/counter:stall/increment", "")
	wantError(t, "a call on a stalled disk", r, http.StatusServiceUnavailable, "unavailable")
	if took := time.Since(t0); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("a call on a stalled disk answered after %v, want about the 300ms call timeout", took)
	}
	w.send(map[string]any{"type": "call", "id": "c1", "action": "increment"})
	if f := w.nextOf("error"); f.Error == nil || f.Error.Code != "unavailable" || string(f.ID) != `"c1"` {
		t.Errorf("a socket call on a stalled disk: %s, want an unavailable error frame", f.raw)
	}
	disk.Resume()
	stalled = false
	var c struct{ Count int }
	ok(t, "increment after the disk answers", s.post("/rpc/counter:stall/increment", ""), &c)
	if c.Count != 4 {
		t.Errorf("count after the disk answers: %d, want 4 (the two calls given up on were taken)", c.Count)
	}
}
