package cli

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
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/load"
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
	rt := actors.New(l, snaps, seed.Registry(), actors.Options{IdleTimeout: idle, Frames: wire.Frames{}, Metrics: api.NewMetrics(nil), Logger: quietLogger()})
	var run *projection.Runner
	if projections {
		if run, err = projection.Start(l, projection.Options{Logger: quietLogger()}, projection.Directory(), seed.ChatRooms()); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := api.New(rt, l, snaps, api.Options{Token: token, Logger: quietLogger(), Projections: run, Routes: []func(*api.Routes){seed.Routes}})
	if err != nil {
		t.Fatal(err)
	}
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
func runLoadJSON(t *testing.T, args ...string) *load.Report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"load", "--json"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("actorlog load %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	var rep load.Report
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
func checkRequests(t *testing.T, rep *load.Report) {
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
// How many samples a run takes depends on how fast a busy machine
// answers: the test asks for more than the first of each, not for a
// count that a slow second would miss.
func TestLoadProjectionLag(t *testing.T) {
	srv := startLoadServerWith(t, time.Minute, "", true)
	// Paced, so that the server keeps up and the projections have few
	// events to catch up with, on any machine.
	rep := runLoadJSON(t, "--server", srv, "--scenario", "distinct", "--conns", "8", "--rate", "200", "--duration", "2s", "--sample-every", "200ms")
	checkRequests(t, rep)
	ss := rep.ServerSamples
	if len(ss) < 2 {
		t.Errorf("%d samples of /metrics in a run of 2s at one per 200ms", len(ss))
	}
	for _, s := range ss {
		if s.Goroutines <= 0 || s.HeapInuse <= 0 || s.RSS <= 0 {
			t.Errorf("a sample of /metrics without figures: %+v", s)
		}
	}
	names := []string{}
	for _, p := range rep.Projections {
		names = append(names, p.Name)
		if p.Samples < 2 {
			t.Errorf("%s: %d samples of its lag in a run of 2s at one per 50ms", p.Name, p.Samples)
		}
		if p.CatchUpMs < 0 {
			t.Errorf("%s: not at the head 10s after the load", p.Name)
		}
		if l := p.LagEvents; !(l.P50 <= l.P99 && l.P99 <= l.Max) || l.Max > float64(rep.Requests) {
			t.Errorf("%s: lag in events out of order or beyond the %d requests: %+v", p.Name, rep.Requests, l)
		}
	}
	if want := []string{projection.DirectoryName, seed.RoomsName}; !slices.Equal(names, want) {
		t.Fatalf("projections in the report: %v, want %v", names, want)
	}
	// The text of this report (as load without --json prints it; the
	// command's own text output is TestLoadTextReport's).
	var text bytes.Buffer
	rep.Print(&text)
	for _, name := range names {
		if want := "projection  " + name + ": lag p50/p99/max"; !strings.Contains(text.String(), want) {
			t.Errorf("the text report lacks %q:\n%s", want, text.String())
		}
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

// TestLoadInterrupt: a run of 1m whose context ends once it is under way
// returns soon, with its report marked interrupted, the requests it did,
// and no errors (a request cut short by the interrupt is not one).
func TestLoadInterrupt(t *testing.T) {
	srv := startLoadServer(t, time.Minute, "")
	cfg := load.Config{Server: srv, Scenario: load.Hot, Duration: time.Minute, Conns: 2, Prefix: "i", Timeout: 30 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		rep *load.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := load.Run(ctx, cfg)
		done <- result{rep, err}
	}()
	waitFor(t, 30*time.Second, func() bool { return counterValue(t, srv, "i-hot") >= 10 }, "the run's first increments")
	cancel()
	var res result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a run of 1m, interrupted, did not return within 30s")
	}
	rep := res.rep
	if res.err != nil {
		t.Fatal(res.err)
	}
	if !rep.Interrupted || rep.Requests == 0 || rep.Errors != 0 {
		t.Fatalf("interrupted %v, requests %d, errors %d %v", rep.Interrupted, rep.Requests, rep.Errors, rep.FirstErrors)
	}
	// Every increment the report counts is in the counter (which may
	// also hold those whose replies the interrupt cut short).
	if n := counterValue(t, srv, "i-hot"); n < rep.OK {
		t.Fatalf("the counter is %d; the report says %d increments succeeded", n, rep.OK)
	}
}

// TestLoadRefusesRemote: a --server that is not loopback is refused
// before anything is sent (the addresses accepted are load's tests).
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
}

// TestLoadBadFlags: each bad flag is refused with exit status 1 and its
// message, before anything is sent; a bad command line with 2.
func TestLoadBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--scenario", "nope"}, 1, `--scenario "nope": want distinct, hot, chat, mixed or abuse`},
		{[]string{"--scenario", ""}, 1, `--scenario "": want distinct, hot, chat, mixed or abuse`},
		{[]string{"--duration", "0"}, 1, "give --duration or --requests: the load must be bounded"},
		{[]string{"--duration", "-1s"}, 1, "--duration and --requests must not be negative"},
		{[]string{"--requests", "-1"}, 1, "--duration and --requests must not be negative"},
		{[]string{"--conns", "0"}, 1, "--conns 0: want 1 to 10000"},
		{[]string{"--conns", "10001"}, 1, "--conns 10001: want 1 to 10000"},
		{[]string{"--subscribers", "100001"}, 1, "--subscribers 100001: at most 100000"},
		{[]string{"--rate", "-1"}, 1, "--rate -1: want a positive number, or 0 for no pacing"},
		{[]string{"--sample-every", "-1s"}, 1, "--sample-every -1s: want a positive duration, or 0 for no samples during the run"},
		{[]string{"--scenario", "mixed", "--counters", "1"}, 1, "--counters 1: mixed needs at least 2"},
		{[]string{"--scenario", "mixed", "--counters", "0"}, 1, "--counters 0: mixed needs at least 2"},
		{[]string{"--timeout", "0"}, 1, "--idle-phase, --ws-hold and --timeout must be positive, --drain not negative"},
		{[]string{"--idle-phase", "-1s"}, 1, "--idle-phase, --ws-hold and --timeout must be positive, --drain not negative"},
		{[]string{"--drain", "-1s"}, 1, "--idle-phase, --ws-hold and --timeout must be positive, --drain not negative"},
		{[]string{"--prefix", "a:b"}, 1, `--prefix "a:b": want a non-empty key without ':', '/', '?', '#', '%' or spaces`},
		{[]string{"--prefix", ""}, 1, `--prefix "": want a non-empty key without ':', '/', '?', '#', '%' or spaces`},
		{[]string{"--server", ""}, 1, `--server "": want an http:// or https:// URL with a host`},
		{[]string{"--server", "::"}, 1, `--server "::": parse "::": missing protocol scheme`},
		{[]string{"--scenario", "abuse", "--requests", "5"}, 1, "abuse runs for --duration, divided into its phases; --requests does not apply"},
		{[]string{"--attacks", "slow-bodies,bogus"}, 1, `--attacks "slow-bodies,bogus": want some of slow-bodies, idle-conns, big-frames, many-keys, comma-separated, each once`},
		{[]string{"--attacks", ""}, 1, `--attacks "": want some of slow-bodies, idle-conns, big-frames, many-keys, comma-separated, each once`},
		{[]string{"--slow-conns", "0"}, 1, "--slow-conns 0: want a positive number"},
		{[]string{"--idle-conns", "-1"}, 1, "--idle-conns -1: want 1 to 50000"},
		{[]string{"--frame-sockets", "0"}, 1, "--frame-sockets 0: want a positive number"},
		{[]string{"--frame-bytes", "0"}, 1, "--frame-bytes 0: want a positive number"},
		{[]string{"--key-conns", "10001"}, 1, "--key-conns 10001: want 1 to 10000"},
		{[]string{"--trickle-every", "0"}, 1, "--trickle-every 0s: want a positive duration"},
		{[]string{"extra"}, 2, `actorlog load: unexpected argument "extra"`},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"load"}, tc.args...), &stdout, &stderr)
		if code != tc.code || stdout.Len() != 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d (want %d), stdout %q, stderr %q; want %q", tc.args, code, tc.code, stdout.String(), stderr.String(), tc.want)
		}
	}
}

