package seed

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
)

// RoomsName is the name of the chat rooms projection.
const RoomsName = "chatRooms"

// Room is one chat room as the chat rooms projection sees it.
type Room struct {
	Room             string `json:"room"`
	MessageCount     uint64 `json:"messageCount"`
	ParticipantCount int    `json:"participantCount"`
	LastMessageAt    int64  `json:"lastMessageAt"`  // Unix ms; 0 before the first message
	LastActivityAt   int64  `json:"lastActivityAt"` // Unix ms of the room's last event
}

// The view holds 'r' room -> Room as JSON, and an index 'a' (MaxInt64 -
// lastActivityAt, 8 bytes BE) room -> empty, which lists rooms newest
// activity first.

func roomKey(room string) []byte { return append([]byte{'r'}, room...) }

func activityKey(at int64, room string) []byte {
	return append(binary.BigEndian.AppendUint64([]byte{'a'}, uint64(math.MaxInt64-at)), room...)
}

// ChatRooms is a projection of every chat room: its message count,
// participant count and last message time. An example of a projection
// written outside the projection package.
func ChatRooms() projection.Def {
	return projection.Def{
		Name:       RoomsName,
		Version:    1,
		ActorTypes: []string{"chatRoom"},
		EventTypes: []string{"newMessage", "userJoined", "userLeft"},
		Handle: func(tx *projection.Tx, e *eventlog.Event) error {
			room := e.Actor.Key
			r := Room{Room: room}
			b, ok, err := tx.Get(roomKey(room))
			if err != nil {
				return err
			}
			if ok {
				if err := json.Unmarshal(b, &r); err != nil {
					return err
				}
				tx.Delete(activityKey(r.LastActivityAt, room))
			}
			switch e.Type {
			case "newMessage":
				r.MessageCount++
				r.LastMessageAt = e.Time
			case "userJoined", "userLeft":
				var p Presence
				if err := actors.DecodeData(e.Data, &p); err != nil {
					return err
				}
				r.ParticipantCount = p.ParticipantCount
			}
			r.LastActivityAt = e.Time
			b, _ = json.Marshal(r)
			tx.Put(roomKey(room), b)
			tx.Put(activityKey(r.LastActivityAt, room), nil)
			return nil
		},
	}
}

// ListRooms reads the chat rooms view, newest activity first, at most
// limit.
func ListRooms(ctx context.Context, v *projection.View, limit int) ([]Room, error) {
	var keys [][]byte
	errFull := errors.New("full")
	err := v.Scan(ctx, []byte{'a'}, []byte{'b'}, false, func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k[9:]))
		if len(keys) == limit {
			return errFull
		}
		return nil
	})
	if err != nil && err != errFull {
		return nil, err
	}
	out := make([]Room, 0, len(keys))
	for _, room := range keys {
		b, ok, err := v.Get(ctx, roomKey(string(room)))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var r Room
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
