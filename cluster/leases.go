package cluster

import (
	"context"
	"time"
)

// drop stops serving the shard (its lease lost or released), and runs
// Options.OnDrop.
func (c *Cluster) drop(shard int, l *lease) {
	c.mu.Lock()
	dropped := c.owned[shard] == l
	if dropped {
		delete(c.owned, shard)
		if c.opts.OnDrop != nil {
			c.claims.Add(1)
			go func() {
				defer c.claims.Done()
				c.opts.OnDrop(shard)
			}()
		}
	}
	c.mu.Unlock()
	if dropped {
		c.stats.dropped.Add(1)
	}
}

func (c *Cluster) renewLoop() {
	defer close(c.loopDone)
	t := time.NewTicker(c.opts.LeaseTTL / 4)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.Renew(c.ctx)
		if err := c.putMember(c.ctx); err != nil && c.ctx.Err() == nil {
			c.opts.Logger.Warn("member record not renewed", "node", c.opts.Node, "err", err)
		}
		c.refreshMembers(c.ctx)
		c.rebalance(c.ctx)
		if c.opts.OnRenew != nil {
			c.opts.OnRenew()
		}
	}
}

// Renew renews every lease this node holds, and drops each shard whose
// renewal fails or whose lease is already past the fence.
func (c *Cluster) Renew(ctx context.Context) {
	c.mu.Lock()
	held := make(map[int]*lease, len(c.owned))
	for s, l := range c.owned {
		held[s] = l
	}
	c.mu.Unlock()
	for s, l := range held {
		start := time.Now()
		if start.Sub(l.renewed) >= c.fenceAfter() {
			c.opts.Logger.Warn("lease past its fence; shard dropped", "node", c.opts.Node, "shard", s)
			c.drop(s, l)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, c.opts.LeaseTTL/4)
		rev, err := c.kv.Update(rctx, c.key(s), []byte(c.opts.Node), l.rev)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.opts.Logger.Warn("lease renewal failed; shard dropped", "node", c.opts.Node, "shard", s, "err", err)
			c.drop(s, l)
			continue
		}
		c.mu.Lock()
		l.rev, l.renewed = rev, start
		c.mu.Unlock()
	}
}

// Release hands a shard over: this node stops serving it and deletes its
// lease, so that the next call anywhere takes it. It does nothing if this
// node does not hold the shard.
func (c *Cluster) Release(ctx context.Context, shard int) error {
	c.mu.Lock()
	l := c.owned[shard]
	c.mu.Unlock()
	if l == nil {
		return nil
	}
	c.drop(shard, l)
	return c.release(ctx, shard, l.rev)
}
