// Package inspect reads a store for people and tools: the answers that the
// inspection API (api's /inspect routes, for a running server) and the
// actorlog command (offline, on a data directory) share, so that both
// give the same ones. It only reads, and never wakes an actor.
package inspect

import (
	"context"

	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
	"github.com/actorlog/actorlog/snapshots"
)

// Log is what inspect reads of the event log's store: streams, the feed's
// durable end, and the records of projections. Any eventlog.Store is one.
type Log interface {
	eventlog.StreamReader
	eventlog.FeedReader
	eventlog.Records
}

// Actors lists actors with their newest snapshot (snaps may be nil). The
// actor directory projection answers when it is current (its checkpoint
// at the log's durable end); otherwise, say on a store whose server never
// ran the projections, the log's own stream records do. Either way each
// actor's stored range is read from its stream record, so the answer is
// exact.
func Actors(ctx context.Context, log Log, snaps *snapshots.Store, o eventlog.ListOptions) ([]wire.ActorInfo, error) {
	streams, err := streams(ctx, log, o)
	if err != nil {
		return nil, err
	}
	out := make([]wire.ActorInfo, len(streams))
	for i, st := range streams {
		a := wire.ActorInfo{ActorEntry: wire.NewActorEntry(st), LastPos: st.LastPos}
		if snaps != nil {
			infos, err := snaps.List(ctx, st.Actor)
			if err != nil {
				return nil, err
			}
			if n := len(infos); n > 0 {
				in := infos[n-1]
				a.Snapshot = &wire.SnapshotInfo{Seq: in.Seq, Time: in.Time, Schema: in.Schema, Size: in.Size}
				if in.Err != nil {
					a.Snapshot.Error = in.Err.Error()
				}
			}
		}
		out[i] = a
	}
	return out, nil
}

// streams returns the stream records of the actors o selects, from the
// actor directory when it is current, else from the log's listing.
func streams(ctx context.Context, log Log, o eventlog.ListOptions) ([]eventlog.StreamInfo, error) {
	pos, ver, err := projection.ReadCheckpoint(ctx, log, projection.DirectoryName)
	if err != nil {
		return nil, err
	}
	if ver != projection.Directory().Version || pos == 0 || pos != log.Durable() {
		return log.ListActors(ctx, o)
	}
	list, err := projection.ListActors(ctx, projection.OpenView(log, projection.DirectoryName), o)
	if err != nil {
		return nil, err
	}
	out := make([]eventlog.StreamInfo, 0, len(list))
	for _, d := range list {
		st, err := log.Head(ctx, d.Actor)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}
