package projection

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// proj is one running projection.
type proj struct {
	r   *Runner
	def Def

	mu         sync.Mutex // guards the fields below
	ck         checkpoint
	paused     bool
	reset      []chan error // resets asked for
	cancel     context.CancelFunc
	lastErr    error
	errAt      time.Time
	processed  uint64
	wake       chan struct{} // wakes a paused or backing-off loop
	progressed chan struct{} // closed and replaced when the checkpoint moves
}

func (p *proj) loop() {
	backoff := 100 * time.Millisecond
	for !p.stopped() {
		p.mu.Lock()
		resets := p.reset
		p.reset = nil
		paused := p.paused
		p.mu.Unlock()
		if len(resets) > 0 {
			err := p.drop()
			for _, ch := range resets {
				ch <- err
			}
			backoff = 100 * time.Millisecond
			continue
		}
		if paused {
			p.pause(0)
			continue
		}
		ctx, cancel := context.WithCancel(p.r.scope.Context())
		p.mu.Lock()
		// A pause, reset or stop asked for since the top of the loop would
		// have cancelled a run that had not started: look again.
		again := p.paused || len(p.reset) > 0 || p.stopped()
		p.cancel = cancel
		p.mu.Unlock()
		if again {
			cancel()
			continue
		}
		err := p.run(ctx)
		interrupted := ctx.Err() != nil
		cancel()
		if err == nil || interrupted {
			continue
		}
		p.fail(err)
		p.pause(backoff)
		backoff = min(2*backoff, p.r.opts.MaxBackoff)
	}
}

// run feeds the projection from its checkpoint until ctx ends or an error.
// It pipelines: while one batch is being committed, the next is read and
// handled (its reads see the batch in flight through Tx.prev), so reading
// the feed, handling and committing share the machine's cores.
func (p *proj) run(ctx context.Context) error {
	p.mu.Lock()
	ck := p.ck
	p.mu.Unlock()
	sub, err := p.r.log.SubscribeFeed(ctx, ck.pos+1)
	if err != nil {
		return err
	}
	defer func() { sub.Close() }()

	// The commit in flight, if any: at most one, owned by this function.
	var inflight *commitJob
	settle := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight.done
		if err == nil {
			p.committed(inflight.to, inflight.events)
		}
		inflight = nil
		return err
	}
	defer settle()

	next := ck // where the handled events end; ck is where the view is
	for {
		var batch []eventlog.Event
		if inflight != nil {
			batch, err = sub.TryNextBatch(ctx, p.r.opts.BatchSize)
			if err == nil && len(batch) == 0 {
				// Caught up: let the commit land, so the view is
				// current, before waiting for new events.
				if err := settle(); err != nil {
					return err
				}
				continue
			}
		} else {
			batch, err = sub.NextBatch(ctx, p.r.opts.BatchSize)
		}
		var lagged *eventlog.LaggedError
		if errors.As(err, &lagged) {
			sub.Close()
			if sub, err = p.r.log.SubscribeFeed(ctx, next.pos+1); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		tx := &Tx{log: p.r.log, prefix: viewPrefix(p.def.Name), writes: make(map[string]*[]byte)}
		if inflight != nil {
			tx.prev = inflight.writes
		}
		from := next
		// The subscription delivers every event once, in order, and
		// positions may skip (erased events, and on some stores records).
		// A gap is checked against the feed once per batch, over the span
		// from the first gap to the batch's last event: it must hold
		// exactly the events delivered in it.
		if failed := p.checkGaps(ctx, next.pos, batch); failed != nil {
			if err := settle(); err != nil {
				return err
			}
			return failed
		}
		var failed error
		var n uint64
		for i := range batch {
			e := &batch[i]
			if e.Pos <= next.pos {
				continue
			}
			if p.def.wants(e) {
				tx.begin()
				if err := p.handle(tx, e); err != nil {
					tx.rollback()
					failed = fmt.Errorf("projection %s: event at position %d (%s seq %d, %s): %w", p.def.Name, e.Pos, e.Actor, e.Seq, e.Type, err)
					break
				}
			}
			next.pos, next.time = e.Pos, e.Time
			n++
		}
		// The previous batch must be committed before this one.
		if err := settle(); err != nil {
			return err
		}
		if next.pos != from.pos {
			next.version = p.def.Version
			ops := append(tx.ops(), eventlog.Op{Space: Space, Key: checkpointKey(p.def.Name), Value: next.encode()})
			job := &commitJob{writes: tx.writes, to: next, events: n, done: make(chan error, 1)}
			commit := func() {
				// Lazy: the view and its checkpoint go in together, and a
				// crash that loses them only sends the projection back to
				// the events it had, which are durable: no fsync of its
				// own per batch (one or two per call at one connection).
				_, err := p.r.log.Write(ctx, eventlog.Request{Ops: ops, Lazy: true})
				if err != nil {
					err = fmt.Errorf("projection %s: commit: %w", p.def.Name, err)
				}
				job.done <- err
			}
			// Refused only once every goroutine of the Runner, this
			// one among them, has returned; commit only waits.
			if !p.r.scope.Go(commit) {
				commit()
			}
			inflight = job
		}
		if failed != nil {
			// What came before the failing event is committed; the loop
			// retries from it.
			if err := settle(); err != nil {
				return err
			}
			return failed
		}
	}
}

