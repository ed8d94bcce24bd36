package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"
)

// projSampleEvery is how often a run reads GET /projections while it
// runs.
const projSampleEvery = 50 * time.Millisecond

// projCatchUpWait bounds the wait, after the last request, for every
// projection to reach the head.
const projCatchUpWait = 10 * time.Second

// projStatus is the part of GET /projections that a run reads.
type projStatus struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	Position  uint64 `json:"position"`
	Head      uint64 `json:"head"`
	LagEvents uint64 `json:"lagEvents"`
	LagMs     int64  `json:"lagMs"`
}

// projections reads GET /projections; a server that runs none answers
// 404, which is (nil, nil).
func (r *runner) projections(ctx context.Context) ([]projStatus, error) {
	var body struct {
		Projections []projStatus `json:"projections"`
	}
	status, err := r.getServer(ctx, "/projections", func(rd io.Reader) error {
		if err := json.NewDecoder(rd).Decode(&body); err != nil {
			return fmt.Errorf("/projections: %w", err)
		}
		return nil
	}, http.StatusNotFound)
	if err != nil || status == http.StatusNotFound {
		return nil, err
	}
	return body.Projections, nil
}

// runWatch samples the server while a load runs: its projections every
// projSampleEvery, and its /metrics every Config.SampleEvery. Its
// goroutine is owned by the run: stop ends it and waits for it.
type runWatch struct {
	r      *runner
	every  time.Duration // of /metrics; 0: never
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	events  map[string][]float64
	lagMs   map[string][]float64
	samples []ServerSample
}

// watch starts sampling the server until stop is called.
func (r *runner) watch(every time.Duration) *runWatch {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.ctx))
	w := &runWatch{r: r, every: every, start: time.Now(), cancel: cancel, done: make(chan struct{}), events: map[string][]float64{}, lagMs: map[string][]float64{}}
	go w.run(ctx)
	return w
}

func (w *runWatch) run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(projSampleEvery)
	defer t.Stop()
	projections := true
	var lastScrape time.Time
	for {
		if projections {
			projections = w.sampleProjections(ctx)
		}
		if w.every > 0 && time.Since(lastScrape) >= w.every {
			lastScrape = time.Now()
			w.sampleMetrics()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sampleProjections records the projections' lag. It returns false if
// the server runs none.
func (w *runWatch) sampleProjections(ctx context.Context) bool {
	st, err := w.r.projections(ctx)
	if err != nil {
		return true
	}
	if st == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range st {
		w.events[p.Name] = append(w.events[p.Name], float64(p.LagEvents))
		w.lagMs[p.Name] = append(w.lagMs[p.Name], float64(p.LagMs))
	}
	return true
}

// sampleMetrics records the server's figures from /metrics.
func (w *runWatch) sampleMetrics() {
	m, err := w.r.scrape()
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples = append(w.samples, ServerSample{
		Seconds:    math.Round(time.Since(w.start).Seconds()*10) / 10,
		Goroutines: int64(m["go_goroutines"]),
		HeapInuse:  int64(m["go_memstats_heap_inuse_bytes"]),
		RSS:        int64(m["process_resident_memory_bytes"]),
		Awake:      int64(m["actorlog_active_actors"]),
		Conns:      int64(m["actorlog_connections"]),
	})
}

// stop ends the sampling, waits, at most projCatchUpWait, for every
// projection to reach the head, and reports the projections (nil when the
// server runs none) and the samples of /metrics.
func (w *runWatch) stop() ([]ProjectionReport, []ServerSample) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.events) == 0 {
		return nil, w.samples
	}
	names := slices.Sorted(maps.Keys(w.events))
	caught := w.catchUp(len(names))
	out := make([]ProjectionReport, 0, len(names))
	for _, name := range names {
		c, ok := caught[name]
		if !ok {
			c = -1
		}
		out = append(out, ProjectionReport{
			Name:      name,
			Samples:   len(w.events[name]),
			LagEvents: summarize(w.events[name]),
			LagMs:     summarize(w.lagMs[name]),
			CatchUpMs: c,
		})
	}
	return out, w.samples
}

// catchUp polls the projections until n of them are at the head, or for
// at most projCatchUpWait, and returns how many milliseconds each took.
func (w *runWatch) catchUp(n int) map[string]float64 {
	caught := map[string]float64{}
	start := time.Now()
	ctx := context.WithoutCancel(w.r.ctx)
	for len(caught) < n && time.Since(start) < projCatchUpWait {
		st, err := w.r.projections(ctx)
		if err != nil || st == nil {
			break
		}
		for _, p := range st {
			if _, ok := caught[p.Name]; !ok && p.LagEvents == 0 {
				caught[p.Name] = float64(time.Since(start).Microseconds()) / 1e3
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return caught
}

// summarize returns the percentiles of v.
func summarize(v []float64) LagSummary {
	if len(v) == 0 {
		return LagSummary{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(i, 0)]
	}
	return LagSummary{P50: at(0.50), P99: at(0.99), Max: s[len(s)-1]}
}
