//go:build unix

package cli

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/load"
)

// abuseMemoryMiB is the memory budget of TestAbuse's server.
const abuseMemoryMiB = 256

// abuseP99Bound is the most the steady client's p99 may be during an
// attack of TestAbuse, in milliseconds, given its baseline p99: 5x the
// baseline and 250ms. On loopback the attacks share the cores with the
// server and the steady client, so each one costs some latency, the more
// so on a busy machine of 2 cores: the slow and idle connections arrive
// in storms of hundreds (at the start, and again each time the server
// cuts them), the big frames' sockets each have a frame read at once,
// the new keys are served as fast as they come. On such a machine (a
// load average of 8 to 11 from other work) a 3s phase's p99 reached 12
// to 191ms in the baseline and up to 240ms in an attack. What the limits
// prevent costs seconds: with --ws-rate lifted, 5 sockets of big frames
// held the steady client's p99 at 2.9s, its p50 at 1.6s. Hence a factor,
// for attacks that scale the server's work, and a constant, for the
// storms and the machine's noise.
func abuseP99Bound(baseline float64) float64 { return 5*baseline + 250 }

// TestAbuse is the abuse run: the real server (a separate process), with
// small limits, under `actorlog load --scenario abuse` (the real binary
// too): a steady client of 16 connections at 200 requests a second
// through a baseline phase and a phase for each attack (slow bodies,
// idle connections, big frames, many keys). It prints the report and
// checks that the steady client had no error and sent every request due,
// that its p99 during each attack stayed within abuseP99Bound of its
// baseline, that the server's memory stayed under its --max-memory-mib,
// that each attack met the limit meant for it, and that the store
// verifies after a graceful stop.
//
// It runs for ACTORLOG_ABUSE, with the attacks of actorlog load's
// defaults (but slow bodies trickling every 500ms, within the 2s read
// timeout); the report in BENCHMARKS.md is from
//
//	ACTORLOG_ABUSE=2m go test ./cmd/cli -run TestAbuse -v -timeout 10m
//
// Without it, in CI, it runs for 15s (phases of 3s) with smaller
// attacks: 500 idle connections, 5 sockets of big frames, 8 connections
// calling new keys.
func TestAbuse(t *testing.T) {
	d := 15 * time.Second
	attacks := []string{"--idle-conns", "500", "--frame-sockets", "5", "--key-conns", "8"}
	if v := os.Getenv("ACTORLOG_ABUSE"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 10*time.Second {
			t.Fatalf("ACTORLOG_ABUSE=%q: want a duration of at least 10s", v)
		}
		attacks = nil
	}
	bin := serveBuild(t)
	dir := t.TempDir()
	srv := serveStart(t, bin, dir, "--read-timeout", "2s", "--keepalive-timeout", "2s", "--max-conns", "300",
		"--max-memory-mib", strconv.Itoa(abuseMemoryMiB), "--cache-mib", "8")

	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	rep, text := loadBinary(t, ctx, bin, append([]string{"--server", srv.url, "--scenario", "abuse", "--duration", d.String(),
		"--conns", "16", "--rate", "200", "--timeout", "10s", "--sample-every", "0", "--trickle-every", "500ms"}, attacks...)...)
	t.Logf("abuse of %v:\n%s", d, text)
	peak := peakRSS(t, srv.cmd.Process.Pid)
	t.Logf("server's peak RSS (VmHWM): %.1f MiB of --max-memory-mib %d", mib(peak), abuseMemoryMiB)

	ar := rep.Abuse
	names := []string{load.Baseline, load.SlowBodies, load.IdleConns, load.BigFrames, load.ManyKeys}
	if ar == nil || len(ar.Phases) != len(names) {
		t.Fatalf("phases: %+v", ar)
	}
	base := ar.Phases[0].Steady.Latency.P99
	bound := abuseP99Bound(base)
	for i, p := range ar.Phases {
		if p.Name != names[i] {
			t.Errorf("phase %d is %s, want %s", i, p.Name, names[i])
		}
		if p.Steady.Errors != 0 || p.Unsent != 0 || p.SteadyDue < 100 {
			t.Errorf("%s: the steady client had %d errors %v, %d of %d requests due unsent", p.Name, p.Steady.Errors, p.Steady.FirstErrors, p.Unsent, p.SteadyDue)
		}
		if i > 0 && p.Steady.Latency.P99 > bound {
			t.Errorf("%s: the steady client's p99 %.1fms, over %.1fms (baseline %.1fms)", p.Name, p.Steady.Latency.P99, bound, base)
		}
		if p.Server.Samples == 0 || p.Server.RSSPeak >= abuseMemoryMiB<<20 {
			t.Errorf("%s: the server's RSS peaked at %.1f MiB (%d samples), --max-memory-mib %d", p.Name, mib(p.Server.RSSPeak), p.Server.Samples, abuseMemoryMiB)
		}
	}
	if peak >= abuseMemoryMiB<<20 {
		t.Errorf("the server's RSS peaked at %.1f MiB, over --max-memory-mib %d", mib(peak), abuseMemoryMiB)
	}

	// Each attack met its limit: slow bodies answered 408 once their
	// --read-timeout (2s) was up; idle connections closed, well before
	// the --keepalive-timeout (2s), for the new connections waiting for
	// their places, once idle for half a second, so that a new connection
	// waited less than that timeout for its reply (before, it waited for
	// idle connections to time out: 5.8s with the 1,000 of a long run);
	// frames read at --ws-rate (1 MiB/s); and new keys called while
	// memory held. An attacker's connection may fail to connect now and
	// then (a dial timing out while the server is at its cap and the
	// machine busy): at most one in twenty.
	if s := ar.Phases[1].SlowBodies; s == nil || s.CutOff == 0 || s.CutOffBy["408"] != s.CutOff || s.CutAfter.P50 < 2000 {
		t.Errorf("slow bodies: %+v", s)
	}
	if s := ar.Phases[2].IdleConns; s == nil || s.CutOff == 0 || s.CutOffBy["closed"] != s.CutOff || s.CutAfter.P50 < 450 || s.CutAfter.P50 > 1500 || s.Failed > s.Opened/20 {
		t.Errorf("idle connections: %+v", s)
	}
	if n := ar.Phases[2].NewConn; n.Errors != 0 || n.Latency.P50 > 2000 {
		t.Errorf("idle connections: a new connection waited p50 %.1fms (%d errors), want less than the keep-alive timeout", n.Latency.P50, n.Errors)
	}
	// At --ws-rate a socket has its first frame read at once, then 1 MiB
	// a second: over a phase of T seconds, (1 MiB + T x 1 MiB/s) / T.
	wsRate := (1 + ar.PhaseSeconds) / ar.PhaseSeconds * 1.05
	if b := ar.Phases[3].BigFrames; b == nil || b.Replies == 0 || b.ReadMiBPerSec > wsRate || b.Failed != 0 {
		t.Errorf("big frames: %+v (the server may read %.2f MiB/s of each socket)", b, wsRate)
	}
	// (A few hundred new keys a second on a loaded machine under -race;
	// a thousand or more otherwise.)
	if k := ar.Phases[4].ManyKeys; k == nil || k.OK < 100 || k.Calls.Errors > 0 {
		t.Errorf("many keys: %+v", k)
	}

	stopAndVerify(t, srv, bin, dir)
}

// peakRSS is the highest resident memory of process pid so far (VmHWM
// in /proc/<pid>/status); 0 where there is no /proc.
func peakRSS(t *testing.T, pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Logf("no peak RSS: %v", err)
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM: %q", v)
			}
			return kib << 10
		}
	}
	t.Fatalf("/proc/%d/status has no VmHWM", pid)
	return 0
}
