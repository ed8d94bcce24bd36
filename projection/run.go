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
	rev        uint64 // the checkpoint's revision, on a Fenced log
	fresh      bool   // ck and rev were read from the store since the last run
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
	reload := !p.fresh
	p.fresh = false
	p.mu.Unlock()
	if _, fenced := p.r.log.(Fenced); fenced && reload {
		// Another runner may have moved the checkpoint since this one
		// last read or wrote it (its commit was refused, or this one was
		// stopped while another ran).
		if err := p.load(); err != nil {
			return err
		}
	}
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
			p.committed(inflight.to, inflight.events, inflight.rev)
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
			ops, to := tx.ops(), next // next moves on while the commit runs
			job := &commitJob{writes: tx.writes, to: to, events: n, done: make(chan error, 1)}
			commit := func() {
				// Lazy: the view and its checkpoint go in together, and a
				// crash that loses them only sends the projection back to
				// the events it had, which are durable: no fsync of its
				// own per batch (one or two per call at one connection).
				rev, err := p.write(ctx, ops, to, true)
				if err != nil {
					err = fmt.Errorf("projection %s: commit: %w", p.def.Name, err)
				}
				job.rev = rev
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
	rev    uint64 // the checkpoint's new revision, on a Fenced log
	done   chan error
}

// committed records that the view now holds the events up to to, events
// more of them.
func (p *proj) committed(to checkpoint, events, rev uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.processed += events
	p.ck, p.rev = to, rev
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
	} else if errors.Is(err, ErrFenced) {
		p.r.opts.Logger.Warn("projection's checkpoint moved by another runner; reading it again", "projection", p.def.Name)
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
	ck := checkpoint{version: p.def.Version}
	rev, err := p.write(p.r.scope.Context(), []eventlog.Op{{Space: Space, Key: pre, End: end, Delete: true}}, ck, false)
	if err != nil {
		return fmt.Errorf("projection: reset %s: %w", p.def.Name, err)
	}
	p.mu.Lock()
	p.ck, p.rev = ck, rev
	p.lastErr = nil
	p.mu.Unlock()
	return nil
}

// Fenced is a Log that several processes share, whose record writes can
// be conditional (eventlog/jetstream's Log). A Runner over one commits
// each batch, and a reset, only if the checkpoint is still at the
// revision it read or last wrote: of two runners of one projection (in a
// cluster, a node that lost the projections' lease and is not stopped
// yet, or whose last commit is still on its way, and the node that took
// the lease), the second to commit writes nothing, reads the checkpoint
// again and goes on from it. So the view holds each event exactly once
// even then: each commit was computed from the view as the checkpoint it
// expects left it.
type Fenced interface {
	// GetRecord is Get with the record's revision (0: never written).
	GetRecord(ctx context.Context, sp eventlog.Space, key []byte) ([]byte, uint64, error)
	// WriteRecordIf writes ops atomically if the record ops[0] writes is
	// at revision rev, and returns its new revision; ok false: it is
	// not, and nothing was written.
	WriteRecordIf(ctx context.Context, rev uint64, ops []eventlog.Op) (newRev uint64, ok bool, err error)
}

// ErrFenced is a commit's error when another runner of the projection
// moved its checkpoint first (see Fenced): the runner reads it again and
// goes on from there.
var ErrFenced = errors.New("projection: another runner moved the checkpoint")

// write commits ops with the checkpoint ck, conditional on a Fenced log,
// and returns the checkpoint's new revision there.
func (p *proj) write(ctx context.Context, ops []eventlog.Op, ck checkpoint, lazy bool) (uint64, error) {
	ckOp := eventlog.Op{Space: Space, Key: checkpointKey(p.def.Name), Value: ck.encode()}
	f, ok := p.r.log.(Fenced)
	if !ok {
		_, err := p.r.log.Write(ctx, eventlog.Request{Ops: append(ops, ckOp), Lazy: lazy})
		return 0, err
	}
	p.mu.Lock()
	rev := p.rev
	p.mu.Unlock()
	rev, done, err := f.WriteRecordIf(ctx, rev, append([]eventlog.Op{ckOp}, ops...))
	if err == nil && !done {
		err = ErrFenced
	}
	return rev, err
}

// load reads the checkpoint from the store, and drops the view if it was
// made by another version of the projection.
func (p *proj) load() error {
	ck, rev, err := p.r.loadCheckpoint(p.r.scope.Context(), p.def.Name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if ck.pos != p.ck.pos {
		close(p.progressed)
		p.progressed = make(chan struct{})
	}
	p.ck, p.rev, p.fresh = ck, rev, true
	p.mu.Unlock()
	if p.def.Version != ck.version && (ck.pos > 0 || ck.version != 0) {
		p.r.opts.Logger.Info("projection version changed; rebuilding", "projection", p.def.Name, "from", ck.version, "to", p.def.Version)
		return p.drop()
	}
	return nil
}

func (p *proj) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	head := p.r.log.Durable()
	s := Status{
		Name: p.def.Name, Version: p.def.Version, State: "running", Node: p.r.opts.Node,
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
