package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestMyApp builds this program, serves its actors on a free loopback
// port, calls them over HTTP and WebSocket, stops the server and reads
// what they did with the same binary's inspection commands: the whole
// product, with actors defined outside actorlog.
func TestMyApp(t *testing.T) {
	bin := build(t)
	data := filepath.Join(t.TempDir(), "data")
	url := serve(t, bin, data)

	// HTTP: the action's reply, then the state it left.
	if got := post(t, url+"/rpc/myActor:default/updateValue", `{"value": 5}`); got != `{"success":true}` {
		t.Fatalf("updateValue: %s, want {\"success\":true}", got)
	}
	if got := post(t, url+"/rpc/myActor:default/getValue", ""); got != `{"value":5}` {
		t.Fatalf("getValue: %s, want {\"value\":5}", got)
	}

	// WebSocket: the state first; a call over the socket brings its
	// reply, the event, and the stateUpdated broadcast with the new state.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/ws/myActor/default", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if f := readFrame(t, ws); f["type"] != "init" || !strings.Contains(string(mustJSON(f["state"])), `"value":5`) {
		t.Fatalf("first frame: %v, want init with value 5", f)
	}
	ws.WriteJSON(map[string]any{"type": "call", "id": "c1", "action": "updateValue", "args": map[string]int{"value": 7}})
	seen := map[string]bool{}
	for !seen["reply"] || !seen["valueUpdated"] || !seen["stateUpdated"] {
		f := readFrame(t, ws)
		typ, _ := f["type"].(string)
		seen[typ] = true
		if typ == "stateUpdated" && f["value"] != 7.0 {
			t.Fatalf("stateUpdated: %v, want value 7", f)
		}
	}

	// Arguments that break an action's schema are refused before it
	// runs, with a message that names the field.
	for _, c := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/rpc/myActor:default/updateValue", `{"valu": 5}`, 400, `argument \"valu\" is not a field of updateValue's arguments`},
		{"/rpc/myActor:default/updateValue", `{"value": "5"}`, 400, `argument \"value\" must be an integer, not string`},
		{"/rpc/reminders:me/remind", `{"text": "", "inMs": 10}`, 422, `argument \"text\"`},
		{"/rpc/reminders:me/remind", `{"text": "x", "inMs": -1}`, 422, `argument \"inMs\" must be at least 0`},
	} {
		status, body := call(t, url+c.path, c.body)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("POST %s %s: %d %s, want %d and %s", c.path, c.body, status, body, c.status, c.want)
		}
	}

	// A durable timer: the reminder goes off by itself.
	post(t, url+"/rpc/reminders:me/remind", `{"text": "stretch", "inMs": 100}`)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(post(t, url+"/rpc/reminders:me/list", ""), `"fired":true`) {
		if time.Now().After(deadline) {
			t.Fatal("the reminder did not go off")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// What the server says of its actor types, for the check below.
	res, err := http.Get(url + "/schema")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(res.Body)
	res.Body.Close()

	stop(t)

	// The same binary inspects what its actors did.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"log", "myActor:default"}, `valueUpdated  {"value":7}`},
		{[]string{"state", "myActor:default", "--at", "1"}, `"value": 5`},
		{[]string{"state", "reminders:me"}, `"fired": true`},
		{[]string{"actors"}, "reminders:me"},
		{[]string{"verify", "--all"}, "no problems"},
	} {
		out, err := exec.Command(bin, append(c.args, "--data", data)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("myapp %s: %v\n%s\nwant it to show %s", strings.Join(c.args, " "), err, out, c.want)
		}
	}
	// And describes them, offline, as the server did at GET /schema.
	out, err := exec.Command(bin, "schema").Output()
	if err != nil || !strings.Contains(string(out), `"stateUpdated"`) || !strings.Contains(string(out), `"reminders"`) {
		t.Errorf("myapp schema: %v\n%s\nwant myActor's broadcast stateUpdated and the reminders actor", err, out)
	}
	var offline, online bytes.Buffer
	json.Compact(&offline, out)
	json.Compact(&online, served)
	if offline.String() != online.String() {
		t.Errorf("myapp schema printed\n%s\nGET /schema served\n%s", offline.String(), online.String())
	}
}

// build builds this program as myapp, the name its generated files
// give as the command that writes them.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "myapp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// stop stops the server serve started; set by serve.
var stop func(t *testing.T)

// serve starts bin serve on a free loopback port and returns its URL.
func serve(t *testing.T, bin, data string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--port", "0", "--data", data)
	cmd.Env = append(os.Environ(), "PORT=", "ACTORLOG_TOKEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		done <- cmd.Wait()
	}()
	stopped := false
	stop = func(t *testing.T) {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve exited with %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatal("serve did not stop within 30s of SIGTERM")
		}
	}
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-done
		}
	})
	select {
	case url := <-found:
		return url
	case <-time.After(30 * time.Second):
		t.Fatalf("no listening line after 30s\n%s", stderr.String())
	}
	return ""
}

// post calls url and returns the body of its 200 answer.
func post(t *testing.T, url, body string) string {
	t.Helper()
	status, b := call(t, url, body)
	if status != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, status, b)
	}
	return b
}

// call posts body to url and returns the status and the body.
func call(t *testing.T, url, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b))
}

func readFrame(t *testing.T, ws *websocket.Conn) map[string]any {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var f map[string]any
	if err := ws.ReadJSON(&f); err != nil {
		t.Fatal(err)
	}
	return f
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestREADME checks that the repository's README shows this program's
// main.go as it is.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	main, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```go\n"+string(main)+"```") {
		t.Error("README.md's \"Use actorlog in your own Go program\" does not show examples/myapp/main.go as it is: copy it there")
	}
}
