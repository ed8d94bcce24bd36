package load

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// mixed runs the soak: increments and one read in ten on the half of the
// counters whose turn it is, while the other half idles, and subscribers
// that hold a WebSocket on a counter for about Config.WSHold and connect
// again elsewhere.
func (r *runner) mixed(rep *Report) {
	half := r.cfg.Counters / 2
	// active picks a counter of the half called in the current turn.
	active := func() string {
		turn := int(time.Since(r.start) / r.cfg.IdlePhase)
		k := (turn%2)*half + rand.IntN(half)
		return r.cfg.Prefix + "-mix-" + strconv.Itoa(k)
	}
	ws := &WebSocketReport{}
	var wg sync.WaitGroup
	for range r.cfg.Subscribers {
		wg.Go(func() {
			for !r.over() {
				hold := r.cfg.WSHold/2 + time.Duration(rand.Int64N(int64(r.cfg.WSHold)))
				r.hold("/ws/counter/"+active(), hold, ws)
			}
		})
	}
	r.workers(r.cfg.Conns, func(_ int, k int64) {
		key := active()
		if k%10 == 0 {
			r.do(http.MethodPost, "/rpc/counter:"+key+"/getCount", nil)
			return
		}
		r.do(http.MethodPost, "/rpc/counter:"+key+"/increment", nil)
	})
	rep.Seconds = time.Since(r.start).Seconds()
	wg.Wait()
	rep.WebSocket = ws
	rep.Turns = int(time.Duration(rep.Seconds*float64(time.Second))/r.cfg.IdlePhase) + 1
}

// hold connects a WebSocket to path, reads its frames for about hold
// (never past the end of the run) and closes it.
func (r *runner) hold(path string, hold time.Duration, rep *WebSocketReport) {
	c, err := r.dialWS(path)
	if err != nil {
		if r.ctx.Err() == nil {
			atomic.AddInt64(&rep.ConnectErrors, 1)
			r.fail("ws-connect", err.Error())
			time.Sleep(100 * time.Millisecond) // do not spin on a refusing server
		}
		return
	}
	atomic.AddInt64(&rep.Connects, 1)
	end := time.Now().Add(hold)
	if !r.deadline.IsZero() && r.deadline.Before(end) {
		end = r.deadline
	}
	stop := context.AfterFunc(r.ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	c.SetReadDeadline(end)
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				atomic.AddInt64(&rep.Dropped, 1)
				r.fail("ws-closed", err.Error())
			}
			break
		}
		atomic.AddInt64(&rep.Frames, 1)
	}
	closeWS(c)
}
