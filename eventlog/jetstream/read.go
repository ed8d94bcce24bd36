package jetstream

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Every read goes to the stream's leader, so that it sees every write
// acknowledged before it began: one message per request (the leader's
// message-get API has no batches), or, for a scan of more than
// scanConsumerAbove messages, through a consumer of the scan's own, which
// the leader serves, scanBatch messages per request.

// How scans read.
const (
	scanConsumerAbove = 64
	scanBatch         = 256
)

// consume hands fn the messages on filter from stream sequence start on,
// in stream order, through a consumer of its own, until fn says stop or
// fails, or the consumer has no message left. It returns the stream
// sequence after the last message it handed to fn, and whether fn said
// stop. The consumer may run on a replica that has not applied the last
// writes yet (the servers place a consumer of one replica on any of the
// stream's), and it may fail or skip a message: unless fn said stop, the
// caller reads on from next one message at a time, from the leader.
func (l *Log) consume(ctx context.Context, filter string, start uint64, fn func(m jetstream.Msg, seq uint64) (stop bool, err error)) (next uint64, stopped bool, err error) {
	next = start
	name := "actorlog_scan_" + nuid.Next()
	cctx, cancel := context.WithTimeout(ctx, l.opts.RequestTimeout)
	cons, err := l.js.CreateConsumer(cctx, l.opts.Stream, jetstream.ConsumerConfig{
		Name:              name,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		FilterSubject:     filter,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: time.Minute,
	})
	cancel()
	if err != nil {
		return next, false, nil
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), l.opts.RequestTimeout)
		l.js.DeleteConsumer(dctx, l.opts.Stream, name)
		cancel()
	}()
	pending := cons.CachedInfo().NumPending
	var delivered uint64
	for pending > 0 {
		if err := ctx.Err(); err != nil {
			return next, false, err
		}
		batch, err := cons.Fetch(int(min(pending, scanBatch)), jetstream.FetchMaxWait(l.opts.RequestTimeout))
		if err != nil {
			return next, false, nil
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, merr := m.Metadata()
			if merr != nil || meta.Sequence.Consumer != delivered+1 {
				drain(batch)
				return next, false, nil
			}
			delivered++
			stop, err := fn(m, meta.Sequence.Stream)
			next, pending = meta.Sequence.Stream+1, meta.NumPending
			if stop || err != nil {
				drain(batch)
				return next, true, err
			}
		}
		if got == 0 {
			return next, false, nil
		}
	}
	return next, false, nil
}

// drain waits for the rest of a fetch, which ends it: the messages asked
// for are stored, so they come at once.
func drain(b jetstream.MessageBatch) {
	for range b.Messages() {
	}
}

// Head implements eventlog.StreamReader.
func (l *Log) Head(ctx context.Context, id eventlog.ID) (eventlog.StreamInfo, error) {
	if err := id.Validate(); err != nil {
		return eventlog.StreamInfo{}, err
	}
	if err := l.enter(); err != nil {
		return eventlog.StreamInfo{}, err
	}
	defer l.exit()
	hs, err := l.loadHead(ctx, id)
	return hs.info, err
}

// seekLinear is how far past the first stored event a scan reads its
// way forward rather than bisect to its start.
const seekLinear = 32

// ScanStream implements eventlog.StreamReader.
func (l *Log) ScanStream(ctx context.Context, id eventlog.ID, from, to uint64, fn func(*eventlog.Event) error) error {
	if err := id.Validate(); err != nil {
		return err
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	hs, err := l.loadHead(ctx, id)
	if err != nil {
		return err
	}
	from = max(from, hs.info.First, 1)
	if to == 0 || to > hs.info.Head {
		to = hs.info.Head
	}
	if from > to {
		return nil
	}
	next := uint64(1)
	if from-hs.info.First > seekLinear {
		if next, err = l.seek(ctx, id, from, hs.last); err != nil {
			return err
		}
	}
	subj := l.subj.events(id)
	var e eventlog.Event
	if to-from >= scanConsumerAbove {
		var stopped bool
		next, stopped, err = l.consume(ctx, subj, next, func(m jetstream.Msg, pos uint64) (bool, error) {
			if err := decodeEvent(m.Headers().Get(hdrSeq), m.Data(), &e); err != nil {
				return true, &eventlog.CorruptionError{Actor: id, Pos: pos, Err: err}
			}
			if e.Seq > to {
				return true, nil
			}
			if e.Seq >= from {
				e.Actor, e.Pos = id, pos
				if err := fn(&e); err != nil {
					return true, err
				}
			}
			return e.Seq == to || pos >= hs.last, nil
		})
		if stopped || err != nil {
			return err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := l.st.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return readErr(err)
		}
		if err := decodeEvent(m.Header.Get(hdrSeq), m.Data, &e); err != nil {
			return &eventlog.CorruptionError{Actor: id, Pos: m.Sequence, Err: err}
		}
		if e.Seq > to {
			return nil
		}
		if e.Seq >= from {
			e.Actor, e.Pos = id, m.Sequence
			if err := fn(&e); err != nil {
				return err
			}
		}
		if e.Seq == to {
			return nil
		}
		next = m.Sequence + 1
	}
}

// ScanFeed implements eventlog.FeedReader. The end (to 0) is the last
// event stored when the scan begins.
func (l *Log) ScanFeed(ctx context.Context, from, to uint64, fn func(*eventlog.Event) error) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	if to == 0 {
		m, err := l.st.GetLastMsgForSubject(ctx, l.subj.allEvents())
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return readErr(err)
		}
		to = m.Sequence
		l.advance(to)
	}
	next := max(from, 1)
	subj := l.subj.allEvents()
	var e eventlog.Event
	if next <= to && to-next >= scanConsumerAbove {
		var stopped bool
		var err error
		next, stopped, err = l.consume(ctx, subj, next, func(m jetstream.Msg, pos uint64) (bool, error) {
			if pos > to {
				return true, nil
			}
			if err := l.decodeFeedEvent(m.Subject(), m.Headers().Get(hdrSeq), m.Data(), pos, &e); err != nil {
				return true, err
			}
			if err := fn(&e); err != nil {
				return true, err
			}
			return pos == to, nil
		})
		if stopped || err != nil {
			return err
		}
	}
	for next <= to {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := l.st.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return readErr(err)
		}
		if m.Sequence > to {
			return nil
		}
		if err := l.decodeFeedEvent(m.Subject, m.Header.Get(hdrSeq), m.Data, m.Sequence, &e); err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
		next = m.Sequence + 1
	}
	return nil
}

