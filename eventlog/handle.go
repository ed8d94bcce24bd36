package eventlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// handle is one open Pebble instance of the log's directory. The log
// swaps handles when a write fails: from the read-write one to a
// read-only one, which serves reads of what is durable, then back to a
// read-write one once the disk takes writes again (recover.go). Readers
// hold a reference for the length of a read (enter, exit); a handle is
// closed once it is retired and its last reader has gone.
type handle struct {
	db       *pebble.DB
	readOnly bool
	// fence stops every write of a read-write handle's Pebble once it has
	// failed, so that it can do no more (a version edit after a torn one,
	// the deletion of a log whose edit did not land) before it is closed.
	fence *fence
	// failed is done once the instance has failed, so that what waits
	// on Pebble (a flush that it retries for ever) stops waiting.
	failed     context.Context
	markFailed context.CancelFunc
	// retired is closed once the handle is no longer the log's, and stuck
	// set if, failed, it could not be closed and stays the log's.
	retired chan struct{}
	stuck   atomic.Bool
	// opening is set while Pebble opens the instance.
	opening atomic.Bool
	refs    atomic.Int64
}

// fence is an errorfs.Injector that refuses the filesystem's writes once
// it is up. Closing a file and locking stay allowed, so that the failed
// instance can still let go of what it holds.
type fence struct {
	up atomic.Bool
}

// errFenced is what a fenced instance's writes get.
var errFenced = errors.New("eventlog: store failed; writes are stopped until it reopens")

func (f *fence) String() string { return "eventlog fence" }

// MaybeError implements errorfs.Injector.
func (f *fence) MaybeError(op errorfs.Op) error {
	if !f.up.Load() || op.Kind == errorfs.OpFileClose || op.Kind == errorfs.OpLock || op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
		return nil
	}
	return errFenced
}

// enter starts a read on the current handle; every handle returned is
// released with exit. While the log swaps instances it waits for the new
// one. It returns ErrClosed once the log is closed, and ErrUnavailable
// when recovery could open no instance at all.
func (l *Log) enter(ctx context.Context) (*handle, error) {
	for {
		h := l.cur.Load()
		if h == nil {
			if g := l.swap.Load(); g != nil {
				select {
				case <-*g:
					continue
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			if l.cur.Load() != nil {
				continue // the swap ended meanwhile
			}
			select {
			case <-l.closing:
				return nil, ErrClosed
			default:
				return nil, fmt.Errorf("%w: the store cannot be opened", ErrUnavailable)
			}
		}
		if !h.readOnly && h.failed.Err() != nil && !h.stuck.Load() {
			// The instance failed: what it shows may not be durable, and
			// recovery is about to swap it. Read the next one.
			select {
			case <-h.retired:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		h.refs.Add(1)
		if l.cur.Load() == h {
			return h, nil
		}
		h.refs.Add(-1) // swapped meanwhile: read the new one
	}
}

// again reports whether a read of h that failed with err should be
// tried again, on the instance that recovery puts in h's place: h failed
// under the read.
func again(ctx context.Context, h *handle, err error) bool {
	return errors.Is(err, ErrUnavailable) && !h.readOnly && !h.stuck.Load() && ctx.Err() == nil
}

// exit ends a read started by enter.
func (h *handle) exit() { h.refs.Add(-1) }

// openHandle opens Pebble on the log's directory, read-write unless
// readOnly.
func (l *Log) openHandle(readOnly bool) (*handle, error) {
	h := &handle{readOnly: readOnly, retired: make(chan struct{})}
	h.failed, h.markFailed = context.WithCancel(context.Background())
	fs := l.opts.FS
	if !readOnly {
		h.fence = &fence{}
		fs = errorfs.Wrap(fs, h.fence)
	}
	po := &pebble.Options{
		FS:                          fs,
		Lock:                        l.lock,
		Cache:                       l.cache,
		ReadOnly:                    readOnly,
		ErrorIfNotExists:            readOnly,
		MemTableSize:                l.opts.MemTableSize,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		LBaseMaxBytes:               64 << 20,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      &pebbleLogger{l: l, h: h},
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) {
				if h.opening.Load() {
					l.openStalled(err)
					return
				}
				l.fail(h, fmt.Errorf("background: %w", err))
			},
		},
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	po.EnsureDefaults()
	h.opening.Store(true)
	db, err := openDB(l.dir, po)
	h.opening.Store(false)
	if err != nil {
		return nil, err
	}
	h.db = db
	return h, nil
}

// openStalled is called, on Pebble's flush goroutine, when the flush of
// what an Open replayed fails: Pebble retries it at once, for as long as
// it fails, and Open does not return meanwhile. roomToOpen makes that
// rare (the disk filled up in between); then the open waits for room,
// and this slows the retries to one a second and says so, once.
func (l *Log) openStalled(err error) {
	if l.stalls.Add(1) == 1 {
		l.opts.Logger.Error("opening the store waits for the disk to take writes", "reason", reasonOf(err), "err", err)
	}
	time.Sleep(time.Second)
}

// openDB opens Pebble, turning a panic from its logger's Fatalf into an
// error.
func openDB(dir string, po *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = f
		}
	}()
	return pebble.Open(dir, po)
}

// noStore reports whether an open error says the directory holds no
// store.
func noStore(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, pebble.ErrDBDoesNotExist)
}

