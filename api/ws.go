package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"
	"golang.org/x/time/rate"
)

// CloseSlowConsumer is the close code of a client that did not read its
// frames fast enough (wire.CloseSlowConsumer). Reconnect with
// ?since=<last seq received>.
const CloseSlowConsumer = wire.CloseSlowConsumer

const writeWait = 10 * time.Second

// minFrameCost is what a frame costs of its socket's budget at the least
// (Options.SocketRate).
const minFrameCost = 256

// socket is one WebSocket connection to an actor.
type socket struct {
	s    *Server
	ws   *websocket.Conn
	conn *actors.Conn
	id   eventlog.ID

	wc     *batchConn  // the connection, as the writer sees it
	out    chan []byte // replies and control frames for the writer
	done   chan struct{}
	ctx    context.Context // ends with the socket; bounds its calls
	cancel context.CancelFunc
	once   sync.Once
	calls  chan struct{} // one token per call in flight

	mu      sync.Mutex // guards lastSeq
	lastSeq uint64
}

// websocket serves GET /ws/{type}/{key} and the upgrade on
// /actors/{type}/{key}/events. Query: since=N to resume after sequence N,
// events=a,b for the events and broadcasts to receive; every other
// parameter but token goes to OnBeforeConnect. A connection it refuses is
// closed with a code of the refusal (refuse).
func (s *Server) websocket(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, "bad_request", r.URL.Path+" is a WebSocket: send a WebSocket handshake (Connection: Upgrade, Upgrade: websocket)")
		return
	}
	if !s.checkOrigin(r) {
		s.refuse(w, r, http.StatusForbidden, "forbidden", "origin "+r.Header.Get("Origin")+" is not allowed")
		return
	}
	id, err := s.actorID(p.ByName("type"), p.ByName("key"))
	if err != nil {
		s.refuseErr(w, r, err)
		return
	}
	if s.toOwner(w, r, id, s.refuseErr) {
		return
	}
	q := r.URL.Query()
	var since *uint64
	if q.Has("since") {
		n, err := uintParam(r, "since", 0)
		if err == nil {
			err = s.checkSince(r.Context(), id, n)
		}
		if err != nil {
			s.refuseErr(w, r, err)
			return
		}
		since = &n
	}
	var events *actors.Events // all
	if q.Has("events") {
		if events, err = subscription(actors.OnlyEvents(), strings.Split(q.Get("events"), ","), true); err != nil {
			s.refuseErr(w, r, err)
			return
		}
	}
	params := map[string]string{}
	for k, v := range q {
		if k != "since" && k != "token" && k != "events" && len(v) > 0 {
			params[k] = v[0]
		}
	}
	ctx, cancel := s.callContext(r)
	conn, init, err := s.rt.ConnectWith(ctx, id, actors.ConnectOptions{Params: params, Events: events})
	cancel()
	if err == nil && since != nil && *since > init.Seq {
		conn.Close()
		err = errSincePastHead(*since, init.Seq)
	}
	if err != nil {
		s.refuseErr(w, r, err)
		return
	}
	up := websocket.Upgrader{
		// The reader reuses the buffer net/http hijacked with the
		// connection (4 KiB).
		WriteBufferSize: 4096,
		// Idle sockets hold no write buffer: it is taken from the pool
		// for each message.
		WriteBufferPool: &s.writeBuffers,
		CheckOrigin:     func(*http.Request) bool { return true }, // checked above
		Error:           handshakeError,
	}
	so := &socket{s: s, conn: conn, id: id, out: make(chan []byte, 64), done: make(chan struct{}), calls: make(chan struct{}, s.opts.MaxCallsPerSocket)}
	so.ctx, so.cancel = context.WithCancel(s.scope.Context())
	ws, wc, err := s.upgrade(so.ctx, w, r, &up)
	so.wc = wc
	if err != nil {
		so.cancel()
		conn.Close()
		return
	}
	so.ws = ws
	s.mu.Lock()
	if s.closed {
		// Close ran while this socket was being upgraded (http.Server
		// shutdown does not wait for hijacked connections).
		s.mu.Unlock()
		so.shutdown()
		return
	}
	s.sockets[so] = struct{}{}
	// Started under mu, before closed is set, so that Close waits for
	// them.
	s.scope.Go(so.read)
	s.scope.Go(func() { so.write(init, since) })
	s.mu.Unlock()
}

