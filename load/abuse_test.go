package load

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestSteadyDue(t *testing.T) {
	for _, tc := range []struct {
		k    int
		rate float64
		want time.Duration
	}{
		{0, 200, 0},
		{1, 200, 5 * time.Millisecond},
		{3*4 + 2, 200, 70 * time.Millisecond}, // the 3rd request of worker 2 of 4
		{1000, 0.5, 2000 * time.Second},
	} {
		if got := steadyDue(tc.k, tc.rate); got != tc.want {
			t.Errorf("steadyDue(%d, %v) = %v, want %v", tc.k, tc.rate, got, tc.want)
		}
	}
}

// TestPhaseBook: what goes to which phase, and the steady requests due
// in each, sent or not.
func TestPhaseBook(t *testing.T) {
	b := newPhaseBook(3)
	t0 := time.Unix(1000, 0)
	if b.index(t0) != -1 || b.at(t0) != nil {
		t.Errorf("before the first phase: %d", b.index(t0))
	}
	b.enter(t0)
	b.enter(t0.Add(time.Second))
	at := func(d time.Duration) int { return b.index(t0.Add(d)) }
	if at(-time.Nanosecond) != -1 || at(0) != 0 || at(999*time.Millisecond) != 0 || at(time.Second) != 1 || at(time.Hour) != 1 {
		t.Errorf("two phases entered: %d %d %d %d %d", at(-time.Nanosecond), at(0), at(999*time.Millisecond), at(time.Second), at(time.Hour))
	}
	b.enter(t0.Add(2 * time.Second))
	b.finish(t0.Add(2500 * time.Millisecond))
	if at(2499*time.Millisecond) != 2 || at(2500*time.Millisecond) != 3 || b.at(t0.Add(3*time.Second)) != nil || b.at(t0) != b.phases[0] {
		t.Errorf("after the end: %d %d", at(2499*time.Millisecond), at(2500*time.Millisecond))
	}

	// Requests answered, failed and never sent, in phases 0 and 2.
	for range 7 {
		b.phases[0].steady.ok.Add(1)
		b.phases[0].steady.latency.record(time.Millisecond)
	}
	b.phases[0].steady.fail("503", "busy")
	b.phases[2].steady.ok.Add(1)
	b.phases[2].newConn.fail("timeout", "slow")
	b.at(t0.Add(time.Second)).server.RSSPeak = 5 // as sample does
	phases := []PhaseReport{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	b.fill(phases, 10)
	// At 10/s: 10 due in the first second, 10 in the next, 5 in the last
	// half second.
	for i, want := range []struct{ due, sent, unsent, errors int64 }{{10, 8, 2, 1}, {10, 0, 10, 0}, {5, 1, 4, 0}} {
		p := phases[i]
		if p.SteadyDue != want.due || p.Steady.Requests != want.sent || p.Unsent != want.unsent || p.Steady.Errors != want.errors {
			t.Errorf("phase %s: due %d, sent %d, unsent %d, errors %d; want %+v", p.Name, p.SteadyDue, p.Steady.Requests, p.Unsent, p.Steady.Errors, want)
		}
	}
	if phases[0].Steady.Latency.Count != 7 || phases[0].Steady.FirstErrors["503"] != "busy" || phases[2].NewConn.ErrorsByStatus["timeout"] != 1 || phases[1].Server.RSSPeak != 5 {
		t.Errorf("phases: %+v", phases)
	}
}

func TestPhaseBookSample(t *testing.T) {
	b := newPhaseBook(1)
	b.sample(map[string]float64{"process_resident_memory_bytes": 9}) // before the phase: not counted
	b.enter(time.Now())
	b.sample(map[string]float64{"process_resident_memory_bytes": 3, "go_goroutines": 10, "go_memstats_heap_inuse_bytes": 1, "actorlog_active_actors": 7})
	b.sample(map[string]float64{"process_resident_memory_bytes": 5, "go_goroutines": 8, "go_memstats_heap_inuse_bytes": 2, "actorlog_active_actors": 6})
	b.finish(time.Now())
	b.sample(map[string]float64{"process_resident_memory_bytes": 9}) // after: not counted
	want := PhaseServer{Samples: 2, RSSPeak: 5, HeapPeak: 2, GoroutinesPeak: 10, AwakePeak: 7}
	if got := b.phases[0].server; got != want {
		t.Errorf("server %+v, want %+v", got, want)
	}
}

func TestPaddedPing(t *testing.T) {
	for _, size := range []int{1, 100, 1000000} {
		p := paddedPing(size)
		var f struct{ Type, Pad string }
		if err := json.Unmarshal(p, &f); err != nil || f.Type != "ping" {
			t.Errorf("size %d: %v %q", size, err, f.Type)
		}
		if len(p) != max(size, len(`{"type":"ping","pad":""}`)) {
			t.Errorf("size %d: %d bytes", size, len(p))
		}
	}
}

// TestMaskedFrame: the frame's header for each size of length, and its
// payload, unmasked.
func TestMaskedFrame(t *testing.T) {
	for _, tc := range []struct {
		n    int
		head []byte // after the first byte, up to the mask key
	}{
		{5, []byte{0x80 | 5}},
		{125, []byte{0x80 | 125}},
		{126, []byte{0x80 | 126, 0, 126}},
		{65535, []byte{0x80 | 126, 0xff, 0xff}},
		{65536, binary.BigEndian.AppendUint64([]byte{0x80 | 127}, 65536)},
	} {
		payload := bytes.Repeat([]byte("abc"), tc.n)[:tc.n]
		f := maskedFrame(payload)
		if f[0] != 0x81 || !bytes.Equal(f[1:1+len(tc.head)], tc.head) || len(f) != 1+len(tc.head)+4+tc.n {
			t.Errorf("%d bytes: header % x, %d bytes in all", tc.n, f[:min(len(f), 14)], len(f))
			continue
		}
		key, body := f[1+len(tc.head):][:4], f[1+len(tc.head)+4:]
		for i := range body {
			body[i] ^= key[i%4]
		}
		if !bytes.Equal(body, payload) {
			t.Errorf("%d bytes: the payload does not unmask", tc.n)
		}
	}
}

func TestAbuseReportPrint(t *testing.T) {
	lat := func(p50, p99, max float64) Latency { return Latency{P50: p50, P99: p99, Max: max} }
	ar := &AbuseReport{Conns: 16, Rate: 200, PhaseSeconds: 20, Phases: []PhaseReport{
		{Name: Baseline, Seconds: 20, SteadyDue: 4000, Steady: Calls{Requests: 4000, OK: 4000, Latency: lat(1.5, 4.25, 12)},
			NewConn: Calls{Latency: lat(0.5, 1, 2)}, Server: PhaseServer{RSSPeak: 30 << 20, HeapPeak: 10 << 20, GoroutinesPeak: 50, AwakePeak: 16}},
		{Name: SlowBodies, Seconds: 20.5, SteadyDue: 4100, Unsent: 1, Steady: Calls{Requests: 4099, OK: 4097, Errors: 2,
			ErrorsByStatus: map[string]int64{"timeout": 2}, FirstErrors: map[string]string{"timeout": "too slow"}, Latency: lat(1.5, 5, 100)},
			NewConn: Calls{Errors: 1, ErrorsByStatus: map[string]int64{"conn": 1}, FirstErrors: map[string]string{"conn": "refused"}, Latency: lat(900, 1900, 2100)},
			Server:  PhaseServer{RSSPeak: 40 << 20, HeapPeak: 12 << 20, GoroutinesPeak: 1234, AwakePeak: 17},
			SlowBodies: &ConnsReport{Conns: 500, Opened: 5500, CutOff: 5000, CutOffBy: map[string]int64{"408": 4990, "reset": 10},
				CutAfter: lat(2010, 2500, 2600), OpenAtEnd: 500, OldestOpenMs: 1990, Trickled: 20000}},
		{Name: IdleConns, Seconds: 20, SteadyDue: 4000, Steady: Calls{Requests: 4000, OK: 4000, Latency: lat(1, 2, 3)},
			IdleConns: &ConnsReport{Conns: 1000, Opened: 1001, Failed: 1, FirstFailure: "no", CutOffBy: map[string]int64{},
				OpenAtEnd: 990, OldestOpenMs: 19500, SettingUpAtEnd: 10, Request: &Latency{P50: 0.4, Max: 2000}}},
		{Name: BigFrames, Seconds: 20, SteadyDue: 4000, Steady: Calls{Requests: 4000, OK: 4000},
			BigFrames: &BigFramesReport{Sockets: 20, FrameBytes: 1000000, Connects: 21, FramesSent: 500, Replies: 400, ReadMiBPerSec: 0.953674,
				Closed: 1, ClosedBy: map[string]int64{"1009": 1}}},
		{Name: ManyKeys, Seconds: 20, SteadyDue: 4000, Steady: Calls{Requests: 4000, OK: 4000},
			ManyKeys: &ManyKeysReport{Conns: 16, PerSec: 2500.4, Calls: Calls{Requests: 50010, OK: 50000, Errors: 10,
				ErrorsByStatus: map[string]int64{"503": 10}, Latency: Latency{P50: 5, P90: 9, P99: 20, Max: 80}}}},
	}}
	want := `abuse       steady client of 16 conns at 200 req/s, latency from each request's due time; attacks of 20.0s
phase        time   steady due  unsent  errors  p50     p99     max      new conn p50  max       RSS peak  heap peak  goroutines  awake
baseline     20.0s  4,000       0       0       1.50ms  4.25ms  12.0ms   0.50ms        2.00ms    30.0 MiB  10.0 MiB   50          16
slow-bodies  20.5s  4,100       1       2       1.50ms  5.00ms  100.0ms  900.0ms       2100.0ms  40.0 MiB  12.0 MiB   1,234       17
idle-conns   20.0s  4,000       0       0       1.00ms  2.00ms  3.00ms   0.00ms        0.00ms    0.0 MiB   0.0 MiB    0           0
big-frames   20.0s  4,000       0       0       0.00ms  0.00ms  0.00ms   0.00ms        0.00ms    0.0 MiB   0.0 MiB    0           0
many-keys    20.0s  4,000       0       0       0.00ms  0.00ms  0.00ms   0.00ms        0.00ms    0.0 MiB   0.0 MiB    0           0
slow-bodies 500 held open: 5,500 opened (0 failed); 5,000 cut off by the server (408: 4,990, reset: 10) after p50 2.01s, max 2.60s; 500 open at the end, the oldest for 1.99s; 20,000 bytes trickled
steady      slow-bodies: timeout: 2 (first: too slow)
new conns   slow-bodies: conn: 1 (first: refused)
idle-conns  1,000 held open: 1,001 opened (1 failed, the first: no); 0 cut off by the server after p50 0.00s, max 0.00s; 990 open at the end, the oldest for 19.50s, 10 still setting up; their request p50 0.40ms, max 2000.0ms
big-frames  20 sockets of 1,000,000-byte frames: 21 connects (0 failed); 500 frames sent, 400 answered: the server read 0.95 MiB/s a socket; 1 closed by the server (1009: 1)
many-keys   16 conns: 50,010 new keys called, 50,000 ok (2,500/s), 10 failed (503: 10); latency p50 5.00ms  p90 9.00ms  p99 20.0ms  max 80.0ms
`
	var b bytes.Buffer
	ar.Print(&b)
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	// A report prints its abuse part.
	b.Reset()
	(&Report{Scenario: Abuse, Abuse: ar}).Print(&b)
	if !strings.Contains(b.String(), want) {
		t.Errorf("the report lacks its abuse part:\n%s", b.String())
	}
}

// abuseConfig is a short run of every attack against a fake server.
func abuseConfig() Config {
	return Config{Scenario: Abuse, Duration: 5 * 600 * time.Millisecond, Conns: 2, Rate: 100, Timeout: 5 * time.Second,
		SlowConns: 4, TrickleEvery: 30 * time.Millisecond, IdleConns: 4, FrameSockets: 2, FrameBytes: 100000, KeyConns: 2}
}

// TestRunAbuse: every phase, in order, with the steady client's requests
// all sent and answered, the server's figures sampled, and each attack's
// outcome against a server whose read and idle timeouts are 300ms.
func TestRunAbuse(t *testing.T) {
	f := newFakeServer(t, func(f *fakeServer) { f.timeouts = 300 * time.Millisecond })
	rep := runFake(t, context.Background(), f, abuseConfig())
	ar := rep.Abuse
	if ar == nil || ar.Conns != 2 || ar.Rate != 100 || ar.PhaseSeconds != 0.6 || len(ar.Phases) != 5 {
		t.Fatalf("abuse report %+v", ar)
	}
	var sent int64
	for i, name := range []string{Baseline, SlowBodies, IdleConns, BigFrames, ManyKeys} {
		p := ar.Phases[i]
		// 100/s for 0.6s and the time the attack took to stop.
		if due := 100 * p.Seconds; p.Name != name || p.Seconds < 0.6 || math.Abs(float64(p.SteadyDue)-due) > 2 ||
			p.Unsent != 0 || p.Steady.Errors != 0 || p.Steady.Latency.Count != p.SteadyDue {
			t.Errorf("phase %d: %s, %.3fs, due %d, unsent %d, steady %+v", i, p.Name, p.Seconds, p.SteadyDue, p.Unsent, p.Steady)
		}
		if p.Server.Samples == 0 || p.Server.RSSPeak != fakeRSS || p.NewConn.Requests == 0 || p.NewConn.Errors != 0 {
			t.Errorf("phase %s: server %+v, new conns %+v", p.Name, p.Server, p.NewConn)
		}
		sent += p.Steady.Requests
	}
	// The requests of the steady client, and its warm-up, are the run's.
	if rep.Requests != sent+2 || f.count("/rpc/counter:load-steady-0/increment") == 0 || f.count("/rpc/counter:load-steady-1/increment") == 0 {
		t.Errorf("run: %d requests, phases: %d", rep.Requests, sent)
	}

	// Cut off by the read timeout, answered 408, after at least 300ms.
	if s := ar.Phases[1].SlowBodies; s == nil || s.Conns != 4 || s.CutOff < 4 || s.CutOffBy["408"] != s.CutOff || s.CutAfter.P50 < 300 ||
		s.Opened != s.CutOff+s.OpenAtEnd || s.SettingUpAtEnd != 0 || s.Failed != 0 || s.Trickled == 0 {
		t.Errorf("slow bodies: %+v", s)
	}
	// Closed by the idle timeout, without a word, after about 300ms (the
	// server's clock starts before the client has read the reply).
	if s := ar.Phases[2].IdleConns; s == nil || s.Conns != 4 || s.CutOff < 4 || s.CutOffBy["closed"] != s.CutOff || s.CutAfter.P50 < 250 ||
		s.Opened != s.CutOff+s.OpenAtEnd+s.SettingUpAtEnd || s.Failed != 0 || s.Request == nil || s.Request.Count != s.CutOff+s.OpenAtEnd {
		t.Errorf("idle conns: %+v", s)
	}
	if b := ar.Phases[3].BigFrames; b == nil || b.Sockets != 2 || b.FrameBytes != 100000 || b.Connects != 2 || b.Failed != 0 ||
		b.Replies == 0 || b.FramesSent < b.Replies || b.Closed != 0 || b.ReadMiBPerSec <= 0 {
		t.Errorf("big frames: %+v", b)
	}
	// Every key called once.
	k := ar.Phases[4].ManyKeys
	if k == nil || k.Conns != 2 || k.OK == 0 || k.Errors != 0 || k.PerSec <= 0 {
		t.Fatalf("many keys: %+v", k)
	}
	f.mu.Lock()
	keys := 0
	for path, n := range f.calls {
		if strings.HasPrefix(path, "/rpc/counter:load-key-") {
			keys++
			if n != 1 {
				t.Errorf("%s called %d times", path, n)
			}
		}
	}
	f.mu.Unlock()
	if int64(keys) < k.OK || int64(keys) > k.OK+2 { // and the calls cut short at the end
		t.Errorf("%d keys called; the report says %d", keys, k.OK)
	}
}

// TestRunAbuseHeld: a server that never times out holds every slow and
// idle connection until the end of its phase.
func TestRunAbuseHeld(t *testing.T) {
	f := newFakeServer(t, nil)
	cfg := abuseConfig()
	cfg.Attacks, cfg.Duration = "idle-conns,slow-bodies", 3*400*time.Millisecond
	rep := runFake(t, context.Background(), f, cfg)
	if len(rep.Abuse.Phases) != 3 {
		t.Fatalf("phases %+v", rep.Abuse.Phases)
	}
	for _, s := range []*ConnsReport{rep.Abuse.Phases[1].IdleConns, rep.Abuse.Phases[2].SlowBodies} {
		if s == nil || s.Opened != 4 || s.CutOff != 0 || s.OpenAtEnd != 4 || s.OldestOpenMs < 300 {
			t.Errorf("%+v", s)
		}
	}
}
