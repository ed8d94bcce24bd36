package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// rpcHandler returns a whole server over an in-memory store, closed when
// the fuzz test ends.
func rpcHandler(f *testing.F) http.Handler {
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := eventlog.Open("db", eventlog.Options{FS: vfs.NewMem(), NoSync: true, Logger: lg})
	if err != nil {
		f.Fatal(err)
	}
	snaps := snapshots.New(l, snapshots.Options{})
	rt := actors.New(l, snaps, seed.Registry(), actors.Options{Frames: wire.Frames{}, Logger: lg})
	srv, err := api.New(rt, l, snaps, api.Options{MaxBodyBytes: 4096, Routes: []func(*api.Routes){seed.Routes}, Logger: lg})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		srv.Close(context.Background())
		rt.Close(context.Background())
		l.Close()
	})
	return srv
}

// FuzzRPC sends arbitrary bodies, content types and actor paths to the
// RPC route of a real server: every reply must be a success or a JSON
// error of a client-error class, never a 500 or a panic.
func FuzzRPC(f *testing.F) {
	for _, c := range []struct{ target, action, ctype, body string }{
		{"counter:f", "add", "application/json", `{"value": 5}`},
		{"counter:f", "add", "application/json", `{"value": "x"}`},
		{"counter:f", "add", "application/msgpack", "\x81\xa5value\x05"},
		{"counter:f", "increment", "", ``},
		{"chatRoom:f", "sendMessage", "application/json", `{"username":"a","text":"hi"}`},
		{"chatRoom:f", "getMessages", "application/json", `{"limit": 1e9}`},
		{"serverTime:f", "setTimezone", "application/json", `{"timezone":"../../etc/passwd"}`},
		{"counter", "add", "", `{}`},
		{"nope:x", "add", "", `{}`},
		{"counter:\xff", "add", "", `{}`},
		{"counter:team/general", "increment", "", ``},
	} {
		f.Add(c.target, c.action, c.ctype, []byte(c.body))
	}
	h := rpcHandler(f)
	f.Fuzz(func(t *testing.T, target, action, ctype string, body []byte) {
		// The path as it is, and escaped as a client escapes it, "/" in
		// the key as "%2F" (routed by its escaped form).
		for _, escaped := range []bool{false, true} {
			fuzzRPCOnce(t, h, target, action, ctype, body, escaped)
		}
	})
}

func fuzzRPCOnce(t *testing.T, h http.Handler, target, action, ctype string, body []byte, escaped bool) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return
	}
	req.URL.Path = "/rpc/" + target + "/" + action
	if escaped {
		req.URL.RawPath = "/rpc/" + url.PathEscape(target) + "/" + url.PathEscape(action)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	serveChecked(t, h, req)
}

// serveChecked serves req and fails unless the reply is a success or a
// JSON error of a client-error class (never a 500) whose message holds
// no stack. It returns the reply.
func serveChecked(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	what := fmt.Sprintf("%s %q", req.Method, req.URL.RequestURI())
	switch rec.Code {
	case http.StatusOK:
		return rec
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge, http.StatusMethodNotAllowed:
	default:
		t.Fatalf("%s (%s): status %d: %s", what, req.Header.Get("Content-Type"), rec.Code, rec.Body)
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%s: status %d with body %q is not a JSON error", what, rec.Code, rec.Body)
	}
	if strings.Contains(e.Error.Message, "goroutine ") {
		t.Fatalf("error message leaks a stack: %s", e.Error.Message)
	}
	return rec
}

// fuzzRequest is a request to a server on loopback, as from curl.
func fuzzRequest(method, target string, body io.Reader) *http.Request {
	req := httptest.NewRequestWithContext(context.Background(), method, target, body)
	req.Host = "localhost"
	return req
}

// msgpackCalls are the actions FuzzRPCMsgpack calls: every seed action,
// with arguments and without.
var msgpackCalls = []struct{ target, action string }{
	{"counter:m", "add"}, {"counter:m", "increment"}, {"counter:m", "getCount"},
	{"chatRoom:m", "join"}, {"chatRoom:m", "leave"}, {"chatRoom:m", "sendMessage"}, {"chatRoom:m", "getMessages"},
	{"serverTime:m", "setTimezone"}, {"serverTime:m", "getTime"},
}

// FuzzRPCMsgpack sends arbitrary msgpack bodies to every seed action, with
// a JSON or a msgpack reply asked for: every reply must be a success (in
// the format asked for) or a JSON error of a client-error class, never a
// 500 or a panic.
func FuzzRPCMsgpack(f *testing.F) {
	for i, body := range []string{
		"\x81\xa5value\x05", "", "\x80", "\x81\xa8username\xa1a", "\x81\xa8username\xa1a",
		"\x82\xa8username\xa1a\xa4text\xa2hi", "\x81\xa5limit\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
		"\x81\xa8timezone\xadEurope/Paris", "\xc0",
	} {
		f.Add(uint8(i), i%2 == 0, []byte(body))
	}
	for _, garbage := range []string{"\xc1", "\x81\xa5value", "\x81\xa5value\xa1x", "\x82\xa5value\x01\xa5value\x02", "\x80\x80", "\xdf\xff\xff\xff\xff", "\x91\x05"} {
		f.Add(uint8(0), false, []byte(garbage))
	}
	h := rpcHandler(f)
	f.Fuzz(func(t *testing.T, which uint8, msgpackReply bool, body []byte) {
		c := msgpackCalls[int(which)%len(msgpackCalls)]
		req := fuzzRequest(http.MethodPost, "/rpc/"+c.target+"/"+c.action, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/msgpack")
		if msgpackReply {
			req.Header.Set("Accept", "application/msgpack")
		}
		rec := serveChecked(t, h, req)
		if rec.Code != http.StatusOK {
			return
		}
		if msgpackReply && eventlog.ValidValue(rec.Body.Bytes()) != nil || !msgpackReply && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %x: the reply is not the format asked for (msgpack %v): %q", c.action, body, msgpackReply, rec.Body)
		}
	})
}
