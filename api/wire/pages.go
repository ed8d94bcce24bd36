package wire

import (
	"encoding/json"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
)

// The replies of the HTTP API's read routes. Fields are in the order of
// their names, as the server has always sent them.

// ActorEntry is one actor in a listing (GET /actors).
type ActorEntry struct {
	Actor   string `json:"actor"`
	Type    string `json:"type"`
	Key     string `json:"key"`
	Head    uint64 `json:"head"`
	First   uint64 `json:"first,omitempty"`
	Created int64  `json:"created"`
	Updated int64  `json:"updated"`
}

// ActorsPage is GET /actors: a page of actors, with the actor to list
// after for the next page (null on the last), and, when the actor
// directory projection answered, its position in the feed.
type ActorsPage struct {
	Actors   []ActorEntry `json:"actors"`
	Next     *string      `json:"next"`
	Position *uint64      `json:"position,omitempty"`
}

// ActorInfo is an actor in the inspection listing (GET /inspect/actors,
// and actorlog actors --json): its entry, the position of its last event
// and its newest snapshot (null if none).
type ActorInfo struct {
	ActorEntry
	LastPos  uint64        `json:"lastPos"`
	Snapshot *SnapshotInfo `json:"snapshot"`
}

// SnapshotInfo describes an actor's newest snapshot.
type SnapshotInfo struct {
	Seq    uint64 `json:"seq"`
	Time   int64  `json:"time"`
	Schema uint32 `json:"schema"`
	Size   int    `json:"size"`
	Error  string `json:"error,omitempty"` // why it does not decode
}

// ActorInfoPage is GET /inspect/actors.
type ActorInfoPage struct {
	Actors []ActorInfo `json:"actors"`
	Next   *string     `json:"next"`
}

// EventsPage is GET /actors/{type}/{key}/events: a page of the actor's
// history, with the sequence to read from for the next page (null when
// the page reached the head).
type EventsPage struct {
	Actor  string  `json:"actor"`
	Events []Event `json:"events"`
	First  uint64  `json:"first"`
	Head   uint64  `json:"head"`
	Next   *uint64 `json:"next"`
}

// RecordsPage is GET /inspect/events: events of one actor (Actor, First
// and Head set) or of the feed (Durable set), and where to read on.
type RecordsPage struct {
	Actor   string   `json:"actor,omitempty"`
	Durable *uint64  `json:"durable,omitempty"`
	Events  []Record `json:"events"`
	First   *uint64  `json:"first,omitempty"`
	Head    *uint64  `json:"head,omitempty"`
	Next    uint64   `json:"next"`
}

// State is GET /actors/{type}/{key}/state: the actor's state as JSON and
// the sequence it reflects.
type State struct {
	Actor string          `json:"actor"`
	Seq   uint64          `json:"seq"`
	State json.RawMessage `json:"state"`
}

// Health is GET /healthz: status "ok" (200), or "degraded" (503) while
// the store cannot write, with why and since when; reads go on then.
type Health struct {
	Durable uint64 `json:"durable"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Since   string `json:"since,omitempty"`
}

// Status is a projection's status as the API shows it.
type Status struct {
	projection.Status
	LagMs int64 `json:"lagMs"`
}

// NewStatus converts a projection's status.
func NewStatus(st projection.Status) Status {
	return Status{Status: st, LagMs: st.LagTime.Milliseconds()}
}

// Projections is GET /projections.
type Projections struct {
	Projections []Status `json:"projections"`
}

// NewActorEntry converts a stream record.
func NewActorEntry(st eventlog.StreamInfo) ActorEntry {
	return ActorEntry{Actor: st.Actor.String(), Type: st.Actor.Type, Key: st.Actor.Key, Head: st.Head, First: st.First, Created: st.Created, Updated: st.Updated}
}
