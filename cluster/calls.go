package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go"
)

// request and response are a forwarded call and its answer.
type request struct {
	Type, Key      string
	Action         string
	ArgsFormat     actors.Format `json:",omitempty"`
	Args           []byte        `json:",omitempty"`
	IdempotencyKey string        `json:",omitempty"`
	CorrelationID  string        `json:",omitempty"`
	Format         actors.Format `json:",omitempty"`
	TimeoutMs      int64
}

type response struct {
	Moved    bool        `json:",omitempty"`
	Body     []byte      `json:",omitempty"`
	Seq      uint64      `json:",omitempty"`
	Replayed bool        `json:",omitempty"`
	Code     actors.Code `json:",omitempty"`
	Message  string      `json:",omitempty"`
	Node     string      `json:",omitempty"` // the owner that ran the call
}

// seenOwner is the owner of another node's shard, and when it last
// answered a call forwarded from here.
type seenOwner struct {
	node string
	seen time.Time
}

// ownerSeen returns the other node that answered the last call of the
// shard forwarded from here, if it did within a quarter of the lease TTL
// (the renewal period): such calls are forwarded to it at once, without
// reading the lease, which for each call cost two requests to the lease
// bucket, one at a time for a shard's calls on this node (acquire).
func (c *Cluster) ownerSeen(shard int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.others[shard]; ok && time.Since(o.seen) < c.opts.LeaseTTL/4 {
		return o.node
	}
	return ""
}

// sawOwner records the owner of a shard ("": unknown; look it up).
func (c *Cluster) sawOwner(shard int, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if node == "" || node == c.opts.Node {
		delete(c.others, shard)
		return
	}
	c.others[shard] = seenOwner{node: node, seen: time.Now()}
}

// Stats are the calls this node has routed: Local, those made here
// (not over a WebSocket) that ran here, the owner; Forwarded, those made
// here that were sent to another node (once each, however often they
// were retried); Served, the forwarded calls it ran as the owner.
type Stats struct{ Local, Forwarded, Served int64 }

// Stats returns the calls this node has routed so far.
func (c *Cluster) Stats() Stats {
	return Stats{Local: c.stats.local.Load(), Forwarded: c.stats.forwarded.Load(), Served: c.stats.served.Load()}
}

