// Package archive writes actors' event streams as NDJSON and reads them
// back into a log: the format of "actorlog export" and "actorlog import".
//
// # Format (version 1)
//
// One JSON object per line, a wire.Record, for each event:
//
//	{"actor":"counter:default","seq":1,"pos":1,"type":"countUpdated",
//	 "time":1714564801000,"data":{"count":1,"lastUpdated":1714564801000},
//	 "msgpack":"gqVjb3VudAGrbGFzdFVwZGF0ZWTPAAABjzHyX+g=",
//	 "meta":{"causation":"increment"}}
//
// msgpack is the event's data exactly as stored (base64), and is what an
// import writes; data is the same value as JSON, for people and tools such
// as jq, and is ignored by an import. time is Unix milliseconds. pos, the
// event's place in the source store's global feed, is informative: an
// import appends and the target store assigns its own positions. Each
// actor's records are in sequence order, gapless, from seq 1; records of
// different actors may interleave (an export of every actor is in feed
// order).
//
// An import refuses, before writing anything, a file that breaks these
// rules or that holds an actor which already has events in the target
// store: it adds streams, it never adds to or overwrites one. Snapshots,
// timers and idempotency records are not part of the format; snapshots are
// rebuilt from the events when actors wake.
package archive

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
)

// Writer writes records, one per line.
type Writer struct {
	w   *bufio.Writer
	enc *json.Encoder
	n   uint64
}

// NewWriter returns a Writer to w. Call Flush at the end.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{w: bw, enc: enc}
}

// WriteEvent writes the record of a stored event.
func (w *Writer) WriteEvent(e *eventlog.Event) error {
	r, err := wire.NewRecord(e)
	if err != nil {
		return err
	}
	return w.Write(&r)
}

// Write writes one record.
func (w *Writer) Write(r *wire.Record) error {
	w.n++
	return w.enc.Encode(r)
}

// Count returns the number of records written.
func (w *Writer) Count() uint64 { return w.n }

// Flush writes what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }

// maxLine bounds one line: an event of the largest size the log accepts
// (1 MiB by default), as base64 and as JSON, with room to spare.
const maxLine = 8 << 20

// Reader reads records, one per line; blank lines are skipped.
type Reader struct {
	s    *bufio.Scanner
	line int
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), maxLine)
	return &Reader{s: s}
}

// InputError is a line of the input that does not read as a record, or
// breaks the format's rules.
type InputError struct {
	Line   int
	Reason string // what is wrong with it, naming no package
	Err    error  // the cause, if any
}

func (e *InputError) Error() string { return fmt.Sprintf("archive: line %d: %s", e.Line, e.Reason) }

func (e *InputError) Unwrap() error { return e.Err }

// Read returns the next event, or io.EOF after the last. A line that is
// not a record is an *InputError.
func (r *Reader) Read() (eventlog.Event, error) {
	for r.s.Scan() {
		r.line++
		b := r.s.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var rec wire.Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return eventlog.Event{}, &InputError{Line: r.line, Reason: "not a record: " + jsonError(err), Err: err}
		}
		e, err := rec.Event()
		if err != nil {
			msg := err.Error()
			var ie *eventlog.IDError
			if errors.As(err, &ie) {
				msg = ie.Message()
			}
			return eventlog.Event{}, &InputError{Line: r.line, Reason: rec.Actor + ": " + msg, Err: err}
		}
		return e, nil
	}
	if err := r.s.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return eventlog.Event{}, &InputError{Line: r.line + 1, Reason: fmt.Sprintf("longer than %d bytes", maxLine), Err: err}
		}
		return eventlog.Event{}, err
	}
	return eventlog.Event{}, io.EOF
}

// jsonError says why a line is not a record, in its own words: a syntax
// error as it is (its text names no package), or the field of the wrong
// type.
func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "a record is a JSON object, not " + te.Value
		}
		return fmt.Sprintf("%q must be %s, not %s", te.Field, te.Type, te.Value)
	}
	return err.Error()
}

// Line returns the number of the line last read.
func (r *Reader) Line() int { return r.line }

// exists is what ErrExists says, without the package's name.
const exists = "the target already has some of the actors"

// ErrExists is wrapped by the error of an import into a store that already
// has events for an actor of the input: an *ExistsError.
var ErrExists = errors.New("archive: " + exists)

// ExistsError is an import refused because the target already has events
// for some of the input's actors.
type ExistsError struct {
	Actors []string // "counter:a (head 3)", sorted
}

func (e *ExistsError) Error() string { return "archive: " + e.Message() }

// Message is the error for people, without the package's name.
func (e *ExistsError) Message() string {
	more := ""
	if len(e.Actors) > 1 {
		more = fmt.Sprintf(" and %d more", len(e.Actors)-1)
	}
	return fmt.Sprintf("%s: %s%s; an import only creates actors, it never adds to one", exists, e.Actors[0], more)
}

// Unwrap makes errors.Is(err, ErrExists) true.
func (e *ExistsError) Unwrap() error { return ErrExists }

