package rivetkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/gorilla/websocket"
)

// A connection (handle.connect(), useActor) is a WebSocket at
// .../connect. The client offers the subprotocols "rivet",
// "rivet_encoding.<json|cbor|bare>" and, with parameters,
// "rivet_conn_params.<URI-encoded JSON>"; the server selects "rivet".
// Once the runtime has opened the connection (OnBeforeConnect, then
// OnConnect), the server sends Init; the client then subscribes to the
// events it listens to, and calls actions, each answered by an
// ActionResponse or an Error with its id. The connection receives an
// event or broadcast only if it subscribed to its name. A connection the
// server refuses gets an Error without an action id and is closed with
// the reason "group.code", which the client reads; so are connections
// the server ends: "ws.going_away" when it shuts down (the client then
// reconnects), "actor.stopped" when the actor restarted.
//
// An event's one argument is its data (as actorlog's own protocol sends
// it); a broadcast's is the data Ctx.Broadcast was given.

// Close reasons the client parses ("group.code").
const (
	reasonGoingAway = "ws.going_away"
	reasonStopped   = "actor.stopped"
	reasonSlow      = "actor.slow_consumer"
	reasonTooBig    = "message.incoming_too_long"
	reasonInvalid   = "actor.invalid_request"
)

const writeWait = 10 * time.Second

// connect serves a WebSocket at .../connect.
func (s *server) connect(w http.ResponseWriter, r *http.Request, t target) {
	if !websocket.IsWebSocketUpgrade(r) {
		s.fail(w, r, invalid("%s is a WebSocket: send a WebSocket handshake", r.URL.Path))
		return
	}
	encoding, rawParams := "json", ""
	for _, p := range websocket.Subprotocols(r) {
		if e, ok := strings.CutPrefix(p, protoEncoding); ok {
			encoding = e
		}
		if v, ok := strings.CutPrefix(p, protoConnParams); ok {
			rawParams = v
		}
	}
	c, ok := codecs[encoding]
	if !ok {
		s.refuseSocket(w, r, &rkError{status: http.StatusBadRequest, group: "actor", code: "unsupported_websocket_encoding",
			message: "unknown encoding " + strconv.Quote(encoding) + "; json, cbor and bare are served"}, "json")
		return
	}
	if !s.rs.CheckOrigin(r) {
		s.refuseSocket(w, r, &rkError{status: http.StatusForbidden, group: "auth", code: "forbidden", message: "origin " + r.Header.Get("Origin") + " is not allowed"}, encoding)
		return
	}
	params, err := connParams(rawParams)
	if err != nil {
		s.refuseSocket(w, r, s.asRivet(err), encoding)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	def, err := s.resolve(ctx, t)
	if err != nil {
		s.refuseSocket(w, r, s.asRivet(err), encoding)
		return
	}
	// In a cluster, the connection is served by the actor's owner.
	if s.rs.ToOwner(w, r, t.id, func(w http.ResponseWriter, r *http.Request, err error) {
		s.refuseSocket(w, r, s.asRivet(err), encoding)
	}) {
		return
	}
	conn, _, err := s.rt.ConnectWith(ctx, t.id, actors.ConnectOptions{Params: params, Events: actors.OnlyEvents()})
	if err != nil {
		s.refuseSocket(w, r, s.asRivet(err), encoding)
		return
	}
	so := &socket{s: s, conn: conn, id: t.id, def: def, c: c,
		out: make(chan []byte, 64), done: make(chan struct{}), calls: make(chan struct{}, s.opts.MaxCallsPerSocket)}
	so.ctx, so.cancel = context.WithCancel(s.rs.Context())
	// Under the server's guards for sockets: its frames are paid for
	// before they are read, from its budget and the one all sockets share.
	ws, flush, err := s.rs.Upgrade(so.ctx, w, r, &s.upgrader)
	if err != nil {
		so.cancel()
		conn.Close()
		return
	}
	so.ws, so.flush = ws, flush
	if !s.rs.Go(so.write) {
		so.end(websocket.CloseGoingAway, reasonGoingAway)
		return
	}
	if !s.rs.Go(so.read) {
		so.end(websocket.CloseGoingAway, reasonGoingAway)
	}
}

// connParams turns the client's connection parameters (JSON) into
// actorlog's: an object's string fields as they are and its other fields
// as JSON text; any other value as JSON text under "params".
func connParams(raw string) (map[string]string, error) {
	params := map[string]string{}
	if raw == "" {
		return params, nil
	}
	text, err := url.PathUnescape(raw)
	if err != nil {
		return nil, invalid("the rivet_conn_params subprotocol does not unescape")
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, invalid("the connection parameters are not JSON: %v", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		params["params"] = text
		return params, nil
	}
	for k, f := range obj {
		if str, ok := f.(string); ok {
			params[k] = str
			continue
		}
		b, _ := json.Marshal(f)
		params[k] = string(b)
	}
	return params, nil
}

// refuseSocket accepts a WebSocket handshake it will not serve, sends the
// error as the client's Error message, and closes with its "group.code":
// a browser cannot read an HTTP refusal of a handshake.
func (s *server) refuseSocket(w http.ResponseWriter, r *http.Request, e *rkError, encoding string) {
	if encoding == "" {
		encoding = "json"
		for _, p := range websocket.Subprotocols(r) {
			if e, ok := strings.CutPrefix(p, protoEncoding); ok && codecs[e] != nil {
				encoding = e
			}
		}
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	defer ws.Close()
	c := codecs[encoding]
	if msg, err := c.encode(errorMsg{group: e.group, code: e.code, message: e.message}); err == nil {
		ws.SetWriteDeadline(time.Now().Add(time.Second))
		ws.WriteMessage(messageType(c), msg)
	}
	code := websocket.ClosePolicyViolation
	switch {
	case e.status >= 500:
		code = websocket.CloseInternalServerErr
	case e.code == "unsupported_websocket_encoding":
		code = websocket.CloseUnsupportedData
	}
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, e.group+"."+e.code), time.Now().Add(time.Second))
	// Wait a moment for the client's close, so that closing on unread
	// data does not reset the connection and lose the close frame.
	ws.SetReadLimit(512)
	ws.SetCloseHandler(func(int, string) error { return nil })
	ws.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, _, err := ws.NextReader(); err != nil {
			return
		}
	}
}

