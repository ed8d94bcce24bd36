package cluster

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
	"github.com/nats-io/nats.go"
)

// barrier is a Caller whose calls answer only once n of them are in
// progress at the same time, or fail after a while.
type barrier struct {
	n       int
	mu      sync.Mutex
	waiting int
	all     chan struct{}
}

func (b *barrier) Call(ctx context.Context, id eventlog.ID, action string, args actors.Args, opts actors.CallOptions) (actors.Reply, error) {
	b.mu.Lock()
	if b.waiting++; b.waiting == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return actors.Reply{Body: []byte(`{}`)}, nil
	case <-time.After(5 * time.Second):
		return actors.Reply{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the calls did not run at the same time"}
	}
}

func (b *barrier) State(context.Context, eventlog.ID) (actors.Init, error) {
	return actors.Init{State: []byte(`{}`)}, nil
}

// TestForwardedCallsConcurrent: the owner serves the forwarded calls of
// one shard at the same time, not one after another.
func TestForwardedCallsConcurrent(t *testing.T) {
	open := openPair(t)
	const n = 8
	owner := open("owner", &barrier{n: n, all: make(chan struct{})})
	other := open("other", nil) // never runs a call: the one shard is owner's
	if _, err := owner.acquire(context.Background(), 0); err != nil || !owner.Owns(0) {
		t.Fatalf("the owner could not take the shard: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := other.Call(ctx, eventlog.ID{Type: "counter", Key: string(rune('a' + i))}, "increment", actors.Args{}, actors.CallOptions{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("forwarded call: %v", err)
		}
	}
	if s := other.Stats(); s.Forwarded != n || s.Local != 0 {
		t.Errorf("the other node's stats %+v; want %d forwarded", s, n)
	}
	if s := owner.Stats(); s.Served != n {
		t.Errorf("the owner's stats %+v; want %d served", s, n)
	}
}

// openPair starts a NATS server and returns a function that opens
// nodes of a cluster of one shard on it, closed when the test ends.
func openPair(t *testing.T) func(node string, local Caller) *Cluster {
	srv := jetstreamtest.StartT(t, 1)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return func(node string, local Caller) *Cluster {
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		c, err := Open(context.Background(), Options{Conn: nc, Node: node, Shards: 1, LeaseTTL: 4 * time.Second, Logger: quiet, NoBalance: true}, local)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
}

// TestOwnerSeen: a node forwards a shard's calls to the owner that
// answered its last one without looking the lease up, and looks it up
// again once that owner has let the shard go.
func TestOwnerSeen(t *testing.T) {
	open := openPair(t)
	owner := open("owner", &barrier{n: 1, all: make(chan struct{})})
	other := open("other", &barrier{n: 1, all: make(chan struct{})})
	if _, err := owner.acquire(context.Background(), 0); err != nil || !owner.Owns(0) {
		t.Fatalf("the owner could not take the shard: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := func() {
		t.Helper()
		if _, err := other.Call(ctx, eventlog.ID{Type: "counter", Key: "a"}, "increment", actors.Args{}, actors.CallOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if other.cachedOwner(0) != "" {
		t.Fatalf("an owner seen before any call")
	}
	call()
	call()
	if o := other.cachedOwner(0); o != "owner" || other.Stats().Forwarded != 2 || owner.Stats().Served != 2 {
		t.Fatalf("owner seen %q, stats %+v and %+v", o, other.Stats(), owner.Stats())
	}
	// The owner lets the shard go: the next call finds no responder,
	// looks the lease up, finds none and takes the shard.
	if err := owner.Release(ctx, 0); err != nil {
		t.Fatal(err)
	}
	call()
	if s := other.Stats(); !other.Owns(0) || other.cachedOwner(0) != "" || s.Forwarded != 3 || s.Local != 0 {
		t.Errorf("after the release: owns %v, owner seen %q, stats %+v", other.Owns(0), other.cachedOwner(0), s)
	}
}