// commitJob is a batch being committed.
type commitJob struct {
	writes map[string]*[]byte
	to     checkpoint
	events uint64 // events delivered in the batch, handled or filtered out
	done   chan error
}

// committed records that the view now holds the events up to to, events
// more of them.
func (p *proj) committed(to checkpoint, events uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.processed += events
	p.ck = to
	p.lastErr = nil
	close(p.progressed)
	p.progressed = make(chan struct{})
}

// checkGaps makes sure that the positions the batch skips after pos hold
// no event: the span from the first skipped position to the batch's last
// event must hold exactly the batch's events in it. One scan per batch
// with a gap, none for a batch without one.
func (p *proj) checkGaps(ctx context.Context, pos uint64, batch []eventlog.Event) error {
	var from uint64 // the first skipped position; 0: none
	for i := range batch {
		e := &batch[i]
		if e.Pos <= pos {
			continue
		}
		if from == 0 && e.Pos != pos+1 {
			from = pos + 1
		}
		pos = e.Pos
	}
	if from == 0 {
		return nil
	}
	var missing uint64
	i := 0
	err := p.r.log.ScanFeed(ctx, from, pos, func(e *eventlog.Event) error {
		for i < len(batch) && batch[i].Pos < e.Pos {
			i++
		}
		if i == len(batch) || batch[i].Pos != e.Pos {
			missing = e.Pos
			return errors.New("found")
		}
		return nil
	})
	if missing != 0 {
		return fmt.Errorf("projection %s: position %d exists but was not delivered; not skipping it", p.def.Name, missing)
	}
	return err
}

func (p *proj) handle(tx *Tx, e *eventlog.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return p.def.Handle(tx, e)
}

func (p *proj) fail(err error) {
	if errors.Is(err, eventlog.ErrUnavailable) {
		// The store cannot write for now, and says so itself, once.
		p.r.opts.Logger.Debug("projection waits for the store to write", "projection", p.def.Name, "err", err)
	} else {
		p.r.opts.Logger.Error("projection failed; retrying", "projection", p.def.Name, "err", err)
	}
	p.mu.Lock()
	p.lastErr, p.errAt = err, time.Now()
	p.mu.Unlock()
}

// pause waits d (0: until poked) or until stopped.
func (p *proj) pause(d time.Duration) {
	var t <-chan time.Time
	if d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		t = timer.C
	}
	select {
	case <-p.wake:
	case <-t:
	case <-p.r.scope.Stopping():
	}
}

// interrupt ends the current run so the loop sees a pause, reset or stop.
func (p *proj) interrupt() {
	p.mu.Lock()
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
}

func (p *proj) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *proj) stopped() bool {
	select {
	case <-p.r.scope.Stopping():
		return true
	default:
		return false
	}
}

// drop deletes the view and the checkpoint in one write.
func (p *proj) drop() error {
	pre := viewPrefix(p.def.Name)
	end := append([]byte(nil), pre...)
	end[len(end)-1]++
	_, err := p.r.log.Write(p.r.scope.Context(), eventlog.Request{Ops: []eventlog.Op{
		{Space: Space, Key: pre, End: end, Delete: true},
		{Space: Space, Key: checkpointKey(p.def.Name), Value: checkpoint{version: p.def.Version}.encode()},
	}})
	if err != nil {
		return fmt.Errorf("projection: reset %s: %w", p.def.Name, err)
	}
	p.mu.Lock()
	p.ck = checkpoint{version: p.def.Version}
	p.lastErr = nil
	p.mu.Unlock()
	return nil
}

func (p *proj) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	head := p.r.log.Durable()
	s := Status{
		Name: p.def.Name, Version: p.def.Version, State: "running",
		Position: p.ck.pos, Head: head, Processed: p.processed,
	}
	if head > p.ck.pos {
		s.LagEvents = head - p.ck.pos
		s.LagTime = p.r.oldestUnseen(p.ck.pos)
	}
	if p.lastErr != nil {
		s.State, s.LastError, s.ErrorAt = "failing", p.lastErr.Error(), p.errAt
	}
	if p.paused {
		s.State = "paused"
	}
	return s
}

// oldestUnseen returns how long ago the first event after pos was
// appended: how far behind in time a view at pos is.
func (r *Runner) oldestUnseen(pos uint64) time.Duration {
	var t int64
	r.log.ScanFeed(r.scope.Context(), pos+1, 0, func(e *eventlog.Event) error {
		t = e.Time
		return errors.New("found")
	})
	if t == 0 {
		return 0
	}
	return max(time.Since(time.UnixMilli(t)), 0)
}
