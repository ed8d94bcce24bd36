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
// the checkpoint. A projection never skips an event silently: positions
// may skip (erased events; on JetStream, records take positions too), and
// when a batch skips some the span is checked against the feed, which
// must hold no event the subscription did not deliver, or the projection
// stops with an error. Status counts the events delivered, not positions;
// the store cannot say how many of the skipped positions held erased
// events, so there is no erased count.
//
// # On-disk format
//
// In the log's eventlog.SpaceProjection (0x22):
//
//	'c' name                checkpoint: version byte (1), uvarints position,
//	                        projection version, 0 (once an erased count,
//	                        ignored when read); varint time
//	'v' name 0x00 key       the view's records, as the handler wrote them
package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/internal/lifetime"
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

// Options configure a Runner. The zero value gives the defaults.
type Options struct {
	// BatchSize is the most events committed in one write. Default 32768.
	BatchSize int
	// MaxBackoff bounds the wait between retries after a handler error.
	// Default 30s.
	MaxBackoff time.Duration
	// Logger receives the runner's messages. Default slog.Default().
	Logger *slog.Logger

	// Standby makes Start run nothing until Activate: the Runner of a
	// node of a cluster, which runs the projections only while it holds
	// their lease, and otherwise answers Status and View from the
	// records that the node running them writes (see standby.go).
	Standby bool
	// Node names this node in Status while it runs the projections.
	Node string
	// Holder, for a Standby Runner, names the node that runs the
	// projections now ("" if none), for Status while it is not this one.
	Holder func() string
}

// Status is what a projection reports.
type Status struct {
	Name    string `json:"name"`
	Version uint64 `json:"version"`
	State   string `json:"state"` // running, paused or failing; stopped: no node runs it
	// Node is the node that runs the projection, in a cluster
	// (Options.Node, Options.Holder).
	Node     string `json:"node,omitempty"`
	Position uint64 `json:"position"`
	Head     uint64 `json:"head"` // the durable end of the feed
	// LagEvents is Head - Position: the feed positions not yet in the
	// view. On a store whose positions skip (JetStream: records take
	// positions) it is an upper bound of the events not yet in the view;
	// zero means caught up on every store.
	LagEvents uint64        `json:"lagEvents"`
	LagTime   time.Duration `json:"-"` // age of the oldest event not yet in the view
	LastError string        `json:"lastError,omitempty"`
	ErrorAt   time.Time     `json:"errorAt,omitzero"`
	Processed uint64        `json:"processed"` // events delivered since start, handled or filtered out
}

// The defaults of Options.
const (
	DefaultBatchSize  = 32768
	DefaultMaxBackoff = 30 * time.Second
)

// Runner runs projections. Start starts a goroutine per projection (and
// one for each commit in flight), owned by the Runner's lifetime.Scope,
// whose context is the root of their store I/O; Close stops them and
// waits. Its methods are safe for concurrent use.
type Runner struct {
	log   Log
	opts  Options
	defs  []Def
	projs map[string]*proj
	names []string
	scope *lifetime.Scope
	// active, in a Standby Runner, is the Runner that runs the
	// projections while Activate holds: every method is its.
	active  atomic.Pointer[Runner]
	standby sync.Mutex // serializes Activate and Deactivate
}

// ErrUnknown is returned for a projection name that is not running.
var ErrUnknown = errors.New("projection: no such projection")

// Start starts the projections over log.
func Start(log Log, opts Options, defs ...Def) (*Runner, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Runner{log: log, opts: opts, defs: defs, projs: make(map[string]*proj), scope: lifetime.New()}
	for _, d := range defs {
		if err := d.validate(); err != nil {
			return nil, err
		}
		if _, dup := r.projs[d.Name]; dup {
			return nil, fmt.Errorf("projection: %s defined twice", d.Name)
		}
		p := &proj{r: r, def: d, wake: make(chan struct{}, 1), progressed: make(chan struct{})}
		r.projs[d.Name] = p
		r.names = append(r.names, d.Name)
	}
	sort.Strings(r.names)
	if opts.Standby {
		return r, nil
	}
	for _, name := range r.names {
		if err := r.projs[name].load(); err != nil {
			return nil, err
		}
	}
	for _, name := range r.names {
		r.scope.Go(r.projs[name].loop)
	}
	return r, nil
}

// loadCheckpoint reads a projection's checkpoint, with its revision on a
// Fenced log.
func (r *Runner) loadCheckpoint(ctx context.Context, name string) (checkpoint, uint64, error) {
	var v []byte
	var rev uint64
	var err error
	if f, ok := r.log.(Fenced); ok {
		v, rev, err = f.GetRecord(ctx, Space, checkpointKey(name))
	} else {
		v, err = r.log.Get(ctx, Space, checkpointKey(name))
	}
	if errors.Is(err, eventlog.ErrNotFound) {
		return checkpoint{}, rev, nil
	}
	if err != nil {
		return checkpoint{}, 0, fmt.Errorf("projection: %s: %w", name, err)
	}
	ck, err := decodeCheckpoint(v)
	if err != nil {
		return checkpoint{}, 0, fmt.Errorf("projection: %s: %w", name, err)
	}
	return ck, rev, nil
}

// Close stops every projection, letting a commit in flight land, and
// waits for them until ctx ends.
func (r *Runner) Close(ctx context.Context) error {
	if r.opts.Standby {
		if err := r.Deactivate(ctx); err != nil {
			return err
		}
	}
	r.scope.Stop()
	for _, p := range r.projs {
		p.interrupt()
	}
	if err := r.scope.Close(ctx); err != nil {
		return fmt.Errorf("projection: close: %w", err)
	}
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
	if a := r.active.Load(); a != nil {
		return a.Status()
	}
	if r.opts.Standby {
		return r.storedStatus()
	}
	out := make([]Status, 0, len(r.names))
	for _, name := range r.names {
		out = append(out, r.projs[name].status())
	}
	return out
}

// StatusOf returns one projection's status.
func (r *Runner) StatusOf(name string) (Status, error) {
	if a := r.active.Load(); a != nil {
		return a.StatusOf(name)
	}
	p, err := r.get(name)
	if err != nil {
		return Status{}, err
	}
	if r.opts.Standby {
		return p.storedStatus(), nil
	}
	return p.status(), nil
}

// Pause stops a projection where it is until Resume.
func (r *Runner) Pause(name string) error {
	if a := r.active.Load(); a != nil {
		return a.Pause(name)
	}
	p, err := r.local(name)
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
	if a := r.active.Load(); a != nil {
		return a.Resume(name)
	}
	p, err := r.local(name)
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
	if a := r.active.Load(); a != nil {
		return a.Reset(ctx, name)
	}
	p, err := r.local(name)
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
	case <-r.scope.Stopping():
		return errors.New("projection: runner closed")
	}
}

// WaitFor waits until the projection has processed the global position
// pos (for example the LastPos of an append), so that a read of its view
// sees that event.
func (r *Runner) WaitFor(ctx context.Context, name string, pos uint64) error {
	if a := r.active.Load(); a != nil {
		return a.WaitFor(ctx, name, pos)
	}
	p, err := r.get(name)
	if err != nil {
		return err
	}
	if r.opts.Standby {
		return p.waitStored(ctx, pos)
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
		case <-r.scope.Stopping():
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
