// Package projection keeps read models ("views") over the global event
// feed: questions across actors, such as which chat rooms exist and how
// busy they are, answered from the feed and kept current as it grows.
//
// A projection is a Def: a name, a version, an optional filter by actor
// type and event type, and a handler that folds one event into the view
// through a Tx. A Runner feeds each projection from the event after its
// checkpoint, then live, in batches. The view's writes of a batch and the
// new checkpoint are committed in one atomic write, so after any crash the
// view reflects each event exactly once. A handler error stops that
// projection only; it is reported in Status and retried with backoff from
// the checkpoint. A projection never skips a global position silently: a
// missing position is checked against the log and counted as erased, or
// the projection stops with an error.
//
// # On-disk format
//
// In the log's eventlog.SpaceProjection (0x22):
//
//	'c' name                checkpoint: version byte (1), uvarints position,
//	                        projection version, erased count; varint time
//	'v' name 0x00 key       the view's records, as the handler wrote them
package projection

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// Space is the log space of projections.
const Space = eventlog.SpaceProjection

// Log is what a Runner needs of the event log's store: the feed, read
// from a checkpoint and followed live, and its records, where views and
// checkpoints are kept and committed together. Any eventlog.Store is one.
type Log interface {
	eventlog.FeedReader
	SubscribeFeed(ctx context.Context, from uint64) (eventlog.Subscription, error)
	eventlog.Records
	Write(ctx context.Context, r eventlog.Request) (eventlog.AppendResult, error)
}

// Def defines a projection.
type Def struct {
	// Name names the projection and its view: 1 to 64 bytes of
	// [A-Za-z0-9_-].
	Name string
	// Version of the handler. When it changes, the view is dropped and
	// rebuilt from the first event on start.
	Version uint64
	// ActorTypes and EventTypes, when set, select the events handled;
	// others still advance the checkpoint.
	ActorTypes []string
	EventTypes []string
	// Handle folds one event into the view. It must be deterministic and
	// use only tx for state: it may run again on the same event after a
	// crash or an error, but its effects are committed exactly once.
	Handle func(tx *Tx, e *eventlog.Event) error
}

func (d *Def) validate() error {
	if len(d.Name) == 0 || len(d.Name) > 64 {
		return fmt.Errorf("projection: name %q must be 1 to 64 bytes", d.Name)
	}
	for _, c := range []byte(d.Name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("projection: name %q may hold only letters, digits, '_' and '-'", d.Name)
		}
	}
	if d.Handle == nil {
		return fmt.Errorf("projection: %s has no handler", d.Name)
	}
	return nil
}

func (d *Def) wants(e *eventlog.Event) bool {
	return (len(d.ActorTypes) == 0 || slices.Contains(d.ActorTypes, e.Actor.Type)) &&
		(len(d.EventTypes) == 0 || slices.Contains(d.EventTypes, e.Type))
}

func viewPrefix(name string) []byte { return append(append([]byte{'v'}, name...), 0) }

func checkpointKey(name string) []byte { return append([]byte{'c'}, name...) }

// checkpoint is where a projection stands.
type checkpoint struct {
	pos     uint64
	version uint64
	erased  uint64
	time    int64 // Unix ms of the last event processed
}

func (c checkpoint) encode() []byte {
	b := []byte{1}
	b = binary.AppendUvarint(b, c.pos)
	b = binary.AppendUvarint(b, c.version)
	b = binary.AppendUvarint(b, c.erased)
	return binary.AppendVarint(b, c.time)
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	var c checkpoint
	if len(b) == 0 || b[0] != 1 {
		return c, errors.New("projection: unknown checkpoint format")
	}
	b = b[1:]
	for _, p := range []*uint64{&c.pos, &c.version, &c.erased} {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return c, errors.New("projection: checkpoint does not decode")
		}
		*p, b = v, b[n:]
	}
	t, n := binary.Varint(b)
	if n <= 0 {
		return c, errors.New("projection: checkpoint does not decode")
	}
	c.time = t
	return c, nil
}

// Tx is a batch of view writes in progress. Reads see the batch's own
// writes. It is used by one handler at a time.
type Tx struct {
	log    Log
	prefix []byte
	writes map[string]*[]byte // nil value: deleted
	// prev holds the writes of the batch being committed, which the store
	// may not show yet.
	prev map[string]*[]byte
	// scratch is a buffer handlers may reuse for keys (Put copies).
	scratch []byte
	// undo logs, for the event being handled, each key's entry in writes
	// before the handler wrote it, so that a failing handler's writes can
	// be taken back (in reverse order).
	undo []undoEntry
}