// checkSince refuses a since past the actor's durable head (as the log
// has it, without waking the actor): the client saw a history longer
// than the actor's, which was reset.
func (s *Server) checkSince(ctx context.Context, id eventlog.ID, since uint64) error {
	st, err := s.log.Head(ctx, id)
	if err != nil {
		return err
	}
	if since > st.Head {
		return errSincePastHead(since, st.Head)
	}
	return nil
}

func errSincePastHead(since, head uint64) error {
	return &httpError{http.StatusConflict, "conflict", fmt.Sprintf("since %d is past the actor's head %d; connect without since", since, head)}
}

// refuse answers a request the server will not serve with an error. The
// HTTP reply to a WebSocket handshake is one a browser cannot read, so a
// handshake is accepted and closed at once, with the close code of the
// status (wire.RefusedCode) and msg as the reason: no other frame is
// sent, nothing else runs. Any other request gets the error body.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if r.Method != http.MethodGet || !websocket.IsWebSocketUpgrade(r) {
		writeError(w, status, code, msg)
		return
	}
	up := websocket.Upgrader{WriteBufferPool: &s.writeBuffers, CheckOrigin: func(*http.Request) bool { return true }, Error: handshakeError}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // handshakeError answered
	}
	defer ws.Close()
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(wire.RefusedCode(status), closeReason(msg)), time.Now().Add(time.Second))
	// Wait a moment for the client's close, unanswered (ours is sent),
	// discarding anything else: closing on unread data would reset the
	// connection, and the close frame could be lost with it.
	ws.SetReadLimit(512)
	ws.SetCloseHandler(func(int, string) error { return nil })
	ws.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, _, err := ws.NextReader(); err != nil {
			return
		}
	}
}

// refuseErr refuses with the status, code and message of err.
func (s *Server) refuseErr(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := statusOf(err)
	if status == http.StatusInternalServerError {
		s.lg.Error("WebSocket refused", "path", r.URL.Path, "err", err)
	}
	s.refuse(w, r, status, code, msg)
}

