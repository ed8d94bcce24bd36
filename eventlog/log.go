package eventlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Key families: the first byte of every key in the store.
const (
	famMeta    = 0x00 // format version and the last assigned global position
	famEvents  = 0x01 // actor id, seq (8 bytes big-endian) -> envelope
	famFeed    = 0x02 // global position (8 bytes big-endian) -> actor id, envelope
	famStreams = 0x03 // actor id -> stream record
	// FirstSpace is the lowest byte other packages may use as a Space.
	FirstSpace Space = 0x20
)

// formatVersion is the on-disk format this package writes and reads.
const formatVersion = 1

var (
	keyFormat  = []byte{famMeta, 'f'}
	keyLastPos = []byte{famMeta, 'p'}
)

// The defaults of Options.
const (
	DefaultMaxEventSize     = 1 << 20
	DefaultMaxAppendEvents  = 1024
	DefaultMaxGroupBytes    = 4 << 20
	DefaultSubscriberBuffer = 4096
	DefaultMaxSubscribers   = 65536
	DefaultCacheSize        = 64 << 20
	DefaultMemTableSize     = 32 << 20
)

// Options configure a Log. The zero value gives the documented defaults.
type Options struct {
	// NoSync makes appends return once they are applied to the store,
	// before they are synced to disk. A crash can then lose acknowledged
	// events (never corrupt the log). Off by default; only for tests and
	// data that can be rebuilt.
	NoSync bool
	// ReadOnly opens the store for reading only; every write returns
	// ErrReadOnly. The directory is still locked against writers.
	ReadOnly bool
	// MaxEventSize is the largest Data of one event, in bytes.
	// Default DefaultMaxEventSize (1 MiB).
	MaxEventSize int
	// MaxAppendEvents is the most events one Append may carry. Default
	// DefaultMaxAppendEvents (1024).
	MaxAppendEvents int
	// MaxGroupBytes bounds the encoded size of the appends that share one
	// synced commit. Default DefaultMaxGroupBytes (4 MiB).
	MaxGroupBytes int
	// SubscriberBuffer is how many events a subscriber may fall behind the
	// live feed before it is told it lagged. Default
	// DefaultSubscriberBuffer (4096).
	SubscriberBuffer int
	// MaxSubscribers bounds the open subscriptions. Default
	// DefaultMaxSubscribers (65536).
	MaxSubscribers int
	// CacheSize is the size of the block cache in bytes. Default DefaultCacheSize
	// (64 MiB).
	CacheSize int64
	// MemTableSize is the size of a memtable in bytes. Default DefaultMemTableSize
	// (32 MiB).
	MemTableSize uint64
	// FS is the filesystem to use. Default: the operating system's. Tests
	// pass Pebble's in-memory, crashable or error-injecting filesystems.
	FS vfs.FS
	// Logger receives the store's messages. Default: slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxEventSize <= 0 {
		o.MaxEventSize = DefaultMaxEventSize
	}
	if o.MaxAppendEvents <= 0 {
		o.MaxAppendEvents = DefaultMaxAppendEvents
	}
	if o.MaxGroupBytes <= 0 {
		o.MaxGroupBytes = DefaultMaxGroupBytes
	}
	if o.SubscriberBuffer <= 0 {
		o.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = DefaultMaxSubscribers
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Log is the durable event log of every actor in one data directory. All
// methods are safe for concurrent use.
type Log struct {
	db   *pebble.DB
	lock *pebble.Lock
	opts Options
	wo   *pebble.WriteOptions

	// fatal is set when Pebble reports a fatal error through its logger.
	fatal atomic.Pointer[error]
	// durable is the highest global position whose events, and all before
	// them, are synced. Reads never return events past it.
	durable atomic.Uint64
	// appliedGen counts the groups taken to be applied; durableGen is the
	// last of them known synced (or failed, with failed set). A reader that
	// may have seen a group's writes waits until durableGen reaches
	// appliedGen as loaded after its read.
	appliedGen atomic.Uint64
	durableGen atomic.Uint64

	mu sync.Mutex // guards the fields below
	// queue holds the writes waiting to be applied; queue[0] leads.
	queue []*request
	// inflight holds the groups applied but not yet known to be synced,
	// oldest first.
	inflight []*group
	// nextPos is the next global position to assign.
	nextPos uint64
	// durableCh is closed and replaced whenever durable advances.
	durableCh chan struct{}
	failed    error
	closed    bool
	// leading is true while some request leads; the queue is empty when it
	// is false.
	leading bool
	// closing is closed by Close to wake subscribers.
	closing chan struct{}
	// scratch is the leader's key buffer and heads its cache of stream
	// records; only the leader touches them.
	scratch []byte
	heads   map[string]StreamInfo

	subs subscribers

	// readers counts the reads in progress (enter/exit); shut is set by
	// Close, which then waits for readers to reach zero before it closes
	// Pebble.
	readers atomic.Int64
	shut    atomic.Bool
}

// enter starts a read: false if the log is closed (or closing), in which
// case the read must return ErrClosed. Every true is paired with exit.
func (l *Log) enter() bool {
	l.readers.Add(1)
	if l.shut.Load() {
		l.readers.Add(-1)
		return false
	}
	return true
}

// exit ends a read started by enter.
func (l *Log) exit() { l.readers.Add(-1) }

// Open opens (creating if needed) the log in dir. Only one Log may hold a
// directory at a time; a second Open, in this or another process, returns
// an error wrapping ErrLocked at once.
func Open(dir string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if !opts.ReadOnly {
		if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("eventlog: create %s: %w", dir, err)
		}
	} else if _, err := opts.FS.Stat(dir); err != nil {
		return nil, fmt.Errorf("eventlog: open %s: %w", dir, err)
	}
	lock, err := pebble.LockDirectory(dir, opts.FS)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
	}
	l := &Log{
		lock:      lock,
		opts:      opts,
		wo:        pebble.Sync,
		durableCh: make(chan struct{}),
		closing:   make(chan struct{}),
	}
	if opts.NoSync {
		l.wo = pebble.NoSync
	}
	l.subs.init()
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	po := &pebble.Options{
		FS:                          opts.FS,
		Lock:                        lock,
		Cache:                       cache,
		ReadOnly:                    opts.ReadOnly,
		MemTableSize:                opts.MemTableSize,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		LBaseMaxBytes:               64 << 20,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      pebbleLogger{l: l},
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	po.EnsureDefaults()
	db, err := openDB(dir, po)
	if err != nil {
		lock.Close()
		if opts.ReadOnly && (errors.Is(err, os.ErrNotExist) || errors.Is(err, pebble.ErrDBDoesNotExist)) {
			return nil, fmt.Errorf("%w: %s: %w", ErrNoStore, dir, err)
		}
		return nil, fmt.Errorf("eventlog: open %s: %w", dir, err)
	}
	l.db = db
	if err := l.load(); err != nil {
		db.Close()
		lock.Close()
		return nil, err
	}
	return l, nil
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
	if po.ReadOnly {
		po.ErrorIfNotExists = true
	}
	return pebble.Open(dir, po)
}

