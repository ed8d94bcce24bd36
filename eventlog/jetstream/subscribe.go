package jetstream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// The live tail: one consumer per Log over every event subject, from the
// end of the stream at Open, delivering in stream order what the stream
// has committed. It hands each event to the subscribers, with the
// position of the event it delivered before (prev): a feed subscriber
// that owes position next can take an event whose prev is below next,
// since nothing between was an event. Subscribers read what came before
// their start, or what they missed, from the stream.
type tail struct {
	l    *Log
	next uint64 // the stream sequence to deliver from; owned by run
	prev uint64 // the last event delivered; owned by run

	// pos is the position of the last message the tail delivered, for
	// the watchdog (see kick).
	pos atomic.Uint64

	mu      sync.Mutex // guards it and stopped
	it      jetstream.MessagesContext
	stopped bool
}

// kick ends the consumer's wait for a message, so that run makes a new
// one from where it was: the watchdog's remedy for a consumer that stopped
// delivering what the stream committed (its pull lost, or its replica far
// behind), which the consumer itself would notice only after its missed
// heartbeats, tens of seconds later.
func (t *tail) kick() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.it != nil {
		t.it.Stop()
	}
}

// The tail's pull requests: each lasts tailExpiry, and the server sends a
// heartbeat every tailHeartbeat while it has nothing to deliver.
const (
	tailExpiry    = 10 * time.Second
	tailHeartbeat = time.Second
)

// tailPrevUnknown is prev when the tail cannot vouch for the positions
// before an event.
const tailPrevUnknown = ^uint64(0)

func (t *tail) init(l *Log, from, prev uint64) {
	t.l, t.next, t.prev = l, from, prev
	t.pos.Store(from - 1)
}

// stop ends run's wait for a message; run returns once l.ctx is done.
func (t *tail) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	if t.it != nil {
		t.it.Stop()
	}
}

// run delivers events until Close. When the consumer fails or skips a
// message (its delivery sequence has a gap), it makes a new one from the
// next stream sequence, as an ordered consumer does, and owns it: it
// deletes each consumer it made before making the next.
func (t *tail) run() {
	l := t.l
	defer l.bg.Done()
	wait := retryFirst
	for l.ctx.Err() == nil {
		name := "actorlog_tail_" + nuid.Next()
		cctx, cancel := context.WithTimeout(l.ctx, l.opts.RequestTimeout)
		cons, err := l.js.CreateConsumer(cctx, l.opts.Stream, jetstream.ConsumerConfig{
			Name:              name,
			DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:       t.next,
			FilterSubject:     l.subj.allEvents(),
			AckPolicy:         jetstream.AckNonePolicy,
			MemoryStorage:     true,
			Replicas:          1,
			InactiveThreshold: time.Minute,
		})
		cancel()
		if err != nil {
			if sleep(l.ctx, &wait) != nil {
				return
			}
			continue
		}
		wait = retryFirst
		t.consume(cons)
		dctx, cancel := context.WithTimeout(context.Background(), l.opts.RequestTimeout)
		l.js.DeleteConsumer(dctx, l.opts.Stream, name)
		cancel()
	}
}

// consume delivers the consumer's messages until it fails, skips one or
// is stopped.
func (t *tail) consume(cons jetstream.Consumer) {
	// The consumer lives on one server: when that server dies or stalls,
	// only missed heartbeats tell, after twice their interval. The
	// default (15 s, from a 30 s expiry) left a node's feed, and what it
	// reports durable, 30 s behind after a crash elsewhere.
	it, err := cons.Messages(jetstream.PullMaxMessages(512), jetstream.PullExpiry(tailExpiry), jetstream.PullHeartbeat(tailHeartbeat))
	if err != nil {
		return
	}
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		it.Stop()
		return
	}
	t.it = it
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.it = nil
		t.mu.Unlock()
		it.Stop()
	}()
	var delivered uint64
	var batch []eventlog.Event
	for {
		m, err := it.Next()
		if err != nil {
			return
		}
		meta, err := m.Metadata()
		if err != nil || meta.Sequence.Consumer != delivered+1 {
			return
		}
		delivered++
		pos := meta.Sequence.Stream
		var e eventlog.Event
		if err := t.l.decodeFeedEvent(m.Subject(), m.Headers().Get(hdrSeq), m.Data(), pos, &e); err != nil {
			// The subscribers read it from the stream, and say.
			t.prev = tailPrevUnknown
		} else {
			batch = append(batch[:0], e)
			t.l.subs.publish(batch, t.prev)
			t.prev = pos
		}
		t.next = pos + 1
		t.pos.Store(pos)
		t.l.advance(pos)
	}
}