// closeReason fits msg in a close frame (at most 123 bytes), cut at a
// character's boundary.
func closeReason(msg string) string {
	const limit = 123
	if len(msg) <= limit {
		return msg
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

// handshakeError answers a WebSocket handshake that is not one (the
// Upgrader's Error): a JSON error body, as everywhere else.
func handshakeError(w http.ResponseWriter, _ *http.Request, status int, reason error) {
	code := "bad_request"
	switch {
	case status == http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	case status >= 500:
		code = "internal"
	}
	writeError(w, status, code, "WebSocket handshake: "+reason.Error())
}

// upgrade accepts a WebSocket handshake with up. The socket's frames are
// paid for before they are read (pace.go), until ctx ends; the data
// frames its writer writes go out in batches, at the writer's flush
// (batch.go).
func (s *Server) upgrade(ctx context.Context, w http.ResponseWriter, r *http.Request, up *websocket.Upgrader) (*websocket.Conn, *batchConn, error) {
	burst := int(max(s.opts.MaxFrameBytes, s.opts.SocketRate))
	var bc *batchConn
	wrap := func(c net.Conn) net.Conn {
		pc := &pacedConn{Conn: c, ctx: ctx, budget: rate.NewLimiter(rate.Limit(s.opts.SocketRate), burst), shared: s.socketsBudget, maxCost: s.opts.MaxFrameBytes}
		bc = &batchConn{Conn: pc, pool: &s.batchBuffers}
		return bc
	}
	ws, err := up.Upgrade(hijacker{ResponseWriter: w, wrap: wrap}, r, nil)
	if err != nil {
		return nil, nil, err
	}
	bc.start() // the handshake's reply is out
	return ws, bc, nil
}

// end closes the socket once, with a close frame of code and reason.
func (so *socket) end(code int, reason string) {
	so.once.Do(func() {
		close(so.done)
		so.cancel()
		msg := websocket.FormatCloseMessage(code, reason)
		so.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		so.ws.Close()
		so.conn.Close()
		so.s.mu.Lock()
		delete(so.s.sockets, so)
		so.s.mu.Unlock()
	})
}

func (so *socket) shutdown() { so.end(websocket.CloseGoingAway, "server shutting down") }

func (so *socket) seq() uint64 {
	so.mu.Lock()
	defer so.mu.Unlock()
	return so.lastSeq
}

func (so *socket) send(b []byte) error {
	so.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return so.ws.WriteMessage(websocket.TextMessage, b)
}

func (so *socket) sendFrame(f actors.Frame) error {
	if err := so.send(f.Data); err != nil {
		return err
	}
	if f.Seq > 0 {
		so.mu.Lock()
		so.lastSeq = f.Seq
		so.mu.Unlock()
	}
	return nil
}

// write sends the first frame — init, or resume when since is given and
// the events after it are still stored — and the events a resuming
// client missed, then the live frames, replies and pings, until the
// socket ends.
func (so *socket) write(init actors.Init, since *uint64) {
	first, replay := so.firstFrame(init, since)
	so.mu.Lock()
	so.lastSeq = init.Seq
	if replay {
		so.lastSeq = *since
	}
	so.mu.Unlock()
	b, _ := json.Marshal(first)
	if so.send(b) != nil {
		so.end(websocket.CloseAbnormalClosure, "")
		return
	}
	if replay && !so.replay(*since, init) {
		return
	}
	ping := time.NewTicker(so.s.opts.PingInterval)
	defer ping.Stop()
	frames := so.conn.Frames()
	for {
		// What was written goes out once nothing more is ready.
		if len(frames) == 0 && len(so.out) == 0 && so.wc.flush(writeWait) != nil {
			so.end(websocket.CloseAbnormalClosure, "")
			return
		}
		select {
		case f := <-frames:
			if so.sendFrame(f) != nil {
				so.end(websocket.CloseAbnormalClosure, "")
				return
			}
		case m := <-so.out:
			// Events committed before a reply go out before it.
			if !so.drain(frames) || so.send(m) != nil {
				so.end(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-ping.C:
			if so.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)) != nil {
				so.end(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-so.conn.Done():
			if !so.drain(frames) {
				so.end(websocket.CloseAbnormalClosure, "")
				return
			}
			err := so.conn.Err()
			switch {
			case errors.Is(err, actors.ErrSlowConsumer):
				so.end(CloseSlowConsumer, fmt.Sprintf("too slow; resume with since=%d", so.seq()))
			case errors.Is(err, actors.ErrClosed):
				so.end(websocket.CloseGoingAway, "server shutting down")
			default:
				so.end(websocket.CloseServiceRestart, fmt.Sprintf("actor restarted; resume with since=%d", so.seq()))
			}
			return
		case <-so.done:
			return
		}
	}
}

// firstFrame returns the connection's first frame, and whether the
// events after since are to be sent from the log: a resume frame when
// since is given and those events are still stored; else the init frame
// with the state at the head (and gap set if since was given).
func (so *socket) firstFrame(init actors.Init, since *uint64) (any, bool) {
	head := wire.InitFrame{Actor: so.id.String(), Seq: init.Seq, State: init.State, Type: wire.FrameInit}
	if since == nil {
		return head, false
	}
	if st, err := so.s.log.Head(so.ctx, so.id); err == nil && *since+1 < st.First {
		head.Gap = true // events after since were erased: the client must take the state
		return head, false
	}
	return wire.ResumeFrame{Actor: so.id.String(), Seq: *since, Type: wire.FrameResume}, true
}

// replay sends the events after since up to the connection's start, and
// then, to a connection that asked for state frames, the state there. It
// ends the socket and returns false on failure.
func (so *socket) replay(since uint64, init actors.Init) bool {
	if since >= init.Seq {
		return true // nothing missed (and a scan to 0 would go to the head)
	}
	err := so.s.log.ScanStream(so.ctx, so.id, since+1, init.Seq, func(e *eventlog.Event) error {
		if !so.conn.Events().Has(e.Type) {
			return nil
		}
		f, err := wire.EventFrame(e)
		if err != nil {
			return err
		}
		return so.sendFrame(actors.Frame{Seq: e.Seq, Data: f})
	})
	if err != nil {
		if errors.Is(err, eventlog.ErrUnavailable) {
			// The store did not answer (a replicated store electing a
			// leader): the client tries again, from where it is.
			so.end(websocket.CloseTryAgainLater, fmt.Sprintf("the store is unavailable now; resume with since=%d", so.seq()))
			return false
		}
		so.s.lg.Warn("websocket replay failed", "actor", so.id.String(), "err", err)
		so.end(websocket.CloseInternalServerErr, "replay failed")
		return false
	}
	if so.conn.WantsState() {
		b, _ := json.Marshal(wire.StateFrame{Seq: init.Seq, State: init.State, Type: wire.FrameState})
		if so.sendFrame(actors.Frame{Seq: init.Seq, Data: b}) != nil {
			so.end(websocket.CloseAbnormalClosure, "")
			return false
		}
	}
	return true
}

// drain writes the frames already delivered.
func (so *socket) drain(frames <-chan actors.Frame) bool {
	for {
		select {
		case f := <-frames:
			if so.sendFrame(f) != nil {
				return false
			}
		default:
			return true
		}
	}
}

// reply queues a frame for the writer; a client that lets replies pile up
// is dropped.
func (so *socket) reply(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	select {
	case so.out <- b:
	case <-so.done:
	default:
		so.end(CloseSlowConsumer, fmt.Sprintf("too slow; resume with since=%d", so.seq()))
	}
}

// read handles the client's frames until it goes away.
func (so *socket) read() {
	ws := so.ws
	ws.SetReadLimit(so.s.opts.MaxFrameBytes)
	wait := 3 * so.s.opts.PingInterval
	ws.SetReadDeadline(time.Now().Add(wait))
	ws.SetPongHandler(func(string) error {
		ws.SetReadDeadline(time.Now().Add(wait))
		return nil
	})
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				so.end(websocket.CloseMessageTooBig, fmt.Sprintf("frames are limited to %d bytes", so.s.opts.MaxFrameBytes))
			case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
				so.end(websocket.CloseNormalClosure, "")
			default:
				so.end(websocket.CloseNormalClosure, "")
			}
			return
		}
		ws.SetReadDeadline(time.Now().Add(wait))
		f, answer := decodeFrame(mt == websocket.TextMessage, data)
		switch {
		case f == nil:
			so.reply(answer)
		case f.Type == wire.FrameCall:
			so.call(*f)
		default:
			so.subscribe(*f)
		}
	}
}

var pong = struct {
	Type string `json:"type"`
}{wire.FramePong}

// decodeFrame reads a client's frame: a call to make or a subscription to
// change, or else the answer to send back (a pong or an error frame).
func decodeFrame(text bool, data []byte) (*wire.ClientFrame, any) {
	if !text {
		return nil, wire.NewErrorFrame(nil, "bad_request", "send text frames of JSON")
	}
	var f wire.ClientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, wire.NewErrorFrame(nil, "bad_request", frameError(err))
	}
	switch f.Type {
	case wire.FramePing:
		return nil, pong
	case wire.FrameCall:
		if len(f.ID) == 0 || string(f.ID) == "null" {
			return nil, wire.NewErrorFrame(nil, "bad_request", "a call needs an \"id\" to match its reply")
		}
		if f.Action == "" {
			return nil, wire.NewErrorFrame(f.ID, "bad_request", "a call needs an \"action\"")
		}
		if len(f.IdempotencyKey) > 255 {
			return nil, wire.NewErrorFrame(f.ID, "bad_request", "an idempotency key is at most 255 bytes")
		}
		return &f, nil
	case wire.FrameSubscribe, wire.FrameUnsubscribe:
		if f.Events == nil {
			return nil, wire.NewErrorFrame(f.ID, "bad_request", fmt.Sprintf("a %s frame needs \"events\": a list of event names, or [\"*\"] for all", f.Type))
		}
		return &f, nil
	}
	return nil, wire.NewErrorFrame(f.ID, "bad_request", fmt.Sprintf("unknown frame type %q; send \"call\", \"ping\", \"subscribe\" or \"unsubscribe\"", f.Type))
}

