package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// maxMetaLen bounds each metadata string, as in package eventlog.
const maxMetaLen = 1024

// MaxRecordKey is the longest record key, in bytes. A key is one subject
// token per byte, and a subject must fit the servers' max_control_line
// (4 KiB by default) with the rest of the publish line.
const MaxRecordKey = 1024

// Append implements eventlog.Writer: Write of a Request of events only.
func (l *Log) Append(ctx context.Context, id eventlog.ID, expected eventlog.Expected, events ...eventlog.Event) (eventlog.AppendResult, error) {
	return l.Write(ctx, eventlog.Request{Actor: id, Expected: expected, Events: events})
}

// Write implements eventlog.Writer. Its events and Ops are published as
// one atomic batch (one message when there is only one), the first event
// expecting the actor's last message. Once published, a write runs to its
// end whatever ctx says, so that its outcome is known: retried with the
// same message ids until Options.WriteTimeout, then ErrUnavailable.
func (l *Log) Write(ctx context.Context, r eventlog.Request) (eventlog.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventlog.AppendResult{}, err
	}
	if err := l.check(&r); err != nil {
		return eventlog.AppendResult{}, err
	}
	if err := l.enter(); err != nil {
		return eventlog.AppendResult{}, err
	}
	defer l.exit()
	if err := l.refuse(); err != nil {
		return eventlog.AppendResult{}, err
	}
	if len(r.Events) == 0 {
		return eventlog.AppendResult{}, l.writeOps(r.Ops)
	}
	return l.writeEvents(r)
}

// check applies the contract's rules on what may be written, and this
// implementation's limits.
func (l *Log) check(r *eventlog.Request) error {
	if len(r.Events) > 0 || r.Actor != (eventlog.ID{}) {
		if err := r.Actor.Validate(); err != nil {
			return err
		}
	}
	msgs := len(r.Events)
	for _, op := range r.Ops {
		msgs += l.chunks(len(op.Value))
	}
	switch {
	case len(r.Events) == 0 && len(r.Ops) == 0:
		return fmt.Errorf("%w: nothing to write", eventlog.ErrInvalidEvent)
	case msgs > l.opts.MaxAppendEvents:
		return fmt.Errorf("%w: %d events and %d ops (%d messages) in one write, the limit is %d messages", eventlog.ErrEventTooLarge, len(r.Events), len(r.Ops), msgs, l.opts.MaxAppendEvents)
	}
	for i := range r.Events {
		e := &r.Events[i]
		switch {
		case e.Type == "":
			return fmt.Errorf("%w: event %d has no type", eventlog.ErrInvalidEvent, i)
		case len(e.Type) > 255:
			return fmt.Errorf("%w: event %d type is %d bytes, the limit is 255", eventlog.ErrInvalidEvent, i, len(e.Type))
		case len(e.Data) > l.opts.MaxEventSize:
			return fmt.Errorf("%w: event %d is %d bytes, the limit is %d", eventlog.ErrEventTooLarge, i, len(e.Data), l.opts.MaxEventSize)
		case len(e.Meta.CorrelationID) > maxMetaLen || len(e.Meta.Causation) > maxMetaLen || len(e.Meta.IdempotencyKey) > maxMetaLen:
			return fmt.Errorf("%w: event %d metadata over %d bytes", eventlog.ErrInvalidEvent, i, maxMetaLen)
		}
		if len(e.Data) > 0 {
			if err := eventlog.ValidValue(e.Data); err != nil {
				return fmt.Errorf("%w: event %d data is not one msgpack value: %v", eventlog.ErrInvalidEvent, i, err)
			}
		}
	}
	for i, op := range r.Ops {
		switch {
		case op.Space < eventlog.FirstSpace:
			return fmt.Errorf("eventlog/jetstream: op %d: space %#x is reserved", i, op.Space)
		case len(op.Key) > MaxRecordKey || len(op.End) > MaxRecordKey:
			return fmt.Errorf("eventlog/jetstream: op %d: key of %d bytes, the limit is %d", i, max(len(op.Key), len(op.End)), MaxRecordKey)
		case len(op.Value) > l.opts.MaxRecordSize:
			return fmt.Errorf("%w: op %d value is %d bytes, the limit is %d", eventlog.ErrEventTooLarge, i, len(op.Value), l.opts.MaxRecordSize)
		}
	}
	return nil
}

