package load

import (
	"strings"
	"testing"
	"time"
)

// TestConfigDefaults: the zero Config is the documented defaults, and
// negative Subscribers, Drain and SampleEvery mean none.
func TestConfigDefaults(t *testing.T) {
	got, u, err := Config{}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Server:      "http://127.0.0.1:3001",
		Scenario:    Distinct,
		Duration:    10 * time.Second,
		Conns:       16,
		Prefix:      "load",
		Counters:    1000,
		IdlePhase:   40 * time.Second,
		WSHold:      2 * time.Second,
		Timeout:     30 * time.Second,
		Drain:       10 * time.Second,
		SampleEvery: 10 * time.Second,

		Attacks:      "slow-bodies,idle-conns,big-frames,many-keys",
		SlowConns:    500,
		TrickleEvery: 2 * time.Second,
		IdleConns:    1000,
		FrameSockets: 20,
		FrameBytes:   1000000,
		KeyConns:     16,
	}
	if got != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
	if u.String() != "http://127.0.0.1:3001" {
		t.Errorf("server URL %s", u)
	}

	for _, tc := range []struct {
		in       Config
		subs     int
		duration time.Duration
	}{
		{Config{Scenario: Chat}, 100, 10 * time.Second},
		{Config{Scenario: Mixed}, 10, 10 * time.Second},
		{Config{Scenario: Hot}, 0, 10 * time.Second},
		{Config{Scenario: Chat, Subscribers: -1}, 0, 10 * time.Second},
		{Config{Scenario: Chat, Subscribers: 7}, 7, 10 * time.Second},
		{Config{Requests: 5}, 0, 0}, // no time bound
		{Config{Requests: 5, Duration: time.Second}, 0, time.Second},
	} {
		got, _, err := tc.in.resolve()
		if err != nil {
			t.Errorf("%+v: %v", tc.in, err)
			continue
		}
		if got.Subscribers != tc.subs || got.Duration != tc.duration {
			t.Errorf("%+v: subscribers %d, duration %v; want %d, %v", tc.in, got.Subscribers, got.Duration, tc.subs, tc.duration)
		}
	}

	got, _, err = Config{Drain: -1, SampleEvery: -1}.resolve()
	if err != nil || got.Drain != 0 || got.SampleEvery != 0 {
		t.Errorf("negative Drain and SampleEvery: %v, %v (%v); want none", got.Drain, got.SampleEvery, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Scenario: "nope"}, `--scenario "nope": want distinct, hot, chat, mixed or abuse`},
		{Config{Duration: -time.Second}, "--duration and --requests must not be negative"},
		{Config{Requests: -1}, "--duration and --requests must not be negative"},
		{Config{Conns: -1}, "--conns -1: want 1 to 10000"},
		{Config{Conns: 10001}, "--conns 10001: want 1 to 10000"},
		{Config{Subscribers: 100001}, "--subscribers 100001: at most 100000"},
		{Config{Rate: -1}, "--rate -1: want a positive number, or 0 for no pacing"},
		{Config{Scenario: Mixed, Counters: 1}, "--counters 1: mixed needs at least 2"},
		{Config{Timeout: -time.Second}, "--idle-phase, --ws-hold and --timeout must not be negative"},
		{Config{IdlePhase: -time.Second}, "--idle-phase, --ws-hold and --timeout must not be negative"},
		{Config{Prefix: "a:b"}, `--prefix "a:b": want a non-empty key`},
		{Config{Server: "ftp://127.0.0.1"}, `--server "ftp://127.0.0.1": want an http:// or https:// URL with a host`},
		{Config{Server: "::"}, `--server "::": parse "::": missing protocol scheme`},
		{Config{Scenario: Abuse, Requests: 5}, "abuse runs for --duration, divided into its phases; --requests does not apply"},
		{Config{Scenario: Abuse, Requests: 5, Duration: time.Second}, "--requests does not apply"},
		{Config{Scenario: Abuse, Server: "https://127.0.0.1:1"}, `--server "https://127.0.0.1:1": abuse speaks plain HTTP`},
		{Config{Attacks: "slow-bodies,nope"}, `--attacks "slow-bodies,nope": want some of slow-bodies, idle-conns, big-frames, many-keys, comma-separated, each once`},
		{Config{Attacks: "many-keys,many-keys"}, `--attacks "many-keys,many-keys": want some of`},
		{Config{Attacks: ","}, `--attacks ",": want some of`},
		{Config{SlowConns: -1}, "--slow-conns -1: want 1 to 50000"},
		{Config{IdleConns: 50001}, "--idle-conns 50001: want 1 to 50000"},
		{Config{FrameSockets: 10001}, "--frame-sockets 10001: want 1 to 10000"},
		{Config{FrameBytes: 64<<20 + 1}, "--frame-bytes 67108865: want 1 to 67108864"},
		{Config{KeyConns: -2}, "--key-conns -2: want 1 to 10000"},
		{Config{TrickleEvery: -time.Second}, "--trickle-every -1s: want a positive duration"},
	} {
		_, _, err := tc.cfg.resolve()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestConfigLoopback: only loopback servers, unless AllowRemote.
func TestConfigLoopback(t *testing.T) {
	for _, server := range []string{"http://10.1.2.3:3001", "http://example.com", "http://[2001:db8::1]:3001"} {
		_, _, err := Config{Server: server}.resolve()
		if err == nil || !strings.Contains(err.Error(), "--allow-remote") {
			t.Errorf("%s: %v", server, err)
		}
		if _, _, err := (Config{Server: server, AllowRemote: true}).resolve(); err != nil {
			t.Errorf("%s with AllowRemote: %v", server, err)
		}
	}
	for _, server := range []string{"http://localhost:1", "http://LOCALHOST:1", "http://127.0.0.1:1", "http://127.1.2.3:1", "http://[::1]:1"} {
		if _, _, err := (Config{Server: server}).resolve(); err != nil {
			t.Errorf("%s: %v", server, err)
		}
	}
	// The server URL loses its query, fragment and trailing slash.
	_, u, err := Config{Server: "http://127.0.0.1:1/base/?q=1#f"}.resolve()
	if err != nil || u.String() != "http://127.0.0.1:1/base" {
		t.Errorf("server URL %v (%v)", u, err)
	}
}
