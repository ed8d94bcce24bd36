package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The defaults of Options.
const (
	DefaultStream           = "ACTORLOG"
	DefaultPrefix           = "actorlog"
	DefaultDuplicateWindow  = 2 * time.Minute
	DefaultRequestTimeout   = 5 * time.Second
	DefaultWriteTimeout     = 15 * time.Second
	DefaultMaxEventSize     = 1 << 20
	DefaultMaxRecordSize    = 32 << 20
	DefaultMaxAppendEvents  = 1000
	DefaultSubscriberBuffer = 4096
	DefaultMaxSubscribers   = 65536
)

// envelopeSlack is what an event's message holds besides its data: the
// envelope's other fields and the headers. An event's data may be at most
// the server's max_payload less this.
const envelopeSlack = 16 << 10

// Options configure a Log. The zero value gives the documented defaults,
// except that Conn or URL must say where the servers are.
type Options struct {
	// Conn is an open connection to the NATS servers, such as one to an
	// embedded server (nats.InProcessServer). The Log uses it and leaves
	// it open on Close.
	Conn *nats.Conn
	// URL, used when Conn is nil, is the servers' URLs, comma-separated.
	// The Log connects (reconnecting for ever) and closes the connection
	// on Close.
	URL string
	// Stream is the name of the JetStream stream. Default DefaultStream.
	Stream string
	// Prefix begins every subject of the stream: tokens of
	// [A-Za-z0-9_-] joined by dots. Default DefaultPrefix. Two logs on one
	// NATS system need different streams and prefixes.
	Prefix string
	// Replicas is the stream's replication factor when Open creates it:
	// 1 on a single server, 3 (or 5) in a cluster. Default 1. An existing
	// stream keeps its own.
	Replicas int
	// DuplicateWindow is how long the servers remember a Nats-Msg-Id:
	// the time within which a retried publish still lands once. It must
	// exceed WriteTimeout. Default DefaultDuplicateWindow (2 minutes).
	DuplicateWindow time.Duration
	// RequestTimeout bounds one request to the servers. Default
	// DefaultRequestTimeout (5 s).
	RequestTimeout time.Duration
	// WriteTimeout bounds how long a write retries a publish whose
	// outcome is unknown (no answer, no leader) before it fails with
	// ErrUnavailable. Default DefaultWriteTimeout (15 s), above the 4 to
	// 9 s a stream takes to elect a leader after one crashes.
	WriteTimeout time.Duration
	// MaxEventSize is the largest Data of one event, in bytes. Default
	// DefaultMaxEventSize (1 MiB), lowered to what the servers'
	// max_payload allows.
	MaxEventSize int
	// MaxRecordSize is the largest value of one record, in bytes. A value
	// over MaxEventSize is stored as several messages of the same atomic
	// batch, each counting towards MaxAppendEvents. Default
	// DefaultMaxRecordSize (32 MiB: a snapshot of the largest state
	// package snapshots takes by default, 16 MiB, fits).
	MaxRecordSize int
	// MaxAppendEvents bounds the messages of one Write: its events and
	// its ops (those whose value takes several messages count each). They
	// are one atomic batch, and the servers refuse batches of more than
	// their max_batch_size, 1000 messages by default. Default
	// DefaultMaxAppendEvents (1000). The actors runtime writes up to
	// 2,000 records at once: for it, run the servers with a
	// max_batch_size of 4096 and set this to match.
	MaxAppendEvents int
	// SubscriberBuffer is how many events a subscriber may fall behind
	// the live feed before it is told it lagged. Default
	// DefaultSubscriberBuffer (4096).
	SubscriberBuffer int
	// MaxSubscribers bounds the open subscriptions. Default
	// DefaultMaxSubscribers (65536).
	MaxSubscribers int
	// Logger receives the Log's messages. Default: slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxEventSize <= 0 {
		o.MaxEventSize = DefaultMaxEventSize
	}
	if o.MaxRecordSize <= 0 {
		o.MaxRecordSize = DefaultMaxRecordSize
	}
	if o.MaxAppendEvents <= 0 {
		o.MaxAppendEvents = DefaultMaxAppendEvents
	}
	if o.SubscriberBuffer <= 0 {
		o.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = DefaultMaxSubscribers
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Log is the event log on a JetStream stream. It implements
// eventlog.Store; all its methods are safe for concurrent use. Open
// starts its goroutines (the live tail, the compactor and the health
// probe) and Close stops them.
type Log struct {
	opts    Options
	nc      *nats.Conn
	ownConn bool
	js      jetstream.JetStream
	st      jetstream.Stream
	subj    subjects

	ctx    context.Context // cancelled by Close: ends the goroutines
	cancel context.CancelFunc
	bg     sync.WaitGroup // the goroutines Open started

	durable atomic.Uint64 // the highest event position known durable
	subs    subscribers
	tail    tail
	compact chan compactJob
	probe   chan struct{} // wakes the health probe

	mu       sync.Mutex // guards the fields below
	closed   bool
	inflight sync.WaitGroup // calls in progress; Close waits for them
	health   eventlog.Health
	heads    map[string]headState // the write path's cache, by encoded id
	locks    map[string]*actorLock
}

var _ eventlog.Store = (*Log)(nil)

// Open opens the log on the stream named in opts, creating the stream if
// it does not exist, and checks that an existing one is configured as
// the log needs (see the package doc).
func Open(ctx context.Context, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if !validPrefix(opts.Prefix) {
		return nil, fmt.Errorf("eventlog/jetstream: prefix %q is not dot-separated tokens of [A-Za-z0-9_-]", opts.Prefix)
	}
	l := &Log{opts: opts, nc: opts.Conn, subj: subjects{prefix: opts.Prefix},
		heads: make(map[string]headState), locks: make(map[string]*actorLock),
		compact: make(chan compactJob, compactQueue), probe: make(chan struct{}, 1),
		health: eventlog.Health{Writable: true}}
	l.subs.init()
	if l.nc == nil {
		if opts.URL == "" {
			return nil, errors.New("eventlog/jetstream: Options needs Conn or URL")
		}
		nc, err := nats.Connect(opts.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
			nats.PingInterval(5*time.Second), nats.Name("actorlog"))
		if err != nil {
			return nil, fmt.Errorf("eventlog/jetstream: connect: %w", err)
		}
		l.nc, l.ownConn = nc, true
	}
	if err := l.open(ctx); err != nil {
		if l.ownConn {
			l.nc.Close()
		}
		return nil, err
	}
	return l, nil
}

func (l *Log) open(ctx context.Context) error {
	if max := int(l.nc.MaxPayload()) - envelopeSlack; max < l.opts.MaxEventSize {
		if max <= 0 {
			return fmt.Errorf("eventlog/jetstream: the servers' max_payload of %d bytes is too small", l.nc.MaxPayload())
		}
		l.opts.MaxEventSize = max
	}
	js, err := jetstream.New(l.nc, jetstream.WithDefaultTimeout(l.opts.RequestTimeout))
	if err != nil {
		return fmt.Errorf("eventlog/jetstream: %w", err)
	}
	l.js = js
	cfg := l.streamConfig()
	st, err := js.Stream(ctx, cfg.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = js.CreateStream(ctx, cfg)
		if err != nil {
			return fmt.Errorf("eventlog/jetstream: create stream %s: %w", cfg.Name, err)
		}
	case err != nil:
		return fmt.Errorf("eventlog/jetstream: stream %s: %w", cfg.Name, err)
	default:
		if err := checkStream(st.CachedInfo().Config, cfg); err != nil {
			return err
		}
	}
	l.st = st

	// The feed's end, and where the live tail starts: the stream's last
	// sequence, read before its last event so that no event lands
	// between the two unseen.
	var last, lastEvent uint64
	for {
		info, err := st.Info(ctx)
		if err != nil {
			return fmt.Errorf("eventlog/jetstream: stream %s: %w", cfg.Name, err)
		}
		last = info.State.LastSeq
		m, err := st.GetLastMsgForSubject(ctx, l.subj.allEvents())
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			lastEvent = 0
		case err != nil:
			return fmt.Errorf("eventlog/jetstream: last event: %w", err)
		default:
			lastEvent = m.Sequence
		}
		if lastEvent <= last {
			break
		}
	}
	l.durable.Store(lastEvent)

	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.tail.init(l, last+1, lastEvent)
	l.bg.Add(3)
	go l.tail.run()
	go l.runCompactor()
	go l.runProbe()
	return nil
}