// writeEvents appends r's events, and its ops, atomically.
func (l *Log) writeEvents(r eventlog.Request) (eventlog.AppendResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.WriteTimeout)
	defer cancel()
	key := string(eventlog.AppendKey(nil, r.Actor))
	defer l.lockActor(key)()
	hs, err := l.cachedHead(ctx, r.Actor, key)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	fresh := false // whether hs was read from the leader for this write
	for wait := retryFirst; ; {
		if r.Expected >= 0 && uint64(r.Expected) != hs.info.Head {
			if fresh {
				return eventlog.AppendResult{}, &eventlog.ConflictError{Actor: r.Actor, Expected: r.Expected, Actual: hs.info.Head}
			}
			// The cache may be behind another node's appends.
			if hs, err = l.loadHead(ctx, r.Actor); err != nil {
				return eventlog.AppendResult{}, err
			}
			l.cacheHead(key, hs)
			fresh = true
			continue
		}
		wid := nuid.Next()
		msgs, jobs := l.eventMessages(&r, &hs, wid)
		first, res, err := l.send(ctx, msgs, func() (uint64, bool, error) {
			return l.landed(ctx, r.Actor, hs.last, wid+".0")
		})
		switch res {
		case sent:
			out, next := appended(&r, hs, first)
			l.cacheHead(key, next)
			l.advance(out.LastPos)
			l.enqueue(jobs)
			return out, nil
		case retry:
			// Another writer moved the stream, or the leader could not
			// check the expectation yet: read the head and decide again.
			if err := sleep(ctx, &wait); err != nil {
				l.forgetHead(key)
				return eventlog.AppendResult{}, l.unavailable(reasonNoReply, err)
			}
			if hs, err = l.loadHead(ctx, r.Actor); err != nil {
				l.forgetHead(key)
				return eventlog.AppendResult{}, err
			}
			l.cacheHead(key, hs)
			fresh = true
		default:
			l.forgetHead(key)
			return eventlog.AppendResult{}, err
		}
	}
}

// eventMessages returns the messages of r: its events, then its ops, and
// the compaction its ops will call for.
func (l *Log) eventMessages(r *eventlog.Request, hs *headState, wid string) ([]*nats.Msg, []compactJob) {
	now := time.Now().UnixMilli()
	subj := l.subj.events(r.Actor)
	msgs := make([]*nats.Msg, 0, len(r.Events)+len(r.Ops))
	created := hs.info.Created
	for i := range r.Events {
		e := r.Events[i]
		e.Seq, e.Pos = hs.info.Head+1+uint64(i), 0
		if e.Time == 0 {
			e.Time = now
		}
		if i == 0 && hs.info.Head == 0 && created == 0 {
			created = e.Time
		}
		m := nats.NewMsg(subj)
		m.Data = eventlog.AppendEnvelope(nil, &e)
		m.Header.Set(jetstream.MsgIDHeader, wid+"."+strconv.Itoa(i))
		m.Header.Set(hdrSeq, strconv.FormatUint(e.Seq, 10))
		if i == 0 {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(hs.last, 10))
			m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, l.subj.ofActor(r.Actor))
		}
		if i == len(r.Events)-1 {
			m.Header.Set(hdrStream, strconv.FormatUint(hs.info.First, 10)+" "+strconv.FormatInt(created, 10))
		}
		msgs = append(msgs, m)
	}
	ops, jobs := l.opMessages(r.Ops, wid, len(msgs))
	return append(msgs, ops...), jobs
}

// appended returns the result of r's events stored from position first,
// and the actor's new stream record.
func appended(r *eventlog.Request, hs headState, first uint64) (eventlog.AppendResult, headState) {
	n := uint64(len(r.Events))
	out := eventlog.AppendResult{First: hs.info.Head + 1, Last: hs.info.Head + n, FirstPos: first, LastPos: first + n - 1}
	now := time.Now().UnixMilli()
	if hs.info.Head == 0 && hs.info.Created == 0 {
		hs.info.Created = r.Events[0].Time
		if hs.info.Created == 0 {
			hs.info.Created = now
		}
	}
	hs.info.Updated = r.Events[n-1].Time
	if hs.info.Updated == 0 {
		hs.info.Updated = now
	}
	hs.info.Head, hs.info.LastPos, hs.last = out.Last, out.LastPos, out.LastPos
	return out, hs
}