// errStuck is closeWithin's error for an instance that did not close.
var errStuck = errors.New("eventlog: the store did not close in time; left behind")

// closeWithin closes the handle's Pebble once its readers are gone, and
// returns errStuck if it did not within d: Pebble may hang closing an
// instance whose background work a failure left stuck; the instance is
// then abandoned, and its goroutine with it. Otherwise it returns Close's
// error (a failed instance reports its failure again), the instance
// closed all the same.
func (h *handle) closeWithin(d time.Duration) error {
	done := make(chan error, 1)
	go func() {
		for h.refs.Load() > 0 {
			time.Sleep(time.Millisecond)
		}
		done <- closeDB(h.db)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return errStuck
	}
}

// closeDB closes Pebble, turning a panic (an instance that failed may
// have broken invariants) into an error.
func closeDB(db *pebble.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("eventlog: close: %v", r)
		}
	}()
	return db.Close()
}

// fatalError is the panic value of pebbleLogger.Fatalf on the commit
// path.
type fatalError struct{ msg string }

func (f fatalError) Error() string { return "eventlog: pebble: " + f.msg }

// pebbleLogger routes one instance's messages to slog. Pebble calls
// Fatalf when it cannot go on, and expects it not to return. On the
// commit path, which runs in the log's own goroutine, Fatalf panics with
// fatalError, which the write path recovers. Anywhere else it is one of
// Pebble's background goroutines (a version edit that did not land, say):
// there a panic would end the process, so Fatalf fences the instance,
// fails the log, and returns, which lets Pebble unwind with an error and
// write nothing more. Its error messages are rate limited: a failing
// instance retries, and says so, many times a second.
type pebbleLogger struct {
	l      *Log
	h      *handle
	last   atomic.Int64 // Unix ns of the last error logged
	quiet  atomic.Int64 // errors not logged since
	silent bool
}

func (p *pebbleLogger) Infof(format string, args ...any) {
	p.l.opts.Logger.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

// pebbleErrorEvery bounds how often Pebble's errors are logged.
const pebbleErrorEvery = 10 * time.Second

func (p *pebbleLogger) Errorf(format string, args ...any) {
	now := time.Now().UnixNano()
	last := p.last.Load()
	if now-last < int64(pebbleErrorEvery) || !p.last.CompareAndSwap(last, now) {
		p.quiet.Add(1)
		return
	}
	p.l.opts.Logger.Error(fmt.Sprintf(format, args...), "component", "pebble", "not_logged_since", p.quiet.Swap(0))
}

func (p *pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.fail(p.h, errors.New(msg))
	if strings.HasPrefix(format, "pebble: fatal commit error") {
		panic(fatalError{msg})
	}
}
