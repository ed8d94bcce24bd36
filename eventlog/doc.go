// Package eventlog is the durable, append-only event log of actorlog, kept
// in one Pebble database per data directory.
//
// Every actor has its own stream, addressed by an ID of (type, key). An
// Append adds events to one stream atomically, with gapless sequence
// numbers from 1 and optimistic concurrency on the stream's head; every
// event also gets a position in the global feed, which orders all events
// of all actors. An Append returns only once its events are synced to disk
// (unless Options.NoSync): concurrent appends are grouped so that one sync
// covers them all. Readers, subscribers included, never see an event
// before it is durable.
//
// # Contract
//
// The contract is the Store interface and its parts (Writer, StreamReader,
// FeedReader, Subscriber, Records); Log implements it on Pebble, and
// eventlogtest.Memory is its in-memory model. Consumers take the part they
// use, declared where they use it. eventlogtest.Run checks an
// implementation against all of it. In short:
//
//   - Sequences of a stream start at 1 and have no gaps. Delete erases a
//     prefix of a stream (or all of it) but never lowers its head.
//   - Global positions start at 1 and only grow. Positions of erased
//     events are absent from the feed and never reused.
//   - Reads and subscriptions return durable events only, in order.
//   - A subscription returns each event after its start exactly once, even
//     when appends race its catch-up; one that falls more than
//     Options.SubscriberBuffer events behind gets a *LaggedError naming the
//     point to resume from. Subscribers never slow appends.
//   - Bytes that do not decode give an error wrapping ErrCorrupt (a
//     *CorruptionError naming the actor and sequence); never a panic.
//   - After a failed write or sync the log refuses writes (an error
//     wrapping ErrUnavailable) until it recovers, which Log does by itself
//     once the disk takes writes again; what was acknowledged is intact,
//     and reads of what is durable go on meanwhile.
//
// # On-disk format (version 1)
//
// Keys begin with a family byte, so that a scan of one family never
// touches another. An actor id is encoded by AppendKey: the type and then
// the key, each with 0x00 escaped as 0x00 0xFF and terminated by 0x00
// 0x01. The encoding is order-preserving and self-delimiting, so no
// actor's key range contains another's, whatever bytes a key holds.
// Integers in keys are 8-byte big-endian, so iteration follows sequence
// and position order.
//
//	0x00 'f'                  format version, one byte (1)
//	0x00 'p'                  last assigned global position, 8 bytes BE
//	0x01 id seq               event envelope
//	0x02 pos                  id, then the event envelope
//	0x03 id                   stream record
//	0x20..0xFF ...            auxiliary records, one Space per owner
//	                          (the table is on Space)
//
// The event envelope is a msgpack array of 5 or 6 elements:
//
//	[seq uint, pos uint, type str, data bin, time int (Unix ms), meta?]
//
// where data holds the event's payload, itself one msgpack value, and meta,
// present only when some field is set, is a map of str to str with the
// keys "c" (correlation id), "a" (causation, such as the action name) and
// "i" (idempotency key). Readers ignore unknown metadata keys and any
// elements after the sixth, so that later versions can add fields.
//
// The stream record is a version byte (1) followed by the uvarints head,
// first (the lowest sequence still stored) and the global position of the
// last event, and the varints created and updated (Unix ms).
//
// Events are written twice, under their stream and under their position,
// so that both a replay of one actor and a scan of the feed are sequential
// reads. Deletion removes both copies and range-deletes the stream's keys.
package eventlog