// opMessages returns the messages of ops, numbered in their write from
// n, and the compaction they call for once committed.
func (l *Log) opMessages(ops []eventlog.Op, wid string, n int) ([]*nats.Msg, []compactJob) {
	var msgs []*nats.Msg
	var jobs []compactJob
	for _, op := range ops {
		var m *nats.Msg
		switch {
		case op.Delete && op.End != nil:
			if string(op.End) <= string(op.Key) {
				continue // an empty range: nothing to delete
			}
			m = nats.NewMsg(l.subj.rangeDeletes(op.Space))
			m.Header.Set(hdrOp, "range")
			m.Data = encodeRange(op.Key, op.End)
			jobs = append(jobs, compactJob{space: op.Space, ranged: true})
		case op.Delete:
			m = nats.NewMsg(l.subj.record(op.Space, op.Key))
			m.Header.Set(hdrOp, "del")
			jobs = append(jobs, compactJob{subject: m.Subject})
		default:
			subj := l.subj.record(op.Space, op.Key)
			jobs = append(jobs, compactJob{subject: subj})
			// A value over MaxEventSize takes several messages, in
			// order; the last says how many.
			k := l.chunks(len(op.Value))
			for i := range k {
				m = nats.NewMsg(subj)
				m.Data = op.Value[i*l.opts.MaxEventSize : min((i+1)*l.opts.MaxEventSize, len(op.Value))]
				if k > 1 {
					m.Header.Set(hdrChunk, strconv.Itoa(i+1)+"/"+strconv.Itoa(k))
				}
				if i < k-1 {
					m.Header.Set(jetstream.MsgIDHeader, wid+"."+strconv.Itoa(n+len(msgs)))
					msgs = append(msgs, m)
				}
			}
		}
		m.Header.Set(jetstream.MsgIDHeader, wid+"."+strconv.Itoa(n+len(msgs)))
		msgs = append(msgs, m)
	}
	return msgs, jobs
}

// chunks returns how many messages a record value of n bytes takes.
func (l *Log) chunks(n int) int {
	return max(1, (n+l.opts.MaxEventSize-1)/l.opts.MaxEventSize)
}

// encodeRange encodes a range deletion [lo, hi): uvarint len(lo), lo, hi.
func encodeRange(lo, hi []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(lo)))
	return append(append(b, lo...), hi...)
}

func decodeRange(b []byte) (lo, hi []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, errors.New("range deletion does not decode")
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// writeOps writes a Request of ops only: no expectation, so a retry can
// only find its own message ids already stored.
func (l *Log) writeOps(ops []eventlog.Op) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.WriteTimeout)
	defer cancel()
	msgs, jobs := l.opMessages(ops, nuid.Next(), 0)
	if len(msgs) == 0 {
		return nil
	}
	if _, res, err := l.send(ctx, msgs, nil); res != sent {
		return err
	}
	l.enqueue(jobs)
	return nil
}

// sendResult is what send made of a publish.
type sendResult int

const (
	sent   sendResult = iota // stored, now or by an earlier try
	retry                    // refused by the expectation: decide again
	failed                   // not stored, or unknown after WriteTimeout: the error says
)

// send publishes msgs, atomically when more than one, and returns the
// stream sequence of the first (0 when a write without expectation finds
// it was stored by an earlier try). A publish with no answer, or refused
// for now, is sent again, the same messages with the same ids and
// expectation, until ctx ends. When a try may have been stored and a
// later one is refused by the expectation, landed says whether the
// earlier one landed after all; nil means msgs carry no expectation.
func (l *Log) send(ctx context.Context, msgs []*nats.Msg, landed func() (uint64, bool, error)) (uint64, sendResult, error) {
	ambiguous := false
	for wait := retryFirst; ; {
		last, err := l.publish(ctx, msgs)
		kind := classify(err)
		switch kind {
		case errNone:
			return last - uint64(len(msgs)) + 1, sent, nil
		case errNoReply, errBusy:
			// An earlier try may still be on its way: only the same
			// messages may follow it.
			ambiguous = ambiguous || kind == errNoReply
			if serr := sleep(ctx, &wait); serr != nil {
				return 0, failed, l.unavailable(reasonNoReply, err)
			}
			continue
		case errDuplicate:
			if landed == nil {
				return 0, sent, nil
			}
			ambiguous = true
		}
		if ambiguous && landed != nil {
			// Refused by the expectation or by the ids: an earlier try
			// that is still on its way can no longer land, so what is
			// stored now is the answer.
			first, ok, lerr := landed()
			switch {
			case lerr != nil:
				return 0, failed, lerr
			case ok:
				return first, sent, nil
			}
		}
		switch kind {
		case errConflict:
			if landed == nil {
				break
			}
			return 0, retry, err
		case errFull:
			return 0, failed, l.unavailable(reasonFull, err)
		case errTooLarge:
			return 0, failed, fmt.Errorf("%w: %v", eventlog.ErrEventTooLarge, err)
		}
		return 0, failed, fmt.Errorf("eventlog/jetstream: publish: %w", err)
	}
}