type undoEntry struct {
	key string
	had bool
	v   *[]byte
}

func (tx *Tx) begin() { tx.undo = tx.undo[:0] }

func (tx *Tx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := tx.undo[i]
		if u.had {
			tx.writes[u.key] = u.v
		} else {
			delete(tx.writes, u.key)
		}
	}
	tx.undo = tx.undo[:0]
}

func (tx *Tx) set(key []byte, v *[]byte) {
	k := string(key)
	prev, had := tx.writes[k]
	tx.undo = append(tx.undo, undoEntry{key: k, had: had, v: prev})
	tx.writes[k] = v
}

func (tx *Tx) key(k []byte) []byte { return append(append([]byte(nil), tx.prefix...), k...) }

// Get returns the view's record at key.
func (tx *Tx) Get(key []byte) ([]byte, bool, error) {
	for _, w := range [...]map[string]*[]byte{tx.writes, tx.prev} {
		if v, ok := w[string(key)]; ok {
			if v == nil {
				return nil, false, nil
			}
			return *v, true, nil
		}
	}
	// The view is written only by this projection, and each batch is
	// durable before the next begins: no need to wait for other writes.
	v, err := tx.log.Peek(Space, tx.key(key))
	if errors.Is(err, eventlog.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Put sets the view's record at key. It copies key and value.
func (tx *Tx) Put(key, value []byte) {
	v := append([]byte(nil), value...)
	tx.set(key, &v)
}

// Delete removes the view's record at key.
func (tx *Tx) Delete(key []byte) { tx.set(key, nil) }

func (tx *Tx) ops() []eventlog.Op {
	// One atomic write: the order of its ops does not matter.
	ops := make([]eventlog.Op, 0, len(tx.writes)+1)
	for k, v := range tx.writes {
		if v == nil {
			ops = append(ops, eventlog.Op{Space: Space, Key: tx.key([]byte(k)), Delete: true})
		} else {
			ops = append(ops, eventlog.Op{Space: Space, Key: tx.key([]byte(k)), Value: *v})
		}
	}
	return ops
}

// Options configure a Runner. The zero value gives the defaults.
type Options struct {
	// BatchSize is the most events committed in one write. Default 32768.
	BatchSize int
	// MaxBackoff bounds the wait between retries after a handler error.
	// Default 30s.
	MaxBackoff time.Duration
	// Logger receives the runner's messages. Default slog.Default().
	Logger *slog.Logger
}

// Status is what a projection reports.
type Status struct {
	Name      string        `json:"name"`
	Version   uint64        `json:"version"`
	State     string        `json:"state"` // running, paused or failing
	Position  uint64        `json:"position"`
	Head      uint64        `json:"head"` // the durable end of the feed
	LagEvents uint64        `json:"lagEvents"`
	LagTime   time.Duration `json:"-"` // age of the oldest event not yet in the view
	Erased    uint64        `json:"erased"`
	LastError string        `json:"lastError,omitempty"`
	ErrorAt   time.Time     `json:"errorAt,omitzero"`
	Processed uint64        `json:"processed"` // events since start
}

// Runner runs projections. Start starts a goroutine per projection; Close
// stops them. Its methods are safe for concurrent use.
type Runner struct {
	log   Log
	opts  Options
	projs map[string]*proj
	names []string
	stop  chan struct{}
	wg    sync.WaitGroup
}

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

// ErrUnknown is returned for a projection name that is not running.
var ErrUnknown = errors.New("projection: no such projection")

// Start starts the projections over log.
func Start(log Log, opts Options, defs ...Def) (*Runner, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 32768
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Runner{log: log, opts: opts, projs: make(map[string]*proj), stop: make(chan struct{})}
	for _, d := range defs {
		if err := d.validate(); err != nil {
			return nil, err
		}
		if _, dup := r.projs[d.Name]; dup {
			return nil, fmt.Errorf("projection: %s defined twice", d.Name)
		}
		p := &proj{r: r, def: d, wake: make(chan struct{}, 1), progressed: make(chan struct{})}
		ck, err := r.loadCheckpoint(d.Name)
		if err != nil {
			return nil, err
		}
		p.ck = ck
		if d.Version != ck.version && (ck.pos > 0 || ck.version != 0) {
			opts.Logger.Info("projection version changed; rebuilding", "projection", d.Name, "from", ck.version, "to", d.Version)
			if err := p.drop(); err != nil {
				return nil, err
			}
		}
		r.projs[d.Name] = p
		r.names = append(r.names, d.Name)
	}
	sort.Strings(r.names)
	for _, name := range r.names {
		p := r.projs[name]
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			p.loop()
		}()
	}
	return r, nil
}

func (r *Runner) loadCheckpoint(name string) (checkpoint, error) {
	v, err := r.log.Get(context.Background(), Space, checkpointKey(name))
	if errors.Is(err, eventlog.ErrNotFound) {
		return checkpoint{}, nil
	}
	if err != nil {
		return checkpoint{}, fmt.Errorf("projection: %s: %w", name, err)
	}
	ck, err := decodeCheckpoint(v)
	if err != nil {
		return checkpoint{}, fmt.Errorf("projection: %s: %w", name, err)
	}
	return ck, nil
}

// Close stops every projection and waits for it.
func (r *Runner) Close() error {
	select {
	case <-r.stop:
	default:
		close(r.stop)
		for _, p := range r.projs {
			p.interrupt()
		}
	}
	r.wg.Wait()
	return nil
}

func (r *Runner) get(name string) (*proj, error) {
	p, ok := r.projs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	return p, nil
}

// Names returns the projections' names, sorted.
func (r *Runner) Names() []string { return slices.Clone(r.names) }

// Status returns every projection's status, by name.
func (r *Runner) Status() []Status {
	out := make([]Status, 0, len(r.names))
	for _, name := range r.names {
		out = append(out, r.projs[name].status())
	}
	return out
}

// StatusOf returns one projection's status.
func (r *Runner) StatusOf(name string) (Status, error) {
	p, err := r.get(name)
	if err != nil {
		return Status{}, err
	}
	return p.status(), nil
}

// Pause stops a projection where it is until Resume.
func (r *Runner) Pause(name string) error {
	p, err := r.get(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
	p.interrupt()
	return nil
}

// Resume restarts a paused projection.
func (r *Runner) Resume(name string) error {
	p, err := r.get(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	p.poke()
	return nil
}

// Reset drops the projection's view and checkpoint and rebuilds it from
// the first event. It returns once the view is dropped; the rebuild goes
// on in the background (see Status, or WaitFor).
func (r *Runner) Reset(ctx context.Context, name string) error {
	p, err := r.get(name)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	p.mu.Lock()
	p.reset = append(p.reset, done)
	p.mu.Unlock()
	p.interrupt()
	p.poke()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stop:
		return errors.New("projection: runner closed")
	}
}

// WaitFor waits until the projection has processed the global position
// pos (for example the LastPos of an append), so that a read of its view
// sees that event.
func (r *Runner) WaitFor(ctx context.Context, name string, pos uint64) error {
	p, err := r.get(name)
	if err != nil {
		return err
	}
	for {
		p.mu.Lock()
		at, ch := p.ck.pos, p.progressed
		p.mu.Unlock()
		if at >= pos {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.stop:
			return errors.New("projection: runner closed")
		}
	}
}

// View returns read access to a projection's view.
func (r *Runner) View(name string) (*View, error) {
	if _, err := r.get(name); err != nil {
		return nil, err
	}
	return &View{log: r.log, prefix: viewPrefix(name)}, nil
}

// OpenView returns read access to a projection's view in log without a
// running Runner (for tools reading a store offline).
func OpenView(log eventlog.Records, name string) *View {
	return &View{log: log, prefix: viewPrefix(name)}
}

// View reads a projection's view.
type View struct {
	log    eventlog.Records
	prefix []byte
}

// Get returns the record at key.
func (v *View) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	b, err := v.log.Get(ctx, Space, append(append([]byte(nil), v.prefix...), key...))
	if errors.Is(err, eventlog.ErrNotFound) {
		return nil, false, nil
	}
	return b, err == nil, err
}

// Scan calls fn for the records with keys in [lo, hi) (hi nil: to the end)
// in key order, or reverse order; fn's error stops it and is returned.
// key and value are valid only during the call.
func (v *View) Scan(ctx context.Context, lo, hi []byte, reverse bool, fn func(key, value []byte) error) error {
	start := append(append([]byte(nil), v.prefix...), lo...)
	var end []byte
	if hi != nil {
		end = append(append([]byte(nil), v.prefix...), hi...)
	} else {
		end = append([]byte(nil), v.prefix...)
		end[len(end)-1]++ // past the 0x00 that ends the name
	}
	n := len(v.prefix)
	return v.log.Scan(ctx, Space, start, end, reverse, func(k, val []byte) error { return fn(k[n:], val) })
}

// ReadCheckpoint returns where a projection stands in log, for tools
// reading a store offline: its position, version and erased count.
func ReadCheckpoint(ctx context.Context, log eventlog.Records, name string) (pos, version, erased uint64, err error) {
	v, err := log.Get(ctx, Space, checkpointKey(name))
	if errors.Is(err, eventlog.ErrNotFound) {
		return 0, 0, 0, nil
	}
	if err != nil {
		return 0, 0, 0, err
	}
	ck, err := decodeCheckpoint(v)
	return ck.pos, ck.version, ck.erased, err
}

func (p *proj) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	head := p.r.log.Durable()
	s := Status{
		Name: p.def.Name, Version: p.def.Version, State: "running",
		Position: p.ck.pos, Head: head, Erased: p.ck.erased, Processed: p.processed,
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
	r.log.ScanFeed(context.Background(), pos+1, 0, func(e *eventlog.Event) error {
		t = e.Time
		return errors.New("found")
	})
	if t == 0 {
		return 0
	}
	return max(time.Since(time.UnixMilli(t)), 0)
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
	case <-p.r.stop:
		return true
	default:
		return false
	}
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
		ctx, cancel := context.WithCancel(context.Background())
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

func (p *proj) fail(err error) {
	p.r.opts.Logger.Error("projection failed; retrying", "projection", p.def.Name, "err", err)
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
	case <-p.r.stop:
	}
}

