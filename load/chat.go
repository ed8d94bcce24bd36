package load

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// chatRun is the state of one run of Chat that its subscribers share.
type chatRun struct {
	marker     string // starts the text of every message of this run
	delivery   *latencyHist
	outOfOrder atomic.Int64

	mu     sync.Mutex // guards errors
	errors map[string]int64
}

// subscriberError counts an error of a subscriber under key.
func (cr *chatRun) subscriberError(key string) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.errors[key]++
}

// chatSub is one subscriber of Chat. Its goroutine, started by read, is
// owned by the run: close ends it and waits for it.
type chatSub struct {
	c        *websocket.Conn
	received atomic.Int64
	closing  atomic.Bool
	done     chan struct{}
}

// chat runs Chat: it connects every subscriber to the room, sends the
// messages from the connections, waits at most Config.Drain for the
// subscribers to receive them all and reports what they received.
func (r *runner) chat(rep *Report) error {
	var tag [4]byte
	rand.Read(tag[:])
	cr := &chatRun{marker: "load " + hex.EncodeToString(tag[:]) + " ", delivery: newLatencyHist(), errors: map[string]int64{}}
	room := r.cfg.Prefix + "-room"

	live := r.subscribe("/ws/chatRoom/"+room, cr)
	if r.ctx.Err() == nil && r.cfg.Subscribers > 0 && len(live) == 0 {
		return fmt.Errorf("no subscriber could connect (%s)", r.firstErrOf("ws-connect"))
	}
	for _, s := range live {
		go s.read(r, cr)
	}

	var sent atomic.Int64
	r.begin()
	r.workers(r.cfg.Conns, func(w int, _ int64) {
		body, _ := json.Marshal(map[string]string{
			"username": "load-w" + strconv.Itoa(w),
			"text":     cr.marker + strconv.FormatInt(time.Now().UnixNano(), 10),
		})
		if _, ok := r.do(http.MethodPost, "/rpc/chatRoom:"+room+"/sendMessage", body); ok {
			sent.Add(1)
		}
	})
	rep.Seconds = time.Since(r.start).Seconds()

	n := sent.Load()
	r.drain(live, n)
	for _, s := range live {
		s.close()
	}
	c := &ChatReport{
		Room:           "chatRoom:" + room,
		Subscribers:    r.cfg.Subscribers,
		Connected:      len(live),
		MessagesSent:   n,
		FramesExpected: n * int64(len(live)),
		OutOfOrder:     cr.outOfOrder.Load(),
		Errors:         cr.errors,
		Delivery:       cr.delivery.report(),
	}
	for _, s := range live {
		c.FramesReceived += s.received.Load()
	}
	rep.Chat = c
	return nil
}

// subscribe connects the subscribers to path before the first message,
// a few at a time, and returns those that connected.
func (r *runner) subscribe(path string, cr *chatRun) []*chatSub {
	subs := make([]*chatSub, r.cfg.Subscribers)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range subs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := r.dialWS(path)
			if err != nil {
				if r.ctx.Err() == nil {
					cr.subscriberError("connect")
					r.fail("ws-connect", err.Error())
				}
				return
			}
			subs[i] = &chatSub{c: c, done: make(chan struct{})}
		})
	}
	wg.Wait()
	var live []*chatSub
	for _, s := range subs {
		if s != nil {
			live = append(live, s)
		}
	}
	return live
}

// read receives s's frames until its connection ends, and counts the
// messages of this run with their delivery latency.
func (s *chatSub) read(r *runner, cr *chatRun) {
	defer close(s.done)
	var last uint64
	for {
		_, data, err := s.c.ReadMessage()
		if err != nil {
			if !s.closing.Load() {
				key := "read"
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					key = "close " + strconv.Itoa(ce.Code)
				}
				cr.subscriberError(key)
				r.fail("ws-closed", err.Error())
			}
			return
		}
		sent, seq, ok := parseChatFrame(data, cr.marker)
		if !ok {
			continue
		}
		now := time.Now().UnixNano()
		cr.delivery.record(time.Duration(now - sent))
		if seq <= last {
			cr.outOfOrder.Add(1)
		}
		last = seq
		s.received.Add(1)
	}
}

// close closes s's connection and waits for its reader.
func (s *chatSub) close() {
	s.closing.Store(true)
	closeWS(s.c)
	<-s.done
}

// drain waits, at most Config.Drain, for every subscriber still
// connected to receive the n messages sent.
func (r *runner) drain(live []*chatSub, n int64) {
	end := time.Now().Add(r.cfg.Drain)
	for time.Now().Before(end) && r.ctx.Err() == nil {
		all := true
		for _, s := range live {
			select {
			case <-s.done: // gone: it will receive nothing more
			default:
				if s.received.Load() < n {
					all = false
				}
			}
		}
		if all {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// parseChatFrame returns the send time and sequence of a newMessage frame
// whose text starts with marker (a message of this run).
func parseChatFrame(data []byte, marker string) (sent int64, seq uint64, ok bool) {
	// The server writes the keys in order; read them without decoding the
	// whole frame, and fall back to decoding if the layout differs.
	if sent, seq, ok := scanChatFrame(data, marker); ok {
		return sent, seq, true
	}
	var f struct {
		Type string `json:"type"`
		Text string `json:"text"`
		Seq  uint64 `json:"seq"`
	}
	if json.Unmarshal(data, &f) != nil || f.Type != "newMessage" || !strings.HasPrefix(f.Text, marker) {
		return 0, 0, false
	}
	t, err := strconv.ParseInt(strings.TrimPrefix(f.Text, marker), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return t, f.Seq, true
}

// scanChatFrame is parseChatFrame without decoding the JSON: it finds the
// type, the text and the sequence by their keys.
func scanChatFrame(data []byte, marker string) (sent int64, seq uint64, ok bool) {
	if !bytes.Contains(data, []byte(`"type":"newMessage"`)) {
		return 0, 0, false
	}
	i := bytes.Index(data, []byte(`"text":"`+marker))
	if i < 0 {
		return 0, 0, false
	}
	rest := data[i+len(`"text":"`)+len(marker):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 {
		return 0, 0, false
	}
	t, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	k := bytes.Index(data, []byte(`"seq":`))
	if k < 0 {
		return 0, 0, false
	}
	digits := data[k+len(`"seq":`):]
	end := 0
	for end < len(digits) && digits[end] >= '0' && digits[end] <= '9' {
		end++
	}
	s, err := strconv.ParseUint(string(digits[:end]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return t, s, true
}
