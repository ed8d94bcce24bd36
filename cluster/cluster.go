// Package cluster runs actorlog on several nodes over one shared
// JetStream store (package eventlog/jetstream): it gives each actor one
// owner node at a time and sends a call made on any node to the owner.
//
// # Ownership
//
// Actors are grouped in a fixed number of shards (Options.Shards, the
// same on every node): an actor's shard is a hash of its type and key.
// A shard is owned through a lease in a replicated JetStream KV bucket,
// one key per shard whose value is the owner's node name:
//
//   - acquire: Create, which succeeds only when the key is absent, was
//     deleted, or expired (the bucket's TTL, on the servers' clock);
//   - renew: every TTL/4, Update conditional on the revision held, which
//     also restarts the TTL; the revision only grows;
//   - self-fence: a node serves a shard only while less than 3/4 of the
//     TTL has passed since the start of its last successful renewal
//     (its own monotonic clock); a renewal that fails drops the shard at
//     once;
//   - release: on Close, Delete conditional on the revision held, so the
//     next caller takes the shard at once instead of after the TTL.
//
// Shards are taken on demand, by the node they belong on: each node puts
// a member record in the bucket (renewed with its leases, so it expires
// with them), a shard belongs on the member that ranks first for it by
// rendezvous hashing, and a request for a free shard asks that node to
// take it (or takes it here if that node does not answer soon). Each
// round, a node hands over the shards it holds that belong on another
// member, so that shards spread over the nodes and a node that joins
// gets its share (balance.go). There is no consensus here beyond
// JetStream's: the bucket is a Raft-replicated stream.
//
// # Fencing
//
// A lease makes two owners unlikely, not impossible (a node paused past
// its TTL, a clock that stalls). What makes them harmless is the store:
// every append is conditional on the stream's head, so of two owners
// appending after the same event one fails with a conflict and writes
// nothing, and the actor that failed reloads from the log on its next
// call. No acknowledged action is applied twice or lost; a call that
// meets such a conflict is run again, on the owner, by Call.
//
// # Routing
//
// A call for a shard this node does not own is sent over NATS
// request/reply to the subject Prefix.<shard>.<owner>, on which only the
// owner listens. An owner that has just lost the shard answers "moved"; NATS
// answers "no responders" when the owner is gone and its lease not yet
// expired. Both are retried, with backoff, within the caller's deadline.
// A forwarded call that gets no answer in time has an unknown outcome:
// it is retried only when it has an idempotency key (the runtime then
// answers a repeat with the first reply), else it fails with
// CodeUnavailable.
package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Options.
const (
	DefaultShards      = 64
	DefaultLeaseTTL    = 20 * time.Second
	DefaultBucket      = "actorlog-leases"
	DefaultPrefix      = "actorlog-cluster.call"
	DefaultCallTimeout = 30 * time.Second
)