// drop deletes the view and the checkpoint in one write.
func (p *proj) drop() error {
	pre := viewPrefix(p.def.Name)
	end := append([]byte(nil), pre...)
	end[len(end)-1]++
	_, err := p.r.log.Write(context.Background(), eventlog.Request{Ops: []eventlog.Op{
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
			p.committed(inflight.from, inflight.to)
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
		var failed error
		for i := range batch {
			e := &batch[i]
			if e.Pos <= next.pos {
				continue
			}
			if e.Pos != next.pos+1 {
				if failed = p.checkGap(ctx, next.pos+1, e.Pos-1); failed != nil {
					break
				}
				next.erased += e.Pos - next.pos - 1
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
		}
		// The previous batch must be committed before this one.
		if err := settle(); err != nil {
			return err
		}
		if next.pos != from.pos {
			next.version = p.def.Version
			ops := append(tx.ops(), eventlog.Op{Space: Space, Key: checkpointKey(p.def.Name), Value: next.encode()})
			job := &commitJob{writes: tx.writes, from: from, to: next, done: make(chan error, 1)}
			go func() {
				_, err := p.r.log.Write(ctx, eventlog.Request{Ops: ops})
				if err != nil {
					err = fmt.Errorf("projection %s: commit: %w", p.def.Name, err)
				}
				job.done <- err
			}()
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
	writes   map[string]*[]byte
	from, to checkpoint
	done     chan error
}

// committed records that the view now holds the events after from up to
// to.
func (p *proj) committed(from, to checkpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.processed += to.pos - from.pos
	p.ck = to
	p.lastErr = nil
	close(p.progressed)
	p.progressed = make(chan struct{})
}

// checkGap makes sure positions from..to hold no event: they were erased.
func (p *proj) checkGap(ctx context.Context, from, to uint64) error {
	found := uint64(0)
	err := p.r.log.ScanFeed(ctx, from, to, func(e *eventlog.Event) error {
		found = e.Pos
		return errors.New("found")
	})
	if found != 0 {
		return fmt.Errorf("projection %s: position %d exists but was not delivered; not skipping it", p.def.Name, found)
	}
	if err != nil {
		return err
	}
	return nil
}

func (p *proj) handle(tx *Tx, e *eventlog.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return p.def.Handle(tx, e)
}

// Drop deletes a projection's view and checkpoint from log, for tools
// working on a stopped server's store: the next Runner rebuilds the view
// from the first event.
func Drop(ctx context.Context, log eventlog.Writer, name string) error {
	d := Def{Name: name, Handle: func(*Tx, *eventlog.Event) error { return nil }}
	if err := d.validate(); err != nil {
		return err
	}
	pre := viewPrefix(name)
	end := append([]byte(nil), pre...)
	end[len(end)-1]++
	_, err := log.Write(ctx, eventlog.Request{Ops: []eventlog.Op{
		{Space: Space, Key: pre, End: end, Delete: true},
		{Space: Space, Key: checkpointKey(name), Delete: true},
	}})
	if err != nil {
		return fmt.Errorf("projection: drop %s: %w", name, err)
	}
	return nil
}
