package eventlog

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// subscription is the Log's Subscription. It never slows appends: live
// events wait in a bounded buffer (Options.SubscriberBuffer), and a
// subscriber that lets it overflow gets a *LaggedError saying where to
// resume.
type subscription struct {
	l      *Log
	stream bool   // a stream subscription, else the feed
	id     ID     // the stream
	key    string // the stream's encoded id
	next   uint64 // the sequence (stream) or position (feed) owed next
	// pending holds events read from the store or taken from buf, not yet
	// returned. Owned by the consumer.
	pending  []Event
	batch    []Event // NextBatch's result, reused
	caughtUp bool
	// regGen is the last group that may have been applied before we
	// registered, and so not published to us.
	regGen uint64

	wake chan struct{}
	// ended is set by end: from then on poll returns ErrClosed, even with
	// events pending.
	ended atomic.Bool
	mu    sync.Mutex // guards the fields below
	buf   []Event
	// spare is the buffer taken last time, reused for the next one.
	spare []Event
	lag   bool
	done  bool
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

// active reports whether anyone is subscribed, so that appends copy events
// for publishing only when they will be read.
func (s *subscribers) active() bool { return s.count.Load() > 0 }

// publish hands durable events, in position order, to every matching
// subscriber. It never blocks.
func (s *subscribers) publish(events []Event) {
	if len(events) == 0 || !s.active() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var key []byte
	var last ID
	var subs map[*subscription]struct{}
	for i := range events {
		e := &events[i]
		for sub := range s.feed {
			sub.push(e)
		}
		if len(s.stream) == 0 {
			continue
		}
		if i == 0 || e.Actor != last {
			key = AppendKey(key[:0], e.Actor)
			subs = s.stream[string(key)]
			last = e.Actor
		}
		for sub := range subs {
			sub.push(e)
		}
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

func (sub *subscription) push(e *Event) {
	sub.mu.Lock()
	switch {
	case sub.lag || sub.done:
	case len(sub.buf) >= cap(sub.buf):
		sub.lag = true
		sub.buf = nil
	default:
		sub.buf = append(sub.buf, *e)
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

// SubscribeStream subscribes to the actor's events from sequence from
// (inclusive; 0 and 1 both mean the first).
func (l *Log) SubscribeStream(ctx context.Context, id ID, from uint64) (Subscription, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if from == 0 {
		from = 1
	}
	sub := &subscription{l: l, stream: true, id: id, key: string(AppendKey(nil, id)), next: from}
	if err := l.register(sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// SubscribeFeed subscribes to the global feed from position from
// (inclusive; 0 and 1 both mean the first).
func (l *Log) SubscribeFeed(ctx context.Context, from uint64) (Subscription, error) {
	if from == 0 {
		from = 1
	}
	sub := &subscription{l: l, next: from}
	if err := l.register(sub); err != nil {
		return nil, err
	}
	return sub, nil
}

func (l *Log) register(sub *subscription) error {
	sub.wake = make(chan struct{}, 1)
	sub.buf = make([]Event, 0, l.opts.SubscriberBuffer)
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	s := &l.subs
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count.Load() >= int64(l.opts.MaxSubscribers) {
		return ErrTooManySubscribers
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
	sub.regGen = l.appliedGen.Load()
	return nil
}

// Close ends the subscription. A Next blocked in another goroutine returns
// ErrClosed.
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

// Next returns the next event, waiting for one if needed. After a
// *LaggedError, ErrClosed or a store error, the subscription is finished:
// Close it and subscribe again from the position the error gives (or from
// the last event's successor).
func (sub *subscription) Next(ctx context.Context) (Event, error) {
	e, _, err := sub.poll(ctx, true)
	return e, err
}

// poll returns the next event; without wait, it returns ok false rather
// than wait for one.
func (sub *subscription) poll(ctx context.Context, wait bool) (e Event, ok bool, err error) {
	for {
		if sub.ended.Load() {
			return Event{}, false, ErrClosed
		}
		for len(sub.pending) > 0 {
			e := sub.pending[0]
			sub.pending[0] = Event{}
			sub.pending = sub.pending[1:]
			if k := sub.keyOf(&e); k >= sub.next {
				sub.next = k + 1
				return e, true, nil
			}
		}
		if !sub.caughtUp {
			// Catching up from the store. Live events published so far
			// are durable, so the next read covers them: drop them.
			sub.mu.Lock()
			done := sub.done
			sub.lag = false
			sub.buf = sub.buf[:0]
			sub.mu.Unlock()
			if done {
				return Event{}, false, ErrClosed
			}
			covered := sub.l.durableGen.Load() >= sub.regGen
			page, err := sub.read(ctx, 1024)
			if err != nil {
				return Event{}, false, err
			}
			if len(page) == 0 && !covered {
				if !wait {
					return Event{}, false, nil
				}
				if err := sub.l.waitGen(ctx, sub.regGen); errors.Is(err, ErrUnavailable) {
					// The groups it waited for failed: they bring nothing
					// (what of them landed on the disk is published when
					// the log recovers). Wait for live events.
					sub.regGen = 0
				} else if err != nil {
					return Event{}, false, err
				}
				continue
			}
			sub.caughtUp = len(page) == 0
			sub.pending = page
			continue
		}
		sub.mu.Lock()
		buf, lag, done := sub.buf, sub.lag, sub.done
		if len(buf) > 0 {
			// Swap buffers: the spare was the previous take, fully
			// consumed by now (takes happen only when pending is empty).
			clear(sub.spare)
			sub.buf, sub.spare = sub.spare[:0], buf
			if sub.buf == nil {
				sub.buf = make([]Event, 0, cap(buf))
			}
		}
		sub.mu.Unlock()
		switch {
		case done:
			return Event{}, false, ErrClosed
		case lag:
			return Event{}, false, &LaggedError{Next: sub.next}
		}
		for len(buf) > 0 && sub.keyOf(&buf[0]) < sub.next {
			buf = buf[1:]
		}
		if len(buf) > 0 {
			if sub.keyOf(&buf[0]) > sub.next {
				// Something between was not pushed to us: read it from the
				// store, where it is durable.
				sub.caughtUp = false
				continue
			}
			sub.pending = buf
			continue
		}
		if !wait {
			return Event{}, false, nil
		}
		select {
		case <-sub.wake:
		case <-ctx.Done():
			return Event{}, false, ctx.Err()
		}
	}
}

// NextBatch waits for the next event like Next, then adds the ones that
// follow without waiting, at most max in all. It is how a consumer that
// commits in batches reads at full speed. The slice is reused by the
// next call: consume it first.
func (sub *subscription) NextBatch(ctx context.Context, max int) ([]Event, error) {
	return sub.batchOf(ctx, max, true)
}

// TryNextBatch is NextBatch without the wait: with nothing at hand it
// returns no events and no error.
func (sub *subscription) TryNextBatch(ctx context.Context, max int) ([]Event, error) {
	return sub.batchOf(ctx, max, false)
}

func (sub *subscription) batchOf(ctx context.Context, max int, wait bool) ([]Event, error) {
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

func (sub *subscription) keyOf(e *Event) uint64 {
	if sub.stream {
		return e.Seq
	}
	return e.Pos
}

// read returns at most limit stored events from sub.next on.
func (sub *subscription) read(ctx context.Context, limit int) ([]Event, error) {
	out := make([]Event, 0, limit)
	// The page's data is copied into one arena rather than an allocation
	// per event. When the arena grows, the slices already handed out keep
	// the old array alive; none is overwritten.
	arena := make([]byte, 0, 32<<10)
	collect := func(e *Event) error {
		c := *e
		start := len(arena)
		arena = append(arena, e.Data...)
		c.Data = arena[start:len(arena):len(arena)]
		out = append(out, c)
		if len(out) >= limit {
			return errStopScan
		}
		return nil
	}
	var err error
	if sub.stream {
		err = sub.l.ScanStream(ctx, sub.id, sub.next, 0, collect)
	} else {
		err = sub.l.ScanFeed(ctx, sub.next, 0, collect)
	}
	if err == errStopScan {
		err = nil
	}
	return out, err
}