// load checks the format and recovers the last global position.
func (l *Log) load() error {
	v, closer, err := l.db.Get(keyFormat)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if l.opts.ReadOnly {
			return nil
		}
		if err := l.db.Set(keyFormat, []byte{formatVersion}, pebble.Sync); err != nil {
			return fmt.Errorf("eventlog: write format: %w", err)
		}
	case err != nil:
		return fmt.Errorf("eventlog: read format: %w", err)
	default:
		ok := len(v) == 1 && v[0] == formatVersion
		got := append([]byte(nil), v...)
		closer.Close()
		if !ok {
			return &CorruptionError{Err: fmt.Errorf("unknown store format %x (this build reads %d)", got, formatVersion)}
		}
	}
	var last uint64
	v, closer, err = l.db.Get(keyLastPos)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("eventlog: read last position: %w", err)
	default:
		if len(v) != 8 {
			closer.Close()
			return &CorruptionError{Err: fmt.Errorf("last position record is %d bytes", len(v))}
		}
		last = binary.BigEndian.Uint64(v)
		closer.Close()
	}
	// The feed's last key is the authority if the record lags behind it.
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{famFeed}, UpperBound: []byte{famFeed + 1}})
	if err != nil {
		return fmt.Errorf("eventlog: %w", err)
	}
	if it.Last() && len(it.Key()) == 9 {
		if p := binary.BigEndian.Uint64(it.Key()[1:]); p > last {
			last = p
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("eventlog: %w", err)
	}
	l.nextPos = last + 1
	l.durable.Store(last)
	return nil
}

