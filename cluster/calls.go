package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go"
)

// Kinds of forwarded request.
const (
	kindCall  = ""      // run an action
	kindState = "state" // read the live state
)

// request and response are a forwarded call (or state read) and its
// answer.
type request struct {
	Kind           string `json:",omitempty"`
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
	for {
		if c.isClosed() {
			return response{}, &actors.Error{Code: actors.CodeUnavailable, Message: "the node is shutting down", Err: ErrClosed}
		}
		if c.Owns(shard) {
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
		owner, err := c.acquire(ctx, shard)
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
		c.stats.forwarded.Add(1)
		res, err := c.forward(ctx, shard, owner, req)
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
		case (req.Kind == kindState || req.IdempotencyKey != "") && ctx.Err() == nil:
			// No answer: the outcome is unknown, and a repeat with the
			// same key is answered with the first reply (a read is
			// always safe to repeat).
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
		msg, err := c.opts.Conn.RequestWithContext(rctx, c.subject(shard, owner), b)
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

// serve runs a forwarded request, if this node still owns its shard.
func (c *Cluster) serve(msg *nats.Msg) {
	c.serving.Add(1)
	defer c.serving.Done()
	var req request
	var res response
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		res.Code, res.Message = actors.CodeBadRequest, "cluster: the forwarded call does not decode"
	} else if id := (eventlog.ID{Type: req.Type, Key: req.Key}); !c.Owns(c.Shard(id)) || c.isClosed() {
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
	b, _ := json.Marshal(&res)
	msg.Respond(b)
}

// Locate returns the base URL of the node that runs the actor, or ""
// when it is this one (taking its shard if it is free): a client's
// connection to the actor is served there, so that its frames come from
// the actor's one live copy. It retries within ctx while the shard has no
// owner that answers.
func (c *Cluster) Locate(ctx context.Context, id eventlog.ID) (string, error) {
	shard := c.Shard(id)
	backoff := 20 * time.Millisecond
	for {
		if c.isClosed() {
			return "", &actors.Error{Code: actors.CodeUnavailable, Message: "the node is shutting down", Err: ErrClosed}
		}
		if c.Owns(shard) {
			return "", nil
		}
		owner, err := c.acquire(ctx, shard)
		if err == nil && owner == "" {
			continue // ours now
		}
		if err == nil {
			m, ok, merr := c.member(ctx, owner)
			switch {
			case merr != nil:
				err = merr
			case ok && m.URL != "":
				return m.URL, nil
			case ok:
				return "", &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner " + owner + " publishes no URL to reach it at"}
			}
			// No record: the owner is gone and its lease not yet expired.
		}
		if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, ErrClosed) {
			return "", &actors.Error{Code: actors.CodeUnavailable, Message: "the node is cut off from the cluster", Err: err}
		}
		select {
		case <-ctx.Done():
			return "", &actors.Error{Code: actors.CodeUnavailable, Message: "the actor has no owner that answers", Err: ctx.Err()}
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}