func messageType(c codec) int {
	if c.binary() {
		return websocket.BinaryMessage
	}
	return websocket.TextMessage
}

// socket is one client connection.
type socket struct {
	s    *server
	ws   *websocket.Conn
	conn *actors.Conn
	id   eventlog.ID
	def  actors.Definition
	c    codec

	flush  func(time.Duration) error // writes the frames the writer wrote
	out    chan []byte               // responses and errors for the writer
	done   chan struct{}
	once   sync.Once
	ctx    context.Context // ends with the socket; bounds its calls
	cancel context.CancelFunc
	calls  chan struct{} // one token per call in flight
}

// end closes the socket once, with a close frame of code and reason.
func (so *socket) end(code int, reason string) {
	so.once.Do(func() {
		close(so.done)
		so.cancel()
		so.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		so.ws.Close()
		so.conn.Close()
	})
}

func (so *socket) send(b []byte) error {
	so.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return so.ws.WriteMessage(messageType(so.c), b)
}

// sendFrame sends one of the runtime's frames as the client's Event.
func (so *socket) sendFrame(f actors.Frame) error {
	ev, ok := eventOf(so.def, f)
	if !ok {
		return nil
	}
	b, err := so.c.encode(ev)
	if err != nil {
		so.s.lg.Warn("rivetkit event does not encode", "actor", so.id.String(), "event", ev.name, "err", err)
		return nil
	}
	return so.send(b)
}

// eventOf reads a frame of the runtime back into an event's name and
// data. The runtime builds frames in actorlog's own protocol (api/wire):
// the data's fields beside "type" (and "seq" for a persisted event), and
// data that is not an object under "data". A persisted event's Go type
// says which it was; a broadcast's data is under "data" when that is its
// only field. State frames are not events.
func eventOf(def actors.Definition, f actors.Frame) (eventMsg, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(f.Data, &m) != nil {
		return eventMsg{}, false
	}
	var name string
	if json.Unmarshal(m["type"], &name) != nil || name == "" || name == "state" {
		return eventMsg{}, false
	}
	delete(m, "type")
	wrapped := false
	if f.Seq > 0 {
		delete(m, "seq")
		wrapped = !objectType(def.EventData(name))
	} else {
		_, hasData := m["data"]
		wrapped = hasData && len(m) == 1
	}
	if wrapped {
		data := m["data"]
		if data == nil {
			data = json.RawMessage("null")
		}
		return eventMsg{name: name, data: data}, true
	}
	data, err := json.Marshal(m)
	if err != nil {
		return eventMsg{}, false
	}
	return eventMsg{name: name, data: data}, true
}

