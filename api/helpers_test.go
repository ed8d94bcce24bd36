package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/projection"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// readTimeout bounds every read a test makes from a socket or a server.
const readTimeout = 5 * time.Second

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// alarmState is the state of the test actor "alarm", whose "arm" action
// schedules its "ring" action with a durable timer, and whose "boom"
// action panics.
type alarmState struct {
	Armed []string `json:"armed"`
	Rang  []string `json:"rang"`
}

type armArgs struct {
	Ms    int    `json:"ms" jsonschema:"minimum=0"`
	Tag   string `json:"tag"`
	Sound string `json:"sound,omitempty" jsonschema:"enum=bell,enum=buzz"`
}

func alarm() *actors.Def[alarmState] {
	d := actors.Define("alarm", func() alarmState { return alarmState{Armed: []string{}, Rang: []string{}} })
	actors.On(d, "armed", func(s *alarmState, tag string) { s.Armed = append(s.Armed, tag) })
	actors.On(d, "rang", func(s *alarmState, tag string) { s.Rang = append(s.Rang, tag) })
	actors.Action(d, "arm", func(c *actors.Ctx[alarmState], a armArgs) (map[string]string, error) {
		id, err := c.Schedule(time.Duration(a.Ms)*time.Millisecond, "ring", a.Tag)
		if err != nil {
			return nil, err
		}
		return map[string]string{"timer": id}, c.Emit("armed", a.Tag)
	})
	actors.Action(d, "ring", func(c *actors.Ctx[alarmState], tag string) (bool, error) {
		return true, c.Emit("rang", tag)
	})
	actors.Action(d, "get", func(c *actors.Ctx[alarmState], _ actors.NoArgs) (alarmState, error) {
		return *c.State(), nil
	})
	actors.Action(d, "boom", func(c *actors.Ctx[alarmState], _ actors.NoArgs) (int, error) {
		panic("boom: secret internal detail")
	})
	d.OnBeforeConnect = func(c *actors.Ctx[alarmState], params map[string]string) error {
		if params["deny"] != "" {
			return actors.Errorf(actors.CodeForbidden, "the alarm refuses this connection")
		}
		for _, reserved := range []string{"since", "token", "events"} {
			if _, ok := params[reserved]; ok {
				return actors.Errorf(actors.CodeForbidden, "%s reached OnBeforeConnect", reserved)
			}
		}
		if params["user"] != "" && params["user"] != "ann" {
			return errors.New("plain errors refuse too")
		}
		return nil
	}
	return d
}

// blobState is the state of the test actor "blob", whose "put" action
// emits an event of the size asked for: large frames fill a socket fast.
type blobState struct {
	N     int `json:"n"`
	Bytes int `json:"bytes"`
}

type blobEvent struct {
	N    int    `json:"n"`
	Data string `json:"data"`
}

func blob() *actors.Def[blobState] {
	d := actors.Define("blob", func() blobState { return blobState{} })
	actors.On(d, "put", func(s *blobState, e blobEvent) { s.N, s.Bytes = e.N, s.Bytes+len(e.Data) })
	actors.Action(d, "put", func(c *actors.Ctx[blobState], a struct {
		Size int `json:"size"`
	}) (blobState, error) {
		if a.Size < 0 || a.Size > 512<<10 {
			return blobState{}, actors.Invalid("size must be 0 to 512 KiB")
		}
		n := c.State().N + 1
		return blobState{N: n, Bytes: c.State().Bytes + a.Size}, c.Emit("put", blobEvent{N: n, Data: strings.Repeat("b", a.Size)})
	})
	return d
}

// testRegistry is the seed actors, the alarm and the blob.
func testRegistry() *actors.Registry {
	return actors.NewRegistry(seed.Counter(), seed.ChatRoom(), seed.ServerTime(), alarm(), blob())
}

// config is what a stack is started with.
type config struct {
	rt  actors.Options
	api api.Options
	fs  vfs.FS // the log's filesystem; default the operating system's
	// disk, if set, is the operating system's filesystem with writes
	// that the test can make fail.
	disk *eventlogtest.Disk
	// projections starts the actor directory and chat rooms projections.
	projections bool
}

// stack is the whole server in-process, on a loopback port.
type stack struct {
	t       *testing.T
	dir     string
	cfg     config
	reg     *prometheus.Registry
	log     *eventlog.Log
	snaps   *snapshots.Store
	rt      *actors.Runtime
	srv     *api.Server
	proj    *projection.Runner
	ts      *httptest.Server
	client  *http.Client
	closing atomic.Bool
}

