package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// testRunner is a runner of cfg against the server at url, with its own
// connections, closed when the test ends.
func testRunner(t *testing.T, url string, cfg Config) *runner {
	t.Helper()
	cfg.Server = url
	cfg, u, err := cfg.resolve()
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &runner{cfg: cfg, ctx: context.Background(), client: &http.Client{Transport: tr}, base: u.String(),
		tally: newTally()}
}

// TestScrape reads a /metrics served by a Prometheus registry holding the
// server's metrics, as the server does, with the Go and process collectors.
func TestScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	active := prometheus.NewGauge(prometheus.GaugeOpts{Name: "actorlog_active_actors", Help: "Actors awake."})
	conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "actorlog_connections", Help: "Connections."}, []string{"kind"})
	wakes := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "actorlog_wake_duration_seconds", Help: "Wakes.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"type"})
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "actorlog_append_events", Help: "Events in one append.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11)})
	reg.MustRegister(active, conns, wakes, batch)
	active.Set(7)
	conns.WithLabelValues("counter").Set(2)
	conns.WithLabelValues("chatRoom").Set(3)
	wakes.WithLabelValues("counter").Observe(0.001)
	wakes.WithLabelValues("counter").Observe(0.002)
	wakes.WithLabelValues("chatRoom").Observe(0.5)
	for _, n := range []float64{1, 2, 3, 10} {
		batch.Observe(n)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	m, err := testRunner(t, srv.URL, Config{}).scrape()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"actorlog_active_actors":               7,
		"actorlog_connections":                 5, // summed over the labels
		"actorlog_wake_duration_seconds_count": 3,
		"actorlog_append_events_count":         4,
		"actorlog_append_events_sum":           16,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_memstats_heap_inuse_bytes"} {
		if m[name] <= 0 {
			t.Errorf("%s = %v, want a positive figure", name, m[name])
		}
	}
	if len(m) != len(scrapedMetrics) {
		t.Errorf("scraped %d figures, want the %d of scrapedMetrics: %v", len(m), len(scrapedMetrics), m)
	}

	// A server without /metrics: an error naming the status.
	if _, err := testRunner(t, srv.URL+"/none", Config{}).scrape(); err == nil || !strings.Contains(err.Error(), "status 404") {
		t.Errorf("scrape of a 404: %v", err)
	}
}

func TestParseMetrics(t *testing.T) {
	const body = `# HELP up Whether the target is up.
# TYPE up gauge
up{job="a"} 1
up{job="b",instance="x:1"} 1
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.2
rpc_seconds_sum 12.5
rpc_seconds_count 50
untyped_total 3 1700000000000
escaped{path="a\"}b"} 4
`
	m, err := ParseMetrics(strings.NewReader(body), "up", "rpc_seconds_sum", "rpc_seconds_count", "untyped_total", "escaped", "absent")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"up": 2, "rpc_seconds_sum": 12.5, "rpc_seconds_count": 50, "untyped_total": 3, "escaped": 4}
	if len(m) != len(want) {
		t.Errorf("got %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}

	// Not an exposition: an error, not a partial map.
	for _, bad := range []string{"up{job=\"a\" 1\n", "up one\n", "# TYPE up gauge\n# TYPE up counter\nup 1\n"} {
		if m, err := ParseMetrics(strings.NewReader(bad), "up"); err == nil {
			t.Errorf("%q: no error, %v", bad, m)
		}
	}
}

func TestServerStats(t *testing.T) {
	before := map[string]float64{"go_goroutines": 10, "process_resident_memory_bytes": 100, "go_memstats_heap_inuse_bytes": 50,
		"actorlog_wake_duration_seconds_count": 5, "actorlog_append_events_count": 10, "actorlog_append_events_sum": 10,
		"process_cpu_seconds_total": 1.5}
	after := map[string]float64{"go_goroutines": 12, "process_resident_memory_bytes": 200, "go_memstats_heap_inuse_bytes": 70,
		"actorlog_active_actors": 3, "actorlog_wake_duration_seconds_count": 9, "actorlog_append_events_count": 14, "actorlog_append_events_sum": 20,
		"process_cpu_seconds_total": 4}
	got := *serverStats(before, after)
	want := ServerReport{GoroutinesStart: 10, GoroutinesEnd: 12, RSSStartBytes: 100, RSSEndBytes: 200, HeapStartBytes: 50, HeapEndBytes: 70,
		ActiveActorsEnd: 3, Wakes: 4, Appends: 4, EventsPerAppend: 2.5, CPUSeconds: 2.5}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if s := serverStats(before, before); s.Appends != 0 || s.EventsPerAppend != 0 {
		t.Errorf("no appends: %+v", s)
	}
}