// Call runs an action on the actor's owner: here if this node owns the
// actor's shard (taking it if it is free), else over NATS on the node
// that does. It retries within ctx while ownership moves. A call over a
// WebSocket connection (opts.Conn) runs here: connections are local.
func (c *Cluster) Call(ctx context.Context, id eventlog.ID, action string, args actors.Args, opts actors.CallOptions) (actors.Reply, error) {
	if opts.Conn != nil {
		return c.local.Call(ctx, id, action, args, opts)
	}
	shard := c.Shard(id)
	backoff := 20 * time.Millisecond
	wait := func() error {
		select {
		case <-ctx.Done():
			return &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner did not answer in time", Err: ctx.Err()}
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
		return nil
	}
	conflicts := 0
	routed := false // counted in Stats
	route := func(n *atomic.Int64) {
		if !routed {
			routed = true
			n.Add(1)
		}
	}
	for {
		if c.isClosed() {
			return actors.Reply{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the node is shutting down", Err: ErrClosed}
		}
		if c.Owns(shard) {
			route(&c.stats.local)
			r, err := c.local.Call(ctx, id, action, args, opts)
			// A conflict wrote nothing: another owner appended first, and
			// the actor reloads on its next call. Run it again, on
			// whoever owns the shard now.
			if actors.CodeOf(err) == actors.CodeConflict && conflicts < 3 {
				conflicts++
				if err := wait(); err != nil {
					return actors.Reply{}, err
				}
				continue
			}
			return r, err
		}
		owner := c.ownerSeen(shard)
		if owner == "" {
			var err error
			owner, err = c.acquire(ctx, shard)
			if errors.Is(err, nats.ErrConnectionClosed) {
				return actors.Reply{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the node is cut off from the cluster", Err: err}
			}
			if err == errRetry || (err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed)) {
				if err != errRetry {
					c.opts.Logger.Debug("lease look-up failed", "shard", shard, "err", err)
				}
				if err := wait(); err != nil {
					return actors.Reply{}, err
				}
				continue
			}
			if err != nil {
				return actors.Reply{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner could not be found", Err: err}
			}
			if owner == "" {
				continue // ours now
			}
		}
		route(&c.stats.forwarded)
		res, err := c.forward(ctx, shard, owner, id, action, args, opts)
		if err == nil && !res.Moved {
			c.sawOwner(shard, res.Node)
		} else {
			c.sawOwner(shard, "")
		}
		switch {
		case err == nil && res.Moved:
		case err == nil && res.Code == actors.CodeConflict && conflicts < 3:
			conflicts++
		case err == nil:
			r := actors.Reply{Body: res.Body, Seq: res.Seq, Replayed: res.Replayed}
			if res.Code != "" {
				return r, &actors.Error{Code: res.Code, Message: res.Message}
			}
			return r, nil
		case errors.Is(err, nats.ErrConnectionClosed):
			return actors.Reply{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the node is cut off from the cluster; the call may or may not have run", Err: err}
		case errors.Is(err, nats.ErrNoResponders):
			// The owner is gone and its lease not yet expired.
		case opts.IdempotencyKey != "" && ctx.Err() == nil:
			// No answer: the outcome is unknown, and a repeat with the
			// same key is answered with the first reply.
		default:
			return actors.Reply{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner did not answer; the call may or may not have run", Err: err}
		}
		c.opts.Logger.Debug("forward retried", "node", c.opts.Node, "shard", shard, "owner", owner, "moved", res.Moved, "code", res.Code, "err", err)
		if err := wait(); err != nil {
			return actors.Reply{}, err
		}
	}
}

func (c *Cluster) forward(ctx context.Context, shard int, owner string, id eventlog.ID, action string, args actors.Args, opts actors.CallOptions) (response, error) {
	timeout := c.opts.CallTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	req := request{
		Type: id.Type, Key: id.Key, Action: action, ArgsFormat: args.Format, Args: args.Data,
		IdempotencyKey: opts.IdempotencyKey, CorrelationID: opts.CorrelationID, Format: opts.Format,
		TimeoutMs: timeout.Milliseconds(),
	}
	b, err := json.Marshal(&req)
	if err != nil {
		return response{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		msg *nats.Msg
		err error
	}
	done := make(chan answer, 1)
	go func() {
		msg, err := c.opts.Conn.RequestWithContext(rctx, c.subject(shard), b)
		done <- answer{msg, err}
	}()
	// An owner that dies with the call in hand never answers: give up
	// once its lease is gone or another node's, rather than at the
	// deadline. The outcome is then unknown.
	tick := time.NewTicker(c.opts.LeaseTTL / 4)
	defer tick.Stop()
	var a answer
wait:
	for {
		select {
		case a = <-done:
			break wait
		case <-tick.C:
			if o, err := c.Owner(rctx, shard); err == nil && o != owner {
				cancel()
				a = <-done
				if a.err == nil {
					break wait
				}
				return response{}, fmt.Errorf("cluster: the owner %s lost shard %d with the call in hand: %w", owner, shard, errOwnerGone)
			}
		}
	}
	msg, err := a.msg, a.err
	if err != nil {
		return response{}, err
	}
	var res response
	if err := json.Unmarshal(msg.Data, &res); err != nil {
		return response{}, fmt.Errorf("cluster: answer of the owner: %w", err)
	}
	return res, nil
}

// dispatch serves a forwarded call in a goroutine of its own. NATS hands
// a subscription's messages to its handler one at a time: served there,
// the forwarded calls of a shard ran one after another, each waiting for
// the append of the one before, where calls made on the owner share
// appends (a hot actor's group commit).
func (c *Cluster) dispatch(msg *nats.Msg) {
	c.serving.Add(1)
	go func() {
		defer c.serving.Done()
		c.serve(msg)
	}()
}

// serve runs a forwarded call, if this node still owns its shard.
func (c *Cluster) serve(msg *nats.Msg) {
	var req request
	var res response
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		res.Code, res.Message = actors.CodeBadRequest, "cluster: the forwarded call does not decode"
	} else if id := (eventlog.ID{Type: req.Type, Key: req.Key}); !c.Owns(c.Shard(id)) || c.isClosed() {
		res.Moved = true
	} else {
		c.stats.served.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(req.TimeoutMs, 1))*time.Millisecond)
		r, err := c.local.Call(ctx, id, req.Action, actors.Args{Format: req.ArgsFormat, Data: req.Args},
			actors.CallOptions{IdempotencyKey: req.IdempotencyKey, CorrelationID: req.CorrelationID, Format: req.Format})
		cancel()
		res.Body, res.Seq, res.Replayed = r.Body, r.Seq, r.Replayed
		if err != nil {
			var ae *actors.Error
			if errors.As(err, &ae) {
				res.Code, res.Message = ae.Code, ae.Message
			} else {
				res.Code, res.Message = actors.CodeInternal, "internal error"
			}
		}
	}
	res.Node = c.opts.Node
	b, _ := json.Marshal(&res)
	msg.Respond(b)
}