// newStack starts a stack on dir (a new temporary directory if empty).
func newStack(t *testing.T, dir string, cfg config) *stack {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
		if cfg.fs != nil {
			dir = "db"
		}
	}
	fs := cfg.fs
	if cfg.disk != nil {
		fs = cfg.disk.FS()
	}
	l, err := eventlog.Open(dir, eventlog.Options{Logger: quiet(), FS: fs})
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	s := &stack{t: t, dir: dir, cfg: cfg, log: l, reg: prometheus.NewRegistry()}
	s.snaps = snapshots.New(l, snapshots.Options{})
	ro := cfg.rt
	ro.Metrics = api.NewMetrics(s.reg)
	ro.Frames = wire.Frames{}
	if ro.Logger == nil {
		ro.Logger = quiet()
	}
	s.rt = actors.New(l, s.snaps, testRegistry(), ro)
	ao := cfg.api
	if ao.Logger == nil {
		ao.Logger = quiet()
	}
	if cfg.projections {
		if s.proj, err = projection.Start(l, projection.Options{Logger: quiet()}, projection.Directory(), seed.ChatRooms()); err != nil {
			t.Fatalf("start projections: %v", err)
		}
		ao.Projections = s.proj
	}
	ao.Routes = append(ao.Routes, seed.Routes)
	if s.srv, err = api.New(s.rt, l, s.snaps, ao); err != nil {
		t.Fatalf("api.New: %v", err)
	}
	s.ts = httptest.NewServer(s.srv)
	s.client = &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(s.close)
	return s
}

// close stops the stack in the order serve does: the HTTP server, the
// sockets, the runtime, the log. A second call returns at once.
func (s *stack) close() {
	if s.closing.Swap(true) {
		return
	}
	s.ts.Close()
	s.srv.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.rt.Close(ctx); err != nil {
		s.t.Errorf("runtime close: %v", err)
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		s.t.Logf("goroutines at the failed close:\n%s", buf[:n])
	}
	if s.proj != nil {
		s.proj.Close(context.Background())
	}
	if err := s.log.Close(); err != nil {
		s.t.Errorf("log close: %v", err)
	}
}

// closeWithin closes the stack and fails if it takes longer than d.
func (s *stack) closeWithin(d time.Duration) {
	s.t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.close()
	}()
	select {
	case <-done:
	case <-time.After(d):
		s.t.Fatalf("closing the stack took more than %v", d)
	}
}

// restart closes the stack and starts a new one on the same directory.
func (s *stack) restart() *stack {
	s.t.Helper()
	s.closeWithin(15 * time.Second)
	return newStack(s.t, s.dir, s.cfg)
}

// resp is a reply read in full.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// req is a request: method, path (with query) and optional body and
// headers as "Name", "value" pairs.
func (s *stack) do(method, path string, body []byte, hdr ...string) resp {
	s.t.Helper()
	r, err := s.try(method, path, body, hdr...)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (s *stack) try(method, path string, body []byte, hdr ...string) (resp, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.ts.URL+path, rd)
	if err != nil {
		return resp{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, nil
}

func (s *stack) get(path string, hdr ...string) resp {
	s.t.Helper()
	return s.do(http.MethodGet, path, nil, hdr...)
}

func (s *stack) post(path, body string, hdr ...string) resp {
	s.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return s.do(http.MethodPost, path, b, hdr...)
}

// ok checks that r is a 200 with a JSON body and decodes it into v (if
// not nil).
func ok(t *testing.T, what string, r resp, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: got %v, want 200", what, r)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type got %q, want application/json", what, ct)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s: body %q: %v", what, r.body, err)
		}
	}
}

// wantError checks that r is an error of the status and code with the
// documented shape and a message.
func wantError(t *testing.T, what string, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status got %d, want %d (body %s)", what, r.status, status, bytes.TrimSpace(r.body))
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type got %q, want application/json", what, ct)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Errorf("%s: body %q is not a JSON object: %v", what, r.body, err)
		return
	}
	if len(raw) != 1 || raw["error"] == nil {
		t.Errorf("%s: body got %s, want only {\"error\":...}", what, r.body)
		return
	}
	var e struct {
		Code    *string `json:"code"`
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(raw["error"], &e); err != nil || e.Code == nil || e.Message == nil {
		t.Errorf("%s: error got %s, want {\"code\",\"message\"} (%v)", what, raw["error"], err)
		return
	}
	if *e.Code != code {
		t.Errorf("%s: code got %q, want %q (message %q)", what, *e.Code, code, *e.Message)
	}
	if strings.TrimSpace(*e.Message) == "" {
		t.Errorf("%s: empty message", what)
	}
	if strings.Contains(*e.Message, "goroutine") || strings.Contains(*e.Message, ".go:") {
		t.Errorf("%s: message leaks a stack trace: %q", what, *e.Message)
	}
}

