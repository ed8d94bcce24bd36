package eventlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Recovery from failed writes.
//
// When a write or a sync fails, or Pebble reports a background error, the
// log fails (fail): the Pebble instance is fenced (its filesystem refuses
// every further write), writes are refused with ErrUnavailable, and the
// recovery goroutine wakes. It lets the writes in flight be answered,
// closes the failed instance and opens the store read-only, so that reads
// of what is durable go on; then it tries, with backoff, whether the disk
// takes writes (a probe file), and when it does, reopens the store for
// writing, publishes the events that had reached the disk, and takes
// writes again. Nothing acknowledged is lost: an acknowledged write was
// synced, and reopening replays the write-ahead log. A write that failed
// may or may not be found afterwards, as after a crash.

// Health is whether the log takes writes, and if not, why and since when.
type Health struct {
	Writable bool
	// Reason says why the log does not take writes, for people and
	// without paths: "the disk is full".
	Reason string
	Since  time.Time
	Err    error // the cause, for the server's log
}

// Health returns the log's state.
func (l *Log) Health() Health {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health
}

// How recovery waits.
const (
	// abandonAfter bounds the wait for a write stuck in a failed Pebble,
	// and for a failed Pebble to close.
	abandonAfter = 10 * time.Second
	// retryFirst and retryMost bound the wait between tries to write.
	retryFirst = 500 * time.Millisecond
	retryMost  = 15 * time.Second
	// remindEvery is how often the log says again that it cannot write.
	remindEvery = time.Minute
	// probeBytes is the size of the file written to see whether the disk
	// takes writes: about what reopening needs (a new write-ahead log and
	// manifest).
	probeBytes = 4 << 20
)

// recovery is the log's recovery goroutine and what it owns.
type recovery struct {
	kick chan struct{} // wakes the goroutine
	quit chan struct{} // closed by stop
	done chan struct{} // closed when the goroutine returns
}

func (r *recovery) start(l *Log) {
	r.kick = make(chan struct{}, 1)
	r.quit = make(chan struct{})
	r.done = make(chan struct{})
	if l.failed != nil {
		r.kick <- struct{}{} // opened read-only: try to write from the start
	}
	go l.recoverLoop()
}

// stop ends the recovery goroutine and waits for it.
func (r *recovery) stop() {
	if r.quit == nil {
		return // a read-only log has none
	}
	close(r.quit)
	<-r.done
}

// reasonOf says what a failure means for people, without paths.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "the disk is full"
	case errors.Is(err, syscall.EROFS):
		return "the filesystem is read-only"
	case errors.Is(err, os.ErrPermission):
		return "the data directory is not writable"
	case errors.Is(err, syscall.EIO):
		return "the disk failed a write"
	}
	return "a write to the disk failed"
}

// unavailable is the error of a write while the log cannot write.
func (l *Log) unavailable() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	return fmt.Errorf("%w: it is reopening", ErrUnavailable)
}

// fail records that the instance h failed because of cause: it is fenced
// at once, and if it is the log's instance for writing, the log stops
// taking writes and recovery starts. It may be called from any goroutine,
// Pebble's included, more than once.
func (l *Log) fail(h *handle, cause error) {
	if h.fence != nil {
		h.fence.up.Store(true)
	}
	h.markFailed()
	l.mu.Lock()
	defer l.mu.Unlock()
	if h.readOnly || l.cur.Load() != h || l.failed != nil || l.closed {
		return
	}
	l.setFailedLocked(cause)
	select {
	case l.rec.kick <- struct{}{}:
	default:
	}
}

// setFailedLocked marks the log unable to write, and says so once.
func (l *Log) setFailedLocked(cause error) {
	reason := reasonOf(cause)
	l.failed = fmt.Errorf("%w: %s", ErrUnavailable, reason)
	l.health = Health{Reason: reason, Since: time.Now(), Err: cause}
	l.opts.Logger.Error("the store cannot write: it is read-only, refusing writes and serving reads, until the disk takes writes again", "reason", reason, "err", cause)
	// Wake the readers waiting for groups that will not complete.
	close(l.durableCh)
	l.durableCh = make(chan struct{})
}

// settleLocked waits, at most d, until the writes queued and in flight
// are answered; the ones still stuck then (in a Pebble that will not
// return) are answered with the log's failure and given up on.
func (l *Log) settleLocked(d time.Duration) {
	deadline := time.Now().Add(d)
	for len(l.queue) > 0 || len(l.inflight) > 0 || l.leading {
		left := time.Until(deadline)
		if left <= 0 {
			l.abandonLocked()
			return
		}
		ch := l.durableCh
		l.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(min(left, 100*time.Millisecond)):
		}
		l.mu.Lock()
	}
}

