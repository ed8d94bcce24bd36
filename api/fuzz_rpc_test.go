package api_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	switch rec.Code {
	case http.StatusOK:
		return
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge, http.StatusMethodNotAllowed:
	default:
		t.Fatalf("POST %q %q (%s): status %d: %s", target, action, ctype, rec.Code, rec.Body)
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("POST %q %q: status %d with body %q is not a JSON error", target, action, rec.Code, rec.Body)
	}
	if strings.Contains(e.Error.Message, "goroutine ") {
		t.Fatalf("error message leaks a stack: %s", e.Error.Message)
	}
}
