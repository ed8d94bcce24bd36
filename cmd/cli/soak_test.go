//go:build unix

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/actorlog/actorlog/load"
)

// TestSoak is the soak run: the real server (a separate process) under
// `actorlog load --scenario mixed` (the real binary too) for a fixed time,
// mixing RPC increments and reads, WebSocket subscribers that come and go,
// and counters that idle long enough to sleep and are woken again. At the
// end it prints the load's report and checks that no request failed, that
// actors slept and woke, that the server's memory did not grow from the
// first half of the run to the second beyond a small bound, that once
// every actor is asleep again the server has the goroutines it started
// with, and that the store verifies after a graceful stop.
//
// It runs for ACTORLOG_SOAK (default 20s, to keep CI short); the report in
// BENCHMARKS.md is from
//
//	ACTORLOG_SOAK=10m go test ./cmd/cli -run TestSoak -v -timeout 30m
func TestSoak(t *testing.T) {
	d := 20 * time.Second
	if v := os.Getenv("ACTORLOG_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 5*time.Second {
			t.Fatalf("ACTORLOG_SOAK=%q: want a duration of at least 5s", v)
		}
	}
	// Turns of the mixed scenario: each half of the counters is called
	// for one phase and left idle for the next, longer than the idle
	// timeout, so that it sleeps.
	phase := min(max(d/20, 4*time.Second), 30*time.Second)
	idle := phase / 2
	sample := max(d/40, time.Second)

	bin := serveBuild(t)
	dir := t.TempDir()
	srv := serveStart(t, bin, dir, "--idle-timeout", idle.String())
	start := soakScrape(t, srv)

	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	rep, text := loadBinary(t, ctx, bin, "--server", srv.url, "--scenario", "mixed",
		"--duration", d.String(), "--conns", "16", "--subscribers", "20", "--counters", "2000",
		"--idle-phase", phase.String(), "--ws-hold", "2s", "--sample-every", sample.String())
	t.Logf("soak of %v (idle timeout %v, phases of %v):\n%s", d, idle, phase, text)
	for _, s := range rep.ServerSamples {
		t.Logf("t=%5.1fs  heap in use %6.1f MiB  RSS %6.1f MiB  goroutines %5d  awake %5d  connections %3d",
			s.Seconds, mib(s.HeapInuse), mib(s.RSS), s.Goroutines, s.Awake, s.Conns)
	}

	if rep.Requests == 0 || rep.Errors != 0 {
		t.Errorf("requests %d, errors %d: %v", rep.Requests, rep.Errors, rep.FirstErrors)
	}
	if ws := rep.WebSocket; ws == nil || ws.Connects == 0 || ws.ConnectErrors != 0 || ws.Dropped != 0 {
		t.Errorf("websockets: %+v", rep.WebSocket)
	}
	if rep.ServerStats == nil {
		t.Fatal("no server figures in the report")
	}
	if rep.Turns >= 3 && rep.ServerStats.Wakes <= 1000 {
		t.Errorf("%d wakes in %d turns over 2,000 counters: the idle half did not sleep and wake", rep.ServerStats.Wakes, rep.Turns)
	}

	// Memory: the highest heap of the second half of the run against the
	// highest of the first half, leaving out the first quarter (warm-up:
	// the actors and sockets of the run coming up).
	var first, second int64
	for _, s := range rep.ServerSamples {
		switch at := s.Seconds / rep.Seconds; {
		case at >= 0.25 && at < 0.625:
			first = max(first, s.HeapInuse)
		case at >= 0.625:
			second = max(second, s.HeapInuse)
		}
	}
	if first == 0 || second == 0 {
		t.Errorf("too few samples of the server's memory: %d", len(rep.ServerSamples))
	} else if limit := first + first/2 + 16<<20; second > limit {
		t.Errorf("the server's heap grew: at most %.1f MiB in the first half, %.1f MiB in the second (bound %.1f)", mib(first), mib(second), mib(limit))
	}

	// Goroutines: once every actor has slept, the server is back to the
	// goroutines it started with, give or take the store's background
	// work (a flush or compaction has goroutines while it runs).
	var end map[string]float64
	wait := 3*idle + 10*time.Second
	for deadline := time.Now().Add(wait); ; {
		end = soakScrape(t, srv)
		if end["actorlog_active_actors"] == 0 && end["actorlog_connections"] == 0 && end["go_goroutines"] <= start["go_goroutines"]+4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after the load: %v actors awake, %v connections open, %v goroutines (%v at the start)",
				wait, end["actorlog_active_actors"], end["actorlog_connections"], end["go_goroutines"], start["go_goroutines"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("server at rest before and after: goroutines %v -> %v, heap in use %.1f -> %.1f MiB",
		start["go_goroutines"], end["go_goroutines"], mib(int64(start["go_memstats_heap_inuse_bytes"])), mib(int64(end["go_memstats_heap_inuse_bytes"])))

	stopAndVerify(t, srv, bin, dir)
}

// stopAndVerify stops the server with SIGTERM, which must exit it with
// status 0, and runs verify --all on its data directory.
func stopAndVerify(t *testing.T, srv *serveProc, bin, dir string) {
	t.Helper()
	if st := srv.stop(syscall.SIGTERM, 30*time.Second); !st.Success() {
		t.Fatalf("serve exited with %v\nstderr: %s", st, srv.stderr)
	}
	out, err := exec.Command(bin, "verify", "--all", "--data", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	t.Logf("verify: %s", bytes.TrimSpace(out))
}

// loadBinary runs bin's actorlog load with args, under ctx, and returns
// its report, from its JSON, and the report as text.
func loadBinary(t *testing.T, ctx context.Context, bin string, args ...string) (*load.Report, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append([]string{"load", "--json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("actorlog load: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var rep load.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout.String())
	}
	var text bytes.Buffer
	rep.Print(&text)
	return &rep, text.String()
}

// soakScrape reads the figures of the soak from the server's /metrics.
func soakScrape(t *testing.T, p *serveProc) map[string]float64 {
	t.Helper()
	res, err := p.client.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: status %d", res.StatusCode)
	}
	m, err := load.ParseMetrics(res.Body, "go_goroutines", "go_memstats_heap_inuse_bytes", "actorlog_active_actors", "actorlog_connections")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "actorlog_active_actors"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("/metrics has no %s", k)
		}
	}
	return m
}

// mib converts bytes to MiB.
func mib(b int64) float64 { return float64(b) / (1 << 20) }
