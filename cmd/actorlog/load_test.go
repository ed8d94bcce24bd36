package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
	"github.com/actorlog/actorlog/snapshots"
)

// startLoadServer serves the seed actors in process, on a loopback
// httptest server over a durable log in a temporary directory, as serve
// wires them. Actors idle for idle go to sleep.
func startLoadServer(t *testing.T, idle time.Duration, token string) string {
	t.Helper()
	return startLoadServerWith(t, idle, token, false)
}

// startLoadServerWith is startLoadServer, with the directory and chat
// rooms projections running if projections is set.
func startLoadServerWith(t *testing.T, idle time.Duration, token string, projections bool) string {
	t.Helper()
	l, err := eventlog.Open(t.TempDir(), eventlog.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	snaps := snapshots.New(l, snapshots.Options{})
	metrics := api.NewMetrics(nil)
	rt := actors.New(l, snaps, seed.Registry(), actors.Options{IdleTimeout: idle, Metrics: metrics, Logger: quietLogger()})
	var run *projection.Runner
	if projections {
		if run, err = projection.Start(l, projection.Options{Logger: quietLogger()}, projection.Directory(), seed.ChatRooms()); err != nil {
			t.Fatal(err)
		}
	}
	srv := api.New(rt, l, snaps, metrics, api.Options{Token: token, Logger: quietLogger(), Projections: run})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close(context.Background())
		if run != nil {
			run.Close(context.Background())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return hs.URL
}

// runLoadJSON runs actorlog load with --json and returns its report.
func runLoadJSON(t *testing.T, args ...string) *loadReport {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"load", "--json"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("actorlog load %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	var rep loadReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout.String())
	}
	t.Logf("%s", stdout.String())
	return &rep
}

// counterValue reads a counter's count over the API.
func counterValue(t *testing.T, server, key string) int64 {
	t.Helper()
	resp, err := http.Post(server+"/rpc/counter:"+key+"/getCount", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Count int64 }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("getCount %s: status %d, %v", key, resp.StatusCode, err)
	}
	return st.Count
}

// checkRequests asserts the counts every scenario must satisfy.
func checkRequests(t *testing.T, rep *loadReport) {
	t.Helper()
	if rep.Requests <= 0 {
		t.Fatalf("no requests: %+v", rep)
	}
	if rep.Errors != 0 || len(rep.ErrorsByStatus) != 0 {
		t.Fatalf("errors: %d %v %v", rep.Errors, rep.ErrorsByStatus, rep.FirstErrors)
	}
	if rep.OK != rep.Requests {
		t.Fatalf("ok %d != requests %d", rep.OK, rep.Requests)
	}
	if rep.Latency.Count != rep.Requests {
		t.Fatalf("latency samples %d != requests %d", rep.Latency.Count, rep.Requests)
	}
	l := rep.Latency
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Fatalf("latency percentiles out of order: %+v", l)
	}
	if rep.RequestsPerSec <= 0 || rep.Seconds <= 0 {
		t.Fatalf("rate %v over %vs", rep.RequestsPerSec, rep.Seconds)
	}
	if rep.ServerStats == nil {
		t.Fatalf("no server figures from /metrics")
	}
}

