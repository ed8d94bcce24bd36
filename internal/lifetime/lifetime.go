// Package lifetime gives a long-lived value one owner for its goroutines:
// a Scope counts them and holds the root context their work runs under.
// Its Close asks them to wind up, waits for every one of them up to a
// deadline the caller chooses, and then cancels that context, so that
// work still running after the deadline is aborted rather than left
// behind. actors.Runtime, projection.Runner and api.Server each own one,
// so that their Close has one shape and no goroutine outlives the value
// that started it.
package lifetime

import (
	"context"
	"sync"
	"sync/atomic"
)

// Scope owns a set of goroutines. The zero value is not usable; make one
// with New. Its methods are safe for concurrent use.
type Scope struct {
	ctx      context.Context
	cancel   context.CancelFunc
	stopping chan struct{} // closed when Close begins
	stopOnce sync.Once

	n       atomic.Int64 // goroutines running
	stopped atomic.Bool  // Close has begun

	mu   sync.Mutex    // orders the last Done against a late Go
	idle chan struct{} // closed once stopped and no goroutine runs
	shut bool          // idle is closed; guarded by mu
}

// New returns a Scope whose context is the root of everything it runs.
// It is the one place a context is made from nothing.
func New() *Scope {
	ctx, cancel := context.WithCancel(context.Background())
	return &Scope{ctx: ctx, cancel: cancel, stopping: make(chan struct{}), idle: make(chan struct{})}
}

// Context returns the scope's context: the root of the work its
// goroutines do. Close cancels it once they have all returned, or when it
// stops waiting for them.
func (s *Scope) Context() context.Context { return s.ctx }

// Stopping is closed when Close begins: the goroutines should finish what
// they owe and return.
func (s *Scope) Stopping() <-chan struct{} { return s.stopping }

// Go runs f in a goroutine the scope counts. Goroutines of the scope may
// start more while Close waits for them; once every one has returned after
// Close began, Go refuses (returns false) and f does not run.
func (s *Scope) Go(f func()) bool {
	if !s.Enter() {
		return false
	}
	go func() {
		defer s.done()
		f()
	}()
	return true
}

// Enter counts a piece of work that has no goroutine of its own while it
// waits (an awake actor, run by workers when it has something to do) as
// Go counts a goroutine: Close waits for its Exit. It refuses (returns
// false) when Go would.
func (s *Scope) Enter() bool {
	s.n.Add(1)
	if s.stopped.Load() {
		s.mu.Lock()
		shut := s.shut
		s.mu.Unlock()
		if shut {
			s.n.Add(-1)
			return false
		}
	}
	return true
}

// Exit ends the work an Enter counted.
func (s *Scope) Exit() { s.done() }

func (s *Scope) done() {
	if s.n.Add(-1) == 0 && s.stopped.Load() {
		s.closeIdle()
	}
}

// closeIdle closes idle if no goroutine runs. The lock makes the check and
// a concurrent Go's look at shut happen one after the other.
func (s *Scope) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.shut && s.n.Load() == 0 {
		s.shut = true
		close(s.idle)
	}
}

// Stop closes Stopping, without waiting: an owner that must do something
// between telling its goroutines to stop and waiting for them (interrupt
// work of its own) calls Stop, then Close.
func (s *Scope) Stop() {
	s.stopOnce.Do(func() {
		s.stopped.Store(true)
		close(s.stopping)
	})
}

// Close closes Stopping and waits until every goroutine the scope counted
// has returned, or ctx ends; either way it then cancels the scope's
// context. When ctx ended first it returns ctx's error: the goroutines go
// on winding up, their work aborted. It may be called more than once.
func (s *Scope) Close(ctx context.Context) error {
	s.Stop()
	s.closeIdle()
	defer s.cancel()
	select {
	case <-s.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