// subscribers is the Log's registry of subscriptions.
type subscribers struct {
	count  atomic.Int64
	mu     sync.Mutex // guards the maps
	feed   map[*subscription]struct{}
	stream map[string]map[*subscription]struct{}
}

func (s *subscribers) init() {
	s.feed = make(map[*subscription]struct{})
	s.stream = make(map[string]map[*subscription]struct{})
}

// publish hands events delivered by the tail to every matching
// subscriber; prev is the position of the event delivered before them.
// It never blocks.
func (s *subscribers) publish(events []eventlog.Event, prev uint64) {
	if s.count.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range events {
		e := &events[i]
		for sub := range s.feed {
			sub.push(e, prev)
		}
		for sub := range s.stream[string(eventlog.AppendKey(nil, e.Actor))] {
			sub.push(e, prev)
		}
		prev = e.Pos
	}
}

func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.feed {
		sub.end()
	}
	for _, m := range s.stream {
		for sub := range m {
			sub.end()
		}
	}
}

// live is an event pushed by the tail, with the position of the event the
// tail delivered before it.
type live struct {
	e    eventlog.Event
	prev uint64
}

// subscription is the Log's Subscription. Live events wait in a bounded
// buffer (Options.SubscriberBuffer); a subscriber that lets it overflow
// gets a *LaggedError saying where to resume.
type subscription struct {
	l      *Log
	stream bool
	id     eventlog.ID
	key    string
	next   uint64 // the sequence (stream) or position (feed) owed next
	// pending holds events read from the stream or taken from buf, not
	// yet returned. Owned by the consumer.
	pending  []live
	batch    []eventlog.Event
	caughtUp bool

	wake  chan struct{}
	ended atomic.Bool
	mu    sync.Mutex // guards the fields below
	buf   []live
	spare []live
	lag   bool
	done  bool
}