func TestLoadScenarios(t *testing.T) {
	t.Run("distinct", func(t *testing.T) {
		t.Parallel()
		srv := startLoadServer(t, time.Minute, "")
		const conns = 4
		rep := runLoadJSON(t, "--server", srv, "--scenario", "distinct", "--conns", fmt.Sprint(conns), "--duration", "1s")
		checkRequests(t, rep)
		if rep.Seconds < 0.9 || rep.Seconds > 5 {
			t.Errorf("ran %.2fs for --duration 1s", rep.Seconds)
		}
		var sum int64
		for i := range conns {
			sum += counterValue(t, srv, fmt.Sprintf("load-%d", i))
		}
		if sum != rep.OK {
			t.Errorf("the counters add up to %d; the report says %d increments succeeded", sum, rep.OK)
		}
		if a := rep.ServerStats.Appends; a <= 0 {
			t.Errorf("server appends: %d", a)
		}
	})
	t.Run("hot", func(t *testing.T) {
		t.Parallel()
		srv := startLoadServer(t, time.Minute, "")
		rep := runLoadJSON(t, "--server", srv, "--scenario", "hot", "--conns", "8", "--duration", "1s", "--prefix", "h")
		checkRequests(t, rep)
		if n := counterValue(t, srv, "h-hot"); n != rep.OK {
			t.Errorf("the hot counter is %d; the report says %d increments succeeded", n, rep.OK)
		}
	})
	t.Run("chat", func(t *testing.T) {
		t.Parallel()
		srv := startLoadServer(t, time.Minute, "")
		const subs = 20
		rep := runLoadJSON(t, "--server", srv, "--scenario", "chat", "--conns", "2", "--subscribers", fmt.Sprint(subs), "--rate", "200", "--duration", "1s")
		checkRequests(t, rep)
		c := rep.Chat
		if c == nil {
			t.Fatal("no chat report")
		}
		if c.Connected != subs || c.MessagesSent != rep.OK {
			t.Fatalf("connected %d of %d, sent %d of %d ok", c.Connected, subs, c.MessagesSent, rep.OK)
		}
		if c.FramesExpected != subs*c.MessagesSent || c.FramesReceived != c.FramesExpected {
			t.Fatalf("frames received %d, expected %d = %d subscribers x %d messages", c.FramesReceived, c.FramesExpected, subs, c.MessagesSent)
		}
		if c.OutOfOrder != 0 || len(c.Errors) != 0 {
			t.Fatalf("out of order %d, subscriber errors %v", c.OutOfOrder, c.Errors)
		}
		if c.Delivery.Count != c.FramesReceived || c.Delivery.P50 <= 0 || c.Delivery.P99 < c.Delivery.P50 {
			t.Fatalf("delivery latency %+v for %d frames", c.Delivery, c.FramesReceived)
		}
		// --rate 200 for 1s: about 200 messages, never more.
		if c.MessagesSent > 200 || c.MessagesSent < 20 {
			t.Errorf("sent %d messages at --rate 200 for 1s", c.MessagesSent)
		}
	})
	t.Run("mixed", func(t *testing.T) {
		t.Parallel()
		// Actors sleep after 50ms idle; each half of the 20 counters is
		// called for 200ms and then left idle for 200ms.
		srv := startLoadServer(t, 50*time.Millisecond, "")
		const counters = 20
		rep := runLoadJSON(t, "--server", srv, "--scenario", "mixed", "--conns", "4", "--counters", fmt.Sprint(counters),
			"--idle-phase", "200ms", "--subscribers", "4", "--ws-hold", "100ms", "--duration", "1s")
		checkRequests(t, rep)
		ws := rep.WebSocket
		if ws == nil || ws.Connects <= 4 || ws.ConnectErrors != 0 || ws.Dropped != 0 {
			t.Fatalf("websockets: %+v (want more connects than the 4 subscribers: they reconnect)", ws)
		}
		if ws.Frames == 0 {
			t.Errorf("the subscribers received no frame")
		}
		if rep.Turns < 4 {
			t.Errorf("turns %d in 1s of 200ms turns", rep.Turns)
		}
		// Each counter is woken once per turn of its half: more wakes than
		// counters means actors slept and woke again.
		if w := rep.ServerStats.Wakes; w <= counters {
			t.Errorf("the server woke actors %d times; want more than the %d counters (sleep and wake)", w, counters)
		}
	})
}

// TestLoadProjectionLag: against a server that runs projections, the
// report gives each one's lag while the load ran and the time it took to
// reach the head after; against one that runs none, no projection part.
func TestLoadProjectionLag(t *testing.T) {
	srv := startLoadServerWith(t, time.Minute, "", true)
	rep := runLoadJSON(t, "--server", srv, "--scenario", "distinct", "--conns", "8", "--duration", "1s", "--sample-every", "200ms")
	checkRequests(t, rep)
	if n := len(rep.ServerSamples); n < 3 {
		t.Errorf("%d samples of /metrics in 1s at one per 200ms", n)
	}
	for _, s := range rep.ServerSamples {
		if s.Goroutines <= 0 || s.HeapInuse <= 0 || s.RSS <= 0 {
			t.Errorf("a sample of /metrics without figures: %+v", s)
		}
	}
	names := []string{}
	for _, p := range rep.Projections {
		names = append(names, p.Name)
		if p.Samples < 5 {
			t.Errorf("%s: %d samples in 1s at one per %v", p.Name, p.Samples, projSampleEvery)
		}
		if p.CatchUpMs < 0 {
			t.Errorf("%s: not at the head after the load", p.Name)
		}
		if l := p.LagEvents; !(l.P50 <= l.P99 && l.P99 <= l.Max) || l.Max > float64(rep.Requests) {
			t.Errorf("%s: lag in events out of order or beyond the %d requests: %+v", p.Name, rep.Requests, l)
		}
	}
	if want := []string{projection.DirectoryName, seed.RoomsName}; !slices.Equal(names, want) {
		t.Fatalf("projections in the report: %v, want %v", names, want)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"load", "--server", srv, "--requests", "10", "--conns", "1"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "projection  actors: lag p50/p99/max") {
		t.Errorf("text report, exit %d, lacks the projection lines:\n%s%s", code, stdout.String(), stderr.String())
	}

	plain := startLoadServer(t, time.Minute, "")
	if rep := runLoadJSON(t, "--server", plain, "--requests", "10", "--conns", "1"); rep.Projections != nil {
		t.Errorf("a server without projections: %+v", rep.Projections)
	}
}