// TestLoadFlags: what the flags mean in load.Config, where a zero is the
// default and a negative Subscribers, Drain or SampleEvery is none.
func TestLoadFlags(t *testing.T) {
	defaults := load.Config{Server: "http://127.0.0.1:3001", Scenario: "distinct", Duration: 10 * time.Second, Conns: 16,
		Prefix: "load", Counters: 1000, IdlePhase: 40 * time.Second, WSHold: 2 * time.Second, Timeout: 30 * time.Second,
		Drain: 10 * time.Second, SampleEvery: 10 * time.Second, Attacks: "slow-bodies,idle-conns,big-frames,many-keys",
		SlowConns: 500, TrickleEvery: 2 * time.Second, IdleConns: 1000, FrameSockets: 20, FrameBytes: 1000000, KeyConns: 16}
	t.Setenv("ACTORLOG_TOKEN", "")
	for _, tc := range []struct {
		args []string
		edit func(*load.Config)
	}{
		{nil, func(*load.Config) {}},
		{[]string{"--subscribers", "-1"}, func(*load.Config) {}},
		{[]string{"--subscribers", "0"}, func(c *load.Config) { c.Subscribers = -1 }},
		{[]string{"--subscribers", "5"}, func(c *load.Config) { c.Subscribers = 5 }},
		{[]string{"--drain", "0"}, func(c *load.Config) { c.Drain = -1 }},
		{[]string{"--sample-every", "0"}, func(c *load.Config) { c.SampleEvery = -1 }},
		{[]string{"--requests", "5"}, func(c *load.Config) { c.Requests, c.Duration = 5, 0 }},
		{[]string{"--requests", "5", "--duration", "0"}, func(c *load.Config) { c.Requests, c.Duration = 5, 0 }},
		{[]string{"--requests", "5", "--duration", "2s"}, func(c *load.Config) { c.Requests, c.Duration = 5, 2*time.Second }},
		{[]string{"--server", "http://127.0.0.1:9"}, func(c *load.Config) { c.Server = "http://127.0.0.1:9" }},
		{[]string{"--server", "http://127.0.0.1:1", "--server", "http://127.0.0.1:2,http://127.0.0.1:3"}, func(c *load.Config) {
			c.Server = "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3"
		}},
		{[]string{"--token", "t", "--allow-remote", "--rate", "2.5", "--json"}, func(c *load.Config) { c.Token, c.AllowRemote, c.Rate = "t", true, 2.5 }},
		{[]string{"--scenario", "abuse", "--attacks", "many-keys,slow-bodies", "--slow-conns", "7", "--trickle-every", "1s", "--idle-conns", "8",
			"--frame-sockets", "9", "--frame-bytes", "10", "--key-conns", "11"}, func(c *load.Config) {
			c.Scenario, c.Attacks, c.SlowConns, c.TrickleEvery = "abuse", "many-keys,slow-bodies", 7, time.Second
			c.IdleConns, c.FrameSockets, c.FrameBytes, c.KeyConns = 8, 9, 10, 11
		}},
	} {
		var stderr bytes.Buffer
		got, _, err := loadFlags(tc.args, &stderr)
		want := defaults
		tc.edit(&want)
		if err != nil || got != want {
			t.Errorf("%q: %v\n got %+v\nwant %+v", tc.args, err, got, want)
		}
	}
}

// TestLoadHelp: load --help exits 0 with the usage and every flag.
func TestLoadHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"load", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := stdout.String() + stderr.String()
	for _, want := range []string{"usage: actorlog load [flags]", "Scenarios:", "-allow-remote", "-conns int", "-counters int", "-drain duration",
		"-duration duration", "-idle-phase duration", "-json", "-prefix string", "-rate float", "-requests int", "-sample-every duration",
		"-scenario string", "-server URL", "-subscribers int", "-timeout duration", "-token string", "-ws-hold duration",
		"-attacks string", "-slow-conns int", "-trickle-every duration", "-idle-conns int", "-frame-sockets int", "-frame-bytes int", "-key-conns int",
		"abuse     a steady client",
		"(default http://127.0.0.1:3001)", "repeated or comma-separated"} {
		if !strings.Contains(help, want) {
			t.Errorf("the help lacks %q:\n%s", want, help)
		}
	}
}
