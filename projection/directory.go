package projection

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/actorlog/actorlog/eventlog"
)

// DirectoryName is the name of the actor directory projection.
const DirectoryName = "actors"

// Directory returns the actor directory: every actor with its type, key,
// created time, head sequence and last event time. Its view is keyed by
// eventlog.AppendKey of the actor, so it lists in the log's actor order;
// read it with ListActors.
//
// An actor's first event writes its record blindly; later ones read it
// back (usually from the batch in memory) for the created time.
func Directory() Def {
	return Def{
		Name:    DirectoryName,
		Version: 3,
		Handle: func(tx *Tx, e *eventlog.Event) error {
			key := eventlog.AppendKey(tx.scratch[:0], e.Actor)
			tx.scratch = key
			d := ActorInfo{Head: e.Seq, Updated: e.Time, LastPos: e.Pos, Created: e.Time}
			if e.Seq != 1 {
				b, ok, err := tx.Get(key)
				if err != nil {
					return err
				}
				if ok {
					old, err := decodeActorInfo(b)
					if err != nil {
						return err
					}
					d.Created = old.Created
				}
			}
			tx.Put(key, d.encode())
			return nil
		},
	}
}

// ActorInfo is one actor in the directory.
type ActorInfo struct {
	Actor   eventlog.ID
	Head    uint64 // sequence of its last event
	Created int64  // Unix ms of its first event
	Updated int64  // Unix ms of its last event
	LastPos uint64 // global position of its last event
}

func (d ActorInfo) encode() []byte {
	var buf [1 + 4*binary.MaxVarintLen64]byte
	b := append(buf[:0], 3)
	b = binary.AppendUvarint(b, d.Head)
	b = binary.AppendUvarint(b, d.LastPos)
	b = binary.AppendVarint(b, d.Created)
	return binary.AppendVarint(b, d.Updated)
}

func decodeActorInfo(b []byte) (ActorInfo, error) {
	var d ActorInfo
	if len(b) == 0 || b[0] != 3 {
		return d, errors.New("projection: unknown directory record")
	}
	if !decodeVarints(b[1:], []*uint64{&d.Head, &d.LastPos}, []*int64{&d.Created, &d.Updated}) {
		return d, errors.New("projection: directory record does not decode")
	}
	return d, nil
}

// ListActors reads the actor directory view: actors of one type (or all),
// after an actor, at most limit (default 100), in the log's order.
func ListActors(ctx context.Context, v *View, o eventlog.ListOptions) ([]ActorInfo, error) {
	if o.Limit <= 0 {
		o.Limit = 100
	}
	var lo, hi []byte
	if o.Type != "" {
		if err := eventlog.ValidateType(o.Type); err != nil {
			return nil, err
		}
		lo = eventlog.AppendTypeKey(nil, o.Type)
		hi = append([]byte(nil), lo...)
		hi[len(hi)-1]++
	}
	if o.After != (eventlog.ID{}) {
		if a := append(eventlog.AppendKey(nil, o.After), 0); string(a) > string(lo) {
			lo = a
		}
	}
	var out []ActorInfo
	errFull := errors.New("full")
	err := v.Scan(ctx, lo, hi, false, func(k, val []byte) error {
		id, rest, err := eventlog.DecodeKey(k)
		if err != nil || len(rest) != 0 {
			return fmt.Errorf("projection: directory key %q does not decode", k)
		}
		d, err := decodeActorInfo(val)
		if err != nil {
			return fmt.Errorf("projection: %s: %w", id, err)
		}
		d.Actor = id
		out = append(out, d)
		if len(out) == o.Limit {
			return errFull
		}
		return nil
	})
	if err != nil && err != errFull {
		return nil, err
	}
	return out, nil
}