func TestLoadRequestsBound(t *testing.T) {
	srv := startLoadServer(t, time.Minute, "secret")
	rep := runLoadJSON(t, "--server", srv, "--token", "secret", "--scenario", "distinct", "--conns", "3", "--requests", "50")
	checkRequests(t, rep)
	if rep.Requests != 50 {
		t.Fatalf("requests %d, want exactly 50", rep.Requests)
	}
	// Without the token every request fails with 401, and load says so.
	var stdout, stderr bytes.Buffer
	code := run([]string{"load", "--server", srv, "--requests", "5", "--conns", "1"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stdout.String(), "401: 5") || !strings.Contains(stderr.String(), "no request succeeded") {
		t.Fatalf("without the token: exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
}

func TestLoadTextReport(t *testing.T) {
	srv := startLoadServer(t, time.Minute, "")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"load", "--server", srv, "--scenario", "hot", "--requests", "20", "--conns", "2"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"scenario hot", "requests    20 (ok 20, errors 0)", "req/s", "p50 ", "p90 ", "p99 ", "max ", "appends"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestLoadInterrupt(t *testing.T) {
	srv := startLoadServer(t, time.Minute, "")
	cfg := loadConfig{scenario: "hot", duration: time.Minute, conns: 2, subscribers: -1, prefix: "i",
		idlePhase: time.Second, wsHold: time.Second, timeout: 5 * time.Second}
	u, err := checkLoadConfig(&cfg, srv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.server = u
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	rep, err := runLoad(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("an interrupted run of --duration 1m took %v", d)
	}
	if !rep.Interrupted || rep.Requests == 0 || rep.Errors != 0 {
		t.Fatalf("interrupted %v, requests %d, errors %d %v", rep.Interrupted, rep.Requests, rep.Errors, rep.FirstErrors)
	}
}

func TestLoadRefusesRemote(t *testing.T) {
	for _, server := range []string{"http://10.1.2.3:3001", "http://example.com", "http://[2001:db8::1]:3001", "ftp://127.0.0.1"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"load", "--server", server, "--requests", "1"}, &stdout, &stderr)
		if code != 1 || stdout.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q", server, code, stdout.String())
		}
		if strings.HasPrefix(server, "http:") && !strings.Contains(stderr.String(), "--allow-remote") {
			t.Errorf("%s: the error does not mention --allow-remote: %s", server, stderr.String())
		}
	}
	for _, ok := range []string{"http://localhost:1", "http://127.0.0.1:1", "http://127.1.2.3:1", "http://[::1]:1"} {
		cfg := loadConfig{scenario: "distinct", duration: time.Second, conns: 1, subscribers: -1, prefix: "p", idlePhase: time.Second, wsHold: time.Second, timeout: time.Second}
		if _, err := checkLoadConfig(&cfg, ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	// With --allow-remote the URL passes; the dialer's check is then off,
	// so only the refusal of the connection (nothing listens) is left.
	cfg := loadConfig{scenario: "distinct", duration: time.Second, conns: 1, subscribers: -1, prefix: "p", idlePhase: time.Second, wsHold: time.Second, timeout: time.Second, allowRemote: true}
	if _, err := checkLoadConfig(&cfg, "http://10.1.2.3:3001"); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
}

func TestLoadBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--scenario", "nope"},
		{"--duration", "0"},
		{"--conns", "0"},
		{"--rate", "-1"},
		{"--scenario", "mixed", "--counters", "1"},
		{"--prefix", "a:b"},
		{"--sample-every", "-1s"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"load"}, args...), &stdout, &stderr); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}

func TestLatencyHist(t *testing.T) {
	h := newLatencyHist()
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	r := h.report()
	near := func(got, want float64) bool { return got >= want*0.99 && got <= want*1.01 }
	if r.Count != 1000 || !near(r.P50, 0.5) || !near(r.P90, 0.9) || !near(r.P99, 0.99) || r.Max != 1 {
		t.Fatalf("%+v", r)
	}
	for _, v := range []uint64{0, 1, 255, 256, 257, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1, 1<<64 - 1} {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("%d: index %d of %d", v, i, histBuckets)
		}
		if got := histValue(i); float64(got) < float64(v)*0.99 || float64(got) > float64(v)*1.01+1 {
			t.Errorf("%d: bucket %d holds %d", v, i, got)
		}
	}
}

func TestParseChatFrame(t *testing.T) {
	const marker = "load ab12 "
	for _, tc := range []struct {
		frame string
		sent  int64
		seq   uint64
		ok    bool
	}{
		{`{"id":"x","seq":7,"text":"load ab12 123456","timestamp":1,"type":"newMessage","username":"u"}`, 123456, 7, true},
		{`{"type":"newMessage","text":"load ab12 99","seq":3}`, 99, 3, true},
		{`{"id":"x","seq":7,"text":"load zz99 123456","timestamp":1,"type":"newMessage","username":"u"}`, 0, 0, false},
		{`{"seq":7,"text":"load ab12 123456","type":"userJoined"}`, 0, 0, false},
		{`{"type":"init","seq":0}`, 0, 0, false},
	} {
		sent, seq, ok := parseChatFrame([]byte(tc.frame), marker)
		if sent != tc.sent || seq != tc.seq || ok != tc.ok {
			t.Errorf("%s: got %d %d %v", tc.frame, sent, seq, ok)
		}
	}
}
