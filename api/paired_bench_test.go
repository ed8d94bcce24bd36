//go:build unix

package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The paired benchmarks measure the issue-16 ratios with the compared
// loads interleaved in one run, so that the machine's drift (fsync latency
// and CPU speed both move by up to 2x within minutes here) falls on every
// load alike, instead of on whichever ran in the slow stretch.
//
//	go test ./api -run '^$' -bench RPCPaired -benchtime 20000x -count 3
//
// conns=1: one goroutine sends an RPC increment and a request to
// BareHTTPAppend's handler in turn (bare first in even pairs, RPC first in
// odd ones), each on its own connection, each store in its own directory;
// b.N is the number of pairs. "rpc/bare" is the bare handler's mean
// latency over RPC's: the throughput ratio at one connection.
//
// conns=64: four loads, each from 64 connections of its own, run in
// rounds of short phases, one load at a time, in an order that turns each
// round: the bare append handler ("bare"), RPC on 64 distinct counters
// ("distinct"), RPC on one counter ("hot"), and calls over 64 sockets on
// distinct counters ("socket"). Each load makes about b.N requests (b.N/8
// a phase, at least 64). For
// each load it reports the process's CPU per request (user and system,
// client and server, as all share the process) and its requests/s over its
// phases; and the ratios of the issue, of CPU per request (the cost) and
// of requests/s: "distinct/bare" (bare's CPU over distinct's), "hot/distinct",
// "socket/distinct".
func BenchmarkRPCPaired(b *testing.B) {
	b.Run("conns=1", benchPairedOne)
	b.Run(fmt.Sprintf("conns=%d", benchConns), benchPairedPhases)
}

func benchPairedOne(b *testing.B) {
	bareURL := startBareAppend(b)
	s := startBenchServer(b)
	urls := [2]string{bareURL + "/rpc/counter:p/increment", s.url + "/rpc/counter:p/increment"}
	clients := [2]*http.Client{benchClient(), benchClient()}
	for _, c := range clients {
		defer c.CloseIdleConnections()
	}
	call := func(i int) (time.Duration, error) {
		t := time.Now()
		err := benchPost(clients[i], urls[i], nil)
		return time.Since(t), err
	}
	for i := range 2 { // open the connections, wake the actor
		if _, err := call(i); err != nil {
			b.Fatal(err)
		}
	}
	lat := [2][]time.Duration{make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)}
	b.ResetTimer()
	for n := range b.N {
		for j := range 2 {
			i := j ^ n&1
			d, err := call(i)
			if err != nil {
				b.Fatal(err)
			}
			lat[i] = append(lat[i], d)
		}
	}
	b.StopTimer()
	s.checkEvents(b, 1, func(int) string { return "p" }, b.N+1)
	var mean [2]float64
	for i, name := range []string{"bare", "rpc"} {
		var sum time.Duration
		for _, d := range lat[i] {
			sum += d
		}
		mean[i] = float64(sum) / float64(len(lat[i])) / float64(time.Microsecond)
		b.ReportMetric(mean[i], name+"-us")
		slices.Sort(lat[i])
		b.ReportMetric(benchPercentile(lat[i], 0.50), name+"-p50-us")
	}
	b.ReportMetric(mean[0]/mean[1], "rpc/bare")
}

// pairedRounds is the number of phases each load of benchPairedPhases
// runs in.
const pairedRounds = 8

// pairedLoad is one load of benchPairedPhases: call(w, n) is request n
// of connection w.
type pairedLoad struct {
	name string
	call func(w int, n int64) error
	sent int           // requests made, warm-up included
	cpu  time.Duration // the process's CPU over its phases
	wall time.Duration
	reqs int
}

func benchPairedPhases(b *testing.B) {
	conns := benchConns
	bareURL := startBareAppend(b)
	s := startBenchServer(b)

	httpLoad := func(name string, url func(w int) string) *pairedLoad {
		clients := make([]*http.Client, conns)
		for w := range clients {
			clients[w] = benchClient()
			b.Cleanup(clients[w].CloseIdleConnections)
		}
		return &pairedLoad{name: name, call: func(w int, _ int64) error { return benchPost(clients[w], url(w), nil) }}
	}
	bare := httpLoad("bare", func(w int) string { return bareURL + "/rpc/counter:b" + strconv.Itoa(w) + "/increment" })
	distinct := httpLoad("distinct", func(w int) string { return s.url + "/rpc/counter:d" + strconv.Itoa(w) + "/increment" })
	hot := httpLoad("hot", func(int) string { return s.url + "/rpc/counter:hot/increment" })
	socks := make([]*websocket.Conn, conns)
	for w := range socks {
		c, _, err := websocket.DefaultDialer.Dial("ws"+s.url[len("http"):]+"/ws/counter/s"+strconv.Itoa(w), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		socks[w] = c
	}
	var callID atomic.Int64
	socket := &pairedLoad{name: "socket", call: func(w int, _ int64) error {
		return benchSocketCall(socks[w], strconv.FormatInt(callID.Add(1), 10))
	}}
	loads := []*pairedLoad{bare, distinct, hot, socket}
	for _, ld := range loads { // open the connections, wake the actors
		for w := range conns {
			if err := ld.call(w, 0); err != nil {
				b.Fatal(err)
			}
			ld.sent++
		}
	}

	b.ResetTimer()
	per := max(b.N/pairedRounds, conns)
	for r := range pairedRounds {
		for i := range loads {
			ld := loads[(r+i)%len(loads)]
			if err := ld.phase(b, conns, per); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()

	s.checkEvents(b, conns, func(w int) string { return "d" + strconv.Itoa(w) }, distinct.sent)
	s.checkEvents(b, 1, func(int) string { return "hot" }, hot.sent)
	s.checkEvents(b, conns, func(w int) string { return "s" + strconv.Itoa(w) }, socket.sent)
	cpu := map[string]float64{}
	rate := map[string]float64{}
	for _, ld := range loads {
		cpu[ld.name] = float64(ld.cpu) / float64(time.Microsecond) / float64(ld.reqs)
		rate[ld.name] = float64(ld.reqs) / ld.wall.Seconds()
		b.ReportMetric(cpu[ld.name], ld.name+"-cpu-us/op")
		b.ReportMetric(rate[ld.name], ld.name+"-req/s")
	}
	for _, q := range [][2]string{{"distinct", "bare"}, {"hot", "distinct"}, {"socket", "distinct"}} {
		b.ReportMetric(cpu[q[1]]/cpu[q[0]], q[0]+"/"+q[1]+"-cpu")
		b.ReportMetric(rate[q[0]]/rate[q[1]], q[0]+"/"+q[1]+"-req/s")
	}
}

// phase makes n requests of the load from conns goroutines and adds its
// CPU, wall time and requests to the load's.
func (ld *pairedLoad) phase(b *testing.B, conns, n int) error {
	var next atomic.Int64
	errs := make([]error, conns)
	var wg sync.WaitGroup
	cpu0, t0 := benchCPU(b), time.Now()
	for w := range conns {
		wg.Go(func() {
			for k := next.Add(1); k <= int64(n); k = next.Add(1) {
				if err := ld.call(w, k); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	ld.wall += time.Since(t0)
	ld.cpu += benchCPU(b) - cpu0
	ld.reqs += n
	ld.sent += n
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", ld.name, err)
		}
	}
	return nil
}
