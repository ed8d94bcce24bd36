package eventlogtest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// Memory is the model of the storage contract: the simplest
// implementation of eventlog.Store that could be right, kept in maps under
// one mutex. The Pebble log is tested against it, and packages built on
// the store run their tests on it as a fast path. Nothing is durable, so
// every write is durable at once; a subscriber never lags.
//
// A Memory is a handle on its contents: Reopen gives another, as opening
// the same directory again gives another Log over the same files.
type Memory struct {
	*memData
	closed bool // guarded by mu
}

// memData is what a Memory holds, shared by its handles.
type memData struct {
	mu      sync.Mutex // guards the fields below, and the handles' closed
	streams map[eventlog.ID]*memStream
	feed    []eventlog.Event  // every event ever appended, by position - 1
	erased  map[uint64]bool   // positions deleted from the feed
	records map[string][]byte // space byte + key -> value
	changed chan struct{}     // closed and replaced on every write and Close
	// unwritable, when set, is why writes are refused (Fail).
	unwritable string
	since      time.Time
}

type memStream struct {
	info   eventlog.StreamInfo
	events []eventlog.Event // events[i] has sequence i+1; erased ones stay but are skipped
}

// Limits the model shares with the defaults of eventlog.Options.
const (
	memMaxEventSize    = 1 << 20
	memMaxAppendEvents = 1024
	memMaxMetaLen      = 1024
)

// NewMemory returns an empty model.
func NewMemory() *Memory {
	return &Memory{memData: &memData{
		streams: make(map[eventlog.ID]*memStream),
		erased:  make(map[uint64]bool),
		records: make(map[string][]byte),
		changed: make(chan struct{}),
	}}
}

// Reopen returns a new handle on m's contents, as a restart that lost
// nothing would (the model has no writes that are not durable). m may be
// closed or not.
func (m *Memory) Reopen() *Memory { return &Memory{memData: m.memData} }

var _ eventlog.Store = (*Memory)(nil)

// Append implements eventlog.Writer.
func (m *Memory) Append(ctx context.Context, id eventlog.ID, expected eventlog.Expected, events ...eventlog.Event) (eventlog.AppendResult, error) {
	return m.Write(ctx, eventlog.Request{Actor: id, Expected: expected, Events: events})
}

// Write implements eventlog.Writer.
func (m *Memory) Write(ctx context.Context, r eventlog.Request) (eventlog.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventlog.AppendResult{}, err
	}
	if err := checkRequest(&r); err != nil {
		return eventlog.AppendResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return eventlog.AppendResult{}, eventlog.ErrClosed
	}
	if err := m.refuseLocked(); err != nil {
		return eventlog.AppendResult{}, err
	}
	var res eventlog.AppendResult
	if len(r.Events) > 0 {
		s := m.streams[r.Actor]
		if s == nil {
			s = &memStream{info: eventlog.StreamInfo{Actor: r.Actor, First: 1}}
		}
		if r.Expected >= 0 && uint64(r.Expected) != s.info.Head {
			return eventlog.AppendResult{}, &eventlog.ConflictError{Actor: r.Actor, Expected: r.Expected, Actual: s.info.Head}
		}
		m.streams[r.Actor] = s
		res = m.appendLocked(s, r.Events)
	}
	for _, op := range r.Ops {
		k := recordKey(op.Space, op.Key)
		switch {
		case op.Delete && op.End != nil:
			end := recordKey(op.Space, op.End)
			for rk := range m.records {
				if rk >= k && rk < end {
					delete(m.records, rk)
				}
			}
		case op.Delete:
			delete(m.records, k)
		default:
			m.records[k] = bytes.Clone(op.Value)
		}
	}
	close(m.changed)
	m.changed = make(chan struct{})
	return res, nil
}