// ImportOptions configure Import. The zero value gives the defaults.
type ImportOptions struct {
	// Workers is how many actors are appended concurrently, so that one
	// disk sync covers the appends of many. Default 16.
	Workers int
	// Batch is the most events appended at once. Default 512; at most the
	// log's MaxAppendEvents.
	Batch int
	// Progress, if set, is called from time to time with the events
	// written so far and the total.
	Progress func(done, total uint64)
}

// ImportResult counts what an import wrote.
type ImportResult struct {
	Actors uint64 `json:"actors"`
	Events uint64 `json:"events"`
}

// Log is what Import needs of the event log's store: the streams' heads,
// and appends. Any eventlog.Store is one.
type Log interface {
	Head(ctx context.Context, id eventlog.ID) (eventlog.StreamInfo, error)
	Append(ctx context.Context, id eventlog.ID, expected eventlog.Expected, events ...eventlog.Event) (eventlog.AppendResult, error)
}

// Import reads the records that open returns, twice: first to check them
// all (format, gapless sequences from 1 for each actor, and no actor that
// already has events in log), then, only if every check passed, to append
// them. Each actor's events keep their sequences, types, data, times and
// metadata; positions are the target's. open is called once for each
// pass.
func Import(ctx context.Context, log Log, open func() (io.ReadCloser, error), o ImportOptions) (ImportResult, error) {
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Batch <= 0 {
		o.Batch = 512
	}
	heads, total, err := check(open)
	if err != nil {
		return ImportResult{}, err
	}
	var exist []string
	for id := range heads {
		st, err := log.Head(ctx, id)
		if err != nil {
			return ImportResult{}, fmt.Errorf("archive: read %s: %w", id, err)
		}
		if st.Exists() {
			exist = append(exist, fmt.Sprintf("%s (head %d)", id, st.Head))
		}
	}
	if len(exist) > 0 {
		sort.Strings(exist)
		return ImportResult{}, &ExistsError{Actors: exist}
	}
	res := ImportResult{Actors: uint64(len(heads))}
	n, err := write(ctx, log, open, o, total)
	res.Events = n
	return res, err
}

// check reads every record and returns each actor's last sequence and the
// number of events.
func check(open func() (io.ReadCloser, error)) (map[eventlog.ID]uint64, uint64, error) {
	rc, err := open()
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	heads := make(map[eventlog.ID]uint64)
	var n uint64
	r := NewReader(rc)
	for {
		e, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if want := heads[e.Actor] + 1; e.Seq != want {
			return nil, 0, &InputError{Line: r.Line(), Reason: fmt.Sprintf("%s seq %d where seq %d belongs; each actor's events must be gapless from seq 1", e.Actor, e.Seq, want)}
		}
		heads[e.Actor] = e.Seq
		n++
	}
	return heads, n, nil
}

// write appends the records: each actor's in order, by one worker, with
// the actors spread over the workers.
func write(ctx context.Context, log Log, open func() (io.ReadCloser, error), o ImportOptions, total uint64) (uint64, error) {
	rc, err := open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type batch struct {
		id     eventlog.ID
		events []eventlog.Event
	}
	var (
		mu      sync.Mutex
		done    uint64
		firstEr error
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstEr == nil {
			firstEr = err
		}
		mu.Unlock()
		cancel()
	}
	queues := make([]chan batch, o.Workers)
	for i := range queues {
		queues[i] = make(chan batch, 4)
		wg.Add(1)
		go func(q chan batch) {
			defer wg.Done()
			for b := range q {
				if ctx.Err() != nil {
					continue
				}
				first := b.events[0].Seq
				if _, err := log.Append(ctx, b.id, eventlog.ExpectSeq(first-1), b.events...); err != nil {
					fail(fmt.Errorf("archive: append %s seq %d to %d: %w", b.id, first, b.events[len(b.events)-1].Seq, err))
					continue
				}
				mu.Lock()
				done += uint64(len(b.events))
				d := done
				mu.Unlock()
				if o.Progress != nil {
					o.Progress(d, total)
				}
			}
		}(queues[i])
	}
	// Pending events per actor, sent as a batch when full, when another
	// actor comes along or at the end.
	var cur batch
	send := func() {
		if len(cur.events) == 0 {
			return
		}
		q := queues[shard(cur.id, len(queues))]
		select {
		case q <- cur:
		case <-ctx.Done():
		}
		cur = batch{}
	}
	r := NewReader(rc)
	var readErr error
	for ctx.Err() == nil {
		e, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		if e.Actor != cur.id || len(cur.events) >= o.Batch {
			send()
			cur.id = e.Actor
		}
		e.Pos = 0
		cur.events = append(cur.events, e)
	}
	send()
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	switch {
	case firstEr != nil:
		return done, firstEr
	case readErr != nil:
		return done, readErr
	}
	return done, ctx.Err()
}

func shard(id eventlog.ID, n int) int {
	var h uint32 = 2166136261
	for _, s := range [2]string{id.Type, id.Key} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint32(s[i])) * 16777619
		}
		h = (h ^ 0) * 16777619
	}
	return int(h % uint32(n))
}