// streamConfig is the configuration of the stream Open creates.
func (l *Log) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        l.opts.Stream,
		Description: "actorlog event log",
		Subjects:    []string{l.opts.Prefix + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    l.opts.Replicas,
		Retention:   jetstream.LimitsPolicy,
		// No limit may ever drop an event: a full stream refuses writes.
		Discard:            jetstream.DiscardNew,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
		MaxMsgsPerSubject:  -1,
		Duplicates:         l.opts.DuplicateWindow,
		DenyDelete:         true,
		AllowAtomicPublish: true,
		// Reads go to the stream's leader: a direct get may be answered
		// by a replica that has not applied the last write yet.
		AllowDirect: false,
	}
}

// checkStream refuses an existing stream that the log cannot run on.
func checkStream(got, want jetstream.StreamConfig) error {
	var why []string
	if got.Storage != jetstream.FileStorage {
		why = append(why, "storage is not file")
	}
	if !got.AllowAtomicPublish {
		why = append(why, "atomic publish is not allowed")
	}
	if got.DenyPurge {
		why = append(why, "purge is denied")
	}
	if got.AllowDirect {
		why = append(why, "direct get is allowed (reads could be stale)")
	}
	if got.Retention != jetstream.LimitsPolicy || got.MaxAge != 0 || got.MaxMsgsPerSubject > 0 ||
		(got.Discard != jetstream.DiscardNew && (got.MaxMsgs > 0 || got.MaxBytes > 0)) {
		why = append(why, "a limit could drop events")
	}
	found := false
	for _, s := range got.Subjects {
		found = found || s == want.Subjects[0]
	}
	if !found {
		why = append(why, fmt.Sprintf("it does not capture %s", want.Subjects[0]))
	}
	if len(why) > 0 {
		return fmt.Errorf("eventlog/jetstream: stream %s cannot hold the log: %v", got.Name, why)
	}
	return nil
}

