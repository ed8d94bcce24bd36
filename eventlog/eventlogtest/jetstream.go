package eventlogtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
)

// OnJetStream reports whether StoreEnv asks for the JetStream log
// (ACTORLOG_TEST_STORE=jetstream): one embedded server per test binary,
// started on first use, with a stream per directory.
func OnJetStream() bool { return os.Getenv(StoreEnv) == "jetstream" }

// servers holds the JetStream server of the test binary and the stream of
// each directory Open was given, so that reopening a directory finds
// what was written to it.
var servers = struct {
	sync.Mutex
	srv     *jetstreamtest.Servers
	dir     string
	streams map[string]int
}{streams: map[string]int{}}

// openJetStream opens a JetStream log on dir's stream.
func openJetStream(t testing.TB, dir string, opts eventlog.Options) (*jetstream.Log, string) {
	t.Helper()
	servers.Lock()
	if servers.srv == nil {
		d, err := os.MkdirTemp("", "actorlog-eventlogtest-")
		if err != nil {
			servers.Unlock()
			t.Fatal(err)
		}
		srv, err := jetstreamtest.Start(1, d)
		if err != nil {
			servers.Unlock()
			os.RemoveAll(d)
			t.Fatal(err)
		}
		servers.srv, servers.dir = srv, d
	}
	n, ok := servers.streams[dir]
	if !ok {
		n = len(servers.streams) + 1
		servers.streams[dir] = n
	}
	url := servers.srv.URL()
	servers.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("T%d", n)
	l, err := jetstream.Open(ctx, jetstream.Options{
		URL:              url,
		Stream:           name,
		Prefix:           fmt.Sprintf("t%d", n),
		MaxEventSize:     opts.MaxEventSize,
		MaxAppendEvents:  4096, // the servers' max_batch_size
		SubscriberBuffer: opts.SubscriberBuffer,
		MaxSubscribers:   opts.MaxSubscribers,
		Logger:           opts.Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, name
}

// StopServers stops the JetStream server that Open started for
// ACTORLOG_TEST_STORE=jetstream, if any, and removes its store: a
// TestMain calls it before its leak check.
func StopServers() {
	servers.Lock()
	defer servers.Unlock()
	if servers.srv != nil {
		servers.srv.Stop()
		os.RemoveAll(servers.dir)
		servers.srv, servers.dir = nil, ""
	}
}

// jetStreamFaults makes a JetStream log's stream full (see
// jetstreamtest.FullStream).
func jetStreamFaults(t testing.TB, stream string) Faults {
	t.Helper()
	servers.Lock()
	srv := servers.srv
	servers.Unlock()
	return srv.FullStream(t, stream)
}