// publish makes one try at storing msgs and returns the stream sequence
// of the last.
func (l *Log) publish(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	rctx, cancel := context.WithTimeout(ctx, l.opts.RequestTimeout)
	defer cancel()
	if len(msgs) == 1 {
		ack, err := l.js.PublishMsg(rctx, msgs[0])
		if err != nil {
			return 0, err
		}
		return ack.Sequence, nil
	}
	ack, err := jetstreamext.PublishMsgBatch(rctx, l.js, msgs, jetstreamext.BatchFlowControl{AckFirst: false})
	if err != nil {
		return 0, err
	}
	if ack.BatchSize != uint64(len(msgs)) {
		return 0, fmt.Errorf("eventlog/jetstream: a batch of %d messages was acknowledged as %d", len(msgs), ack.BatchSize)
	}
	return ack.Sequence, nil
}

// landed reports whether a write to id that expected the actor's last
// message at after, and whose first message has id msgID, was stored,
// and where. It can be asked once the servers refused a later try of the
// write: from then on the expectation cannot hold any more, so an earlier
// try that is still on its way cannot land later.
func (l *Log) landed(ctx context.Context, id eventlog.ID, after uint64, msgID string) (uint64, bool, error) {
	m, err := l.st.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(l.subj.ofActor(id)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, readErr(err)
	}
	return m.Sequence, m.Header.Get(jetstream.MsgIDHeader) == msgID, nil
}

// How writes wait between tries.
const (
	retryFirst = 5 * time.Millisecond
	retryMost  = 500 * time.Millisecond
)

// sleep waits *wait, doubling it for the next time up to retryMost, or
// returns ctx's error.
func sleep(ctx context.Context, wait *time.Duration) error {
	t := time.NewTimer(*wait)
	defer t.Stop()
	*wait = min(2**wait, retryMost)
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errKind classes the errors of a publish.
type errKind int

const (
	errNone      errKind = iota
	errConflict          // the expected last subject sequence did not hold
	errBusy              // refused for now, nothing stored: try again soon
	errNoReply           // no answer, or no leader: may have been stored
	errDuplicate         // a message id of the batch is already stored
	errFull              // the stream or the servers are out of storage
	errTooLarge          // a message or the batch is over a limit
	errOther
)

// JetStream error codes the log tells apart.
const (
	codeWrongLastSeq         = 10071
	codeWrongLastSeqConstant = 10164 // another expectation on the subject is in flight
	codeDupInProcess         = 10158
	codeExpectNotReady       = 10163 // a new leader is still applying its log
	codeTooManyRequests      = 10167
	codeAtomicTooMany        = 10210
	codeBatchTooMany         = 10211
	codeBatchIncomplete      = 10176
	codeBatchDuplicate       = 10201
	codeClusterNotAvail      = 10008
	codeClusterNotLeader     = 10009
	codeStreamOffline        = 10118
	codeStreamOfflineReason  = 10194
	codeNotEnabled           = 10076
	codeNotEnabledForAccount = 10039
	codeInsufficient         = 10023
	codeStorageExceeded      = 10047
	codeAccountExceeded      = 10002
	codeMemoryExceeded       = 10028
	codeStoreFailed          = 10077
	codeMsgTooLarge          = 10054
	codeBatchTooLarge        = 10199
)

func classify(err error) errKind {
	if err == nil {
		return errNone
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case codeWrongLastSeq:
			return errConflict
		case codeWrongLastSeqConstant, codeDupInProcess, codeExpectNotReady, codeTooManyRequests,
			codeAtomicTooMany, codeBatchTooMany, codeBatchIncomplete:
			return errBusy
		case codeBatchDuplicate:
			return errDuplicate
		case codeClusterNotAvail, codeClusterNotLeader, codeStreamOffline, codeStreamOfflineReason,
			codeNotEnabled, codeNotEnabledForAccount:
			return errNoReply
		case codeInsufficient, codeStorageExceeded, codeAccountExceeded, codeMemoryExceeded, codeStoreFailed:
			return errFull
		case codeMsgTooLarge, codeBatchTooLarge:
			return errTooLarge
		}
		return errOther
	}
	switch {
	case errors.Is(err, nats.ErrMaxPayload):
		return errTooLarge
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return errNoReply
	}
	return errOther
}

