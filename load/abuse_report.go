package load

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// AbuseReport is what Abuse measured, phase by phase: Phases starts with
// the baseline, then has one phase per attack, in the order they ran.
type AbuseReport struct {
	Conns        int           `json:"conns"`         // the steady client's connections
	Rate         float64       `json:"rate"`          // its requests a second, over them all
	PhaseSeconds float64       `json:"phase_seconds"` // how long each attack ran
	Phases       []PhaseReport `json:"phases"`
}

// PhaseReport is one phase of Abuse: the steady client's requests sent
// while it ran, the new connections' (a GET /healthz on a new connection
// every 250ms), the server's peaks from /metrics (read every 500ms) and,
// for an attack, what the attack did (one of the attacks' fields).
type PhaseReport struct {
	Name    string  `json:"name"`    // Baseline or the attack
	Seconds float64 `json:"seconds"` // the attack's time and the time it took to stop
	// Steady are the steady client's requests due in the phase and sent,
	// their latency from their due time; SteadyDue are those due, and
	// Unsent those due that were not sent by the end of the run (their
	// worker was held up until then).
	Steady    Calls       `json:"steady"`
	SteadyDue int64       `json:"steady_due"`
	Unsent    int64       `json:"unsent"`
	NewConn   Calls       `json:"new_conn"`
	Server    PhaseServer `json:"server"`

	SlowBodies *ConnsReport     `json:"slow_bodies,omitempty"`
	IdleConns  *ConnsReport     `json:"idle_conns,omitempty"`
	BigFrames  *BigFramesReport `json:"big_frames,omitempty"`
	ManyKeys   *ManyKeysReport  `json:"many_keys,omitempty"`
}

// Calls are the figures of a set of requests.
type Calls struct {
	Requests       int64             `json:"requests"`
	OK             int64             `json:"ok"`
	Errors         int64             `json:"errors"`
	ErrorsByStatus map[string]int64  `json:"errors_by_status"` // HTTP status, or conn, timeout, request
	FirstErrors    map[string]string `json:"first_errors,omitempty"`
	Latency        Latency           `json:"latency_ms"`
}

// PhaseServer holds the highest of the server's figures read from
// /metrics while a phase ran.
type PhaseServer struct {
	Samples        int   `json:"samples"`
	RSSPeak        int64 `json:"rss_peak_bytes"`
	HeapPeak       int64 `json:"heap_inuse_peak_bytes"`
	GoroutinesPeak int64 `json:"goroutines_peak"`
	AwakePeak      int64 `json:"active_actors_peak"`
}

// ConnsReport is what the connections of SlowBodies or IdleConns met.
type ConnsReport struct {
	Conns        int    `json:"conns"`  // held open at once
	Opened       int64  `json:"opened"` // in all
	Failed       int64  `json:"failed"` // could not connect, or (IdleConns) make their request
	FirstFailure string `json:"first_failure,omitempty"`
	// CutOff connections were closed by the server while the attack ran,
	// each CutAfter its setting up (SlowBodies: its headers sent;
	// IdleConns: its reply read); CutOffBy counts them by the status of
	// the server's reply, or "closed" or "reset" when it sent none.
	CutOff   int64            `json:"cut_off"`
	CutOffBy map[string]int64 `json:"cut_off_by"`
	CutAfter Latency          `json:"cut_after_ms"`
	// OpenAtEnd were still open at the end, the oldest set up
	// OldestOpenMs before; SettingUpAtEnd had not finished setting up
	// (IdleConns: had no reply to their request, as they waited to be
	// accepted).
	OpenAtEnd      int64   `json:"open_at_end"`
	OldestOpenMs   float64 `json:"oldest_open_ms"`
	SettingUpAtEnd int64   `json:"setting_up_at_end"`
	Trickled       int64   `json:"bytes_trickled,omitempty"` // SlowBodies
	// Request is, in IdleConns, the time from connecting to the reply of
	// the request made before idling.
	Request *Latency `json:"request_ms,omitempty"`
}

// BigFramesReport is what the WebSockets of BigFrames sent and how fast
// the server read it: the server answers each frame it reads.
type BigFramesReport struct {
	Sockets       int              `json:"sockets"`
	FrameBytes    int              `json:"frame_bytes"`
	Connects      int64            `json:"connects"`
	Failed        int64            `json:"failed"` // connects that failed
	FirstFailure  string           `json:"first_failure,omitempty"`
	FramesSent    int64            `json:"frames_sent"` // written whole
	Replies       int64            `json:"replies"`
	ReadMiBPerSec float64          `json:"read_mib_per_sec"` // by one socket: replies x frame bytes / time / sockets
	Closed        int64            `json:"closed"`           // by the server while the attack ran
	ClosedBy      map[string]int64 `json:"closed_by"`        // close code, or "closed"
}

