//go:build unix

package api_test

import (
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/vmihailenco/msgpack/v5"
)

// BenchmarkRPCPaired measures RPC increment on one connection against
// BareHTTPAppend's handler on one connection of its own, their requests
// taken in turn by one goroutine (bare, RPC, RPC, bare, ...), each store
// in its own directory: the fsync latency, which moves by 2-4x within
// minutes on a shared disk, moves under both alike, and the ratio of their
// mean latencies is the throughput ratio at one connection that
// BenchmarkRPC/distinct/conns=1 against BenchmarkBareHTTPAppend/conns=1
// gives only in separate, unequal stretches of time. b.N is the number of
// pairs. It reports each one's mean and p50 latency in µs and
// "rpc/bare", mean bare latency over mean RPC latency (1 when RPC costs
// nothing over the bare append).
//
//	go test ./api -run '^$' -bench RPCPaired -benchtime 20000x -count 3
func BenchmarkRPCPaired(b *testing.B) {
	data, err := msgpack.Marshal(map[string]int64{"count": 1, "lastUpdated": time.Now().UnixMilli()})
	if err != nil {
		b.Fatal(err)
	}
	l, err := eventlog.Open(b.TempDir(), eventlog.Options{Logger: benchQuiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	bare := httptest.NewServer(bareAppendHandler(l, data))
	defer bare.Close()
	s := startBenchServer(b)

	urls := [2]string{bare.URL + "/rpc/counter:p/increment", s.url + "/rpc/counter:p/increment"}
	bc, rc := benchClient(), benchClient()
	defer bc.CloseIdleConnections()
	defer rc.CloseIdleConnections()
	call := func(i int) (time.Duration, error) {
		c := bc
		if i == 1 {
			c = rc
		}
		t := time.Now()
		err := benchPost(c, urls[i], nil)
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
			i := j ^ n&1 // bare first in even pairs, RPC first in odd ones
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