func (m *Memory) appendLocked(s *memStream, events []eventlog.Event) eventlog.AppendResult {
	now := time.Now().UnixMilli()
	res := eventlog.AppendResult{First: s.info.Head + 1, FirstPos: uint64(len(m.feed)) + 1}
	for _, e := range events {
		s.info.Head++
		e.Actor, e.Seq, e.Pos = s.info.Actor, s.info.Head, uint64(len(m.feed))+1
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
	return res
}

// checkRequest applies the contract's rules on what may be written.
func checkRequest(r *eventlog.Request) error {
	if len(r.Events) > 0 || r.Actor != (eventlog.ID{}) {
		if err := r.Actor.Validate(); err != nil {
			return err
		}
	}
	switch {
	case len(r.Events) == 0 && len(r.Ops) == 0:
		return fmt.Errorf("%w: nothing to write", eventlog.ErrInvalidEvent)
	case len(r.Events) > memMaxAppendEvents:
		return fmt.Errorf("%w: %d events in one append, the limit is %d", eventlog.ErrEventTooLarge, len(r.Events), memMaxAppendEvents)
	}
	for i, e := range r.Events {
		switch {
		case e.Type == "", len(e.Type) > 255:
			return fmt.Errorf("%w: event %d type is %d bytes", eventlog.ErrInvalidEvent, i, len(e.Type))
		case len(e.Data) > memMaxEventSize:
			return fmt.Errorf("%w: event %d is %d bytes", eventlog.ErrEventTooLarge, i, len(e.Data))
		case len(e.Meta.CorrelationID) > memMaxMetaLen || len(e.Meta.Causation) > memMaxMetaLen || len(e.Meta.IdempotencyKey) > memMaxMetaLen:
			return fmt.Errorf("%w: event %d metadata over %d bytes", eventlog.ErrInvalidEvent, i, memMaxMetaLen)
		}
		if len(e.Data) > 0 {
			if err := eventlog.ValidValue(e.Data); err != nil {
				return fmt.Errorf("%w: %v", eventlog.ErrInvalidEvent, err)
			}
		}
	}
	for i, op := range r.Ops {
		if op.Space < eventlog.FirstSpace {
			return fmt.Errorf("eventlog: op %d: space %#x is reserved", i, op.Space)
		}
	}
	return nil
}

// recordKey is the model's key of a record: the space byte, then the key.
// (string(sp) would be sp's UTF-8 encoding, two bytes from 0x80 on.)
func recordKey(sp eventlog.Space, key []byte) string { return string([]byte{byte(sp)}) + string(key) }

// Delete implements eventlog.Writer.
func (m *Memory) Delete(ctx context.Context, id eventlog.ID, before uint64) error {
	if err := id.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return eventlog.ErrClosed
	}
	if err := m.refuseLocked(); err != nil {
		return err
	}
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

// Head implements eventlog.StreamReader.
func (m *Memory) Head(ctx context.Context, id eventlog.ID) (eventlog.StreamInfo, error) {
	if err := id.Validate(); err != nil {
		return eventlog.StreamInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return eventlog.StreamInfo{}, eventlog.ErrClosed
	}
	if s := m.streams[id]; s != nil {
		return s.info, nil
	}
	return eventlog.StreamInfo{Actor: id, First: 1}, nil
}

// ScanStream implements eventlog.StreamReader. fn runs without the lock
// held, on copies, so it may call the store.
func (m *Memory) ScanStream(ctx context.Context, id eventlog.ID, from, to uint64, fn func(*eventlog.Event) error) error {
	if err := id.Validate(); err != nil {
		return err
	}
	if to == 0 {
		to = math.MaxUint64
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return eventlog.ErrClosed
	}
	var evs []eventlog.Event
	if s := m.streams[id]; s != nil {
		for seq := max(from, s.info.First, 1); seq <= min(s.info.Head, to); seq++ {
			evs = append(evs, s.events[seq-1])
		}
	}
	m.mu.Unlock()
	return each(ctx, evs, fn)
}

// ScanFeed implements eventlog.FeedReader.
func (m *Memory) ScanFeed(ctx context.Context, from, to uint64, fn func(*eventlog.Event) error) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return eventlog.ErrClosed
	}
	end := uint64(len(m.feed))
	if to == 0 || to > end {
		to = end
	}
	var evs []eventlog.Event
	for pos := max(from, 1); pos <= to; pos++ {
		if !m.erased[pos] {
			evs = append(evs, m.feed[pos-1])
		}
	}
	m.mu.Unlock()
	return each(ctx, evs, fn)
}

func each(ctx context.Context, evs []eventlog.Event, fn func(*eventlog.Event) error) error {
	for i := range evs {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := evs[i]
		e.Data = bytes.Clone(e.Data)
		if err := fn(&e); err != nil {
			return err
		}
	}
	return nil
}

// Durable implements eventlog.FeedReader: every write is durable at once.
func (m *Memory) Durable() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.feed))
}

// ListActors implements eventlog.StreamReader.
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
	if m.closed {
		m.mu.Unlock()
		return nil, eventlog.ErrClosed
	}
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

// Get implements eventlog.Records.
func (m *Memory) Get(ctx context.Context, sp eventlog.Space, key []byte) ([]byte, error) {
	return m.Peek(sp, key)
}

