package jetstream_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

var bg = context.Background()

// The servers are shared by the tests of the package and started on
// first use: a three-node cluster takes seconds to start.
type shared struct {
	once sync.Once
	n    int
	srv  *jetstreamtest.Servers
	nc   *nats.Conn // the tests' own connection, to manage streams
	js   njs.JetStream
	err  error
	dir  string
}

var (
	single = &shared{n: 1}
	three  = &shared{n: 3}
)

func (s *shared) get(t testing.TB) *shared {
	t.Helper()
	s.once.Do(func() {
		s.dir, s.err = os.MkdirTemp("", "actorlog-jetstream-")
		if s.err != nil {
			return
		}
		if s.srv, s.err = jetstreamtest.Start(s.n, s.dir); s.err != nil {
			return
		}
		if s.nc, s.err = nats.Connect(s.srv.URL()); s.err != nil {
			return
		}
		if s.js, s.err = njs.New(s.nc); s.err != nil {
			return
		}
		// The first request starts the connection's reply subscription,
		// which must not be taken for a test's leak.
		_, s.err = s.js.AccountInfo(bg)
	})
	if s.err != nil {
		t.Fatalf("start %d JetStream servers: %v", s.n, s.err)
	}
	return s
}

func (s *shared) stop() {
	if s.nc != nil {
		s.nc.Close()
	}
	if s.srv != nil {
		s.srv.Stop()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	single.stop()
	three.stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var streams atomic.Int64

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testStore is a Log on a stream of its own, which Close deletes, and
// waits for the servers' goroutines of the stream to end: the suite
// checks that nothing a test started outlives it.
type testStore struct {
	*jetstream.Log
	s       *shared
	name    string // of the stream
	prefix  string // of its subjects
	ignore  goleak.Option
	dropped sync.Once
}

func (ts *testStore) Close() error {
	err := ts.Log.Close()
	ts.dropped.Do(func() {
		ctx, cancel := context.WithTimeout(bg, 30*time.Second)
		defer cancel()
		ts.s.js.DeleteStream(ctx, ts.name)
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			if goleak.Find(ts.ignore) == nil {
				break
			}
		}
	})
	return err
}

// open opens a Log on a new stream of s, replicated on every server.
func open(t testing.TB, s *shared, opts jetstream.Options) *testStore {
	t.Helper()
	s = s.get(t)
	ignore := goleak.IgnoreCurrent()
	n := streams.Add(1)
	opts.URL = s.srv.URL()
	opts.Stream = fmt.Sprintf("T%d", n)
	opts.Prefix = fmt.Sprintf("t%d", n)
	opts.Replicas = s.n
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	l, err := jetstream.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testStore{Log: l, s: s, name: opts.Stream, prefix: opts.Prefix, ignore: ignore}
	t.Cleanup(func() { ts.Close() })
	return ts
}

// The storage contract's suites, on one server (R1) and on three (R3):
//
//	go test ./eventlog/jetstream                  # all, about 30 s (45-75 s with -race)
//	go test ./eventlog/jetstream -run 'Suite|Faults'
//
// -short only shortens the writer race (TestLog_WriterRace): the suites
// take a few seconds each, starting the servers included.
func TestLog_SuiteSingle(t *testing.T) {
	single.get(t) // before the suite: its leak checks start after
	eventlogtest.Run(t, func(t *testing.T) eventlogtest.Store {
		return open(t, single, jetstream.Options{SubscriberBuffer: 64})
	})
}

func TestLog_SuiteThree(t *testing.T) {
	three.get(t) // before the suite: its leak checks start after
	eventlogtest.Run(t, func(t *testing.T) eventlogtest.Store {
		return open(t, three, jetstream.Options{SubscriberBuffer: 64})
	})
}

func TestLog_FaultsSingle(t *testing.T) {
	single.get(t)
	eventlogtest.RunFaults(t, func(t *testing.T) (eventlogtest.Store, eventlogtest.Faults) {
		s := open(t, single, jetstream.Options{})
		return s, &jetstreamtest.FullStream{T: t, JS: s.s.js, Stream: s.name}
	})
}

func TestLog_FaultsThree(t *testing.T) {
	three.get(t)
	eventlogtest.RunFaults(t, func(t *testing.T) (eventlogtest.Store, eventlogtest.Faults) {
		s := open(t, three, jetstream.Options{})
		return s, &jetstreamtest.FullStream{T: t, JS: s.s.js, Stream: s.name}
	})
}
