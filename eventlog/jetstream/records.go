package jetstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/nats-io/nats.go/jetstream"
)

// rangeDel is a range deletion still stored: it hides the versions of the
// records in [lo, hi) stored before it.
type rangeDel struct {
	seq    uint64
	lo, hi []byte
}

func (r *rangeDel) hides(key []byte, seq uint64) bool {
	return seq < r.seq && bytes.Compare(key, r.lo) >= 0 && bytes.Compare(key, r.hi) < 0
}

// rangeDels returns the range deletions of space sp not yet compacted
// away, in order. There are none most of the time: one read says so.
func (l *Log) rangeDels(ctx context.Context, sp eventlog.Space) ([]rangeDel, error) {
	var out []rangeDel
	subj := l.subj.rangeDeletes(sp)
	for next := uint64(1); ; {
		m, err := l.st.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, readErr(err)
		}
		lo, hi, err := decodeRange(m.Data)
		if err != nil {
			return nil, &eventlog.CorruptionError{Pos: m.Sequence, Err: err}
		}
		out = append(out, rangeDel{seq: m.Sequence, lo: lo, hi: hi})
		next = m.Sequence + 1
	}
}

// record returns the value of the record at subj, or ErrNotFound. It
// reads the range deletions before the record: the compactor purges a
// record's versions before the deletion that hid them, so whatever this
// read finds, it finds what hides it.
func (l *Log) record(ctx context.Context, sp eventlog.Space, key []byte, dels []rangeDel, subj string) ([]byte, error) {
	v, _, err := l.recordAt(ctx, key, dels, subj)
	return v, err
}

// recordAt is record, with the stream sequence of the subject's last
// message (0: it has none), which a conditional write expects
// (WriteRecordIf): it is returned with ErrNotFound too.
func (l *Log) recordAt(ctx context.Context, key []byte, dels []rangeDel, subj string) ([]byte, uint64, error) {
	for {
		m, err := l.st.GetLastMsgForSubject(ctx, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, 0, eventlog.ErrNotFound
		}
		if err != nil {
			return nil, 0, readErr(err)
		}
		if m.Header.Get(hdrOp) != "" {
			return nil, m.Sequence, eventlog.ErrNotFound
		}
		for i := range dels {
			if dels[i].hides(key, m.Sequence) {
				return nil, m.Sequence, eventlog.ErrNotFound
			}
		}
		c := m.Header.Get(hdrChunk)
		if c == "" {
			if m.Data == nil {
				return []byte{}, m.Sequence, nil
			}
			return m.Data, m.Sequence, nil
		}
		v, err := l.chunked(ctx, m, c)
		if !errors.Is(err, errChunkGone) {
			return v, m.Sequence, err
		}
		// The compactor purged the value's other messages: a later
		// version or a deletion replaced it. Read that one, unless the
		// value is still the last, which then is corrupt.
		last, lerr := l.st.GetLastMsgForSubject(ctx, subj)
		if lerr == nil && last.Sequence == m.Sequence {
			return nil, 0, &eventlog.CorruptionError{Pos: m.Sequence, Err: err}
		}
		if lerr != nil && !errors.Is(lerr, jetstream.ErrMsgNotFound) {
			return nil, 0, readErr(lerr)
		}
	}
}

// errChunkGone says that a message of a value stored in several is not
// stored (any more).
var errChunkGone = errors.New("a message of the value is not stored")

