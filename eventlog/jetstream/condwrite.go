package jetstream

import (
	"context"
	"errors"
	"strconv"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Conditional record writes, beyond the eventlog contract: a store shared
// by several processes lets a writer that keeps a set of records with one
// of them as its fence (a projection's checkpoint) refuse the write of a
// writer that read the fence before another wrote it. A record's revision
// is the stream sequence of its subject's last message: it grows with
// each write of the record and of nothing else. A deletion's message may
// be compacted away, and a deleted record's revision go back to 0: a
// fence record is overwritten, not deleted, while writers run.

// GetRecord is Get, with the record's revision (0: never written, or
// deleted and compacted). A record that is deleted returns ErrNotFound
// with its revision.
func (l *Log) GetRecord(ctx context.Context, sp eventlog.Space, key []byte) ([]byte, uint64, error) {
	if err := reserved(sp); err != nil {
		return nil, 0, err
	}
	if err := l.enter(); err != nil {
		return nil, 0, err
	}
	defer l.exit()
	dels, err := l.rangeDels(ctx, sp)
	if err != nil {
		return nil, 0, err
	}
	return l.recordAt(ctx, key, dels, l.subj.record(sp, key))
}

// WriteRecordIf writes ops atomically if the record that ops[0] writes
// (a put or a single-key deletion) is still at revision rev, and returns
// its new revision. ok is false, and nothing is written, when another
// write of that record came first. Like Write, once published it runs to
// its end whatever ctx says, so that its outcome is known.
func (l *Log) WriteRecordIf(ctx context.Context, rev uint64, ops []eventlog.Op) (newRev uint64, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	if len(ops) == 0 || ops[0].End != nil {
		return 0, false, errors.New("eventlog/jetstream: WriteRecordIf: ops[0] must write or delete one record")
	}
	r := eventlog.Request{Ops: ops}
	if err := l.check(&r); err != nil {
		return 0, false, err
	}
	if err := l.enter(); err != nil {
		return 0, false, err
	}
	defer l.exit()
	if err := l.refuse(); err != nil {
		return 0, false, err
	}
	wctx, cancel := context.WithTimeout(context.Background(), l.opts.WriteTimeout)
	defer cancel()
	subj := l.subj.record(ops[0].Space, ops[0].Key)
	wid := nuid.Next()
	msgs, jobs := l.opMessages(ops, wid, 0)
	msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, subj)
	first, res, err := l.send(wctx, msgs, func() (uint64, bool, error) {
		// The record's first message after rev is this write's, if it
		// landed.
		m, err := l.st.GetMsg(wctx, rev+1, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, readErr(err)
		}
		return m.Sequence, m.Header.Get(jetstream.MsgIDHeader) == wid+".0", nil
	})
	switch res {
	case sent:
		l.enqueue(jobs)
		n := 1
		if !ops[0].Delete {
			n = l.chunks(len(ops[0].Value))
		}
		return first + uint64(n) - 1, true, nil
	case retry:
		return 0, false, nil
	}
	return 0, false, err
}
