package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// trim drops the actor's events that a durable snapshot at covered
// covers and that the retention rules let go. With both rules set, an
// event goes only when both allow it.
func (rt *Runtime) trim(ctx context.Context, id eventlog.ID, covered uint64, r Retention) error {
	if r.KeepEvents <= 0 && r.KeepFor <= 0 {
		return nil
	}
	head, err := rt.log.Head(ctx, id)
	if err != nil {
		return err
	}
	before := covered + 1 // erase below this
	if r.KeepEvents > 0 {
		if head.Head <= uint64(r.KeepEvents) {
			return nil
		}
		before = min(before, head.Head-uint64(r.KeepEvents)+1)
	}
	if r.KeepFor > 0 {
		cutoff := time.Now().Add(-r.KeepFor).UnixMilli()
		// The first event young enough to keep bounds the erasure.
		young := before
		errFound := errors.New("found")
		err := rt.log.ScanStream(ctx, id, head.First, before-1, func(e *eventlog.Event) error {
			if e.Time >= cutoff {
				young = e.Seq
				return errFound
			}
			return nil
		})
		if err != nil && err != errFound {
			return err
		}
		before = min(before, young)
	}
	if before <= head.First {
		return nil
	}
	if err := rt.log.Delete(ctx, id, before); err != nil {
		return fmt.Errorf("actors: retention of %s: %w", id, err)
	}
	return nil
}