// enter starts a call; the caller must call l.exit after. It fails with
// ErrClosed once Close began.
func (l *Log) enter() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return eventlog.ErrClosed
	}
	l.inflight.Add(1)
	return nil
}

func (l *Log) exit() { l.inflight.Done() }

// Close waits for the calls in progress, ends every subscription, stops
// the goroutines and, if Open made the connection, closes it. Later calls
// return ErrClosed; Close itself returns nil again.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.subs.closeAll()
	l.inflight.Wait()
	l.cancel()
	l.tail.stop()
	l.bg.Wait()
	if l.ownConn {
		l.nc.Close()
	}
	return nil
}

// Durable returns the highest global position known durable, with every
// position before it: the last event this Log wrote or the live tail
// delivered.
func (l *Log) Durable() uint64 { return l.durable.Load() }

// advance raises the durable position to pos.
func (l *Log) advance(pos uint64) {
	for {
		d := l.durable.Load()
		if pos <= d || l.durable.CompareAndSwap(d, pos) {
			return
		}
	}
}

// Health says whether the log takes writes now, and if not, why.
func (l *Log) Health() eventlog.Health {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health
}

// Reasons given in Health.
const (
	reasonFull    = "the disk is full"
	reasonNoReply = "the JetStream servers do not answer"
)

// unavailable marks the log as not writable for reason and returns the
// error for the write that found out. The health probe makes it writable
// again.
func (l *Log) unavailable(reason string, cause error) error {
	l.mu.Lock()
	if l.health.Writable {
		l.health = eventlog.Health{Reason: reason, Since: time.Now(), Err: cause}
		l.opts.Logger.Warn("eventlog/jetstream: the log cannot write", "reason", reason, "err", cause)
	}
	l.mu.Unlock()
	select {
	case l.probe <- struct{}{}:
	default:
	}
	return fmt.Errorf("%w: %s: %v", eventlog.ErrUnavailable, reason, cause)
}

// refuse returns the error for a write while the log is not writable.
func (l *Log) refuse() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.health.Writable {
		return nil
	}
	return fmt.Errorf("%w: %s", eventlog.ErrUnavailable, l.health.Reason)
}

// probeEvery is how often the probe asks the servers whether the stream
// takes writes again.
const probeEvery = 250 * time.Millisecond

// tailStall is how long the live tail may deliver nothing while an event
// it has not delivered is known to be committed before the watchdog makes
// it start over.
const tailStall = 2 * time.Second

// runProbe makes the log writable again once the stream has a leader and
// room to write. It reads the stream's state and writes nothing. It is
// also the live tail's watchdog.
func (l *Log) runProbe() {
	defer l.bg.Done()
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	tailAt, tailSince := l.tail.pos.Load(), time.Now() // where the tail was, since when
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.probe:
		case <-t.C:
		}
		switch pos := l.tail.pos.Load(); {
		case pos >= l.Durable() || pos != tailAt:
			tailAt, tailSince = pos, time.Now()
		case time.Since(tailSince) > tailStall:
			l.opts.Logger.Debug("eventlog/jetstream: the live tail stalled; starting it over", "at", pos, "durable", l.Durable())
			l.tail.kick()
			tailSince = time.Now()
		}
		if l.Health().Writable {
			continue
		}
		ctx, cancel := context.WithTimeout(l.ctx, l.opts.RequestTimeout)
		info, err := l.st.Info(ctx)
		cancel()
		if err != nil {
			continue
		}
		c, s := info.Config, info.State
		if (info.Cluster != nil && info.Cluster.Leader == "") ||
			(c.MaxBytes > 0 && s.Bytes >= uint64(c.MaxBytes)) || (c.MaxMsgs > 0 && s.Msgs >= uint64(c.MaxMsgs)) {
			continue
		}
		l.mu.Lock()
		if !l.health.Writable {
			l.opts.Logger.Info("eventlog/jetstream: the log writes again", "after", time.Since(l.health.Since).Round(time.Millisecond))
			l.health = eventlog.Health{Writable: true}
		}
		l.mu.Unlock()
	}
}
