package load

import (
	"net/http"
	"strconv"
	"time"
)

// counters runs Distinct and Hot: every request increments a counter,
// the connection's own in Distinct, the one hot counter in Hot.
// Connection w sends to the (w mod n)-th of the n servers.
func (r *runner) counters(rep *Report) {
	servers := r.servers()
	r.workers(r.cfg.Conns, func(w int, _ int64) {
		key := r.cfg.Prefix + "-hot"
		if r.cfg.Scenario == Distinct {
			key = r.cfg.Prefix + "-" + strconv.Itoa(w)
		}
		r.doAt(servers[w%len(servers)], http.MethodPost, "/rpc/counter:"+key+"/increment", nil)
	})
	rep.Seconds = time.Since(r.start).Seconds()
}