// seqHeader returns the Actorlog-Seq header of r as a number.
func seqHeader(t *testing.T, r resp) uint64 {
	t.Helper()
	v := r.header.Get("Actorlog-Seq")
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("Actorlog-Seq got %q, want a number", v)
	}
	return n
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// match compares a decoded JSON value with a pattern: equal values, where
// the pattern strings "<ts>" (Unix ms within the last ten minutes),
// "<uuid>", "<string>" (non-empty) and "<num>" (non-negative) match any
// such value, and "<any>" anything present. Maps must have the same keys.
func match(got, want any) error {
	return matchAt("$", got, want)
}

func matchAt(path string, got, want any) error {
	if w, ok := want.(string); ok && strings.HasPrefix(w, "<") && strings.HasSuffix(w, ">") {
		switch w {
		case "<any>":
			return nil
		case "<ts>":
			n, ok := got.(float64)
			now := float64(time.Now().UnixMilli())
			if !ok || n < now-10*60*1000 || n > now+60*1000 {
				return fmt.Errorf("%s: got %v, want a recent Unix ms time", path, got)
			}
			return nil
		case "<num>":
			if n, ok := got.(float64); !ok || n < 0 {
				return fmt.Errorf("%s: got %v, want a non-negative number", path, got)
			}
			return nil
		case "<uuid>":
			if s, ok := got.(string); !ok || !uuidRE.MatchString(s) {
				return fmt.Errorf("%s: got %v, want a UUID", path, got)
			}
			return nil
		case "<string>":
			if s, ok := got.(string); !ok || s == "" {
				return fmt.Errorf("%s: got %v, want a non-empty string", path, got)
			}
			return nil
		}
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an object", path, got)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Errorf("%s: unexpected key %q in %v", path, k, g)
			}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s: missing key %q in %v", path, k, g)
			}
			if err := matchAt(path+"."+k, gv, wv); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: got %v, want %d elements like %v", path, got, len(w), w)
		}
		for i := range w {
			if err := matchAt(fmt.Sprintf("%s[%d]", path, i), g[i], w[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("%s: got %#v, want %#v", path, got, want)
	}
	return nil
}

// matchJSON decodes body and matches it against the JSON pattern want.
func matchJSON(t *testing.T, what string, body []byte, want string) map[string]any {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(body, &g); err != nil {
		t.Fatalf("%s: body %q: %v", what, body, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad pattern %q: %v", what, want, err)
	}
	if err := match(g, w); err != nil {
		t.Errorf("%s: %v\n got body %s", what, err, bytes.TrimSpace(body))
	}
	m, _ := g.(map[string]any)
	return m
}

// historyEvent is one event of GET .../events.
type historyEvent struct {
	Seq  uint64          `json:"seq"`
	Pos  uint64          `json:"pos"`
	Type string          `json:"type"`
	Time int64           `json:"time"`
	Data json.RawMessage `json:"data"`
	Meta *struct {
		CorrelationID  string `json:"correlationId"`
		Causation      string `json:"causation"`
		IdempotencyKey string `json:"idempotencyKey"`
	} `json:"meta"`
}

type historyPage struct {
	Actor  string         `json:"actor"`
	Head   uint64         `json:"head"`
	First  uint64         `json:"first"`
	Events []historyEvent `json:"events"`
	Next   *uint64        `json:"next"`
}

// history reads every event of an actor by paging, and checks that the
// sequences are 1..head without a gap.
func (s *stack) history(typ, key string, page int) []historyEvent {
	s.t.Helper()
	var all []historyEvent
	from := uint64(1)
	for i := 0; ; i++ {
		if i > 100000 {
			s.t.Fatal("history does not end")
		}
		var p historyPage
		ok(s.t, "history", s.get(fmt.Sprintf("/actors/%s/%s/events?from=%d&limit=%d", typ, key, from, page)), &p)
		all = append(all, p.Events...)
		if p.Next == nil {
			if uint64(len(all)) != p.Head {
				s.t.Fatalf("history of %s:%s: %d events, want head %d", typ, key, len(all), p.Head)
			}
			break
		}
		if *p.Next != from+uint64(len(p.Events)) {
			s.t.Fatalf("history next got %d, want %d", *p.Next, from+uint64(len(p.Events)))
		}
		from = *p.Next
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			s.t.Fatalf("history of %s:%s: event %d has seq %d, want %d (gap or duplicate)", typ, key, i, e.Seq, i+1)
		}
	}
	return all
}

// metric returns the value of a gauge or counter in the stack's registry.
func (s *stack) metric(name string) float64 {
	s.t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		s.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			}
		}
		return sum
	}
	return 0
}

