package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers the log sets on its messages.
const (
	// hdrSeq is an event's sequence in its actor's stream.
	hdrSeq = "Actorlog-Seq"
	// hdrStream, on the last event of each write and on every marker,
	// carries what the stream record needs beyond the message itself:
	// "first created" on an event; "first created head updated lastpos"
	// on a marker.
	hdrStream = "Actorlog-Stream"
	// hdrOp marks a record message that is not a put: "del" (a point
	// deletion) or "range" (a range deletion).
	hdrOp = "Actorlog-Op"
	// hdrChunk, on each message of a record value stored in several,
	// is "i/n": the message is the i-th of n, and they are consecutive
	// in the stream (one atomic batch).
	hdrChunk = "Actorlog-Chunk"
)

// headState is an actor's stream record and the stream sequence of the
// actor's last message, which the next append must expect.
type headState struct {
	last uint64
	info eventlog.StreamInfo
}

// loadHead reads the actor's stream record from the stream's leader.
func (l *Log) loadHead(ctx context.Context, id eventlog.ID) (headState, error) {
	hs := headState{info: eventlog.StreamInfo{Actor: id, First: 1}}
	m, err := l.st.GetLastMsgForSubject(ctx, l.subj.ofActor(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return hs, nil
	}
	if err != nil {
		return hs, readErr(err)
	}
	hs.last = m.Sequence
	if err := decodeHead(m, &hs.info); err != nil {
		return hs, &eventlog.CorruptionError{Actor: id, Pos: m.Sequence, Err: err}
	}
	return hs, nil
}

// decodeHead fills s from the last message of an actor: a marker, or the
// last event of a write.
func decodeHead(m *jetstream.RawStreamMsg, s *eventlog.StreamInfo) error {
	f := strings.Fields(m.Header.Get(hdrStream))
	if strings.HasSuffix(m.Subject, ".m") {
		if len(f) != 5 {
			return fmt.Errorf("marker header %s is %q", hdrStream, m.Header.Get(hdrStream))
		}
		var v [5]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return fmt.Errorf("marker header %s: %w", hdrStream, err)
			}
			v[i] = n
		}
		s.First, s.Created, s.Head, s.Updated, s.LastPos = v[0], int64(v[1]), v[2], int64(v[3]), v[4]
		return nil
	}
	if len(f) != 2 {
		return fmt.Errorf("event header %s is %q", hdrStream, m.Header.Get(hdrStream))
	}
	first, err1 := strconv.ParseUint(f[0], 10, 64)
	created, err2 := strconv.ParseInt(f[1], 10, 64)
	var e eventlog.Event
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("event header %s: %w", hdrStream, err)
	}
	if err := decodeEvent(m.Header.Get(hdrSeq), m.Data, &e); err != nil {
		return err
	}
	s.First, s.Created, s.Head, s.Updated, s.LastPos = first, created, e.Seq, e.Time, m.Sequence
	return nil
}

// decodeEvent decodes an event's envelope, checking it against its
// sequence header. Data aliases b.
func decodeEvent(seqHdr string, b []byte, e *eventlog.Event) error {
	if err := eventlog.DecodeEnvelope(b, e); err != nil {
		return err
	}
	seq, err := strconv.ParseUint(seqHdr, 10, 64)
	if err != nil || seq != e.Seq {
		return fmt.Errorf("header %s %q disagrees with the envelope's sequence %d", hdrSeq, seqHdr, e.Seq)
	}
	return nil
}

// maxHeads bounds the write path's cache of stream records.
const maxHeads = 1 << 16

// cachedHead returns the write path's idea of the actor's stream: the
// cached record, or the leader's. The servers check it on every append
// (the expected last subject sequence), so a stale one costs a retry,
// never a fork.
func (l *Log) cachedHead(ctx context.Context, id eventlog.ID, key string) (headState, error) {
	l.mu.Lock()
	hs, ok := l.heads[key]
	l.mu.Unlock()
	if ok {
		return hs, nil
	}
	hs, err := l.loadHead(ctx, id)
	if err == nil {
		l.cacheHead(key, hs)
	}
	return hs, err
}

func (l *Log) cacheHead(key string, hs headState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.heads) >= maxHeads {
		clear(l.heads)
	}
	l.heads[key] = hs
}

func (l *Log) forgetHead(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.heads, key)
}

// actorLock serializes this Log's writes to one actor: a second writer
// would only find the first one's expectation taken.
type actorLock struct {
	mu   sync.Mutex
	refs int // guarded by Log.mu
}

func (l *Log) lockActor(key string) func() {
	l.mu.Lock()
	a := l.locks[key]
	if a == nil {
		a = &actorLock{}
		l.locks[key] = a
	}
	a.refs++
	l.mu.Unlock()
	a.mu.Lock()
	return func() {
		a.mu.Unlock()
		l.mu.Lock()
		if a.refs--; a.refs == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
}
