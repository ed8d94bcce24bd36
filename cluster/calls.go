package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go"
)

// Kinds of forwarded request.
const (
	kindCall  = ""      // run an action
	kindState = "state" // read the live state
	kindClaim = "claim" // take the actor's shard if it is free (Locate)
)

// request and response are a forwarded call (or state read) and its
// answer.
type request struct {
	Kind string `json:",omitempty"`
	// Claim asks the node to take the shard if it is free: the request
	// was sent to the node the shard belongs on.
	Claim          bool `json:",omitempty"`
	Type, Key      string
	Action         string        `json:",omitempty"`
	ArgsFormat     actors.Format `json:",omitempty"`
	Args           []byte        `json:",omitempty"`
	IdempotencyKey string        `json:",omitempty"`
	CorrelationID  string        `json:",omitempty"`
	Format         actors.Format `json:",omitempty"`
	TimeoutMs      int64
}

type response struct {
	Node     string      `json:",omitempty"` // the node that answered
	Moved    bool        `json:",omitempty"`
	Body     []byte      `json:",omitempty"` // a reply's body, or the state
	Seq      uint64      `json:",omitempty"`
	Replayed bool        `json:",omitempty"`
	Code     actors.Code `json:",omitempty"`
	Message  string      `json:",omitempty"`
}