// Peek implements eventlog.Records.
func (m *Memory) Peek(sp eventlog.Space, key []byte) ([]byte, error) {
	if sp < eventlog.FirstSpace {
		return nil, fmt.Errorf("eventlog: space %#x is reserved", sp)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, eventlog.ErrClosed
	}
	v, ok := m.records[recordKey(sp, key)]
	if !ok {
		return nil, eventlog.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Scan implements eventlog.Records. fn runs without the lock held, on a
// copy of the records in range when Scan began.
func (m *Memory) Scan(ctx context.Context, sp eventlog.Space, lo, hi []byte, reverse bool, fn func(key, value []byte) error) error {
	if sp < eventlog.FirstSpace {
		return fmt.Errorf("eventlog: space %#x is reserved", sp)
	}
	prefix, lower := recordKey(sp, nil), recordKey(sp, lo)
	inRange := func(k string) bool { return strings.HasPrefix(k, prefix) && k >= lower }
	if hi != nil {
		upper := recordKey(sp, hi)
		inRange = func(k string) bool { return k >= lower && k < upper }
	}
	type kv struct {
		k string
		v []byte
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return eventlog.ErrClosed
	}
	var in []kv
	for k, v := range m.records {
		if inRange(k) {
			in = append(in, kv{k, bytes.Clone(v)})
		}
	}
	m.mu.Unlock()
	sort.Slice(in, func(i, j int) bool { return (in[i].k < in[j].k) != reverse })
	for _, r := range in {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn([]byte(r.k[1:]), r.v); err != nil {
			return err
		}
	}
	return nil
}

// SubscribeStream implements eventlog.Subscriber.
func (m *Memory) SubscribeStream(ctx context.Context, id eventlog.ID, from uint64) (eventlog.Subscription, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	return m.subscribe(&id, from)
}

// SubscribeFeed implements eventlog.Subscriber.
func (m *Memory) SubscribeFeed(ctx context.Context, from uint64) (eventlog.Subscription, error) {
	return m.subscribe(nil, from)
}

func (m *Memory) subscribe(id *eventlog.ID, from uint64) (eventlog.Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, eventlog.ErrClosed
	}
	return &memSub{m: m, id: id, next: max(from, 1), done: make(chan struct{})}, nil
}

// Fail makes the store refuse writes as a store whose disk is full does;
// reads go on. Heal ends it. Tests of what is built on the store use it
// to see how a failure shows.
func (m *Memory) Fail() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unwritable, m.since = "the disk is full", time.Now()
}

// Heal makes the store take writes again after Fail.
func (m *Memory) Heal() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unwritable = ""
}

// Health implements eventlog.Writer.
func (m *Memory) Health() eventlog.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unwritable != "" {
		return eventlog.Health{Reason: m.unwritable, Since: m.since}
	}
	return eventlog.Health{Writable: true}
}

func (m *Memory) refuseLocked() error {
	if m.unwritable != "" {
		return fmt.Errorf("%w: %s", eventlog.ErrUnavailable, m.unwritable)
	}
	return nil
}

// Close implements eventlog.Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		// Wake the subscriptions waiting: those of this handle end.
		close(m.changed)
		m.changed = make(chan struct{})
	}
	return nil
}

type memSub struct {
	m     *Memory
	id    *eventlog.ID // nil: the feed
	next  uint64       // owned by the consumer
	batch []eventlog.Event
	done  chan struct{}
	once  sync.Once
}

func (s *memSub) Next(ctx context.Context) (eventlog.Event, error) {
	e, _, err := s.poll(ctx, true)
	return e, err
}

func (s *memSub) NextBatch(ctx context.Context, max int) ([]eventlog.Event, error) {
	return s.batchOf(ctx, max, true)
}

func (s *memSub) TryNextBatch(ctx context.Context, max int) ([]eventlog.Event, error) {
	return s.batchOf(ctx, max, false)
}

func (s *memSub) batchOf(ctx context.Context, max int, wait bool) ([]eventlog.Event, error) {
	s.batch = s.batch[:0]
	for len(s.batch) < max {
		e, ok, err := s.poll(ctx, wait && len(s.batch) == 0)
		if err != nil {
			if len(s.batch) > 0 {
				break // the error comes again on the next call
			}
			return nil, err
		}
		if !ok {
			break
		}
		s.batch = append(s.batch, e)
	}
	if len(s.batch) == 0 {
		return nil, nil
	}
	return s.batch, nil
}

// poll returns the next event; without wait it returns ok false rather
// than wait for one.
func (s *memSub) poll(ctx context.Context, wait bool) (eventlog.Event, bool, error) {
	for {
		select {
		case <-s.done:
			return eventlog.Event{}, false, eventlog.ErrClosed
		default:
		}
		s.m.mu.Lock()
		if s.m.closed {
			s.m.mu.Unlock()
			return eventlog.Event{}, false, eventlog.ErrClosed
		}
		changed := s.m.changed
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
		var e eventlog.Event
		if found != nil {
			e = *found
			e.Data = bytes.Clone(e.Data)
		}
		s.m.mu.Unlock()
		switch {
		case found != nil:
			s.next++
			return e, true, nil
		case !wait:
			return eventlog.Event{}, false, nil
		}
		select {
		case <-changed:
		case <-s.done:
			return eventlog.Event{}, false, eventlog.ErrClosed
		case <-ctx.Done():
			return eventlog.Event{}, false, ctx.Err()
		}
	}
}

func (s *memSub) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}