// chunked returns the value whose last message is m, whose header
// hdrChunk is c: "n/n", the n-th of n messages at consecutive stream
// sequences.
func (l *Log) chunked(ctx context.Context, m *jetstream.RawStreamMsg, c string) ([]byte, error) {
	i, n, err := parseChunk(c)
	if err != nil || i != n || uint64(n) > m.Sequence {
		return nil, &eventlog.CorruptionError{Pos: m.Sequence, Err: fmt.Errorf("record %s: the last message is chunk %q", m.Subject, c)}
	}
	parts := make([][]byte, n)
	parts[n-1] = m.Data
	for k := 1; k < n; k++ {
		seq := m.Sequence - uint64(n-k)
		p, err := l.st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, fmt.Errorf("record %s: chunk %d of %d at %d: %w", m.Subject, k, n, seq, errChunkGone)
		}
		if err != nil {
			return nil, readErr(err)
		}
		if j, jn, err := parseChunk(p.Header.Get(hdrChunk)); err != nil || p.Subject != m.Subject || j != k || jn != n {
			return nil, &eventlog.CorruptionError{Pos: seq, Err: fmt.Errorf("record %s: message %d is not its chunk %d of %d", m.Subject, seq, k, n)}
		}
		parts[k-1] = p.Data
	}
	return bytes.Join(parts, nil), nil
}

// parseChunk parses the header hdrChunk: "i/n", 1 <= i <= n.
func parseChunk(c string) (i, n int, err error) {
	a, b, ok := strings.Cut(c, "/")
	if !ok {
		return 0, 0, fmt.Errorf("chunk %q", c)
	}
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err := errors.Join(err1, err2); err != nil || i < 1 || i > n {
		return 0, 0, fmt.Errorf("chunk %q", c)
	}
	return i, n, nil
}

func reserved(sp eventlog.Space) error {
	if sp < eventlog.FirstSpace {
		return fmt.Errorf("eventlog/jetstream: space %#x is reserved", sp)
	}
	return nil
}

// Get implements eventlog.Records: the last version of the record, read
// from the stream's leader.
func (l *Log) Get(ctx context.Context, sp eventlog.Space, key []byte) ([]byte, error) {
	if err := reserved(sp); err != nil {
		return nil, err
	}
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.exit()
	dels, err := l.rangeDels(ctx, sp)
	if err != nil {
		return nil, err
	}
	return l.record(ctx, sp, key, dels, l.subj.record(sp, key))
}

// Peek implements eventlog.Records. It is Get: the log has no faster
// read of what it wrote.
func (l *Log) Peek(sp eventlog.Space, key []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.RequestTimeout)
	defer cancel()
	return l.Get(ctx, sp, key)
}

