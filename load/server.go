package load

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// health checks that every server answers GET /healthz with 200.
func (r *runner) health() error {
	for _, base := range r.servers() {
		if err := r.healthOf(base); err != nil {
			return err
		}
	}
	return nil
}

// healthOf checks that the server at base answers GET /healthz with 200.
func (r *runner) healthOf(base string) error {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("the server at %s does not answer: %w", base, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the server at %s answers /healthz with status %d", base, resp.StatusCode)
	}
	return nil
}

// getServer sends GET path to the server, with the token, within 5s,
// and hands a 200 reply's body to read. Another status is an error
// naming it, but for the ones listed in ok, whose replies are skipped
// and returned as (status, nil).
func (r *runner) getServer(ctx context.Context, path string, read func(io.Reader) error, ok ...int) (int, error) {
	return r.getServerOn(ctx, r.client, path, read, ok...)
}

// getServerOn is getServer by client.
func (r *runner) getServerOn(ctx context.Context, client *http.Client, path string, read func(io.Reader) error, ok ...int) (int, error) {
	return r.getServerAt(ctx, client, r.base, path, read, ok...)
}

// getServerAt is getServerOn to the server at base.
func (r *runner) getServerAt(ctx context.Context, client *http.Client, base, path string, read func(io.Reader) error, ok ...int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	r.authorize(req.Header)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		if slices.Contains(ok, resp.StatusCode) {
			return resp.StatusCode, nil
		}
		return resp.StatusCode, fmt.Errorf("%s: status %d", path, resp.StatusCode)
	}
	return resp.StatusCode, read(resp.Body)
}

// scrapedMetrics are the figures of /metrics that a run reads.
var scrapedMetrics = []string{
	"go_goroutines",
	"process_resident_memory_bytes",
	"process_cpu_seconds_total",
	"go_memstats_heap_inuse_bytes",
	"actorlog_active_actors",
	"actorlog_connections",
	"actorlog_wake_duration_seconds_count",
	"actorlog_append_events_sum",
	"actorlog_append_events_count",
}

// scrape reads the figures of scrapedMetrics from the server's /metrics,
// even once the run is interrupted; with several servers, each figure
// is their sum.
func (r *runner) scrape() (map[string]float64, error) {
	return r.scrapeOn(r.client)
}

// scrapeOn is scrape by client.
func (r *runner) scrapeOn(client *http.Client) (map[string]float64, error) {
	sum := map[string]float64{}
	for _, base := range r.servers() {
		var m map[string]float64
		_, err := r.getServerAt(context.WithoutCancel(r.ctx), client, base, "/metrics", func(body io.Reader) (err error) {
			m, err = ParseMetrics(body, scrapedMetrics...)
			return err
		})
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			sum[k] += v
		}
	}
	return sum, nil
}

// settle waits, briefly (at most 2s), for the server to see the run's
// WebSockets and connections close: until it counts no more actor
// connections than before the run and its goroutine count holds still, so
// that the goroutines at the end are not the run's.
func (r *runner) settle(before map[string]float64) {
	end := time.Now().Add(2 * time.Second)
	last, same := -1.0, 0
	for time.Now().Before(end) {
		m, err := r.scrape()
		if err != nil {
			return
		}
		if m["actorlog_connections"] <= before["actorlog_connections"] {
			if g := m["go_goroutines"]; g == last {
				if same++; same >= 3 {
					return
				}
			} else {
				last, same = g, 0
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ParseMetrics reads a Prometheus text exposition, such as the server's
// /metrics, and returns the named samples, each summed over its labels.
// A histogram's or summary's count and sum are named with their suffix:
// actorlog_append_events_count. Names absent from the exposition are
// absent from the map.
func ParseMetrics(rd io.Reader, names ...string) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rd)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, slices.Collect(maps.Values(fams))...)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m := map[string]float64{}
	for _, s := range samples {
		if name := string(s.Metric[model.MetricNameLabel]); slices.Contains(names, name) {
			m[name] += float64(s.Value)
		}
	}
	return m, nil
}

// serverStats compares the server's figures before and after the run.
func serverStats(before, after map[string]float64) *ServerReport {
	s := &ServerReport{
		GoroutinesStart: int64(before["go_goroutines"]),
		GoroutinesEnd:   int64(after["go_goroutines"]),
		RSSStartBytes:   int64(before["process_resident_memory_bytes"]),
		RSSEndBytes:     int64(after["process_resident_memory_bytes"]),
		HeapStartBytes:  int64(before["go_memstats_heap_inuse_bytes"]),
		HeapEndBytes:    int64(after["go_memstats_heap_inuse_bytes"]),
		ActiveActorsEnd: int64(after["actorlog_active_actors"]),
		Wakes:           int64(after["actorlog_wake_duration_seconds_count"] - before["actorlog_wake_duration_seconds_count"]),
		Appends:         int64(after["actorlog_append_events_count"] - before["actorlog_append_events_count"]),
		CPUSeconds:      after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"],
	}
	if s.Appends > 0 {
		s.EventsPerAppend = (after["actorlog_append_events_sum"] - before["actorlog_append_events_sum"]) / float64(s.Appends)
	}
	return s
}