// ManyKeysReport is what the calls of ManyKeys to new keys met: OK is the
// number of new keys called successfully.
type ManyKeysReport struct {
	Conns int `json:"conns"`
	Calls
	PerSec float64 `json:"ok_per_sec"`
}

// Print writes the report: a table of the phases, then a line per
// attack and per phase with errors.
func (ar *AbuseReport) Print(w io.Writer) {
	fmt.Fprintf(w, "abuse       steady client of %d conns at %s req/s, latency from each request's due time; attacks of %.1fs\n",
		ar.Conns, commas(int64(ar.Rate)), ar.PhaseSeconds)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\ttime\tsteady due\tunsent\terrors\tp50\tp99\tmax\tnew conn p50\tmax\tRSS peak\theap peak\tgoroutines\tawake")
	for _, p := range ar.Phases {
		s, n := p.Steady, p.NewConn
		fmt.Fprintf(tw, "%s\t%.1fs\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f MiB\t%.1f MiB\t%s\t%s\n", p.Name, p.Seconds,
			commas(p.SteadyDue), commas(p.Unsent), commas(s.Errors), ms(s.Latency.P50), ms(s.Latency.P99), ms(s.Latency.Max),
			ms(n.Latency.P50), ms(n.Latency.Max), mib(p.Server.RSSPeak), mib(p.Server.HeapPeak),
			commas(p.Server.GoroutinesPeak), commas(p.Server.AwakePeak))
	}
	tw.Flush()
	for _, p := range ar.Phases {
		p.printAttack(w)
		printErrors(w, "steady", p.Name, p.Steady)
		printErrors(w, "new conns", p.Name, p.NewConn)
	}
}

// printAttack writes what p's attack did, on one line.
func (p *PhaseReport) printAttack(w io.Writer) {
	switch {
	case p.SlowBodies != nil:
		fmt.Fprintf(w, "%-11s %s; %s bytes trickled\n", p.Name, p.SlowBodies, commas(p.SlowBodies.Trickled))
	case p.IdleConns != nil:
		fmt.Fprintf(w, "%-11s %s", p.Name, p.IdleConns)
		if l := p.IdleConns.Request; l != nil {
			fmt.Fprintf(w, "; their request p50 %s, max %s", ms(l.P50), ms(l.Max))
		}
		fmt.Fprintln(w)
	case p.BigFrames != nil:
		b := p.BigFrames
		fmt.Fprintf(w, "%-11s %d sockets of %s-byte frames: %s connects (%s failed); %s frames sent, %s answered: the server read %.2f MiB/s a socket; %s closed by the server%s\n",
			p.Name, b.Sockets, commas(int64(b.FrameBytes)), commas(b.Connects), commas(b.Failed), commas(b.FramesSent), commas(b.Replies),
			b.ReadMiBPerSec, commas(b.Closed), countsOf(b.ClosedBy))
	case p.ManyKeys != nil:
		k := p.ManyKeys
		fmt.Fprintf(w, "%-11s %d conns: %s new keys called, %s ok (%s/s), %s failed%s; latency %s\n",
			p.Name, k.Conns, commas(k.Requests), commas(k.OK), commas(int64(k.PerSec)), commas(k.Errors), countsOf(k.ErrorsByStatus), k.Latency)
	}
}

// String describes what the connections met, on one line.
func (c *ConnsReport) String() string {
	failed := commas(c.Failed) + " failed"
	if c.FirstFailure != "" {
		failed += ", the first: " + c.FirstFailure
	}
	s := fmt.Sprintf("%s held open: %s opened (%s); %s cut off by the server%s after p50 %.2fs, max %.2fs; %s open at the end, the oldest for %.2fs",
		commas(int64(c.Conns)), commas(c.Opened), failed, commas(c.CutOff), countsOf(c.CutOffBy),
		c.CutAfter.P50/1e3, c.CutAfter.Max/1e3, commas(c.OpenAtEnd), c.OldestOpenMs/1e3)
	if c.SettingUpAtEnd > 0 {
		s += fmt.Sprintf(", %s still setting up", commas(c.SettingUpAtEnd))
	}
	return s
}

// countsOf is " (k: n, ...)", by key, or nothing for no counts.
func countsOf(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+": "+commas(m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// printErrors writes the errors of c, by kind with the first message, in
// the phase named phase.
func printErrors(w io.Writer, what, phase string, c Calls) {
	for _, k := range slices.Sorted(maps.Keys(c.ErrorsByStatus)) {
		fmt.Fprintf(w, "%-11s %s: %s: %s (first: %s)\n", what, phase, k, commas(c.ErrorsByStatus[k]), c.FirstErrors[k])
	}
}
