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
	// Local are the requests made here (calls, state reads, WebSocket
	// placements; not the calls over a WebSocket) that ran here, the
	// owner; Forwarded those sent to another node, each counted once by
	// where its first attempt went. ForwardRetries are the attempts that
	// found the owner moved, gone or in conflict and looked again;
	// ForwardFailed the requests that ended in an error of the cluster
	// (no owner answered in time, cut off).
	Local          uint64 `json:"local"`
	Forwarded      uint64 `json:"forwarded"`
	ForwardRetries uint64 `json:"forwardRetries"`
	ForwardFailed  uint64 `json:"forwardFailed"`
	// Served are the forwarded requests this node ran for others.
	Served uint64 `json:"served"`
}

type stats struct {
	acquired, dropped, handedOver, local, forwarded, retries, failed, served atomic.Uint64
}

// Stats returns this node's figures.
func (c *Cluster) Stats() Stats {
	return Stats{
		Owned:          len(c.Owned()),
		Acquired:       c.stats.acquired.Load(),
		Dropped:        c.stats.dropped.Load(),
		HandedOver:     c.stats.handedOver.Load(),
		Local:          c.stats.local.Load(),
		Forwarded:      c.stats.forwarded.Load(),
		ForwardRetries: c.stats.retries.Load(),
		ForwardFailed:  c.stats.failed.Load(),
		Served:         c.stats.served.Load(),
	}
}