// readErr wraps the error of a read: one the servers did not answer is
// ErrUnavailable.
func readErr(err error) error {
	if classify(err) == errNoReply {
		return fmt.Errorf("%w: %s: %v", eventlog.ErrUnavailable, reasonNoReply, err)
	}
	return fmt.Errorf("eventlog/jetstream: read: %w", err)
}

// Delete implements eventlog.Writer. It publishes a marker on the actor's
// subject, a stream record with the new first sequence that expects the
// actor's last message as an append does, then purges what the marker
// erases: the events below before and the older markers.
func (l *Log) Delete(ctx context.Context, id eventlog.ID, before uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := id.Validate(); err != nil {
		return err
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	if err := l.refuse(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(context.Background(), l.opts.WriteTimeout)
	defer cancel()
	key := string(eventlog.AppendKey(nil, id))
	defer l.lockActor(key)()
	l.forgetHead(key)
	for wait := retryFirst; ; {
		hs, err := l.loadHead(wctx, id)
		if err != nil {
			return err
		}
		b := before
		if b == 0 {
			b = hs.info.Head + 1
		}
		if b > hs.info.Head+1 {
			return fmt.Errorf("%w: cannot erase %s below %d, its head is %d", eventlog.ErrBadRange, id, b, hs.info.Head)
		}
		if b <= hs.info.First {
			return nil
		}
		in := hs.info
		m := nats.NewMsg(l.subj.marker(id))
		wid := nuid.Next()
		m.Header.Set(jetstream.MsgIDHeader, wid)
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(hs.last, 10))
		m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, l.subj.ofActor(id))
		m.Header.Set(hdrStream, fmt.Sprintf("%d %d %d %d %d", b, in.Created, in.Head, in.Updated, in.LastPos))
		marker, res, err := l.send(wctx, []*nats.Msg{m}, func() (uint64, bool, error) {
			return l.landed(wctx, id, hs.last, wid)
		})
		switch res {
		case retry:
			if err := sleep(wctx, &wait); err != nil {
				return l.unavailable(reasonNoReply, err)
			}
			continue
		case failed:
			return err
		}
		// The marker is the stream record from now on; the purges only
		// reclaim what it erased, and a read skips what they leave.
		upTo := marker
		if b <= hs.info.Head {
			if upTo, err = l.seek(wctx, id, b, hs.last); err != nil {
				return fmt.Errorf("eventlog/jetstream: delete %s: %w", id, err)
			}
		}
		if err := l.st.Purge(wctx, jetstream.WithPurgeSubject(l.subj.events(id)), jetstream.WithPurgeSequence(upTo)); err != nil {
			return fmt.Errorf("eventlog/jetstream: delete %s: purge: %w", id, err)
		}
		if err := l.st.Purge(wctx, jetstream.WithPurgeSubject(l.subj.marker(id)), jetstream.WithPurgeSequence(marker)); err != nil {
			return fmt.Errorf("eventlog/jetstream: delete %s: purge markers: %w", id, err)
		}
		return nil
	}
}

// seek returns the stream sequence of the actor's event seq, which must
// be stored at or below stream sequence last, by bisection over stream
// sequences: one read per step.
func (l *Log) seek(ctx context.Context, id eventlog.ID, seq, last uint64) (uint64, error) {
	subj := l.subj.events(id)
	lo, hi := uint64(1), last
	for lo <= hi {
		mid := lo + (hi-lo)/2
		m, err := l.st.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			hi = mid - 1
			continue
		}
		if err != nil {
			return 0, readErr(err)
		}
		n, err := strconv.ParseUint(m.Header.Get(hdrSeq), 10, 64)
		if err != nil {
			return 0, &eventlog.CorruptionError{Actor: id, Pos: m.Sequence, Err: fmt.Errorf("header %s: %w", hdrSeq, err)}
		}
		switch {
		case n == seq:
			return m.Sequence, nil
		case n > seq:
			hi = mid - 1
		default:
			lo = m.Sequence + 1
		}
	}
	return 0, fmt.Errorf("event %d of %s is not stored", seq, id)
}
