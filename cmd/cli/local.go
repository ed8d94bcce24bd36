package cli

import (
	"context"
	"errors"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/inspect"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/actorlog/actorlog/verify"
)

// local reads a data directory opened read-only.
type local struct {
	app   *app
	log   *eventlog.Log
	snaps *snapshots.Store
}

func (l *local) close() error { return l.log.Close() }

func (l *local) listActors(ctx context.Context, typ string, fn func(*wire.ActorInfo) error) error {
	var after eventlog.ID
	for {
		page, err := inspect.Actors(ctx, l.log, l.snaps, eventlog.ListOptions{Type: typ, After: after, Limit: 1000})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		last := page[len(page)-1]
		after = eventlog.ID{Type: last.Type, Key: last.Key}
	}
}

func (l *local) head(ctx context.Context, id eventlog.ID) (eventlog.StreamInfo, error) {
	return l.log.Head(ctx, id)
}

func (l *local) history(ctx context.Context, id eventlog.ID, from, to uint64, fn func(*wire.Event) error) error {
	return l.log.ScanStream(ctx, id, from, to, func(e *eventlog.Event) error {
		j, err := eventJSON(e)
		if err != nil {
			return err
		}
		return fn(j)
	})
}

func (l *local) events(ctx context.Context, id eventlog.ID, from, to uint64, fn func(*eventlog.Event) error) error {
	if id == (eventlog.ID{}) {
		return l.log.ScanFeed(ctx, from, to, fn)
	}
	return l.log.ScanStream(ctx, id, from, to, fn)
}

func (l *local) stateAt(ctx context.Context, id eventlog.ID, at uint64) ([]byte, error) {
	def, err := l.app.definition(id)
	if err != nil {
		return nil, err
	}
	if at == 0 {
		return actors.NewFolder(def, id).StateJSON()
	}
	state, _, err := actors.StateAt(ctx, l.log, l.snaps, def, id, at)
	return state, err
}

func (l *local) durable(context.Context) (uint64, error) { return l.log.Durable(), nil }

func (l *local) follow(ctx context.Context, id eventlog.ID, from uint64, fn func(*eventlog.Event) error) error {
	if err := l.events(ctx, id, from, 0, fn); err != nil {
		return err
	}
	return errNotLive
}

func (l *local) verify(ctx context.Context, id eventlog.ID, progress func(verify.Progress)) (*verify.Report, error) {
	rep, err := verify.Run(ctx, l.log, l.snaps, l.app.reg, verify.Options{Actor: id, Progress: progress})
	if errors.Is(err, verify.ErrNoActor) {
		return nil, errors.New("unknown actor " + id.String() + ": it has no events")
	}
	return rep, err
}
