// Package jetstreamtest starts NATS JetStream servers embedded in a test
// process, for the tests of the JetStream event log and of what is built
// on it: one node, or a cluster of three, on free loopback ports, with
// their stores in temporary directories, every write synced
// (sync_interval: always), a max_payload of 8 MiB and atomic batches of
// up to 4,096 messages (max_batch_size), 1,000 in flight per stream.
package jetstreamtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Servers are embedded JetStream servers, clustered when more than one.
type Servers struct {
	nodes []*server.Server
}

// Start starts n servers (1, or 3 for a cluster) with their stores under
// dir and waits until JetStream is ready on them. Stop stops them. Client
// ports are chosen by the system (port -1), and so are the cluster ports
// of every server but the first, the seed, which all of them route to
// (itself included: JetStream wants a route configured). The seed's
// cluster port is a free one found beforehand, taken again if another
// process binds it first.
func Start(n int, dir string) (*Servers, error) {
	s := &Servers{}
	deadline := time.Now().Add(60 * time.Second)
	var seed []*url.URL
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		o := &server.Options{
			ServerName: name,
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			NoSigs:     true,
			NoLog:      true,
			JetStream:  true,
			StoreDir:   filepath.Join(dir, name),
			// Durability is the product: without it JetStream syncs every
			// two minutes and a power loss takes acknowledged writes.
			SyncAlways: true,
			MaxPayload: 8 << 20,
			// The runtime writes up to 2,000 records in one write (its
			// idempotency sweep), and many actors write batches at once.
			JetStreamLimits: server.JSLimitOpts{MaxBatchSize: 4096, MaxBatchInflightPerStream: 1000},
		}
		var srv *server.Server
		for try := 0; ; try++ {
			if n > 1 {
				o.Cluster = server.ClusterOpts{Name: "actorlog-test", Host: "127.0.0.1", Port: server.RANDOM_PORT}
				if i == 0 {
					p, err := freePort()
					if err != nil {
						s.Stop()
						return nil, err
					}
					o.Cluster.Port = p
					seed = server.RoutesFromStr(fmt.Sprintf("nats-route://127.0.0.1:%d", p))
				}
				o.Routes = seed
			}
			var err error
			if srv, err = server.NewServer(o); err != nil {
				s.Stop()
				return nil, err
			}
			go srv.Start()
			if srv.ReadyForConnections(min(10*time.Second, time.Until(deadline))) {
				break
			}
			srv.Shutdown()
			srv.WaitForShutdown()
			if i > 0 || try == 4 || time.Now().After(deadline) {
				s.Stop()
				return nil, fmt.Errorf("jetstreamtest: %s not ready", name)
			}
		}
		s.nodes = append(s.nodes, srv)
	}
	if err := s.waitJetStream(deadline); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitJetStream waits until a stream can be created and deleted.
func (s *Servers) waitJetStream(deadline time.Time) error {
	nc, err := nats.Connect(s.URL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "READY", Subjects: []string{"jetstreamtest.ready"}, Replicas: len(s.nodes), Storage: jetstream.MemoryStorage})
		if err == nil {
			err = js.DeleteStream(ctx, "READY")
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jetstreamtest: JetStream not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartT starts n servers for test t, in its temporary directory, and
// stops them when it ends.
func StartT(t testing.TB, n int) *Servers {
	t.Helper()
	s, err := Start(n, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// URL returns the client URLs of the servers, comma-separated.
func (s *Servers) URL() string {
	urls := make([]string, len(s.nodes))
	for i, srv := range s.nodes {
		urls[i] = srv.ClientURL()
	}
	return strings.Join(urls, ",")
}

// Server returns the i-th server.
func (s *Servers) Server(i int) *server.Server { return s.nodes[i] }

// Stop shuts the servers down and waits until they are.
func (s *Servers) Stop() {
	for _, srv := range s.nodes {
		srv.Shutdown()
	}
	for _, srv := range s.nodes {
		srv.WaitForShutdown()
	}
}

// FullStream makes a stream refuse writes as a full disk does, for the
// availability clause of the contract (eventlogtest.Faults): Fail caps
// its bytes at what it holds (it discards new messages, never old ones),
// Heal lifts the cap. Reads go on meanwhile.
type FullStream struct {
	T      testing.TB
	JS     jetstream.JetStream
	Stream string
}

// FullStream returns the FullStream of a stream of s, working over a
// connection of its own that t's end closes.
func (s *Servers) FullStream(t testing.TB, stream string) *FullStream {
	t.Helper()
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &FullStream{T: t, JS: js, Stream: stream}
}

// Fail implements eventlogtest.Faults.
func (f *FullStream) Fail() { f.limit(true) }

// Heal implements eventlogtest.Faults.
func (f *FullStream) Heal() { f.limit(false) }

func (f *FullStream) limit(full bool) {
	f.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := f.JS.Stream(ctx, f.Stream)
	if err != nil {
		f.T.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		f.T.Fatal(err)
	}
	cfg := info.Config
	cfg.MaxBytes = -1
	if full {
		cfg.MaxBytes = int64(info.State.Bytes)
	}
	if _, err := f.JS.UpdateStream(ctx, cfg); err != nil {
		f.T.Fatal(err)
	}
}