// maxListedEvents bounds the names a socket's subscription lists.
const maxListedEvents = 256

// subscription returns set with names added (subscribe) or removed
// (unsubscribe); wire.AllEvents stands for every name, and empty names
// (of ?events=) for none.
func subscription(set *actors.Events, names []string, add bool) (*actors.Events, error) {
	if len(names) > maxListedEvents {
		return nil, actors.Errorf(actors.CodeBadRequest, "a subscription lists at most %d event names", maxListedEvents)
	}
	for _, n := range names {
		switch {
		case n == "":
		case n == wire.AllEvents && add:
			set = actors.AllEvents()
		case n == wire.AllEvents:
			set = actors.OnlyEvents()
		case add:
			set = set.With(n)
		default:
			set = set.Without(n)
		}
	}
	if set.Listed() > maxListedEvents {
		return nil, actors.Errorf(actors.CodeBadRequest, "a subscription lists at most %d event names", maxListedEvents)
	}
	return set, nil
}

// subscribe changes the events and broadcasts the socket receives, from
// the next one the actor delivers. Frames are read in order: a frame
// after this one is answered once the change is in effect.
func (so *socket) subscribe(f wire.ClientFrame) {
	set, err := subscription(so.conn.Events(), f.Events, f.Type == wire.FrameSubscribe)
	if err != nil {
		_, code, msg := statusOf(err)
		so.reply(wire.NewErrorFrame(f.ID, code, msg))
		return
	}
	so.conn.SetEvents(set)
}

