package load

import (
	"bytes"
	"testing"
)

func TestReportPrint(t *testing.T) {
	rep := &Report{
		Scenario: Mixed, Server: "http://127.0.0.1:3001", Conns: 4, Seconds: 2.04, Interrupted: true,
		Calls: Calls{Requests: 1234567, OK: 1234560, Errors: 7,
			ErrorsByStatus: map[string]int64{"503": 5, "conn": 2},
			FirstErrors:    map[string]string{"503": "busy", "conn": "refused"},
			Latency:        Latency{Count: 1234567, P50: 0.5, P90: 1.25, P99: 12.34, Max: 100}},
		RequestsPerSec: 605180.4,
		Chat: &ChatReport{Room: "chatRoom:load-room", Subscribers: 3, Connected: 2, MessagesSent: 1000,
			FramesExpected: 2000, FramesReceived: 1999, OutOfOrder: 1, Errors: map[string]int64{"read": 1},
			Delivery: Latency{P50: 1, P90: 2, P99: 3, Max: 4}},
		WebSocket:   &WebSocketReport{Connects: 1200, ConnectErrors: 1, Dropped: 2, Frames: 34567},
		Turns:       3,
		ServerStats: &ServerReport{GoroutinesStart: 10, GoroutinesEnd: 12, RSSStartBytes: 10 << 20, RSSEndBytes: 20 << 20, HeapStartBytes: 1 << 20, HeapEndBytes: 3 << 19, ActiveActorsEnd: 5, Wakes: 4321, Appends: 1000, EventsPerAppend: 1.25, CPUSeconds: 12.5, CPUPerRequestUs: 10.1},
		ServerSamples: []ServerSample{
			{HeapInuse: 2 << 20, RSS: 8 << 20, Goroutines: 30},
			{HeapInuse: 1 << 20, RSS: 9 << 20, Goroutines: 20},
		},
		Projections: []ProjectionReport{
			{Name: "actors", Samples: 40, LagEvents: LagSummary{1, 5, 9}, LagMs: LagSummary{2, 6, 10}, CatchUpMs: 12.5},
			{Name: "rooms", Samples: 40, CatchUpMs: -1},
		},
	}
	want := `actorlog load: scenario mixed, 4 conns, 2.0s, http://127.0.0.1:3001, interrupted
requests    1,234,567 (ok 1,234,560, errors 7)
throughput  605,180 req/s
latency     p50 0.50ms  p90 1.25ms  p99 12.3ms  max 100.0ms
errors      503: 5 (first: busy)
errors      conn: 2 (first: refused)
chat        chatRoom:load-room: 3 subscribers (2 connected), 1,000 messages sent
frames      1,999 received / 2,000 expected, 1 out of order
delivery    p50 1.00ms  p90 2.00ms  p99 3.00ms  max 4.00ms
subscribers read: 1
websockets  1,200 connects (1 failed, 2 dropped), 34,567 frames
turns       3 (each half of the counters idles one turn in two)
server      goroutines 10 -> 12, RSS 10.0 -> 20.0 MiB, heap in use 1.0 -> 1.5 MiB
actors      4,321 wakes, 5 awake at the end, 1,000 appends (1.2 events each)
server CPU  12.50 s, 10 µs a request (user and system)
during run  2 samples: heap in use 1.0..2.0 MiB, RSS 8.0..9.0 MiB, goroutines 20..30
projection  actors: lag p50/p99/max 1/5/9 events, 2/6/10 ms (40 samples); at the head 12.5ms after the load
projection  rooms: lag p50/p99/max 0/0/0 events, 0/0/0 ms (40 samples); not at the head 10s after the load
`
	var b bytes.Buffer
	rep.Print(&b)
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := rep.FirstError(); got != "503: busy" {
		t.Errorf("first error %q", got)
	}
	if got := (&Report{}).FirstError(); got != "no error recorded" {
		t.Errorf("first error of none %q", got)
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567", 100000: "100,000"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}
