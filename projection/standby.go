package projection

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A Standby Runner (Options.Standby) is the Runner of one node of a
// cluster whose nodes share one store: the projections run on one node
// at a time, the one that holds their lease, which calls Activate when
// it takes the lease and Deactivate when it loses it. Every node answers
// Status and View all along: while this one runs the projections they
// are the running Runner's; while another does, View reads the records
// that one writes, and Status reads its checkpoints from the store, with
// Options.Holder naming where they run.

// ErrStandby is returned by Pause, Resume and Reset on a node that does
// not run the projections now: they are asked of the node that does.
var ErrStandby = errors.New("projection: the projections run on another node")

// Activate starts running the projections from their stored checkpoints,
// until Deactivate. It does nothing if they run already. It is for a
// Standby Runner only.
func (r *Runner) Activate() error {
	if !r.opts.Standby {
		return errors.New("projection: Activate of a Runner that is not a standby")
	}
	r.standby.Lock()
	defer r.standby.Unlock()
	if r.active.Load() != nil {
		return nil
	}
	select {
	case <-r.scope.Stopping():
		return errors.New("projection: runner closed")
	default:
	}
	opts := r.opts
	opts.Standby, opts.Holder = false, nil
	a, err := Start(r.log, opts, r.defs...)
	if err != nil {
		return err
	}
	r.active.Store(a)
	return nil
}

// Deactivate stops running the projections, letting a commit in flight
// land (on a Fenced log it cannot land after another runner's), and
// waits for them until ctx ends. It does nothing if they do not run.
func (r *Runner) Deactivate(ctx context.Context) error {
	r.standby.Lock()
	defer r.standby.Unlock()
	a := r.active.Swap(nil)
	if a == nil {
		return nil
	}
	return a.Close(ctx)
}

// Active reports whether this Runner runs the projections now: always
// for a Runner that is not a standby.
func (r *Runner) Active() bool { return !r.opts.Standby || r.active.Load() != nil }

// local returns a projection that runs here, for Pause, Resume and
// Reset.
func (r *Runner) local(name string) (*proj, error) {
	p, err := r.get(name)
	if err == nil && r.opts.Standby {
		return nil, ErrStandby
	}
	return p, err
}

// storedStatus is Status read from the store, for a standby that does
// not run the projections.
func (r *Runner) storedStatus() []Status {
	out := make([]Status, 0, len(r.names))
	for _, name := range r.names {
		out = append(out, r.projs[name].storedStatus())
	}
	return out
}

// storedStatus is the projection's status as its checkpoint in the store
// gives it: where the node that runs it has committed the view to.
func (p *proj) storedStatus() Status {
	s := Status{Name: p.def.Name, Version: p.def.Version, State: "stopped", Head: p.r.log.Durable()}
	if p.r.opts.Holder != nil {
		s.Node = p.r.opts.Holder()
	}
	if s.Node != "" {
		s.State = "running"
	}
	ctx, cancel := context.WithTimeout(p.r.scope.Context(), 10*time.Second)
	defer cancel()
	ck, _, err := p.r.loadCheckpoint(ctx, p.def.Name)
	if err != nil {
		s.State, s.LastError, s.ErrorAt = "failing", err.Error(), time.Now()
		return s
	}
	if ck.version != p.def.Version && (ck.pos > 0 || ck.version != 0) {
		// The node that runs it has another version: this one's view is
		// not there yet.
		s.LastError = fmt.Sprintf("the stored view is of version %d", ck.version)
		return s
	}
	s.Position = ck.pos
	// This node's store may not have seen the end of the feed (it learns
	// it from its own writes and reads): the scan for the oldest event
	// not in the view reads it.
	s.LagTime = p.r.oldestUnseen(ck.pos)
	s.Head = max(p.r.log.Durable(), ck.pos)
	s.LagEvents = s.Head - ck.pos
	return s
}

// waitStored is WaitFor on a standby: it polls the stored checkpoint.
func (p *proj) waitStored(ctx context.Context, pos uint64) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if a := p.r.active.Load(); a != nil {
			return a.WaitFor(ctx, p.def.Name, pos)
		}
		ck, _, err := p.r.loadCheckpoint(ctx, p.def.Name)
		if err == nil && ck.pos >= pos && ck.version == p.def.Version {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.r.scope.Stopping():
			return errors.New("projection: runner closed")
		}
	}
}