func (sub *subscription) push(e *eventlog.Event, prev uint64) {
	sub.mu.Lock()
	switch {
	case sub.lag || sub.done:
	case len(sub.buf) >= cap(sub.buf):
		sub.lag = true
		sub.buf = nil
	default:
		sub.buf = append(sub.buf, live{*e, prev})
	}
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

func (sub *subscription) end() {
	sub.ended.Store(true)
	sub.mu.Lock()
	sub.done = true
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// SubscribeStream implements eventlog.Subscriber.
func (l *Log) SubscribeStream(ctx context.Context, id eventlog.ID, from uint64) (eventlog.Subscription, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	sub := &subscription{l: l, stream: true, id: id, key: string(eventlog.AppendKey(nil, id)), next: max(from, 1)}
	return sub, l.register(sub)
}

// SubscribeFeed implements eventlog.Subscriber.
func (l *Log) SubscribeFeed(ctx context.Context, from uint64) (eventlog.Subscription, error) {
	sub := &subscription{l: l, next: max(from, 1)}
	return sub, l.register(sub)
}

func (l *Log) register(sub *subscription) error {
	sub.wake = make(chan struct{}, 1)
	sub.buf = make([]live, 0, l.opts.SubscriberBuffer)
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return eventlog.ErrClosed
	}
	s := &l.subs
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count.Load() >= int64(l.opts.MaxSubscribers) {
		return eventlog.ErrTooManySubscribers
	}
	s.count.Add(1)
	if sub.stream {
		m := s.stream[sub.key]
		if m == nil {
			m = make(map[*subscription]struct{})
			s.stream[sub.key] = m
		}
		m[sub] = struct{}{}
	} else {
		s.feed[sub] = struct{}{}
	}
	return nil
}

// Close implements eventlog.Subscription.
func (sub *subscription) Close() error {
	s := &sub.l.subs
	s.mu.Lock()
	if sub.stream {
		if m := s.stream[sub.key]; m != nil {
			if _, ok := m[sub]; ok {
				delete(m, sub)
				s.count.Add(-1)
			}
			if len(m) == 0 {
				delete(s.stream, sub.key)
			}
		}
	} else if _, ok := s.feed[sub]; ok {
		delete(s.feed, sub)
		s.count.Add(-1)
	}
	s.mu.Unlock()
	sub.end()
	return nil
}

// Next implements eventlog.Subscription.
func (sub *subscription) Next(ctx context.Context) (eventlog.Event, error) {
	e, _, err := sub.poll(ctx, true)
	return e, err
}

func (sub *subscription) keyOf(e *eventlog.Event) uint64 {
	if sub.stream {
		return e.Seq
	}
	return e.Pos
}

// follows reports whether a live event can be delivered when next is
// owed: nothing the subscriber owes lies between it and what came before.
func (sub *subscription) follows(v *live) bool {
	if sub.stream {
		return v.e.Seq == sub.next
	}
	return v.prev != tailPrevUnknown && v.prev < sub.next
}

// poll returns the next event; without wait, it returns ok false rather
// than wait for one.
func (sub *subscription) poll(ctx context.Context, wait bool) (eventlog.Event, bool, error) {
	for {
		if sub.ended.Load() {
			return eventlog.Event{}, false, eventlog.ErrClosed
		}
		for len(sub.pending) > 0 {
			v := sub.pending[0]
			sub.pending[0] = live{}
			sub.pending = sub.pending[1:]
			if k := sub.keyOf(&v.e); k >= sub.next {
				sub.next = k + 1
				return v.e, true, nil
			}
		}
		if !sub.caughtUp {
			// Catching up from the stream: the read sees every event
			// committed before it, so the live ones pushed so far are
			// covered by it.
			sub.mu.Lock()
			done := sub.done
			sub.lag = false
			sub.buf = sub.buf[:0]
			sub.mu.Unlock()
			if done {
				return eventlog.Event{}, false, eventlog.ErrClosed
			}
			page, err := sub.l.readPage(ctx, sub.stream, sub.id, sub.next, 1024)
			if err != nil {
				return eventlog.Event{}, false, err
			}
			sub.caughtUp = len(page) == 0
			sub.pending = sub.pending[:0]
			for _, e := range page {
				sub.pending = append(sub.pending, live{e: e})
			}
			continue
		}
		sub.mu.Lock()
		buf, lag, done := sub.buf, sub.lag, sub.done
		if len(buf) > 0 {
			clear(sub.spare)
			sub.buf, sub.spare = sub.spare[:0], buf
			if sub.buf == nil {
				sub.buf = make([]live, 0, cap(buf))
			}
		}
		sub.mu.Unlock()
		switch {
		case done:
			return eventlog.Event{}, false, eventlog.ErrClosed
		case lag:
			return eventlog.Event{}, false, &eventlog.LaggedError{Next: sub.next}
		}
		for len(buf) > 0 && sub.keyOf(&buf[0].e) < sub.next {
			buf = buf[1:]
		}
		if len(buf) > 0 {
			if !sub.follows(&buf[0]) {
				// Something between was not pushed to us: read it from
				// the stream.
				sub.caughtUp = false
				continue
			}
			sub.pending = buf
			continue
		}
		if !wait {
			return eventlog.Event{}, false, nil
		}
		select {
		case <-sub.wake:
		case <-ctx.Done():
			return eventlog.Event{}, false, ctx.Err()
		}
	}
}

// NextBatch implements eventlog.Subscription.
func (sub *subscription) NextBatch(ctx context.Context, max int) ([]eventlog.Event, error) {
	return sub.batchOf(ctx, max, true)
}

// TryNextBatch implements eventlog.Subscription.
func (sub *subscription) TryNextBatch(ctx context.Context, max int) ([]eventlog.Event, error) {
	return sub.batchOf(ctx, max, false)
}

func (sub *subscription) batchOf(ctx context.Context, max int, wait bool) ([]eventlog.Event, error) {
	e, ok, err := sub.poll(ctx, wait)
	if err != nil || !ok {
		return nil, err
	}
	clear(sub.batch)
	out := append(sub.batch[:0], e)
	for len(out) < max {
		e, ok, err := sub.poll(ctx, false)
		if err != nil || !ok {
			break // an error comes again on the next call
		}
		out = append(out, e)
	}
	sub.batch = out
	return out, nil
}

var _ eventlog.Subscription = (*subscription)(nil)
