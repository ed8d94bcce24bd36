// Package jetstream is the event log on a NATS JetStream stream: a second
// implementation of the storage contract of package eventlog (Store), for
// a log replicated by JetStream's own Raft across servers. It passes the
// same suite as the Pebble log (eventlogtest.Run and RunFaults), on one
// server and on a cluster of three.
//
// # What the servers must provide
//
// JetStream with file storage and every write synced before it is
// acknowledged: the server option sync_interval: always (in Go,
// server.Options.SyncAlways). JetStream's default syncs every two minutes,
// and a power loss then takes acknowledged writes; the log cannot see the
// setting from a client, so whoever runs the servers must set it. A
// cluster needs three (or five) JetStream servers for Replicas 3 (or 5).
// An atomic batch may hold at most the servers' max_batch_size messages
// (1000 by default), which bounds Options.MaxAppendEvents; the actors
// runtime needs 4096. At most max_batch_inflight_per_stream batches (50
// by default) are in flight on a stream at once: the Log retries the
// others after a short wait, so a busy server wants more.
//
// # Stream
//
// One stream (Options.Stream) captures prefix.> (Options.Prefix) on file
// storage with Options.Replicas replicas, no limit that could drop a
// message (a full stream refuses writes), deletes denied, atomic publish
// allowed, direct get not allowed (a replica could answer with a stale
// read: every read goes to the leader) and a duplicate window of
// Options.DuplicateWindow. Open creates it, or checks an existing one.
//
// # Subjects
//
//	prefix.a.TYPE.KEY.e     the actor's events, one message each
//	prefix.a.TYPE.KEY.m     the actor's deletion markers
//	prefix.r.SS.HH.HH...=   a record of space SS (hex) whose key is the
//	                        bytes HH (hex, one token per byte)
//	prefix.x.SS             the range deletions of space SS
//
// TYPE is the actor type, which is a valid token as it is. KEY is the key
// itself when it is made of [A-Za-z0-9_-]; any other key is '~' and its
// unpadded base64url encoding, so that every key, dots and wildcards
// included, has one subject and decodes back from it. A token per key
// byte makes every key prefix a subject filter, so that a Scan asks for
// the records under its range's common prefix only.
//
// # Messages
//
// An event's message holds the event envelope of package eventlog (the
// global position in it is 0: the position is the message's stream
// sequence) with these headers:
//
//	Actorlog-Seq     the event's sequence in its actor's stream, dense
//	                 from 1 (the envelope holds it too; they must agree)
//	Actorlog-Stream  on the last event of a write: "first created", what
//	                 the stream record needs beyond the message itself
//	Nats-Msg-Id      the write's id (a NUID) and the message's index in it
//
// A marker (prefix.a.TYPE.KEY.m), written by Delete, carries the whole
// stream record in Actorlog-Stream: "first created head updated lastpos".
// The stream record of an actor is its last message on prefix.a.TYPE.KEY.>,
// event or marker. A record message holds the record's value; a value
// over Options.MaxEventSize (a large snapshot) takes several messages of
// the same atomic batch, so at consecutive stream sequences, each with the
// header Actorlog-Chunk: "i/n", and is read from the last back. A
// deletion has the header Actorlog-Op: del and no value; a range
// deletion, on prefix.x.SS, holds uvarint len(lo), lo, hi.
//
// # How the contract is kept
//
//   - One writer per actor: every write's first message expects the
//     stream sequence of the actor's last message
//     (Nats-Expected-Last-Subject-Sequence, on the subject filter
//     prefix.a.TYPE.KEY.>, so that markers count). The servers refuse a
//     write that another writer overtook; the Log then reads the head
//     again and answers a *ConflictError if the caller's expected
//     sequence no longer holds.
//   - Atomicity: a write of several messages (events, then the records
//     of its Ops) is one atomic batch, stored whole or not at all. This
//     is why records live in the event stream rather than in KV buckets
//     of their own: the runtime writes an action's events with its
//     idempotency record and its timers, and JetStream's atomic batches
//     do not span streams. A record subject is read as a KV bucket's
//     key is: its last message (its last messages, for a value stored in
//     several, where an Object Store would otherwise be needed).
//   - Exactly once: a publish with no answer is sent again with the same
//     message ids and expectation until Options.WriteTimeout. A retry
//     finds its messages stored (the servers answer with the first
//     try's sequence, or refuse the batch as a duplicate, or refuse the
//     expectation because the first try moved the stream); in the last
//     two cases the Log reads the actor's message after the expected one
//     and compares its id with the write's.
//   - The feed: global positions are stream sequences, so the feed is
//     the stream's own order. Records and markers take positions too, so
//     the feed has holes there as well as where events were erased.
//   - Durability: the servers acknowledge a message once it is synced
//     (and, with replicas, on a majority), and reads go to the stream's
//     leader, which only answers with what it applied.
//   - Subscriptions: one consumer per Log (the live tail) delivers every
//     event the stream commits, in order, to the subscribers' bounded
//     buffers; a subscriber catches up, or fills a gap, by reading the
//     stream.
//   - Deletion: a marker with the new first sequence, conditional like an
//     append, then purges of the events below it and of older markers.
//     Record versions that a later one hides are purged in the background
//     (compaction), which reclaims space only: a read skips them anyway.
//   - Availability: a stream that is full, or has no leader, makes writes
//     fail with ErrUnavailable and Health say so, until a probe sees that
//     the stream takes writes again; reads go on meanwhile.
//
// # Cost
//
// Short reads fetch one message per request from the leader (its
// message-get API has no batches); a scan of more than 64 messages makes
// a consumer of its own on the leader and fetches 256 messages per
// request, which costs making and deleting the consumer first. On one
// server every message is synced on its own, the messages of an atomic
// batch included; in a cluster JetStream's Raft groups concurrent writes.
// BENCHMARKS.md has figures.
package jetstream