// Options configure a Cluster. Conn and Node are required; the zero
// value of every other field gives its default.
type Options struct {
	// Conn is the connection to the NATS servers. The Cluster leaves it
	// open on Close.
	Conn *nats.Conn
	// Node is this node's name, unique in the cluster. A node restarted
	// under the same name takes back its own unexpired leases.
	Node string
	// Shards is the number of shards, the same on every node. Default
	// DefaultShards (64).
	Shards int
	// LeaseTTL is how long a lease lasts without renewal: after a node
	// dies, its shards are unowned for up to this long. It must exceed
	// the time JetStream takes to elect a new leader for the bucket (4 to
	// 9 s after a crash), or one crash makes every node drop its shards.
	// Default DefaultLeaseTTL (20 s); tests on one server use less. An
	// existing bucket keeps its own.
	LeaseTTL time.Duration
	// Bucket is the KV bucket of the leases. Default DefaultBucket.
	Bucket string
	// Prefix begins the subjects calls are forwarded on. No stream may
	// capture them (the log's stream takes its own prefix's subjects, and
	// would answer a forwarded call with a publish's ack). Default
	// DefaultPrefix.
	Prefix string
	// Replicas is the bucket's replication factor when it is created: 3
	// in a cluster of three. Default 1.
	Replicas int
	// OnAcquire, if set, is called when this node has taken a shard's
	// lease and before it serves the shard: it must make the actors of
	// the shard held in memory, whose state may be older than the log,
	// load again (actors.Runtime.Sleep). An error gives the lease back.
	OnAcquire func(ctx context.Context, shard int) error
	// OnRenew, if set, is called after each round of renewals (every
	// quarter of LeaseTTL): a node looks for due timers there, which
	// finds those of shards no node owns any more.
	OnRenew func()
	// OnDrop, if set, is called when this node stops serving a shard it
	// held (its renewal failed, its lease passed the fence, or Release),
	// in a goroutine of its own that Close waits for: it puts the
	// shard's actors held here to sleep, which ends their connections, so
	// that their clients connect again and reach the new owner.
	OnDrop func(shard int)
	// URL is the base URL at which this node's API answers, published in
	// its member record for the nodes that send it the connections of
	// the actors it owns (Locate). It may be set later (SetURL).
	URL string
	// NoBalance turns the balance off (balance.go): a node takes a free
	// shard itself when it gets a request for it, and keeps it until it
	// closes or loses it. For tests that want a shard where they put it.
	NoBalance bool
	// CallTimeout bounds a forwarded call whose context has no deadline.
	// Default DefaultCallTimeout (30 s).
	CallTimeout time.Duration
	// Logger receives the Cluster's messages. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Shards <= 0 {
		o.Shards = DefaultShards
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Caller runs calls and reads states on this node: an *actors.Runtime.
type Caller interface {
	Call(ctx context.Context, id eventlog.ID, action string, args actors.Args, opts actors.CallOptions) (actors.Reply, error)
	State(ctx context.Context, id eventlog.ID) (actors.Init, error)
}

// Cluster is this node's part of a cluster: the leases it holds, the
// subscriptions on which it serves their shards, and the renewal loop.
// Open starts the loop; Close stops it, stops serving and releases the
// leases. Its methods are safe for concurrent use.
type Cluster struct {
	opts  Options
	kv    jetstream.KeyValue
	local Caller

	stop     context.CancelFunc
	ctx      context.Context
	loopDone chan struct{}
	serving  sync.WaitGroup // forwarded calls being served

	claims sync.WaitGroup // background Claims and OnDrop hooks
	stats  stats
	sub    *nats.Subscription // where forwarded requests reach this node

	mu        sync.Mutex // guards the fields below
	owned     map[int]*lease
	acquiring map[int]chan struct{} // closed when the shard's acquire ends
	claimed   map[int]time.Time     // when Claim last tried a shard
	closed    bool
	url       string    // Options.URL, or SetURL's
	started   time.Time // for the member record
	// seen counts, for each member, the listings in a row it was in
	// (balance.go).
	seen map[string]int
	// owners caches the owners of shards this node sent requests to,
	// forgotten when one answers that it moved or does not answer.
	owners map[int]string
}

// lease is a shard this node holds.
type lease struct {
	rev     uint64
	renewed time.Time // the start of the last successful Create or Update
}

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("cluster: closed")

// Open joins the cluster: it creates the buckets if missing, refuses to
// join a cluster with another number of shards (ErrConfig), publishes
// this node's member record and starts renewing the leases this node
// takes. local runs the calls of the shards this node owns.
func Open(ctx context.Context, opts Options, local Caller) (*Cluster, error) {
	if opts.Conn == nil {
		return nil, errors.New("cluster: Options.Conn is required")
	}
	if opts.Node == "" {
		return nil, errors.New("cluster: Options.Node is required")
	}
	opts = opts.withDefaults()
	js, err := jetstream.New(opts.Conn)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	// The servers may be electing the buckets' leaders (a cluster that
	// starts, a node restarted after a crash): what they do not answer is
	// asked again until ctx ends.
	var kv jetstream.KeyValue
	err = retry(ctx, opts, func(ctx context.Context) error {
		var err error
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:   opts.Bucket,
			History:  1,
			TTL:      opts.LeaseTTL,
			Storage:  jetstream.FileStorage,
			Replicas: opts.Replicas,
		})
		if err != nil && !transient(err) {
			// An existing bucket with other settings keeps them.
			kv, err = js.KeyValue(ctx, opts.Bucket)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: lease bucket %s: %w", opts.Bucket, err)
	}
	if err := retry(ctx, opts, func(ctx context.Context) error { return checkConfig(ctx, js, opts) }); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, kv: kv, local: local, owned: make(map[int]*lease), acquiring: make(map[int]chan struct{}),
		claimed: make(map[int]time.Time), loopDone: make(chan struct{}), url: strings.TrimSuffix(opts.URL, "/"), started: time.Now().UTC(),
		seen: make(map[string]int), owners: make(map[int]string)}
	// One subscription serves every shard: a request for one this node
	// does not own is answered "moved" (serve).
	if c.sub, err = opts.Conn.QueueSubscribe(c.subject("*", opts.Node), "owner", c.dispatch); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if err := retry(ctx, opts, c.putMember); err != nil {
		c.sub.Unsubscribe()
		return nil, fmt.Errorf("cluster: publish this node's record: %w", err)
	}
	c.refreshMembers(ctx)
	c.ctx, c.stop = context.WithCancel(context.Background())
	go c.renewLoop()
	return c, nil
}

