package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/node"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type tally struct {
	Total int `json:"total"`
}

type added struct {
	N int `json:"n"`
}

// registry is a program's own actor type, defined outside actorlog.
func registry() *actors.Registry {
	d := actors.Define("tally", func() tally { return tally{} })
	actors.On(d, "added", func(s *tally, e added) { s.Total += e.N })
	actors.Action(d, "add", func(c *actors.Ctx[tally], a added) (tally, error) {
		if err := c.Emit("added", a); err != nil {
			return tally{}, err
		}
		return tally{Total: c.State().Total + a.N}, nil
	})
	actors.Action(d, "later", func(c *actors.Ctx[tally], a added) (tally, error) {
		_, err := c.Schedule(300*time.Millisecond, "add", a)
		return *c.State(), err
	})
	actors.Action(d, "get", func(c *actors.Ctx[tally], _ struct{}) (tally, error) {
		return *c.State(), nil
	})
	return actors.NewRegistry(d)
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestNode_Mounted mounts a node's API under a prefix of a program's own
// mux, next to a route of the program's, calls it over HTTP and a
// WebSocket and from Go, closes it, and finds every write in the store
// when it opens again.
func TestNode_Mounted(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	n, err := node.Open(ctx, node.Config{Dir: dir, Registry: registry()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "the program's own") })
	mux.Handle("/actorlog/", http.StripPrefix("/actorlog", n.Handler()))
	hs := httptest.NewServer(mux)

	if status, body := post(t, hs.URL+"/actorlog/rpc/tally:a/add", `{"n":2}`); status != 200 || !strings.Contains(body, `"total":2`) {
		t.Fatalf("POST add through the mount: %d %s", status, body)
	}
	res, err := http.Get(hs.URL + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "the program's own" {
		t.Fatalf("the program's route: %q", b)
	}

	// A WebSocket through the mount: the event of a call, then its reply.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/actorlog/ws/tally/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var f map[string]any
	if err := ws.ReadJSON(&f); err != nil || f["type"] != "init" {
		t.Fatalf("init: %v %v", f, err)
	}
	if err := ws.WriteJSON(map[string]any{"type": "call", "id": "c", "action": "add", "args": map[string]any{"n": 3}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"added", "reply"} {
		f = nil
		if err := ws.ReadJSON(&f); err != nil || f["type"] != want {
			t.Fatalf("want a %s frame: %v %v", want, f, err)
		}
	}
	ws.Close()

	// From Go, through the runtime, no HTTP.
	id, err := eventlog.ParseID("tally:a")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := n.Runtime().Call(ctx, id, "add", actors.JSONArgs([]byte(`{"n":5}`)), actors.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got tally
	if err := json.Unmarshal(rep.Body, &got); err != nil || got.Total != 10 || rep.Seq != 3 {
		t.Fatalf("Call from Go: %s seq %d (%v), want total 10 at seq 3", rep.Body, rep.Seq, err)
	}

	hs.Close()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatalf("a second Close: %v", err)
	}

	// Every acknowledged write is in the store.
	n, err = node.Open(ctx, node.Config{Dir: dir, Registry: registry()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	info, err := n.Store().Head(ctx, id)
	if err != nil || info.Head != 3 {
		t.Fatalf("head after reopening: %d %v, want 3", info.Head, err)
	}
}

// TestNode_Serve serves a listener as `actorlog serve` does, and stops
// serving it on Close; Serve after Close does nothing.
func TestNode_Serve(t *testing.T) {
	ctx := context.Background()
	n, err := node.Open(ctx, node.Config{Dir: t.TempDir(), Registry: registry(), MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	if status, body := post(t, url+"/rpc/tally:s/add", `{"n":1}`); status != 200 {
		t.Fatalf("POST add: %d %s", status, body)
	}
	// The API's guards are on: a call from another site's page is refused.
	req, _ := http.NewRequest("POST", url+"/rpc/tally:s/add", strings.NewReader(`{"n":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://evil.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site call: %d, want 403", res.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()

	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, node.ErrClosed) {
			t.Fatalf("Serve after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("the listener still accepts after Close")
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Serve(ln2); !errors.Is(err, node.ErrClosed) {
		t.Fatalf("Serve on a closed node: %v, want ErrClosed", err)
	}
}

// TestNode_Config: what is required is said.
func TestNode_Config(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		cfg  node.Config
		want string
	}{
		{"no dir", node.Config{Registry: registry()}, "Dir is required"},
		{"no registry", node.Config{Dir: t.TempDir()}, "Registry is required"},
	} {
		if _, err := node.Open(ctx, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := node.Open(done, node.Config{Dir: t.TempDir(), Registry: registry()}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a done context: %v", err)
	}
}
