package eventlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
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
//
// A write that fails (a full disk, a failed sync) does not end the log:
// it stops taking writes (ErrUnavailable), goes on serving reads of what
// is durable, and reopens itself once the disk takes writes again
// (recover.go). Health says which it is doing.
type Log struct {
	dir   string
	lock  *pebble.Lock
	cache *pebble.Cache
	opts  Options
	// cur is the open Pebble instance reads and writes go to; nil while
	// the log swaps instances (swap is then set) or once it is closed.
	cur  atomic.Pointer[handle]
	swap atomic.Pointer[chan struct{}] // closed when a swap is over
	// stalls counts the failed flushes of Pebble's opens (openStalled).
	stalls atomic.Int64

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
	// durableCh is closed and replaced whenever durable advances, or a
	// write fails.
	durableCh chan struct{}
	// failed is set, wrapping ErrUnavailable, while the log takes no
	// writes; health says why and since when.
	failed error
	health Health
	// epoch counts failures: a group taken in an earlier epoch and still
	// in Pebble when recovery gave up on it must not touch the log's state.
	epoch  uint64
	closed bool
	// leading is true while some request leads; the queue is empty when it
	// is false.
	leading bool
	// closing is closed by Close to wake subscribers.
	closing chan struct{}
	// scratch is the leader's key buffer and heads its cache of stream
	// records; only the leader touches them (and recovery, when no one
	// leads).
	scratch []byte
	heads   map[string]StreamInfo
	// feed holds a group's feed records until they are added to its
	// batch, and touched the streams it appended to (apply).
	feed    []byte
	feedEnd []int
	touched []*StreamInfo

	subs subscribers
	rec  recovery
}

// Open opens (creating if needed) the log in dir. Only one Log may hold a
// directory at a time; a second Open, in this or another process, returns
// an error wrapping ErrLocked at once.
//
// If the directory holds a store that cannot be opened for writing (a
// full disk, a read-only filesystem), Open opens it for reading, and the
// log recovers writing by itself once it can (Health says so meanwhile).
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
		dir:       dir,
		lock:      lock,
		cache:     pebble.NewCache(opts.CacheSize),
		opts:      opts,
		durableCh: make(chan struct{}),
		closing:   make(chan struct{}),
		health:    Health{Writable: true},
	}
	if opts.ReadOnly {
		l.health = Health{Reason: "the store is open read-only"}
	}
	l.subs.init()
	var h *handle
	if !opts.ReadOnly {
		err = l.roomToOpen()
	}
	if err == nil {
		h, err = l.openHandle(opts.ReadOnly)
	}
	if err == nil {
		if err = l.load(h); err != nil {
			closeDB(h.db)
		}
	}
	var corrupt *CorruptionError
	switch {
	case err == nil, errors.As(err, &corrupt):
	case opts.ReadOnly && noStore(err):
		err = fmt.Errorf("%w: %s: %w", ErrNoStore, dir, err)
	case opts.ReadOnly:
		err = fmt.Errorf("eventlog: open %s: %w", dir, err)
	default:
		// Not writable: serve what is there, and try again later.
		if h, err = l.openReadOnly(err); err != nil {
			err = fmt.Errorf("eventlog: open %s: %w", dir, err)
		}
	}
	if err != nil {
		l.cache.Unref()
		lock.Close()
		return nil, err
	}
	l.cur.Store(h)
	if !opts.ReadOnly {
		l.rec.start(l)
	}
	return l, nil
}

// openReadOnly opens the store for reading after it could not be opened
// for writing (why), and leaves the log unavailable for writes.
func (l *Log) openReadOnly(why error) (*handle, error) {
	h, err := l.openHandle(true)
	if err == nil {
		err = l.load(h)
	}
	if err != nil {
		return nil, why // the store cannot be read either: say why it could not be written
	}
	l.mu.Lock()
	l.setFailedLocked(why)
	l.mu.Unlock()
	return h, nil
}

// load checks the format and recovers the last global position from h.
func (l *Log) load(h *handle) error {
	v, closer, err := h.db.Get(keyFormat)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if h.readOnly {
			break
		}
		if err := setFormat(h.db); err != nil {
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
	v, closer, err = h.db.Get(keyLastPos)
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
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: []byte{famFeed}, UpperBound: []byte{famFeed + 1}})
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
	l.mu.Lock()
	l.nextPos = last + 1
	l.durable.Store(last)
	l.mu.Unlock()
	return nil
}

// setFormat writes the format version of a new store, turning a panic of
// the commit path (pebbleLogger.Fatalf) into an error.
func setFormat(db *pebble.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatalError); !ok {
				panic(r)
			}
			err = r.(fatalError)
		}
	}()
	return db.Set(keyFormat, []byte{formatVersion}, pebble.Sync)
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
	l.mu.Unlock()
	l.rec.stop()
	l.mu.Lock()
	// Wait for the writes already queued: their callers are owed an
	// answer. A write stuck in a failed Pebble is given up on.
	l.settleLocked(abandonAfter)
	l.mu.Unlock()
	l.subs.closeAll()
	// New reads see no handle and return ErrClosed; the ones in progress
	// end before Pebble closes (it panics on a read after Close).
	h := l.cur.Swap(nil)
	var err error
	if h != nil {
		if !h.stuck.Load() {
			close(h.retired)
		}
		err = h.closeWithin(abandonAfter)
	}
	l.cache.Unref()
	if lerr := l.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("eventlog: close: %w", err)
	}
	return nil
}

// Durable returns the highest global position that is synced, with every
// position before it.
func (l *Log) Durable() uint64 { return l.durable.Load() }

// waitApplied blocks until every write applied so far is durable. Readers
// of h call it after reading records other than events, which Pebble
// shows before they are synced, so that nothing unsynced reaches a
// caller. A read-only instance holds nothing unsynced.
func (l *Log) waitApplied(ctx context.Context, h *handle) error {
	if h.readOnly {
		return nil
	}
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
	h, err := l.enter(ctx)
	if err != nil {
		return err
	}
	defer h.exit()
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	if h.readOnly {
		return l.unavailable()
	}
	// Pebble retries a failed flush for ever: wait for it only while
	// the instance has not failed.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(h.failed, cancel)()
	flushed, err := h.db.AsyncFlush()
	if err == nil {
		select {
		case <-flushed:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil {
		err = h.db.Compact(ctx, []byte{0x00}, []byte{0xff, 0xff}, true)
	}
	if h.failed.Err() != nil {
		return l.unavailable()
	}
	if err != nil {
		return fmt.Errorf("eventlog: compact: %w", err)
	}
	return nil
}

// DiskUsage returns the bytes of the store's live tables: the data as it
// is kept, not counting write-ahead logs (which are recycled) or tables a
// compaction made obsolete and that await deletion.
func (l *Log) DiskUsage() uint64 {
	h, err := l.enter(context.Background())
	if err != nil {
		return 0
	}
	defer h.exit()
	t := h.db.Metrics().Total()
	return uint64(t.TablesSize)
}
