package jetstream

import (
	"context"
	"fmt"
	"time"
)

// Status is what the servers say of the log's stream: its size and its
// copies.
type Status struct {
	Stream   string
	Messages uint64
	Bytes    uint64
	// Leader is the server that takes the stream's writes; "" while the
	// copies elect one (or on a single server not in a cluster).
	Leader string
	// Replicas are the stream's copies, the leader's first.
	Replicas []Replica
}

// Replica is one server's copy of the stream.
type Replica struct {
	Server  string
	Leader  bool
	Current bool          // it has every message the leader has
	Offline bool          // the leader has not heard from it lately
	Active  time.Duration // since the leader last heard from it
	Lag     uint64        // messages it is behind the leader by
}

// Status asks the servers for the stream's state.
func (l *Log) Status(ctx context.Context) (Status, error) {
	info, err := l.st.Info(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("eventlog/jetstream: stream %s: %w", l.opts.Stream, err)
	}
	s := Status{Stream: info.Config.Name, Messages: info.State.Msgs, Bytes: info.State.Bytes}
	if ci := info.Cluster; ci != nil {
		s.Leader = ci.Leader
		if ci.Leader != "" {
			s.Replicas = append(s.Replicas, Replica{Server: ci.Leader, Leader: true, Current: true})
		}
		for _, p := range ci.Replicas {
			s.Replicas = append(s.Replicas, Replica{Server: p.Name, Current: p.Current, Offline: p.Offline, Active: p.Active, Lag: p.Lag})
		}
	}
	return s, nil
}