// decodeFeedEvent decodes the event stored at position pos on subject
// subj. Data aliases data.
func (l *Log) decodeFeedEvent(subj, seqHdr string, data []byte, pos uint64, e *eventlog.Event) error {
	id, _, err := l.subj.parseActor(subj)
	if err != nil {
		return &eventlog.CorruptionError{Pos: pos, Err: err}
	}
	if err := decodeEvent(seqHdr, data, e); err != nil {
		return &eventlog.CorruptionError{Actor: id, Pos: pos, Err: err}
	}
	e.Actor, e.Pos = id, pos
	return nil
}

// ListActors implements eventlog.StreamReader. It lists every actor
// subject of the type (or of all types) and reads the stream record of
// each actor it returns: a listing costs the number of actors, not the
// page.
func (l *Log) ListActors(ctx context.Context, o eventlog.ListOptions) ([]eventlog.StreamInfo, error) {
	if o.Type != "" {
		if err := eventlog.ValidateType(o.Type); err != nil {
			return nil, err
		}
	}
	if o.Limit <= 0 {
		o.Limit = 100
	}
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.exit()
	info, err := l.st.Info(ctx, jetstream.WithSubjectFilter(l.subj.actorsOf(o.Type)))
	if err != nil {
		return nil, readErr(err)
	}
	type actor struct {
		id  eventlog.ID
		key []byte
	}
	seen := make(map[eventlog.ID]bool, len(info.State.Subjects))
	var all []actor
	var after []byte
	if o.After != (eventlog.ID{}) {
		after = eventlog.AppendKey(nil, o.After)
	}
	for subj := range info.State.Subjects {
		id, _, err := l.subj.parseActor(subj)
		if err != nil {
			return nil, &eventlog.CorruptionError{Err: err}
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		k := eventlog.AppendKey(nil, id)
		if after != nil && bytes.Compare(k, after) <= 0 {
			continue
		}
		all = append(all, actor{id, k})
	}
	sort.Slice(all, func(i, j int) bool { return bytes.Compare(all[i].key, all[j].key) < 0 })
	out := make([]eventlog.StreamInfo, 0, min(len(all), o.Limit))
	for _, a := range all {
		if len(out) == o.Limit {
			break
		}
		hs, err := l.loadHead(ctx, a.id)
		if err != nil {
			return nil, err
		}
		if hs.info.Exists() {
			out = append(out, hs.info)
		}
	}
	return out, nil
}

// errStop ends a scan early without an error.
var errStop = errors.New("stop")

// readPage returns up to limit durable events of the stream (stream) or
// the feed from next on, as copies.
func (l *Log) readPage(ctx context.Context, stream bool, id eventlog.ID, next uint64, limit int) ([]eventlog.Event, error) {
	out := make([]eventlog.Event, 0, min(limit, 64))
	collect := func(e *eventlog.Event) error {
		c := *e
		c.Data = bytes.Clone(e.Data)
		out = append(out, c)
		if len(out) >= limit {
			return errStop
		}
		return nil
	}
	var err error
	if stream {
		err = l.ScanStream(ctx, id, next, 0, collect)
	} else {
		err = l.ScanFeed(ctx, next, 0, collect)
	}
	if errors.Is(err, errStop) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
