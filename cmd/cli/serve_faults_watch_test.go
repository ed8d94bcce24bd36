//go:build unix

package cli

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// faultWatcher is a WebSocket subscriber of one actor during the fault
// test: it connects through a random node that is up, and whenever its
// connection ends (its node killed, paused, or the actor's shard moved)
// connects again through another with ?since= the last sequence it got.
// Every event frame must be the next sequence: no gap, no duplicate.
type faultWatcher struct {
	f     *clusterFaults
	actor string
	rng   *rand.Rand
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	mu          sync.Mutex
	last        uint64 // the last sequence it got
	events      int    // event frames
	connections int
	ends        map[string]int // why connections ended, counted
	err         error
}

func (f *clusterFaults) watch(actor string, rng *rand.Rand) *faultWatcher {
	w := &faultWatcher{f: f, actor: actor, rng: rng, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *faultWatcher) fail(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = fmt.Errorf("subscriber of %s: "+format, append([]any{w.actor}, args...)...)
	}
}

func (w *faultWatcher) run() {
	defer close(w.done)
	typ, key, _ := strings.Cut(w.actor, ":")
	first := true
	for {
		select {
		case <-w.stop:
			return
		case <-w.f.ctx.Done():
			return
		default:
		}
		base := w.f.pick(w.rng)
		u := "ws" + strings.TrimPrefix(base, "http") + "/ws/" + url.PathEscape(typ) + "/" + url.PathEscape(key)
		w.mu.Lock()
		if !first {
			u += fmt.Sprintf("?since=%d", w.last)
		}
		w.mu.Unlock()
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		ws, _, err := d.Dial(u, nil)
		if err != nil {
			w.ended("dial: " + err.Error())
			time.Sleep(100 * time.Millisecond)
			continue
		}
		w.mu.Lock()
		w.connections++
		w.mu.Unlock()
		first = w.read(ws, first)
		ws.Close()
	}
}

// read reads one connection's frames until it ends or the watcher stops;
// it returns whether the next connection is still the first (no frame
// came).
func (w *faultWatcher) read(ws *websocket.Conn, first bool) bool {
	ended := make(chan struct{})
	defer close(ended)
	go func() {
		select {
		case <-w.stop:
			ws.Close()
		case <-ended:
		}
	}()
	for {
		// A connection to a paused node says nothing: look elsewhere.
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			w.ended(err.Error())
			return first
		}
		var fr struct {
			Type string  `json:"type"`
			Seq  *uint64 `json:"seq"`
			Gap  bool    `json:"gap"`
		}
		if err := json.Unmarshal(b, &fr); err != nil {
			w.fail("frame %q: %v", b, err)
			return first
		}
		w.mu.Lock()
		switch {
		case fr.Type == "init" && first:
			w.last = *fr.Seq
			first = false
		case fr.Type == "resume" && !first:
			if *fr.Seq != w.last {
				w.err = fmt.Errorf("subscriber of %s: resumed at %d, asked for %d", w.actor, *fr.Seq, w.last)
			}
		case fr.Type == "init" || fr.Type == "resume":
			w.err = fmt.Errorf("subscriber of %s: %s frame (gap %v) where a %s was due", w.actor, fr.Type, fr.Gap, map[bool]string{true: "init", false: "resume"}[first])
		case fr.Type == "pong" || fr.Type == "state" || fr.Type == "reply" || fr.Type == "error":
		case fr.Seq == nil || *fr.Seq == 0:
			// a broadcast: not in the log
		default:
			if *fr.Seq != w.last+1 {
				w.err = fmt.Errorf("subscriber of %s: event %d (%s) after %d", w.actor, *fr.Seq, fr.Type, w.last)
			}
			w.last = *fr.Seq
			w.events++
		}
		err = w.err
		w.mu.Unlock()
		if err != nil {
			return first
		}
	}
}

// ended counts why a connection ended, its ports and numbers cut.
func (w *faultWatcher) ended(why string) {
	why = strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, why)
	if len(why) > 80 {
		why = why[:80]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ends == nil {
		w.ends = map[string]int{}
	}
	w.ends[why]++
}

// halt stops the watcher and waits for it.
func (w *faultWatcher) halt() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// await waits until the watcher holds sequence head, then stops it; it
// returns its error, if any.
func (w *faultWatcher) await(head uint64, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		w.mu.Lock()
		last, err := w.last, w.err
		w.mu.Unlock()
		if err != nil || last >= head || time.Now().After(deadline) {
			w.halt()
			w.mu.Lock()
			defer w.mu.Unlock()
			switch {
			case w.err != nil:
				return w.err
			case w.last != head:
				return fmt.Errorf("subscriber of %s holds %d, %v after the clients stopped; the log's head is %d", w.actor, w.last, within, head)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}
