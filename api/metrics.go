package api

import (
	"net/http"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the Prometheus metrics of the server and the runtime. It
// implements actors.Metrics.
type Metrics struct {
	reg      *prometheus.Registry
	actions  *prometheus.HistogramVec
	appends  prometheus.Histogram
	batch    prometheus.Histogram
	wakes    *prometheus.HistogramVec
	replayed prometheus.Counter
	active   prometheus.Gauge
	conns    prometheus.Gauge
}

// NewMetrics registers the metrics in reg (a new registry if nil), with
// the Go and process collectors.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		reg: reg,
		actions: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "actorlog_action_duration_seconds",
			Help:    "Time from a call's arrival to its durable reply, by actor type, action and error code (empty: success).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"type", "action", "code"}),
		appends: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "actorlog_append_duration_seconds",
			Help:    "Time of one durable append made by an actor.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "actorlog_append_events",
			Help:    "Events in one durable append made by an actor (several actions may share one).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		wakes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "actorlog_wake_duration_seconds",
			Help:    "Time to wake an actor: snapshot load and replay.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"type"}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "actorlog_wake_replayed_events_total",
			Help: "Events replayed while waking actors.",
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "actorlog_active_actors",
			Help: "Actors awake in memory.",
		}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "actorlog_connections",
			Help: "Open connections (WebSockets) to actors.",
		}),
	}
	reg.MustRegister(m.actions, m.appends, m.batch, m.wakes, m.replayed, m.active, m.conns)
	return m
}

// watch registers figures read from the server when scraped.
func (m *Metrics) watch(s *Server) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "actorlog_log_durable_position",
		Help: "The global position of the last durable event.",
	}, func() float64 { return float64(s.log.Durable()) }))
}

// Register adds collectors of the program's own to the registry that
// /metrics serves.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Action implements actors.Metrics.
func (m *Metrics) Action(typ, action string, code actors.Code, d time.Duration) {
	m.actions.WithLabelValues(typ, action, string(code)).Observe(d.Seconds())
}

// Append implements actors.Metrics.
func (m *Metrics) Append(events int, d time.Duration) {
	m.appends.Observe(d.Seconds())
	m.batch.Observe(float64(events))
}

// Wake implements actors.Metrics.
func (m *Metrics) Wake(typ string, replayed int, d time.Duration) {
	m.wakes.WithLabelValues(typ).Observe(d.Seconds())
	m.replayed.Add(float64(replayed))
}

// ActiveActors implements actors.Metrics.
func (m *Metrics) ActiveActors(delta int) { m.active.Add(float64(delta)) }

// Connections implements actors.Metrics.
func (m *Metrics) Connections(delta int) { m.conns.Add(float64(delta)) }
