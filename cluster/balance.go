package cluster

import (
	"context"
	"hash/fnv"
	"strconv"
)

// Balance: a shard belongs on one member, the one that ranks first for it
// by rendezvous hashing (preferred). A free shard is taken by that node
// when a request for it arrives anywhere (the request is sent to it to
// claim the shard), and a node hands over, each round of renewals, the
// shards it holds that belong on another member seen in two listings in
// a row (rebalance), so that shards spread over the nodes and move to a
// node that joins. A node that leaves takes its preferences with it: its
// shards go to the next in rank. Members views may differ for a moment
// between nodes; a node asked to claim a shard takes it all the same, and
// the next rounds settle it.

// rank is the score of a node for a shard: the highest wins.
func rank(node string, shard int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(shard)))
	x := h.Sum64()
	// fnv's low bits mix poorly on short inputs: finish as splitmix64.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// refreshMembers lists the members and counts the listings in a row each
// was in.
func (c *Cluster) refreshMembers(ctx context.Context) {
	ms, err := c.Members(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.opts.Logger.Debug("members not listed", "node", c.opts.Node, "err", err)
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[string]int, len(ms))
	for _, m := range ms {
		next[m.Node] = c.seen[m.Node] + 1
	}
	c.seen = next
}

// preferred returns the member the shard belongs on, as this node sees
// the members (itself always among them).
func (c *Cluster) preferred(shard int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.preferredLocked(shard, 0)
}

// preferredLocked is preferred among the members seen in at least min
// listings in a row (and this node).
func (c *Cluster) preferredLocked(shard, min int) string {
	best, top := c.opts.Node, rank(c.opts.Node, shard)
	for n, k := range c.seen {
		if k < min || n == c.opts.Node {
			continue
		}
		if r := rank(n, shard); r > top || (r == top && n < best) {
			best, top = n, r
		}
	}
	return best
}

// rebalance hands over the shards this node holds that belong on another
// member seen in two listings in a row.
func (c *Cluster) rebalance(ctx context.Context) {
	if c.opts.NoBalance {
		return
	}
	c.mu.Lock()
	var give []int
	for s := range c.owned {
		if c.preferredLocked(s, 2) != c.opts.Node {
			give = append(give, s)
		}
	}
	c.mu.Unlock()
	for _, s := range give {
		rctx, cancel := context.WithTimeout(ctx, c.opTimeout())
		err := c.Release(rctx, s)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.opts.Logger.Debug("shard not handed over", "node", c.opts.Node, "shard", s, "err", err)
			}
			continue
		}
		c.stats.handedOver.Add(1)
		c.opts.Logger.Debug("shard handed over", "node", c.opts.Node, "shard", s, "to", c.preferred(s))
	}
}

// cachedOwner returns the owner this node last found for the shard.
func (c *Cluster) cachedOwner(shard int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owners[shard]
}

func (c *Cluster) cacheOwner(shard int, owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if owner == "" || owner == c.opts.Node {
		delete(c.owners, shard)
		return
	}
	c.owners[shard] = owner
}