// Close waits for the writes in progress, ends every subscription and
// closes the store. It is safe to call more than once.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.closing)
	l.shut.Store(true)
	// Wait for the writes already queued: their callers are owed an answer.
	for len(l.queue) > 0 || len(l.inflight) > 0 {
		ch := l.durableCh
		l.mu.Unlock()
		<-ch
		l.mu.Lock()
	}
	failed := l.failed
	l.mu.Unlock()
	l.subs.closeAll()
	// Wait for the reads in progress; new ones see shut and return
	// ErrClosed. Pebble panics on a read after Close.
	for l.readers.Load() > 0 {
		time.Sleep(time.Millisecond)
	}

	var err error
	if failed != nil {
		// After a failed write, Pebble's commit pipeline may be wedged;
		// closing it could hang or panic. Release what we can.
		err = closeFailed(l.db)
	} else {
		err = l.db.Close()
	}
	if lerr := l.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("eventlog: close: %w", err)
	}
	return nil
}

func closeFailed(db *pebble.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrFailed, r)
		}
	}()
	return db.Close()
}

// Durable returns the highest global position that is synced, with every
// position before it.
func (l *Log) Durable() uint64 { return l.durable.Load() }

// fatalError is the panic value of pebbleLogger.Fatalf.
type fatalError struct{ msg string }

func (f fatalError) Error() string { return "eventlog: pebble: " + f.msg }

// pebbleLogger routes Pebble's messages to slog. Pebble calls Fatalf when
// it cannot go on (a failed WAL write, for example) and expects it not to
// return; it panics with fatalError, which the write path recovers into
// ErrFailed.
type pebbleLogger struct{ l *Log }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.opts.Logger.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.opts.Logger.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.opts.Logger.Error(msg, "component", "pebble", "fatal", true)
	err := error(fatalError{msg})
	p.l.fatal.Store(&err)
	panic(fatalError{msg})
}

// waitApplied blocks until every write applied so far is durable. Readers
// call it after reading records other than events, which Pebble shows
// before they are synced, so that nothing unsynced reaches a caller.
func (l *Log) waitApplied(ctx context.Context) error {
	return l.waitGen(ctx, l.appliedGen.Load())
}

// waitGen blocks until the group gen and those before it are durable.
func (l *Log) waitGen(ctx context.Context, gen uint64) error {
	for {
		if l.durableGen.Load() >= gen {
			return nil
		}
		l.mu.Lock()
		ch, failed := l.durableCh, l.failed
		l.mu.Unlock()
		if l.durableGen.Load() >= gen {
			return nil
		}
		if failed != nil {
			return failed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Compact compacts the whole store now, so that the space of deleted
// events is given back to the filesystem without waiting for Pebble to get
// to it. It can take long on a large store; writes go on meanwhile.
func (l *Log) Compact(ctx context.Context) error {
	if !l.enter() {
		return ErrClosed
	}
	defer l.exit()
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	if err := l.db.Flush(); err != nil {
		return fmt.Errorf("eventlog: flush: %w", err)
	}
	if err := l.db.Compact(ctx, []byte{0x00}, []byte{0xff, 0xff}, true); err != nil {
		return fmt.Errorf("eventlog: compact: %w", err)
	}
	return nil
}

// DiskUsage returns the bytes of the store's live tables: the data as it
// is kept, not counting write-ahead logs (which are recycled) or tables a
// compaction made obsolete and that await deletion.
func (l *Log) DiskUsage() uint64 {
	if !l.enter() {
		return 0
	}
	defer l.exit()
	t := l.db.Metrics().Total()
	return uint64(t.TablesSize)
}
