package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"
)

// projSampleEvery is how often actorlog load reads GET /projections while
// it runs.
const projSampleEvery = 50 * time.Millisecond

// projCatchUpWait bounds the wait, after the last request, for every
// projection to reach the head.
const projCatchUpWait = 10 * time.Second

// projectionReport is one projection's lag while the load ran, from
// samples of GET /projections, and how long it took to reach the head once
// the load stopped.
type projectionReport struct {
	Name      string     `json:"name"`
	Samples   int        `json:"samples"`
	LagEvents lagSummary `json:"lag_events"`
	LagMs     lagSummary `json:"lag_ms"`
	// CatchUpMs is the time from the end of the load until the projection
	// was at the head; -1 if it was not within 10 s.
	CatchUpMs float64 `json:"catch_up_ms"`
}

type lagSummary struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func summarize(v []float64) lagSummary {
	if len(v) == 0 {
		return lagSummary{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(i, 0)]
	}
	return lagSummary{P50: at(0.50), P99: at(0.99), Max: s[len(s)-1]}
}

// projStatus is the part of GET /projections that load reads.
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
func (r *loadRun) projections(ctx context.Context) ([]projStatus, error) {
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

// serverSample is the server's figures from /metrics at one moment of
// the run.
type serverSample struct {
	Seconds    float64 `json:"t"` // since the start of the run
	Goroutines int64   `json:"goroutines"`
	HeapInuse  int64   `json:"heap_inuse_bytes"`
	RSS        int64   `json:"rss_bytes"`
	Awake      int64   `json:"active_actors"`
	Conns      int64   `json:"connections"`
}

// runWatch samples the server while a load runs: its projections every
// projSampleEvery, and its /metrics every --sample-every. Its goroutine
// is owned by the load run: stop ends it and waits for it.
type runWatch struct {
	r      *loadRun
	every  time.Duration // of /metrics; 0: never
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	events  map[string][]float64
	lagMs   map[string][]float64
	samples []serverSample
}

// watch starts sampling the server until stop is called.
func (r *loadRun) watch(every time.Duration) *runWatch {
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
			st, err := w.r.projections(ctx)
			if err == nil && st == nil {
				projections = false // the server runs none
			}
			if err == nil {
				w.mu.Lock()
				for _, p := range st {
					w.events[p.Name] = append(w.events[p.Name], float64(p.LagEvents))
					w.lagMs[p.Name] = append(w.lagMs[p.Name], float64(p.LagMs))
				}
				w.mu.Unlock()
			}
		}
		if w.every > 0 && time.Since(lastScrape) >= w.every {
			lastScrape = time.Now()
			if m, err := w.r.scrape(); err == nil {
				w.mu.Lock()
				w.samples = append(w.samples, serverSample{
					Seconds:    math.Round(time.Since(w.start).Seconds()*10) / 10,
					Goroutines: int64(m["go_goroutines"]),
					HeapInuse:  int64(m["go_memstats_heap_inuse_bytes"]),
					RSS:        int64(m["process_resident_memory_bytes"]),
					Awake:      int64(m["actorlog_active_actors"]),
					Conns:      int64(m["actorlog_connections"]),
				})
				w.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stop ends the sampling, waits, at most projCatchUpWait, for every
// projection to reach the head, and reports the projections (nil when the
// server runs none) and the samples of /metrics.
func (w *runWatch) stop() ([]projectionReport, []serverSample) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.events) == 0 {
		return nil, w.samples
	}
	names := make([]string, 0, len(w.events))
	for name := range w.events {
		names = append(names, name)
	}
	sort.Strings(names)
	caught := map[string]float64{}
	start := time.Now()
	ctx := context.WithoutCancel(w.r.ctx)
	for len(caught) < len(names) && time.Since(start) < projCatchUpWait {
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
	out := make([]projectionReport, 0, len(names))
	for _, name := range names {
		c, ok := caught[name]
		if !ok {
			c = -1
		}
		out = append(out, projectionReport{
			Name:      name,
			Samples:   len(w.events[name]),
			LagEvents: summarize(w.events[name]),
			LagMs:     summarize(w.lagMs[name]),
			CatchUpMs: c,
		})
	}
	return out, w.samples
}
