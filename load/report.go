package load

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Report is what a run measured. actorlog load prints it with Print, or
// as JSON with these field names.
type Report struct {
	Scenario       string           `json:"scenario"`
	Server         string           `json:"server"`
	Conns          int              `json:"conns"`
	Seconds        float64          `json:"seconds"` // of the bounded part of the run
	Interrupted    bool             `json:"interrupted"`
	Calls                           // the client's requests (Abuse: the steady client's, with its warm-up)
	RequestsPerSec float64          `json:"requests_per_sec"`
	Chat           *ChatReport      `json:"chat,omitempty"`
	WebSocket      *WebSocketReport `json:"websocket,omitempty"`
	Turns          int              `json:"turns,omitempty"` // Mixed: turns of Config.IdlePhase
	Abuse          *AbuseReport     `json:"abuse,omitempty"`
	ServerStats    *ServerReport    `json:"server_stats,omitempty"`
	// Projections is nil when the server runs none.
	Projections   []ProjectionReport `json:"projections,omitempty"`
	ServerSamples []ServerSample     `json:"server_samples,omitempty"` // every Config.SampleEvery
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// ChatReport is what the subscribers of Chat received.
type ChatReport struct {
	Room           string           `json:"room"`
	Subscribers    int              `json:"subscribers"`
	Connected      int              `json:"connected"`
	MessagesSent   int64            `json:"messages_sent"`
	FramesExpected int64            `json:"frames_expected"` // messages sent x subscribers connected
	FramesReceived int64            `json:"frames_received"`
	OutOfOrder     int64            `json:"out_of_order"`
	Errors         map[string]int64 `json:"subscriber_errors"`
	Delivery       Latency          `json:"delivery_ms"` // from send to receipt
}

// WebSocketReport is what the subscribers of Mixed did.
type WebSocketReport struct {
	Connects      int64 `json:"connects"`
	ConnectErrors int64 `json:"connect_errors"`
	Dropped       int64 `json:"dropped"` // closed by the server or broken
	Frames        int64 `json:"frames"`
}

// ServerReport is the server's figures from /metrics before and after
// the run; Wakes and Appends are those made during the run.
type ServerReport struct {
	GoroutinesStart int64   `json:"goroutines_start"`
	GoroutinesEnd   int64   `json:"goroutines_end"`
	RSSStartBytes   int64   `json:"rss_start_bytes"`
	RSSEndBytes     int64   `json:"rss_end_bytes"`
	HeapStartBytes  int64   `json:"heap_inuse_start_bytes"`
	HeapEndBytes    int64   `json:"heap_inuse_end_bytes"`
	ActiveActorsEnd int64   `json:"active_actors_end"`
	Wakes           int64   `json:"wakes"`
	Appends         int64   `json:"appends"`
	EventsPerAppend float64 `json:"events_per_append"`
	// CPUSeconds is the server process's CPU time (user and system)
	// over the run, and CPUPerRequestUs that divided by the requests
	// made: what a request costs the server, whatever the client costs.
	CPUSeconds      float64 `json:"cpu_seconds"`
	CPUPerRequestUs float64 `json:"cpu_per_request_us"`
}

// ServerSample is the server's figures from /metrics at one moment of
// the run.
type ServerSample struct {
	Seconds    float64 `json:"t"` // since the start of the run
	Goroutines int64   `json:"goroutines"`
	HeapInuse  int64   `json:"heap_inuse_bytes"`
	RSS        int64   `json:"rss_bytes"`
	Awake      int64   `json:"active_actors"`
	Conns      int64   `json:"connections"`
}

// ProjectionReport is one projection's lag while the load ran, from
// samples of GET /projections every 50ms, and how long it took to reach
// the head once the load stopped.
type ProjectionReport struct {
	Name      string     `json:"name"`
	Samples   int        `json:"samples"`
	LagEvents LagSummary `json:"lag_events"`
	LagMs     LagSummary `json:"lag_ms"`
	// CatchUpMs is the time from the end of the load until the projection
	// was at the head; -1 if it was not within 10 s.
	CatchUpMs float64 `json:"catch_up_ms"`
}

// LagSummary holds percentiles of a projection's lag.
type LagSummary struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// FirstError is the first error of the first kind, by name, that the run
// counted, for a one-line message.
func (rep *Report) FirstError() string {
	keys := slices.Sorted(maps.Keys(rep.FirstErrors))
	if len(keys) == 0 {
		return "no error recorded"
	}
	return keys[0] + ": " + rep.FirstErrors[keys[0]]
}

// Print writes the report as text, one figure a line.
func (rep *Report) Print(w io.Writer) {
	state := ""
	if rep.Interrupted {
		state = ", interrupted"
	}
	fmt.Fprintf(w, "actorlog load: scenario %s, %d conns, %.1fs, %s%s\n", rep.Scenario, rep.Conns, rep.Seconds, rep.Server, state)
	fmt.Fprintf(w, "requests    %s (ok %s, errors %s)\n", commas(rep.Requests), commas(rep.OK), commas(rep.Errors))
	fmt.Fprintf(w, "throughput  %s req/s\n", commas(int64(math.Round(rep.RequestsPerSec))))
	fmt.Fprintf(w, "latency     %s\n", rep.Latency)
	if rep.Errors > 0 {
		for _, k := range slices.Sorted(maps.Keys(rep.ErrorsByStatus)) {
			fmt.Fprintf(w, "errors      %s: %s (first: %s)\n", k, commas(rep.ErrorsByStatus[k]), rep.FirstErrors[k])
		}
	}
	if c := rep.Chat; c != nil {
		fmt.Fprintf(w, "chat        %s: %d subscribers (%d connected), %s messages sent\n", c.Room, c.Subscribers, c.Connected, commas(c.MessagesSent))
		fmt.Fprintf(w, "frames      %s received / %s expected, %d out of order\n", commas(c.FramesReceived), commas(c.FramesExpected), c.OutOfOrder)
		fmt.Fprintf(w, "delivery    %s\n", c.Delivery)
		for k, n := range c.Errors {
			fmt.Fprintf(w, "subscribers %s: %d\n", k, n)
		}
	}
	if ws := rep.WebSocket; ws != nil {
		fmt.Fprintf(w, "websockets  %s connects (%d failed, %d dropped), %s frames\n", commas(ws.Connects), ws.ConnectErrors, ws.Dropped, commas(ws.Frames))
	}
	if rep.Turns > 0 {
		fmt.Fprintf(w, "turns       %d (each half of the counters idles one turn in two)\n", rep.Turns)
	}
	if s := rep.ServerStats; s != nil {
		fmt.Fprintf(w, "server      goroutines %d -> %d, RSS %.1f -> %.1f MiB, heap in use %.1f -> %.1f MiB\n",
			s.GoroutinesStart, s.GoroutinesEnd, mib(s.RSSStartBytes), mib(s.RSSEndBytes), mib(s.HeapStartBytes), mib(s.HeapEndBytes))
		fmt.Fprintf(w, "actors      %s wakes, %d awake at the end, %s appends (%.1f events each)\n", commas(s.Wakes), s.ActiveActorsEnd, commas(s.Appends), s.EventsPerAppend)
		if s.CPUSeconds > 0 {
			fmt.Fprintf(w, "server CPU  %.2f s, %.0f µs a request (user and system)\n", s.CPUSeconds, s.CPUPerRequestUs)
		}
	}
	if ss := rep.ServerSamples; len(ss) > 1 {
		hLo, hHi := minMax(ss, func(s ServerSample) int64 { return s.HeapInuse })
		rLo, rHi := minMax(ss, func(s ServerSample) int64 { return s.RSS })
		gLo, gHi := minMax(ss, func(s ServerSample) int64 { return s.Goroutines })
		fmt.Fprintf(w, "during run  %d samples: heap in use %.1f..%.1f MiB, RSS %.1f..%.1f MiB, goroutines %d..%d\n",
			len(ss), mib(hLo), mib(hHi), mib(rLo), mib(rHi), gLo, gHi)
	}
	for _, p := range rep.Projections {
		caught := "not at the head 10s after the load"
		if p.CatchUpMs >= 0 {
			caught = "at the head " + ms(p.CatchUpMs) + " after the load"
		}
		fmt.Fprintf(w, "projection  %s: lag p50/p99/max %.0f/%.0f/%.0f events, %.0f/%.0f/%.0f ms (%d samples); %s\n",
			p.Name, p.LagEvents.P50, p.LagEvents.P99, p.LagEvents.Max, p.LagMs.P50, p.LagMs.P99, p.LagMs.Max, p.Samples, caught)
	}
	if rep.Abuse != nil {
		rep.Abuse.Print(w)
	}
}

// String gives the percentiles on one line.
func (l Latency) String() string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
}

// minMax returns the least and the greatest of f over the samples.
func minMax(ss []ServerSample, f func(ServerSample) int64) (lo, hi int64) {
	lo, hi = f(ss[0]), f(ss[0])
	for _, s := range ss[1:] {
		lo, hi = min(lo, f(s)), max(hi, f(s))
	}
	return lo, hi
}

// ms formats a duration in milliseconds.
func ms(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
}

// mib converts bytes to MiB.
func mib(b int64) float64 { return float64(b) / (1 << 20) }

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
