package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Member is a node of the cluster as it says itself: it puts its record
// in the lease bucket when it opens and with each round of renewals, so
// that a node that stops renewing (dead, or cut off) drops out of Members
// after the lease TTL, and one that closes drops out at once.
type Member struct {
	Node    string    `json:"node"`
	URL     string    `json:"url,omitempty"` // where its API answers (Options.URL)
	Started time.Time `json:"started"`
}

// memberKey is the key of a node's record in the lease bucket.
func memberKey(node string) string { return "node." + node }

// config is what the first node of a cluster fixes for every other:
// kept in the config bucket (Options.Bucket + "-config"), which has no
// TTL.
type config struct {
	Shards int `json:"shards"`
}

// checkConfig stores the cluster's configuration if it is the first
// node, or refuses to join when this node's differs from it: two numbers
// of shards would give one actor two shards, and two owners.
func checkConfig(ctx context.Context, js jetstream.JetStream, opts Options) error {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   opts.Bucket + "-config",
		History:  1,
		Storage:  jetstream.FileStorage,
		Replicas: opts.Replicas,
	})
	if err != nil {
		if kv, err = js.KeyValue(ctx, opts.Bucket+"-config"); err != nil {
			return fmt.Errorf("cluster: config bucket: %w", err)
		}
	}
	want := config{Shards: opts.Shards}
	b, _ := json.Marshal(want)
	if _, err := kv.Create(ctx, "config", b); err == nil || !errors.Is(err, jetstream.ErrKeyExists) {
		if err != nil {
			return fmt.Errorf("cluster: store the config: %w", err)
		}
		return nil
	}
	e, err := kv.Get(ctx, "config")
	if err != nil {
		return fmt.Errorf("cluster: read the config: %w", err)
	}
	var got config
	if err := json.Unmarshal(e.Value(), &got); err != nil {
		return fmt.Errorf("cluster: the stored config does not decode: %w", err)
	}
	if got.Shards != want.Shards {
		return fmt.Errorf("%w: the cluster has %d shards and this node was given %d; start it with the cluster's number (--shards %d)", ErrConfig, got.Shards, want.Shards, got.Shards)
	}
	return nil
}

// ErrConfig is returned by Open when this node's Options disagree with
// the cluster's stored configuration.
var ErrConfig = errors.New("cluster: this node's configuration differs from the cluster's")

// putMember puts this node's record in the bucket (restarting its TTL).
func (c *Cluster) putMember(ctx context.Context) error {
	c.mu.Lock()
	m := Member{Node: c.opts.Node, URL: c.url, Started: c.started}
	c.mu.Unlock()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout())
	defer cancel()
	_, err := c.kv.Put(ctx, memberKey(c.opts.Node), b)
	return err
}

// SetURL sets the base URL at which this node's API answers, for the
// nodes that send it a client's connection (Locate), and publishes it.
func (c *Cluster) SetURL(ctx context.Context, url string) error {
	c.mu.Lock()
	c.url = strings.TrimSuffix(url, "/")
	c.mu.Unlock()
	return c.putMember(ctx)
}

// Members returns the nodes whose records are in the bucket, by name.
func (c *Cluster) Members(ctx context.Context) ([]Member, error) {
	var out []Member
	err := c.list(ctx, "node.*", func(key string, v []byte) {
		var m Member
		if json.Unmarshal(v, &m) == nil && m.Node != "" {
			out = append(out, m)
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, err
}

// member returns one node's record, and false if it has none.
func (c *Cluster) member(ctx context.Context, node string) (Member, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout())
	defer cancel()
	e, err := c.kv.Get(ctx, memberKey(node))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Member{}, false, nil
	}
	if err != nil {
		return Member{}, false, err
	}
	var m Member
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		return Member{}, false, fmt.Errorf("cluster: the record of node %s does not decode: %w", node, err)
	}
	return m, true, nil
}

// list calls fn for each key of the bucket that matches filter, with its
// value.
func (c *Cluster) list(ctx context.Context, filter string, fn func(key string, v []byte)) error {
	ctx, cancel := context.WithTimeout(ctx, 2*c.opTimeout())
	defer cancel()
	kl, err := c.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return err
	}
	defer kl.Stop()
	for key := range kl.Keys() {
		e, err := c.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired since it was listed
		}
		if err != nil {
			return err
		}
		fn(key, e.Value())
	}
	return ctx.Err()
}

// ShardOwner is a shard's lease.
type ShardOwner struct {
	Shard    int    `json:"shard"`
	Node     string `json:"node"`
	Revision uint64 `json:"revision"` // the lease's epoch: it grows with each take and renewal
}

// Status is the cluster as one node sees it.
type Status struct {
	Node     string        `json:"node"`   // the node that answers
	Shards   int           `json:"shards"` // how many there are
	LeaseTTL time.Duration `json:"leaseTTL"`
	Members  []Member      `json:"members"`
	// Owners are the shards that have an owner, by shard; the others are
	// taken by the first node that gets a call for them.
	Owners []ShardOwner `json:"owners"`
	Stats  Stats        `json:"stats"` // this node's figures
}

// Status reads the members and the leases from the bucket.
func (c *Cluster) Status(ctx context.Context) (Status, error) {
	s := Status{Node: c.opts.Node, Shards: c.opts.Shards, LeaseTTL: c.opts.LeaseTTL, Stats: c.Stats()}
	var err error
	if s.Members, err = c.Members(ctx); err != nil {
		return s, fmt.Errorf("cluster: members: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*c.opTimeout())
	defer cancel()
	kl, err := c.kv.ListKeysFiltered(ctx, "shard.*")
	if err != nil {
		return s, fmt.Errorf("cluster: leases: %w", err)
	}
	defer kl.Stop()
	for key := range kl.Keys() {
		n, err := strconv.Atoi(strings.TrimPrefix(key, "shard."))
		if err != nil {
			continue
		}
		e, err := c.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return s, fmt.Errorf("cluster: lease of shard %d: %w", n, err)
		}
		s.Owners = append(s.Owners, ShardOwner{Shard: n, Node: string(e.Value()), Revision: e.Revision()})
	}
	sort.Slice(s.Owners, func(i, j int) bool { return s.Owners[i].Shard < s.Owners[j].Shard })
	return s, ctx.Err()
}