// objectType reports whether values of t encode as JSON objects.
func objectType(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t == nil || t.Kind() == reflect.Struct || t.Kind() == reflect.Map
}

// write sends Init, then the events, responses and pings, until the
// socket ends.
func (so *socket) write() {
	initMsg := initMsg{actorID: actorID(so.id), connID: strconv.FormatUint(so.conn.ID, 10)}
	b, err := so.c.encode(initMsg)
	if err != nil || so.send(b) != nil {
		so.end(websocket.CloseAbnormalClosure, "")
		return
	}
	ping := time.NewTicker(so.s.opts.PingInterval)
	defer ping.Stop()
	frames := so.conn.Frames()
	for {
		// What was written goes out once nothing more is ready.
		if len(frames) == 0 && len(so.out) == 0 && so.flush(writeWait) != nil {
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
			// Events committed before a response go out before it.
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
			switch err := so.conn.Err(); {
			case errors.Is(err, actors.ErrSlowConsumer):
				so.end(websocket.ClosePolicyViolation, reasonSlow)
			case errors.Is(err, actors.ErrClosed):
				so.end(websocket.CloseGoingAway, reasonGoingAway)
			default:
				so.end(websocket.CloseServiceRestart, reasonStopped)
			}
			return
		case <-so.s.rs.Stopping():
			so.end(websocket.CloseGoingAway, reasonGoingAway)
			return
		case <-so.done:
			return
		}
	}
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

// reply queues a message for the writer; a client that lets them pile up
// is dropped.
func (so *socket) reply(m any) {
	b, err := so.c.encode(m)
	if err != nil {
		so.s.lg.Warn("rivetkit message does not encode", "actor", so.id.String(), "err", err)
		return
	}
	select {
	case so.out <- b:
	case <-so.done:
	default:
		so.end(websocket.ClosePolicyViolation, reasonSlow)
	}
}

// read handles the client's messages until it goes away.
func (so *socket) read() {
	ws := so.ws
	opts := so.s.opts
	ws.SetReadLimit(opts.MaxFrameBytes)
	wait := 3 * opts.PingInterval
	ws.SetReadDeadline(time.Now().Add(wait))
	ws.SetPongHandler(func(string) error {
		ws.SetReadDeadline(time.Now().Add(wait))
		return nil
	})
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				so.end(websocket.CloseMessageTooBig, reasonTooBig)
			} else {
				so.end(websocket.CloseNormalClosure, "")
			}
			return
		}
		ws.SetReadDeadline(time.Now().Add(wait))
		m, err := so.c.decode(data)
		if err != nil {
			// The protocol has no answer to a message it cannot read
			// but the end of the connection.
			so.s.lg.Debug("rivetkit message refused", "actor", so.id.String(), "err", err)
			so.end(websocket.CloseUnsupportedData, reasonInvalid)
			return
		}
		switch {
		case m.action != nil:
			so.call(*m.action)
		case m.sub != nil:
			so.subscribe(*m.sub)
		}
	}
}

// subscribe adds or removes an event name from those the connection
// receives, from the next one the actor delivers.
func (so *socket) subscribe(r subscriptionRequest) {
	set := so.conn.Events()
	if r.subscribe {
		if set.Listed() >= maxListedEvents {
			return
		}
		set = set.With(r.event)
	} else {
		set = set.Without(r.event)
	}
	so.conn.SetEvents(set)
}

// maxListedEvents bounds the event names one connection subscribes to.
const maxListedEvents = 256

// call runs an action for the client and answers with its id.
func (so *socket) call(a actionRequest) {
	id := a.id
	select {
	case so.calls <- struct{}{}:
	default:
		so.reply(errorMsg{group: "actor", code: "overloaded", message: fmt.Sprintf("at most %d calls may be in flight on one connection", cap(so.calls)), actionID: &id})
		return
	}
	started := so.s.rs.Go(func() {
		defer func() { <-so.calls }()
		ctx, cancel := context.WithTimeout(so.ctx, so.s.opts.CallTimeout)
		defer cancel()
		out, err := so.s.call(ctx, so.id, so.def, a.name, a.args, so.conn)
		if err != nil {
			e := so.s.asRivet(err)
			if e.status == http.StatusInternalServerError {
				so.s.lg.Error("rivetkit call failed", "actor", so.id.String(), "action", a.name, "err", err)
			}
			so.reply(errorMsg{group: e.group, code: e.code, message: e.message, actionID: &id})
			return
		}
		so.reply(actionResponse{id: id, output: out})
	})
	if !started {
		<-so.calls
	}
}