// frameError says why a client's frame does not decode.
func frameError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "the frame must be a JSON object, not " + te.Value
		}
		if te.Field == "events" || strings.HasPrefix(te.Field, "events.") {
			return fmt.Sprintf("the frame's \"events\" must be a list of event names (strings), not %s", te.Value)
		}
		// Every other field a client sets is a string, but for "id" and
		// "args".
		return fmt.Sprintf("the frame's %q must be a string, not %s", te.Field, te.Value)
	}
	return "the frame is not a JSON object: " + err.Error()
}

// call runs an action for the client and replies with its id.
func (so *socket) call(f wire.ClientFrame) {
	select {
	case so.calls <- struct{}{}:
	default:
		so.reply(wire.NewErrorFrame(f.ID, "unavailable", fmt.Sprintf("at most %d calls may be in flight on one socket", cap(so.calls))))
		return
	}
	// call runs in the socket's reader, a goroutine of the server's
	// scope: the scope does not refuse another while it runs.
	so.s.scope.Go(func() {
		defer func() { <-so.calls }()
		r, err := so.s.rt.Call(so.ctx, so.id, f.Action, actors.JSONArgs(f.Args), actors.CallOptions{IdempotencyKey: f.IdempotencyKey, Conn: so.conn, Timeout: so.s.opts.CallTimeout})
		if err != nil {
			_, code, msg := statusOf(err)
			so.reply(wire.NewErrorFrame(f.ID, code, msg))
			return
		}
		so.reply(wire.ReplyFrame{ID: f.ID, Replayed: r.Replayed, Result: r.Body, Seq: r.Seq, Type: wire.FrameReply})
	})
}
