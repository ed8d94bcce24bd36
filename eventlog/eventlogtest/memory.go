package eventlogtest

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// Memory is the model of the log contract: the simplest implementation
// that could be right, kept in maps under one mutex. The Pebble log is
// tested against it. It is not meant for production: nothing is durable.
type Memory struct {
	mu      sync.Mutex
	streams map[eventlog.ID]*memStream
	feed    []eventlog.Event // every event ever appended, by position - 1
	erased  map[uint64]bool  // positions deleted from the feed
	changed chan struct{}    // closed and replaced on every append
	closed  bool
}

type memStream struct {
	info   eventlog.StreamInfo
	events []eventlog.Event // events[i] has sequence i+1; erased ones stay but are skipped
}

// NewMemory returns an empty model.
func NewMemory() *Memory {
	return &Memory{
		streams: make(map[eventlog.ID]*memStream),
		erased:  make(map[uint64]bool),
		changed: make(chan struct{}),
	}
}

var _ Store = (*Memory)(nil)

// Append implements Store.
func (m *Memory) Append(ctx context.Context, id eventlog.ID, expected eventlog.Expected, events ...eventlog.Event) (eventlog.AppendResult, error) {
	if err := id.Validate(); err != nil {
		return eventlog.AppendResult{}, err
	}
	if len(events) == 0 {
		return eventlog.AppendResult{}, fmt.Errorf("%w: no events", eventlog.ErrInvalidEvent)
	}
	for i, e := range events {
		if e.Type == "" {
			return eventlog.AppendResult{}, fmt.Errorf("%w: event %d has no type", eventlog.ErrInvalidEvent, i)
		}
		if len(e.Data) > 0 {
			if err := eventlog.ValidValue(e.Data); err != nil {
				return eventlog.AppendResult{}, fmt.Errorf("%w: %v", eventlog.ErrInvalidEvent, err)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return eventlog.AppendResult{}, eventlog.ErrClosed
	}
	s := m.streams[id]
	if s == nil {
		s = &memStream{info: eventlog.StreamInfo{Actor: id, First: 1}}
	}
	if expected >= 0 && uint64(expected) != s.info.Head {
		return eventlog.AppendResult{}, &eventlog.ConflictError{Actor: id, Expected: expected, Actual: s.info.Head}
	}
	m.streams[id] = s
	now := time.Now().UnixMilli()
	res := eventlog.AppendResult{First: s.info.Head + 1, FirstPos: uint64(len(m.feed)) + 1}
	for _, e := range events {
		s.info.Head++
		e.Actor, e.Seq, e.Pos = id, s.info.Head, uint64(len(m.feed))+1
		e.Data = bytes.Clone(e.Data)
		if e.Time == 0 {
			e.Time = now
		}
		s.events = append(s.events, e)
		m.feed = append(m.feed, e)
	}
	if s.info.Created == 0 {
		s.info.Created = s.events[res.First-1].Time
	}
	s.info.Updated = s.events[len(s.events)-1].Time
	s.info.LastPos = uint64(len(m.feed))
	res.Last, res.LastPos = s.info.Head, uint64(len(m.feed))
	close(m.changed)
	m.changed = make(chan struct{})
	return res, nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, id eventlog.ID, before uint64) error {
	if err := id.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[id]
	if s == nil {
		if before > 1 {
			return fmt.Errorf("%w: head is 0", eventlog.ErrBadRange)
		}
		return nil
	}
	if before == 0 {
		before = s.info.Head + 1
	}
	if before > s.info.Head+1 {
		return fmt.Errorf("%w: head is %d", eventlog.ErrBadRange, s.info.Head)
	}
	for seq := s.info.First; seq < before; seq++ {
		m.erased[s.events[seq-1].Pos] = true
	}
	if before > s.info.First {
		s.info.First = before
	}
	return nil
}

// Head implements Store.
func (m *Memory) Head(ctx context.Context, id eventlog.ID) (eventlog.StreamInfo, error) {
	if err := id.Validate(); err != nil {
		return eventlog.StreamInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.streams[id]; s != nil {
		return s.info, nil
	}
	return eventlog.StreamInfo{Actor: id, First: 1}, nil
}

// ReadStream implements Store.
func (m *Memory) ReadStream(ctx context.Context, id eventlog.ID, from uint64, limit int) ([]eventlog.Event, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[id]
	if s == nil || limit <= 0 {
		return nil, nil
	}
	from = max(from, s.info.First, 1)
	var out []eventlog.Event
	for seq := from; seq <= s.info.Head && len(out) < limit; seq++ {
		out = append(out, s.events[seq-1])
	}
	return out, nil
}

// ReadFeed implements Store.
func (m *Memory) ReadFeed(ctx context.Context, from uint64, limit int) ([]eventlog.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []eventlog.Event
	for pos := max(from, 1); pos <= uint64(len(m.feed)) && len(out) < limit; pos++ {
		if !m.erased[pos] {
			out = append(out, m.feed[pos-1])
		}
	}
	return out, nil
}

// ListActors implements Store.
func (m *Memory) ListActors(ctx context.Context, o eventlog.ListOptions) ([]eventlog.StreamInfo, error) {
	if o.Type != "" {
		if err := eventlog.ValidateType(o.Type); err != nil {
			return nil, err
		}
	}
	if o.Limit <= 0 {
		o.Limit = 100
	}
	m.mu.Lock()
	var all []eventlog.StreamInfo
	for id, s := range m.streams {
		if o.Type == "" || id.Type == o.Type {
			all = append(all, s.info)
		}
	}
	m.mu.Unlock()
	key := func(id eventlog.ID) []byte { return eventlog.AppendKey(nil, id) }
	sort.Slice(all, func(i, j int) bool { return bytes.Compare(key(all[i].Actor), key(all[j].Actor)) < 0 })
	var out []eventlog.StreamInfo
	for _, s := range all {
		if o.After != (eventlog.ID{}) && bytes.Compare(key(s.Actor), key(o.After)) <= 0 {
			continue
		}
		if len(out) == o.Limit {
			break
		}
		out = append(out, s)
	}
	return out, nil
}

// SubscribeStream implements Store.
func (m *Memory) SubscribeStream(ctx context.Context, id eventlog.ID, from uint64) (Subscription, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	return &memSub{m: m, id: &id, next: max(from, 1), done: make(chan struct{})}, nil
}

// SubscribeFeed implements Store.
func (m *Memory) SubscribeFeed(ctx context.Context, from uint64) (Subscription, error) {
	return &memSub{m: m, next: max(from, 1), done: make(chan struct{})}, nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.changed)
	}
	return nil
}

type memSub struct {
	m    *Memory
	id   *eventlog.ID
	next uint64
	done chan struct{}
	once sync.Once
}

func (s *memSub) Next(ctx context.Context) (eventlog.Event, error) {
	for {
		s.m.mu.Lock()
		changed, closed := s.m.changed, s.m.closed
		var found *eventlog.Event
		if s.id != nil {
			if st := s.m.streams[*s.id]; st != nil {
				s.next = max(s.next, st.info.First)
				if s.next <= st.info.Head {
					found = &st.events[s.next-1]
				}
			}
		} else {
			for s.next <= uint64(len(s.m.feed)) && s.m.erased[s.next] {
				s.next++
			}
			if s.next <= uint64(len(s.m.feed)) {
				found = &s.m.feed[s.next-1]
			}
		}
		s.m.mu.Unlock()
		if found != nil {
			s.next++
			return *found, nil
		}
		if closed {
			return eventlog.Event{}, eventlog.ErrClosed
		}
		select {
		case <-changed:
		case <-s.done:
			return eventlog.Event{}, eventlog.ErrClosed
		case <-ctx.Done():
			return eventlog.Event{}, ctx.Err()
		}
	}
}

func (s *memSub) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}