// ---- WebSocket clients ----

// frame is one frame from the server, decoded.
type frame struct {
	Type   string          `json:"type"`
	Seq    uint64          `json:"seq"`
	ID     json.RawMessage `json:"id"`
	Actor  string          `json:"actor"`
	State  json.RawMessage `json:"state"`
	Result json.RawMessage `json:"result"`
	Gap    bool            `json:"gap"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Count *int64 `json:"count"`
	raw   []byte
}

type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func (s *stack) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(s.ts.URL, "http") + path
}

// dialWS opens a WebSocket; on a refused handshake it returns the
// response, read in full, and an error.
func (s *stack) dialWS(path string, hdr http.Header) (*wsClient, resp, error) {
	return s.dialWSWith(&websocket.Dialer{HandshakeTimeout: readTimeout}, path, hdr)
}

func (s *stack) dialWSWith(d *websocket.Dialer, path string, hdr http.Header) (*wsClient, resp, error) {
	c, res, err := d.Dial(s.wsURL(path), hdr)
	var r resp
	if res != nil {
		r.status, r.header = res.StatusCode, res.Header
		if res.Body != nil {
			r.body, _ = io.ReadAll(res.Body)
		}
	}
	if err != nil {
		return nil, r, err
	}
	w := &wsClient{t: s.t, c: c}
	s.t.Cleanup(func() { c.Close() })
	return w, r, nil
}

// ws opens a WebSocket and fails the test if it cannot.
func (s *stack) ws(path string) *wsClient {
	s.t.Helper()
	w, r, err := s.dialWS(path, nil)
	if err != nil {
		s.t.Fatalf("dial %s: %v (%v)", path, err, r)
	}
	return w
}

// refusedWS opens a WebSocket that the server refuses: the handshake is
// accepted, and the first thing the socket reads is the server's close.
// It returns the close code and reason, and fails the test if the
// handshake fails or a frame comes before the close.
func (s *stack) refusedWS(path string, hdr http.Header) (int, string) {
	s.t.Helper()
	w, r, err := s.dialWS(path, hdr)
	if err != nil {
		s.t.Fatalf("%s: %v (%v); want the handshake accepted, then closed", path, err, r)
	}
	defer w.c.Close()
	f, err := w.read()
	var ce *websocket.CloseError
	if err == nil || !asCloseError(err, &ce) {
		s.t.Fatalf("%s: read %s (%v); want the close and nothing before it", path, f.raw, err)
	}
	return ce.Code, ce.Text
}

// read returns the next frame, or an error (a *websocket.CloseError when
// the server closed the socket).
func (w *wsClient) read() (frame, error) {
	w.c.SetReadDeadline(time.Now().Add(readTimeout))
	mt, b, err := w.c.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	if mt != websocket.TextMessage {
		return frame{}, fmt.Errorf("got message type %d, want text", mt)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, fmt.Errorf("frame %q: %v", b, err)
	}
	f.raw = b
	return f, nil
}

// next returns the next frame and fails the test on an error.
func (w *wsClient) next() frame {
	w.t.Helper()
	f, err := w.read()
	if err != nil {
		w.t.Fatalf("read frame: %v", err)
	}
	return f
}

// nextOf returns the next frame of type typ, skipping others of skip.
func (w *wsClient) nextOf(typ string, skip ...string) frame {
	w.t.Helper()
	for {
		f := w.next()
		if f.Type == typ {
			return f
		}
		found := false
		for _, s := range skip {
			found = found || s == f.Type
		}
		if !found {
			w.t.Fatalf("got frame %s, want type %q", f.raw, typ)
		}
	}
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	w.sendRaw(websocket.TextMessage, b)
}

func (w *wsClient) sendRaw(mt int, b []byte) {
	w.t.Helper()
	w.c.SetWriteDeadline(time.Now().Add(readTimeout))
	if err := w.c.WriteMessage(mt, b); err != nil {
		w.t.Fatalf("write frame: %v", err)
	}
}

// closeCode reads until the server closes the socket and returns the
// close code, failing if something else ends the read.
func (w *wsClient) closeCode() (int, string, []frame) {
	w.t.Helper()
	var seen []frame
	for {
		f, err := w.read()
		if err == nil {
			seen = append(seen, f)
			continue
		}
		var ce *websocket.CloseError
		if ok := asCloseError(err, &ce); !ok {
			w.t.Fatalf("reading until close: %v (after %d frames)", err, len(seen))
		}
		return ce.Code, ce.Text, seen
	}
}

func asCloseError(err error, ce **websocket.CloseError) bool {
	c, ok := err.(*websocket.CloseError)
	if ok {
		*ce = c
	}
	return ok
}
