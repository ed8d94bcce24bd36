package cluster

import "sync/atomic"

// Stats are this node's cluster figures since Open: counts only grow.
type Stats struct {
	Owned    int    `json:"owned"`    // shards it serves now
	Acquired uint64 `json:"acquired"` // leases taken
	Dropped  uint64 `json:"dropped"`  // shards it stopped serving before Close (lost or released)
	// HandedOver are the shards it released because they belong on
	// another member (balance.go).
	HandedOver uint64 `json:"handedOver"`
	// Forwarded are the calls and state reads sent to another node;
	// ForwardRetries the attempts that found the owner moved, gone or
	// in conflict and looked again; ForwardFailed those that ended in an
	// error of the cluster (no owner answered in time, cut off).
	Forwarded      uint64 `json:"forwarded"`
	ForwardRetries uint64 `json:"forwardRetries"`
	ForwardFailed  uint64 `json:"forwardFailed"`
	// Served are the forwarded requests this node ran for others.
	Served uint64 `json:"served"`
}

type stats struct {
	acquired, dropped, handedOver, forwarded, retries, failed, served atomic.Uint64
}

// Stats returns this node's figures.
func (c *Cluster) Stats() Stats {
	return Stats{
		Owned:          len(c.Owned()),
		Acquired:       c.stats.acquired.Load(),
		Dropped:        c.stats.dropped.Load(),
		HandedOver:     c.stats.handedOver.Load(),
		Forwarded:      c.stats.forwarded.Load(),
		ForwardRetries: c.stats.retries.Load(),
		ForwardFailed:  c.stats.failed.Load(),
		Served:         c.stats.served.Load(),
	}
}