// transient reports whether err is the servers not answering (for now):
// a request that timed out, no responders, a stream without a leader.
func transient(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrConnectionReconnecting)
}

// retry runs op, each attempt bounded, again while it fails with a
// transient error and ctx has not ended (at most a minute).
func retry(ctx context.Context, opts Options, op func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		actx, acancel := context.WithTimeout(ctx, max(opts.LeaseTTL/4, 2*time.Second))
		err := op(actx)
		acancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		opts.Logger.Info("cluster: waiting for JetStream", "node", opts.Node, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// Shard returns the shard of an actor.
func (c *Cluster) Shard(id eventlog.ID) int { return ShardOf(id, c.opts.Shards) }

// ShardOf returns the shard of an actor in a cluster of the given number
// of shards: what Cluster.Shard answers, for a tool or test outside the
// cluster that looks up an actor's owner in the lease bucket (key
// "shard.N").
func ShardOf(id eventlog.ID, shards int) int {
	h := fnv.New64a()
	h.Write([]byte(id.Type))
	h.Write([]byte{0})
	h.Write([]byte(id.Key))
	return int(h.Sum64() % uint64(shards))
}

func (c *Cluster) key(shard int) string { return "shard." + strconv.Itoa(shard) }

// subject is where the node serves the forwarded calls of a shard it
// owns: Prefix.<shard>.<node>. The owner's name is in it so that a
// former owner's subscription, still known to the servers after the
// node was paused or cut off, cannot take the calls meant for the new
// one (they would wait out their deadline).
func (c *Cluster) subject(shard string, node string) string {
	return c.opts.Prefix + "." + shard + "." + nodeToken(node)
}

// nodeToken is a node's name as one subject token: as it is when it is
// made of letters, digits, '-' and '_', else hex-encoded after an 'x'.
func nodeToken(node string) string {
	for _, r := range node {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "x" + hex.EncodeToString([]byte(node))
		}
	}
	return node
}

// fenceAfter is how long after the start of its last renewal a node
// still serves a shard.
func (c *Cluster) fenceAfter() time.Duration { return c.opts.LeaseTTL * 3 / 4 }

// Owns reports whether this node serves the shard now.
func (c *Cluster) Owns(shard int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.owned[shard]
	return l != nil && time.Since(l.renewed) < c.fenceAfter()
}

// Owned returns the shards this node serves now.
func (c *Cluster) Owned() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for s, l := range c.owned {
		if time.Since(l.renewed) < c.fenceAfter() {
			out = append(out, s)
		}
	}
	return out
}

// Claim reports whether this node owns the shard now. If it does not, it
// tries to take the shard in the background (at most once a quarter of
// the lease TTL): when the shard is free, the node takes it, and
// Options.OnAcquire runs. It never waits, so that a timer scheduler can
// ask it for each timer it finds due.
func (c *Cluster) Claim(shard int) bool {
	if c.Owns(shard) {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || time.Since(c.claimed[shard]) < c.opts.LeaseTTL/4 {
		return false
	}
	if !c.opts.NoBalance && c.preferredLocked(shard, 0) != c.opts.Node {
		return false // the node it belongs on finds the timer too, and takes it
	}
	c.claimed[shard] = time.Now()
	c.claims.Add(1)
	go func() {
		defer c.claims.Done()
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.LeaseTTL/2)
		defer cancel()
		if _, err := c.acquire(ctx, shard); err != nil && err != errRetry && ctx.Err() == nil {
			c.opts.Logger.Debug("claim failed", "node", c.opts.Node, "shard", shard, "err", err)
		}
	}()
	return false
}

// opTimeout bounds one request to the lease bucket.
func (c *Cluster) opTimeout() time.Duration { return max(c.opts.LeaseTTL/4, time.Second) }

// Owner returns the node that holds the shard's lease, "" if none.
func (c *Cluster) Owner(ctx context.Context, shard int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout())
	defer cancel()
	e, err := c.kv.Get(ctx, c.key(shard))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(e.Value()), nil
}

