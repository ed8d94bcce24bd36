package wire

// Cluster is GET /cluster: the cluster as the node that answers sees it.
type Cluster struct {
	Node     string `json:"node"`     // the node that answers
	Shards   int    `json:"shards"`   // how many shards the actors are spread over
	LeaseTTL string `json:"leaseTTL"` // how long a lease lasts unrenewed (a Go duration)
	// Members are the nodes that renewed their record within the lease
	// TTL, by name.
	Members []ClusterMember `json:"members"`
	// Owners are the shards that have an owner, by shard; a shard with
	// none is taken by the first node that gets a call for it.
	Owners []ShardOwner `json:"owners"`
	// Stream is the replicated stream that holds the events.
	Stream *ClusterStream `json:"stream,omitempty"`
	// Stats are the answering node's figures since it started.
	Stats ClusterStats `json:"stats"`
}

// ClusterMember is one node.
type ClusterMember struct {
	Node    string `json:"node"`
	URL     string `json:"url,omitempty"` // where its API answers
	Started string `json:"started"`       // RFC 3339
	Shards  int    `json:"shards"`        // how many it owns
}

// ShardOwner is one shard's lease.
type ShardOwner struct {
	Shard    int    `json:"shard"`
	Node     string `json:"node"`
	Revision uint64 `json:"revision"` // the lease's epoch: it grows with each take and renewal
}

// ClusterStream is the events stream and its copies.
type ClusterStream struct {
	Name     string          `json:"name"`
	Messages uint64          `json:"messages"`
	Bytes    uint64          `json:"bytes"`
	Leader   string          `json:"leader"` // "" while its copies elect one
	Replicas []StreamReplica `json:"replicas"`
	Error    string          `json:"error,omitempty"` // why the servers did not say
}

// StreamReplica is one server's copy of the stream.
type StreamReplica struct {
	Server   string `json:"server"`
	Leader   bool   `json:"leader,omitempty"`
	Current  bool   `json:"current"`
	Offline  bool   `json:"offline,omitempty"`
	ActiveMs int64  `json:"activeMs"` // since the leader last heard from it
	Lag      uint64 `json:"lag"`      // messages it is behind
}

// ClusterStats are one node's cluster figures; counts only grow.
type ClusterStats struct {
	Owned          int    `json:"owned"`
	Acquired       uint64 `json:"acquired"`
	Dropped        uint64 `json:"dropped"`
	HandedOver     uint64 `json:"handedOver"`
	Local          uint64 `json:"local"`
	Forwarded      uint64 `json:"forwarded"`
	ForwardRetries uint64 `json:"forwardRetries"`
	ForwardFailed  uint64 `json:"forwardFailed"`
	Served         uint64 `json:"served"`
}