// Call runs an action on the actor's owner: here if this node owns the
// actor's shard (taking it if it is free), else over NATS on the node
// that does. It retries within ctx while ownership moves. A call over a
// WebSocket connection (opts.Conn) runs here: a connection is on its
// actor's owner (Locate).
func (c *Cluster) Call(ctx context.Context, id eventlog.ID, action string, args actors.Args, opts actors.CallOptions) (actors.Reply, error) {
	if opts.Conn != nil {
		return c.local.Call(ctx, id, action, args, opts)
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	req := request{
		Type: id.Type, Key: id.Key, Action: action, ArgsFormat: args.Format, Args: args.Data,
		IdempotencyKey: opts.IdempotencyKey, CorrelationID: opts.CorrelationID, Format: opts.Format,
	}
	res, err := c.route(ctx, id, &req)
	return actors.Reply{Body: res.Body, Seq: res.Seq, Replayed: res.Replayed}, err
}

// State reads the actor's live state on its owner, as Call runs an
// action there: a node that does not own the actor has no live state of
// it.
func (c *Cluster) State(ctx context.Context, id eventlog.ID) (actors.Init, error) {
	res, err := c.route(ctx, id, &request{Kind: kindState, Type: id.Type, Key: id.Key})
	if err != nil {
		return actors.Init{}, err
	}
	return actors.Init{State: res.Body, Seq: res.Seq}, nil
}

// runLocal runs a request on this node.
func (c *Cluster) runLocal(ctx context.Context, id eventlog.ID, req *request) (response, error) {
	switch req.Kind {
	case kindCall:
		r, err := c.local.Call(ctx, id, req.Action, actors.Args{Format: req.ArgsFormat, Data: req.Args},
			actors.CallOptions{IdempotencyKey: req.IdempotencyKey, CorrelationID: req.CorrelationID, Format: req.Format})
		return response{Body: r.Body, Seq: r.Seq, Replayed: r.Replayed}, err
	case kindState:
		init, err := c.local.State(ctx, id)
		return response{Body: init.State, Seq: init.Seq}, err
	case kindClaim:
		return response{Node: c.opts.Node}, nil
	}
	return response{}, &actors.Error{Code: actors.CodeBadRequest, Message: fmt.Sprintf("cluster: no request of kind %q", req.Kind)}
}

// route runs req on the actor's owner, here or elsewhere, retrying
// within ctx while ownership moves.
func (c *Cluster) route(ctx context.Context, id eventlog.ID, req *request) (response, error) {
	shard := c.Shard(id)
	backoff := 20 * time.Millisecond
	wait := func() error {
		select {
		case <-ctx.Done():
			c.stats.failed.Add(1)
			return &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner did not answer in time", Err: ctx.Err()}
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
		return nil
	}
	conflicts := 0
	here := false    // take a free shard here, not on the node it belongs on
	counted := false // in Stats, once, by the route of its first attempt
	count := func(n *atomic.Uint64) {
		if !counted {
			counted = true
			n.Add(1)
		}
	}
	for {
		if c.isClosed() {
			return response{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the node is shutting down", Err: ErrClosed}
		}
		if c.Owns(shard) {
			count(&c.stats.local)
			res, err := c.runLocal(ctx, id, req)
			// A conflict wrote nothing: another owner appended first, and
			// the actor reloads on its next call. Run it again, on
			// whoever owns the shard now.
			if actors.CodeOf(err) == actors.CodeConflict && conflicts < 3 {
				conflicts++
				if err := wait(); err != nil {
					return response{}, err
				}
				continue
			}
			return res, err
		}
		owner, claim, err := c.whereTo(ctx, shard, here)
		if errors.Is(err, nats.ErrConnectionClosed) {
			c.stats.failed.Add(1)
			return response{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the node is cut off from the cluster", Err: err}
		}
		if err == errRetry || (err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed)) {
			if err != errRetry {
				c.opts.Logger.Debug("lease look-up failed", "shard", shard, "err", err)
			}
			if err := wait(); err != nil {
				return response{}, err
			}
			continue
		}
		if err != nil {
			c.stats.failed.Add(1)
			return response{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner could not be found", Err: err}
		}
		if owner == "" {
			continue // ours now
		}
		if claim {
			// The shard is free, and belongs on owner: ask it to take
			// the shard, then send it the request. One that does not
			// answer soon (dead, or paused) leaves the shard to this
			// node.
			cctx, cancel := context.WithTimeout(ctx, c.opTimeout())
			res, err := c.forward(cctx, shard, owner, &request{Kind: kindClaim, Claim: true, Type: req.Type, Key: req.Key})
			cancel()
			switch {
			case err == nil && res.Code == "" && !res.Moved:
				c.cacheOwner(shard, res.Node)
				continue
			case err != nil && ctx.Err() == nil:
				here = true
				continue
			}
			if err := wait(); err != nil {
				return response{}, err
			}
			continue
		}
		count(&c.stats.forwarded)
		res, err := c.forward(ctx, shard, owner, req)
		if err != nil || res.Moved {
			c.cacheOwner(shard, "") // look it up again
		}
		switch {
		case err == nil && res.Moved:
		case err == nil && res.Code == actors.CodeConflict && conflicts < 3:
			conflicts++
		case err == nil:
			if res.Code != "" {
				return res, &actors.Error{Code: res.Code, Message: res.Message}
			}
			return res, nil
		case errors.Is(err, nats.ErrConnectionClosed):
			c.stats.failed.Add(1)
			return response{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the node is cut off from the cluster; the call may or may not have run", Err: err}
		case errors.Is(err, nats.ErrNoResponders):
			// The owner is gone and its lease not yet expired.
		case (req.Kind != kindCall || req.IdempotencyKey != "") && ctx.Err() == nil:
			// No answer: the outcome is unknown, and a repeat with the
			// same key is answered with the first reply (a read or a
			// claim is always safe to repeat).
		default:
			c.stats.failed.Add(1)
			return response{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner did not answer; the call may or may not have run", Err: err}
		}
		c.stats.retries.Add(1)
		c.opts.Logger.Debug("forward retried", "node", c.opts.Node, "shard", shard, "owner", owner, "moved", res.Moved, "code", res.Code, "err", err)
		if err := wait(); err != nil {
			return response{}, err
		}
	}
}

func (c *Cluster) forward(ctx context.Context, shard int, owner string, req *request) (response, error) {
	timeout := c.opts.CallTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	req.TimeoutMs = timeout.Milliseconds()
	b, err := json.Marshal(req)
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
		msg, err := c.opts.Conn.RequestWithContext(rctx, c.subject(strconv.Itoa(shard), owner), b)
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
			// (A node asked to claim a free shard has not taken it yet.)
			if o, err := c.Owner(rctx, shard); err == nil && o != owner && !(req.Claim && o == "") {
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

// dispatch serves a forwarded request in a goroutine of its own. NATS
// hands a subscription's messages to its handler one at a time: served
// there, the forwarded calls ran one after another, each waiting for the
// append of the one before, where calls made on the owner share appends
// (a hot actor's group commit).
func (c *Cluster) dispatch(msg *nats.Msg) {
	c.serving.Add(1)
	go func() {
		defer c.serving.Done()
		c.serve(msg)
	}()
}

// serve runs a forwarded request, if this node still owns its shard.
func (c *Cluster) serve(msg *nats.Msg) {
	var req request
	var res response
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		res.Code, res.Message = actors.CodeBadRequest, "cluster: the forwarded call does not decode"
	} else if id := (eventlog.ID{Type: req.Type, Key: req.Key}); c.isClosed() || !c.Owns(c.Shard(id)) && !c.claim(&req, c.Shard(id)) {
		res.Moved = true
	} else {
		c.stats.served.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(req.TimeoutMs, 1))*time.Millisecond)
		var err error
		res, err = c.runLocal(ctx, id, &req)
		cancel()
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

// Locate returns the base URL of the node that runs the actor, or ""
// when it is this one (a free shard is taken by the node it belongs on):
// a client's connection to the actor is served there, so that its frames
// come from the actor's one live copy. It retries within ctx while the
// shard has no owner that answers.
func (c *Cluster) Locate(ctx context.Context, id eventlog.ID) (string, error) {
	backoff := 20 * time.Millisecond
	for {
		res, err := c.route(ctx, id, &request{Kind: kindClaim, Type: id.Type, Key: id.Key})
		if err != nil {
			return "", err
		}
		if res.Node == "" || res.Node == c.opts.Node {
			return "", nil
		}
		m, ok, err := c.member(ctx, res.Node)
		if err == nil && ok && m.URL != "" {
			return m.URL, nil
		}
		// An owner that has just started may not have published its URL
		// yet (it does once it listens): ask again, within ctx.
		select {
		case <-ctx.Done():
			if err != nil {
				return "", &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner " + res.Node + " could not be looked up", Err: err}
			}
			return "", &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner " + res.Node + " publishes no URL to reach it at"}
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// whereTo says where to send a request for a shard this node does not
// own: to its owner; or, the shard being free, to the node it belongs on,
// to claim it (claim); or nowhere, owner "", when this node took it (it
// does so when the shard belongs here, or here is set).
func (c *Cluster) whereTo(ctx context.Context, shard int, here bool) (owner string, claim bool, err error) {
	if o := c.cachedOwner(shard); o != "" {
		return o, false, nil
	}
	gctx, cancel := context.WithTimeout(ctx, c.opTimeout())
	o, err := c.Owner(gctx, shard)
	cancel()
	if err != nil {
		return "", false, err
	}
	if o != "" && o != c.opts.Node {
		c.cacheOwner(shard, o)
		return o, false, nil
	}
	if o == "" && !here && !c.opts.NoBalance {
		if p := c.preferred(shard); p != c.opts.Node {
			return p, true, nil
		}
	}
	owner, err = c.acquire(ctx, shard)
	c.cacheOwner(shard, owner)
	return owner, false, err
}

// claim takes the shard for a request sent here to claim it, and
// reports whether this node owns it now.
func (c *Cluster) claim(req *request, shard int) bool {
	if !req.Claim {
		return false
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.opTimeout())
	defer cancel()
	for range 3 {
		owner, err := c.acquire(ctx, shard)
		if err == errRetry {
			continue
		}
		return err == nil && owner == ""
	}
	return false
}