// Scan implements eventlog.Records. It lists the record subjects under
// the common prefix of lo and hi, then reads each record in range from
// the stream's leader. It is not a point-in-time view: a record written
// while Scan runs may be seen or not.
func (l *Log) Scan(ctx context.Context, sp eventlog.Space, lo, hi []byte, reverse bool, fn func(key, value []byte) error) error {
	if err := reserved(sp); err != nil {
		return err
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	if hi != nil && bytes.Compare(lo, hi) >= 0 {
		return nil
	}
	var prefix []byte
	if hi != nil {
		n := 0
		for n < len(lo) && n < len(hi) && lo[n] == hi[n] {
			n++
		}
		prefix = lo[:n]
	}
	dels, err := l.rangeDels(ctx, sp)
	if err != nil {
		return err
	}
	keys, err := l.recordKeys(ctx, sp, prefix)
	if err != nil {
		return err
	}
	in := keys[:0]
	for _, k := range keys {
		if bytes.Compare(k.key, lo) >= 0 && (hi == nil || bytes.Compare(k.key, hi) < 0) {
			in = append(in, k)
		}
	}
	sort.Slice(in, func(i, j int) bool { return (bytes.Compare(in[i].key, in[j].key) < 0) != reverse })
	for _, k := range in {
		if err := ctx.Err(); err != nil {
			return err
		}
		v, err := l.record(ctx, sp, k.key, dels, k.subject)
		if errors.Is(err, eventlog.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(k.key, v); err != nil {
			return err
		}
	}
	return nil
}

type recordKey struct {
	key     []byte
	subject string
}

// recordKeys lists the records of space sp under prefix that have a
// message stored (a put, or a deletion not yet compacted).
func (l *Log) recordKeys(ctx context.Context, sp eventlog.Space, prefix []byte) ([]recordKey, error) {
	info, err := l.st.Info(ctx, jetstream.WithSubjectFilter(l.subj.recordsUnder(sp, prefix)))
	if err != nil {
		return nil, readErr(err)
	}
	out := make([]recordKey, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		k, err := l.subj.parseRecord(sp, subj)
		if err != nil {
			return nil, &eventlog.CorruptionError{Err: err}
		}
		out = append(out, recordKey{k, subj})
	}
	return out, nil
}

// A record subject keeps every version written until the compactor
// purges the old ones, after the write: on a put, all but the last (its
// messages, when its value takes several); on a
// deletion, the subject up to the deletion; on a range deletion, the
// versions it hides, then the range deletion itself. Compaction only
// reclaims space: a read skips what it has not purged yet.

// compactQueue bounds the compaction waiting. Work that does not fit is
// dropped: it costs space, not correctness, and the next write of the
// same record or space does it.
const compactQueue = 4096

// compactJob is the compaction of one record subject, or of the range
// deletions of one space.
type compactJob struct {
	subject string
	space   eventlog.Space
	ranged  bool
}

func (l *Log) enqueue(jobs []compactJob) {
	for _, j := range jobs {
		select {
		case l.compact <- j:
		default:
			return
		}
	}
}

// runCompactor runs the compaction jobs until Close.
func (l *Log) runCompactor() {
	defer l.bg.Done()
	for {
		select {
		case <-l.ctx.Done():
			return
		case j := <-l.compact:
			ctx, cancel := context.WithTimeout(l.ctx, l.opts.WriteTimeout)
			var err error
			if j.ranged {
				err = l.compactRanges(ctx, j.space)
			} else {
				err = l.compactRecord(ctx, j.subject)
			}
			cancel()
			if err != nil && l.ctx.Err() == nil {
				l.opts.Logger.Debug("eventlog/jetstream: compaction failed", "err", err)
			}
		}
	}
}

// compactRecord purges the versions of a record that its last one hides.
func (l *Log) compactRecord(ctx context.Context, subj string) error {
	m, err := l.st.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if m.Header.Get(hdrOp) != "" {
		return l.st.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeSequence(m.Sequence+1))
	}
	// Up to the first message of the value read, not "keep the last n":
	// a value written since may take more messages than this one.
	first := m.Sequence
	if c := m.Header.Get(hdrChunk); c != "" {
		_, n, err := parseChunk(c)
		if err != nil || uint64(n) > m.Sequence {
			return nil // a read says it is corrupt
		}
		first = m.Sequence - uint64(n) + 1
	}
	return l.st.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeSequence(first))
}

// compactRanges applies the range deletions of space sp, oldest first:
// it purges the versions each one hides, then the deletion.
func (l *Log) compactRanges(ctx context.Context, sp eventlog.Space) error {
	dels, err := l.rangeDels(ctx, sp)
	if err != nil {
		return err
	}
	for _, d := range dels {
		n := 0
		for n < len(d.lo) && n < len(d.hi) && d.lo[n] == d.hi[n] {
			n++
		}
		keys, err := l.recordKeys(ctx, sp, d.lo[:n])
		if err != nil {
			return err
		}
		for _, k := range keys {
			if bytes.Compare(k.key, d.lo) >= 0 && bytes.Compare(k.key, d.hi) < 0 {
				if err := l.st.Purge(ctx, jetstream.WithPurgeSubject(k.subject), jetstream.WithPurgeSequence(d.seq)); err != nil {
					return err
				}
			}
		}
		if err := l.st.Purge(ctx, jetstream.WithPurgeSubject(l.subj.rangeDeletes(sp)), jetstream.WithPurgeSequence(d.seq+1)); err != nil {
			return err
		}
	}
	return nil
}
