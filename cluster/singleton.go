package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A Singleton is a task that one node of the cluster runs at a time (the
// projections): a lease in the cluster's bucket, under the key
// "singleton.<name>", kept by the rules of the shards' leases (see the
// package doc): acquire with Create, renew every TTL/4 with Update
// conditional on the revision held, self-fence at 3/4 of the TTL after
// the start of the last successful renewal, release on Close with
// Delete conditional on the revision. Every node that opens one tries to
// take it every TTL/4, so when its holder closes another takes it within
// a quarter of the TTL, and when it dies, within the TTL and a quarter.
//
// The task must be fenced as well, for a node may run it a moment after
// its lease passed to another (a pause, a write on its way): the
// projections' commits are conditional on their checkpoint (package
// projection, Fenced).
type Singleton struct {
	c    *Cluster
	key  string
	opts SingletonOptions

	stop context.CancelFunc
	done chan struct{}

	mu     sync.Mutex // guards the fields below
	held   bool
	rev    uint64
	since  time.Time // the start of the last successful Create or Update
	holder string    // the holder last seen, "" if none
}

// SingletonOptions are a Singleton's callbacks, called one at a time
// from its goroutine: OnAcquire when this node took the lease, OnDrop
// when it stops holding it.
type SingletonOptions struct {
	// OnAcquire starts the task. An error gives the lease back.
	OnAcquire func(ctx context.Context) error
	// OnDrop stops the task, at once: the lease was lost (a renewal
	// failed or the fence passed) or is being released (Close).
	OnDrop func()
}

// OpenSingleton starts competing for the singleton name (letters,
// digits, '-' and '_') on the cluster's bucket. Close it before the
// Cluster.
func OpenSingleton(c *Cluster, name string, opts SingletonOptions) (*Singleton, error) {
	if name == "" || nodeToken(name) != name {
		return nil, errors.New("cluster: a singleton's name is made of letters, digits, '-' and '_'")
	}
	if c.isClosed() {
		return nil, ErrClosed
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Singleton{c: c, key: "singleton." + name, opts: opts, stop: stop, done: make(chan struct{})}
	go s.loop(ctx)
	return s, nil
}

// Held reports whether this node holds the lease now (within its fence).
func (s *Singleton) Held() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held && time.Since(s.since) < s.c.fenceAfter()
}

// Holder returns the node that held the lease when this node last looked
// (every quarter of the TTL), "" if none.
func (s *Singleton) Holder() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		return s.c.opts.Node
	}
	return s.holder
}

func (s *Singleton) loop(ctx context.Context) {
	defer close(s.done)
	every := s.c.opts.LeaseTTL / 4
	for {
		s.step(ctx)
		wait := every
		s.mu.Lock()
		if s.held {
			// Wake at the fence too, should a renewal not come first.
			wait = min(wait, max(time.Until(s.since.Add(s.c.fenceAfter())), 0))
		}
		s.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// step renews the lease if this node holds it, or tries to take it.
func (s *Singleton) step(ctx context.Context) {
	s.mu.Lock()
	held, rev, since := s.held, s.rev, s.since
	s.mu.Unlock()
	start := time.Now()
	if held {
		fence := since.Add(s.c.fenceAfter())
		if !start.Before(fence) {
			s.c.opts.Logger.Warn("singleton lease past its fence; dropped", "node", s.c.opts.Node, "key", s.key)
			s.drop()
			return
		}
		// The renewal must not outlast the fence.
		deadline := start.Add(s.c.opTimeout())
		if fence.Before(deadline) {
			deadline = fence
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		nrev, err := s.c.kv.Update(rctx, s.key, []byte(s.c.opts.Node), rev)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.c.opts.Logger.Warn("singleton lease renewal failed; dropped", "node", s.c.opts.Node, "key", s.key, "err", err)
				s.drop()
			}
			return
		}
		s.mu.Lock()
		s.rev, s.since = nrev, start
		s.mu.Unlock()
		return
	}
	actx, cancel := context.WithTimeout(ctx, s.c.opTimeout())
	defer cancel()
	nrev, err := s.c.kv.Create(actx, s.key, []byte(s.c.opts.Node))
	if errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := s.c.kv.Get(actx, s.key)
		switch {
		case errors.Is(gerr, jetstream.ErrKeyNotFound):
			s.setHolder("") // expired between the two: next time
			return
		case gerr != nil:
			return
		case string(e.Value()) != s.c.opts.Node:
			s.setHolder(string(e.Value()))
			return
		}
		// This node's own, from an earlier run under its name.
		nrev, err = s.c.kv.Update(actx, s.key, []byte(s.c.opts.Node), e.Revision())
	}
	if err != nil {
		return
	}
	if s.opts.OnAcquire != nil {
		hctx, hcancel := context.WithTimeout(ctx, s.c.opts.LeaseTTL/4)
		err := s.opts.OnAcquire(hctx)
		hcancel()
		if err != nil {
			s.c.opts.Logger.Warn("singleton taken, not started; given back", "node", s.c.opts.Node, "key", s.key, "err", err)
			s.delete(s.c.opTimeout(), nrev)
			return
		}
	}
	s.mu.Lock()
	s.held, s.rev, s.since, s.holder = true, nrev, start, s.c.opts.Node
	s.mu.Unlock()
	s.c.opts.Logger.Info("singleton taken", "node", s.c.opts.Node, "key", s.key, "revision", nrev)
}

func (s *Singleton) setHolder(node string) {
	s.mu.Lock()
	s.holder = node
	s.mu.Unlock()
}

// drop stops holding the lease: OnDrop stops the task.
func (s *Singleton) drop() {
	s.mu.Lock()
	s.held, s.holder = false, ""
	s.mu.Unlock()
	if s.opts.OnDrop != nil {
		s.opts.OnDrop()
	}
}

// delete deletes the lease if it is still this node's. A renewal cut
// short may have landed after all, with a revision this node never
// learnt: the lease is then read again.
func (s *Singleton) delete(timeout time.Duration, rev uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.c.kv.Delete(ctx, s.key, jetstream.LastRevision(rev))
	if err == nil {
		return nil
	}
	e, gerr := s.c.kv.Get(ctx, s.key)
	if errors.Is(gerr, jetstream.ErrKeyNotFound) || (gerr == nil && string(e.Value()) != s.c.opts.Node) {
		return nil // expired, or taken since
	}
	if gerr != nil {
		return err
	}
	return s.c.kv.Delete(ctx, s.key, jetstream.LastRevision(e.Revision()))
}

// Close stops competing for the lease; if this node holds it, it stops
// the task (OnDrop) and then releases the lease, so that another node
// takes it at once instead of after the TTL. ctx bounds the release.
func (s *Singleton) Close(ctx context.Context) error {
	s.stop()
	<-s.done
	s.mu.Lock()
	held, rev := s.held, s.rev
	s.mu.Unlock()
	if !held {
		return nil
	}
	s.drop()
	timeout := s.c.opTimeout()
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	return s.delete(timeout, rev)
}