// abandonLocked answers every write queued or in flight with the log's
// failure and starts a new epoch, so that a leader still in Pebble
// touches nothing when (if ever) it returns.
func (l *Log) abandonLocked() {
	err := l.failed
	if err == nil {
		err = fmt.Errorf("%w: a write did not finish", ErrUnavailable)
	}
	l.opts.Logger.Error("writes stuck in the failed store were given up on", "queued", len(l.queue), "groups", len(l.inflight))
	answer := func(r *request) {
		if !r.done {
			r.res, r.err, r.done = AppendResult{}, err, true
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
	}
	for _, g := range l.inflight {
		for _, r := range g.reqs {
			answer(r)
		}
	}
	for _, r := range l.queue {
		answer(r)
	}
	l.inflight, l.queue, l.leading = nil, nil, false
	l.epoch++
	l.durableGen.Store(l.appliedGen.Load())
	close(l.durableCh)
	l.durableCh = make(chan struct{})
}

func (l *Log) recoverLoop() {
	defer close(l.rec.done)
	for {
		select {
		case <-l.rec.quit:
			return
		case <-l.rec.kick:
		}
		l.recover()
	}
}

// recover takes the failed log back to writing: read-only first, then,
// once the disk takes writes, read-write. It returns early when the log
// closes.
func (l *Log) recover() {
	l.mu.Lock()
	l.settleLocked(abandonAfter)
	l.mu.Unlock()
	if !l.cur.Load().readOnly {
		if !l.reopen(true) {
			return // stuck: said so; nothing more to do here
		}
	}
	wait := retryFirst
	reminded := time.Now()
	for {
		select {
		case <-l.rec.quit:
			return
		case <-time.After(wait):
		}
		err := l.probe()
		if err == nil {
			err = l.roomToOpen()
		}
		if err != nil {
			if time.Since(reminded) >= remindEvery {
				reminded = time.Now()
				l.opts.Logger.Warn("the store still cannot write", "reason", reasonOf(err), "err", err)
			}
			wait = min(2*wait, retryMost)
			continue
		}
		if l.reopen(false) {
			return
		}
		// Reopening for writing failed: reading again, try later.
		if l.cur.Load() == nil && !l.reopen(true) {
			return
		}
		wait = min(2*wait, retryMost)
	}
}

// probe writes, syncs and removes a file in the data directory: whether
// the disk takes writes now.
func (l *Log) probe() error {
	fs := l.opts.FS
	name := filepath.Join(l.dir, "actorlog-probe.tmp")
	f, err := fs.Create(name, "")
	if err != nil {
		return err
	}
	defer fs.Remove(name)
	chunk := make([]byte, 64<<10)
	for n := 0; n < probeBytes && err == nil; n += len(chunk) {
		_, err = f.Write(chunk)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// roomToOpen returns an error wrapping ENOSPC if the disk has no room
// for what opening the store for writing writes before it returns: the
// memtables replayed from the write-ahead logs, flushed to tables, and a
// new log and manifest. Pebble retries a flush that fails there for as
// long as it fails, and its Open does not return meanwhile: better not to
// start it. It returns nil when it cannot tell.
func (l *Log) roomToOpen() error {
	fs := l.opts.FS
	names, err := fs.List(l.dir)
	if err != nil {
		return nil
	}
	need := uint64(probeBytes)
	for _, n := range names {
		if strings.HasSuffix(n, ".log") {
			if st, err := fs.Stat(fs.PathJoin(l.dir, n)); err == nil {
				need += uint64(st.Size())
			}
		}
	}
	u, err := fs.GetDiskUsage(l.dir)
	if err != nil || u.AvailBytes >= need {
		return nil
	}
	return &os.PathError{Op: "open", Path: l.dir, Err: syscall.ENOSPC}
}

// reopen swaps the log's instance for a new one, read-only or not, and
// reports whether the log is where it should be afterwards. Reads wait
// during the swap. Opening for writing clears the failure.
func (l *Log) reopen(readOnly bool) bool {
	gate := make(chan struct{})
	l.swap.Store(&gate)
	defer func() {
		l.swap.Store(nil)
		close(gate)
	}()
	old := l.cur.Swap(nil)
	if old != nil {
		close(old.retired)
		err := old.closeWithin(abandonAfter)
		if errors.Is(err, errStuck) {
			// The failed instance is stuck: it keeps its directory lock,
			// so no other can open. Go on reading from it, as far as it
			// lets anyone.
			old.stuck.Store(true)
			l.cur.Store(old)
			l.opts.Logger.Error("the failed store did not close; a restart is needed to write again", "err", err)
			return false
		}
		if err != nil {
			l.opts.Logger.Debug("the failed store closed with an error", "err", err)
		}
	}
	before := l.durable.Load()
	h, err := l.openHandle(readOnly)
	if err == nil && !readOnly {
		// Read-only, the positions stay those acknowledged: what a failed
		// write left on the disk shows once writing again.
		if err = l.load(h); err != nil {
			closeDB(h.db)
		}
	}
	if err != nil {
		if !readOnly {
			l.opts.Logger.Debug("reopening the store for writing failed", "err", err)
			return false
		}
		l.opts.Logger.Error("the store could not be opened for reading either; reads fail until it can", "err", err)
		return false
	}
	if readOnly {
		l.cur.Store(h)
		l.opts.Logger.Info("the store is read-only until the disk takes writes again")
		return true
	}
	l.mu.Lock()
	l.heads = nil
	l.durableGen.Store(l.appliedGen.Load())
	l.failed = nil
	since := l.health.Since
	l.health = Health{Writable: true}
	l.cur.Store(h)
	l.mu.Unlock()
	l.publishFrom(h, before)
	l.opts.Logger.Info("the store writes again", "unavailable_for", time.Since(since).Round(time.Millisecond))
	return true
}

// publishFrom hands subscribers the events past the durable position
// before recovery that reopening found on the disk (written by a group
// whose sync failed, but whose data had landed).
func (l *Log) publishFrom(h *handle, from uint64) {
	if !l.subs.active() {
		return
	}
	var evs []Event
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: feedKey(nil, from+1), UpperBound: []byte{famFeed + 1}})
	if err != nil {
		return
	}
	err = scanFeed(context.Background(), it, func(e *Event) error {
		c := *e
		c.Data = append([]byte(nil), e.Data...)
		evs = append(evs, c)
		return nil
	})
	it.Close()
	if err != nil {
		l.opts.Logger.Warn("events found on reopening could not be read for the subscribers", "err", err)
		return
	}
	l.mu.Lock()
	l.subs.publish(evs)
	close(l.durableCh)
	l.durableCh = make(chan struct{})
	l.mu.Unlock()
}