// acquire takes the shard if it is free, or if its lease is this node's
// own (left by an earlier run under the same name). It returns the owner
// when another node holds it.
func (c *Cluster) acquire(ctx context.Context, shard int) (owner string, err error) {
	// One acquire of a shard at a time on this node: the others wait for
	// it and look again.
	c.mu.Lock()
	if ch := c.acquiring[shard]; ch != nil {
		c.mu.Unlock()
		select {
		case <-ch:
			return "", errRetry
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if l := c.owned[shard]; l != nil && time.Since(l.renewed) < c.fenceAfter() {
		c.mu.Unlock()
		return "", nil // taken meanwhile
	}
	ch := make(chan struct{})
	c.acquiring[shard] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.acquiring, shard)
		c.mu.Unlock()
		close(ch)
	}()

	// A request to a bucket whose leader is being elected waits for its
	// context: bound each, so that the caller looks again.
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout())
	defer cancel()
	start := time.Now()
	key := c.key(shard)
	rev, err := c.kv.Create(ctx, key, []byte(c.opts.Node))
	if errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := c.kv.Get(ctx, key)
		switch {
		case errors.Is(gerr, jetstream.ErrKeyNotFound):
			return "", errRetry // expired between the two
		case gerr != nil:
			return "", gerr
		case string(e.Value()) != c.opts.Node:
			return string(e.Value()), nil
		}
		rev, err = c.kv.Update(ctx, key, []byte(c.opts.Node), e.Revision())
	}
	if err != nil {
		return "", err
	}
	if c.opts.OnAcquire != nil {
		hctx, cancel := context.WithTimeout(ctx, c.opts.LeaseTTL/4)
		err := c.opts.OnAcquire(hctx, shard)
		cancel()
		if err != nil {
			c.kv.Delete(context.Background(), key, jetstream.LastRevision(rev))
			return "", fmt.Errorf("cluster: shard %d taken, not served: %w", shard, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.kv.Delete(context.Background(), key, jetstream.LastRevision(rev))
		return "", ErrClosed
	}
	c.owned[shard] = &lease{rev: rev, renewed: start}
	delete(c.owners, shard)
	c.stats.acquired.Add(1)
	c.opts.Logger.Debug("shard taken", "node", c.opts.Node, "shard", shard, "revision", rev)
	return "", nil
}

// errOwnerGone is a forwarded call's error when its owner lost the shard
// before answering.
var errOwnerGone = errors.New("cluster: owner gone")

// errRetry says to look again at once.
var errRetry = errors.New("cluster: retry")

// Close stops serving: it stops the renewals, unsubscribes, waits for the
// forwarded calls in progress and releases the leases, so that other
// nodes take the shards at once. The local Caller is left open; close it
// after.
func (c *Cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	held := c.owned
	c.owned = make(map[int]*lease)
	c.mu.Unlock()
	c.stop()
	<-c.loopDone
	c.claims.Wait()
	// A claim that took a shard as Close began left it in owned.
	c.mu.Lock()
	for s, l := range c.owned {
		held[s] = l
	}
	c.owned = make(map[int]*lease)
	c.mu.Unlock()
	c.sub.Unsubscribe()
	c.serving.Wait()
	// Each request is bounded: without a majority of the servers none
	// can land, and what is not deleted expires within the lease TTL.
	var errs []error
	dctx, cancel := context.WithTimeout(ctx, c.opTimeout())
	err := c.kv.Delete(dctx, memberKey(c.opts.Node))
	cancel()
	if err != nil {
		errs = append(errs, fmt.Errorf("cluster: remove this node's record: %w", err))
	}
	for s, l := range held {
		rctx, cancel := context.WithTimeout(ctx, c.opTimeout())
		err := c.release(rctx, s, l.rev)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster: release shard %d: %w", s, err))
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				break // the servers do not answer: the others would wait as long
			}
		}
	}
	return errors.Join(errs...)
}

// release deletes the shard's lease if it is still this node's. A
// renewal cut short by Close may have landed after all, with a revision
// this node never learnt: the lease is then read again.
func (c *Cluster) release(ctx context.Context, shard int, rev uint64) error {
	key := c.key(shard)
	err := c.kv.Delete(ctx, key, jetstream.LastRevision(rev))
	if err == nil {
		return nil
	}
	e, gerr := c.kv.Get(ctx, key)
	if errors.Is(gerr, jetstream.ErrKeyNotFound) || (gerr == nil && string(e.Value()) != c.opts.Node) {
		return nil // expired, or taken since: not ours to release
	}
	if gerr != nil {
		return err
	}
	return c.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
}

func (c *Cluster) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
