package eventlogtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
)

// resumer is a Subscription that, on a *LaggedError, subscribes again
// from the position the error names: the contract says nothing is lost
// or repeated that way.
type resumer struct {
	eventlog.Subscription
	reopen func(from uint64) (eventlog.Subscription, error)
	lags   int
}

func (r *resumer) Next(ctx context.Context) (eventlog.Event, error) {
	for {
		e, err := r.Subscription.Next(ctx)
		var lagged *eventlog.LaggedError
		if !errors.As(err, &lagged) {
			return e, err
		}
		r.lags++
		r.Subscription.Close()
		if r.Subscription, err = r.reopen(lagged.Next); err != nil {
			return e, err
		}
	}
}

func subscribeStream(s Store, a eventlog.ID, from uint64) (*resumer, error) {
	reopen := func(from uint64) (eventlog.Subscription, error) { return s.SubscribeStream(bg, a, from) }
	sub, err := reopen(from)
	return &resumer{Subscription: sub, reopen: reopen}, err
}

func subscribeFeed(s Store, from uint64) (*resumer, error) {
	reopen := func(from uint64) (eventlog.Subscription, error) { return s.SubscribeFeed(bg, from) }
	sub, err := reopen(from)
	return &resumer{Subscription: sub, reopen: reopen}, err
}

func next(t *testing.T, sub eventlog.Subscription) eventlog.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	e, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return e
}

func testSubscribeStream(t *testing.T, s Store) {
	a := id("counter", "sub")
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, a, eventlog.Any, Ev("x", i))
	}
	mustAppend(t, s, id("counter", "other"), eventlog.Any, Ev("x", 0))
	sub, err := s.SubscribeStream(bg, a, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for want := uint64(3); want <= 5; want++ {
		if e := next(t, sub); e.Seq != want || e.Actor != a {
			t.Fatalf("got %v seq %d, want %v seq %d", e.Actor, e.Seq, a, want)
		}
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		s.Append(bg, id("counter", "other"), eventlog.Any, Ev("x", 0))
		s.Append(bg, a, eventlog.Any, Ev("x", 6))
	}()
	if e := next(t, sub); e.Seq != 6 {
		t.Fatalf("live event seq %d, want 6", e.Seq)
	}
	ctx, cancel := context.WithTimeout(bg, 30*time.Millisecond)
	defer cancel()
	if _, err := sub.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with nothing to read: err = %v, want deadline", err)
	}
	sub.Close()
	if _, err := sub.Next(bg); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Next after Close: err = %v, want ErrClosed", err)
	}
}

// testSubscribeFeedRace subscribes while writers append, many times, and
// checks that each subscriber sees every position after its start exactly
// once, in order.
func testSubscribeFeedRace(t *testing.T, s Store) {
	const writers, each = 4, 60
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.Append(bg, id("counter", fmt.Sprint("r", w)), eventlog.Any, Ev("x", i)); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}(w)
	}
	type result struct {
		from uint64
		got  []uint64
		err  error
	}
	results := make(chan result, 8)
	var subs sync.WaitGroup
	for k := 0; k < 8; k++ {
		subs.Add(1)
		go func(k int) {
			defer subs.Done()
			time.Sleep(time.Duration(k) * 3 * time.Millisecond)
			from := uint64(1 + k*7)
			sub, err := subscribeFeed(s, from)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer sub.Close()
			r := result{from: from}
			for len(r.got) < writers*each-int(from)+1 {
				ctx, cancel := context.WithTimeout(bg, 10*time.Second)
				e, err := sub.Next(ctx)
				cancel()
				if err != nil {
					r.err = err
					break
				}
				r.got = append(r.got, e.Pos)
			}
			results <- r
		}(k)
	}
	wg.Wait()
	subs.Wait()
	close(results)
	for r := range results {
		if r.err != nil {
			t.Fatalf("subscriber from %d: %v after %d events", r.from, r.err, len(r.got))
		}
		for i, p := range r.got {
			if p != r.from+uint64(i) {
				t.Fatalf("subscriber from %d: event %d has position %d, want %d", r.from, i, p, r.from+uint64(i))
			}
		}
	}
	// A stream subscriber racing its own appends.
	a := id("counter", "r0")
	sub, err := subscribeStream(s, a, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	go func() {
		for i := 0; i < 40; i++ {
			s.Append(bg, a, eventlog.Any, Ev("x", i))
		}
	}()
	for want := uint64(1); want <= each+40; want++ {
		if e := next(t, sub); e.Seq != want {
			t.Fatalf("stream subscriber got seq %d, want %d", e.Seq, want)
		}
	}
}

func testSubscribeAfterDelete(t *testing.T, s Store) {
	a := id("counter", "gone")
	for i := 1; i <= 6; i++ {
		mustAppend(t, s, a, eventlog.Any, Ev("x", i))
	}
	if err := s.Delete(bg, a, 4); err != nil {
		t.Fatal(err)
	}
	sub, err := s.SubscribeStream(bg, a, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if e := next(t, sub); e.Seq != 4 {
		t.Fatalf("first event after deletion has seq %d, want 4", e.Seq)
	}
	feed, err := s.SubscribeFeed(bg, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if e := next(t, feed); e.Seq != 4 {
		t.Fatalf("first feed event after deletion has seq %d, want 4", e.Seq)
	}
}

// collect reads batches of at most max events from sub until it has n,
// with NextBatch, or with try, with TryNextBatch polled until a deadline.
// It returns the events' sequences (stream) or positions (feed).
func collect(t *testing.T, sub eventlog.Subscription, max, n int, try, feed bool) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	var got []uint64
	for len(got) < n {
		var b []eventlog.Event
		var err error
		if try {
			b, err = sub.TryNextBatch(ctx, max)
		} else {
			b, err = sub.NextBatch(ctx, max)
		}
		switch {
		case err != nil:
			t.Fatalf("after %d events: %v", len(got), err)
		case len(b) > max:
			t.Fatalf("a batch of %d events, want at most %d", len(b), max)
		case len(b) == 0 && !try:
			t.Fatalf("NextBatch returned no events and no error")
		case len(b) == 0 && ctx.Err() != nil:
			t.Fatalf("TryNextBatch gave %d events of %d before the deadline", len(got), n)
		case len(b) == 0:
			time.Sleep(time.Millisecond) // poll again
		}
		for _, e := range b {
			if feed {
				got = append(got, e.Pos)
			} else {
				got = append(got, e.Seq)
			}
		}
	}
	return got
}

// wantNothing checks that TryNextBatch has nothing at hand.
func wantNothing(t *testing.T, sub eventlog.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if b, err := sub.TryNextBatch(ctx, 10); len(b) != 0 || err != nil {
		t.Fatalf("TryNextBatch with nothing new = %d events, %v; want none and no error", len(b), err)
	}
}

func testSubscribeNextBatch(t *testing.T, s Store) {
	a := id("counter", "batch")
	for i := 1; i <= 10; i++ {
		mustAppend(t, s, a, eventlog.Any, Ev("x", i))
	}
	sub, err := s.SubscribeStream(bg, a, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if got := collect(t, sub, 3, 10, false, false); fmt.Sprint(got) != fmt.Sprint(span(1, 10)) {
		t.Fatalf("stored events in batches of at most 3 = %v, want 1..10", got)
	}
	// A NextBatch waiting for events returns those of the next append,
	// at most max of them, and the rest follow.
	type batch struct {
		seqs []uint64
		err  error
	}
	waited := make(chan batch, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		b, err := sub.NextBatch(ctx, 4)
		waited <- batch{seqs(b), err}
	}()
	mustAppend(t, s, a, eventlog.ExpectSeq(10), Ev("x", 11), Ev("x", 12), Ev("x", 13), Ev("x", 14), Ev("x", 15), Ev("x", 16))
	b := <-waited
	if b.err != nil || len(b.seqs) == 0 || len(b.seqs) > 4 || fmt.Sprint(b.seqs) != fmt.Sprint(span(11, 10+uint64(len(b.seqs)))) {
		t.Fatalf("waiting NextBatch(4) = %v, %v; want 1 to 4 events from 11", b.seqs, b.err)
	}
	rest := collect(t, sub, 4, 16-10-len(b.seqs), false, false)
	if got := append(b.seqs, rest...); fmt.Sprint(got) != fmt.Sprint(span(11, 16)) {
		t.Fatalf("live events in batches = %v, want 11..16", got)
	}
	// Batches of one.
	feed, err := s.SubscribeFeed(bg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	got := collect(t, feed, 1, 16, false, true)
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("feed in batches of one = %v, not in order", got)
		}
	}
}

func testSubscribeTryNextBatch(t *testing.T, s Store) {
	a := id("counter", "try")
	sub, err := s.SubscribeStream(bg, a, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	wantNothing(t, sub)
	mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1), Ev("x", 2), Ev("x", 3))
	if got := collect(t, sub, 2, 3, true, false); fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("TryNextBatch after an append of 3 = %v, want [1 2 3]", got)
	}
	wantNothing(t, sub)

	feed, err := s.SubscribeFeed(bg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	stored := collect(t, feed, 10, 3, true, true)
	wantNothing(t, feed)
	res := mustAppend(t, s, id("counter", "try2"), eventlog.NoStream, Ev("x", 1), Ev("x", 2))
	if got := collect(t, feed, 10, 2, true, true); fmt.Sprint(got) != fmt.Sprint(span(res.FirstPos, res.LastPos)) || got[0] <= stored[2] {
		t.Fatalf("feed's TryNextBatch after an append = %v, want %d..%d", got, res.FirstPos, res.LastPos)
	}
	wantNothing(t, feed)
}

// wantClosed checks that every way of reading sub returns ErrClosed.
func wantClosed(t *testing.T, what string, sub eventlog.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if e, err := sub.Next(ctx); !errors.Is(err, eventlog.ErrClosed) {
		t.Errorf("%s: Next = seq %d position %d, %v; want ErrClosed", what, e.Seq, e.Pos, err)
	}
	if b, err := sub.NextBatch(ctx, 10); !errors.Is(err, eventlog.ErrClosed) {
		t.Errorf("%s: NextBatch = %d events, %v; want ErrClosed", what, len(b), err)
	}
	if b, err := sub.TryNextBatch(ctx, 10); !errors.Is(err, eventlog.ErrClosed) {
		t.Errorf("%s: TryNextBatch = %d events, %v; want ErrClosed", what, len(b), err)
	}
}

// waitInNext calls Next on sub in a goroutine and returns the channel of
// its error, once the goroutine is about to call it.
func waitInNext(sub eventlog.Subscription) <-chan error {
	started, done := make(chan struct{}), make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		close(started)
		_, err := sub.Next(ctx)
		done <- err
	}()
	<-started
	return done
}

// testSubscribeClose: Close, from another goroutine, ends a waiting Next
// with ErrClosed; after it nothing more is delivered, not even events
// already at hand.
func testSubscribeClose(t *testing.T, s Store) {
	a := id("counter", "close")
	subscribe := map[string]func(from uint64) (eventlog.Subscription, error){
		"stream": func(from uint64) (eventlog.Subscription, error) { return s.SubscribeStream(bg, a, from) },
		"feed":   func(from uint64) (eventlog.Subscription, error) { return s.SubscribeFeed(bg, from) },
	}
	for name, sub := range subscribe {
		waiting, err := sub(0) // the store is empty: Next waits
		if err != nil {
			t.Fatal(err)
		}
		done := waitInNext(waiting)
		if err := waiting.Close(); err != nil {
			t.Fatalf("%s: Close: %v", name, err)
		}
		if err := <-done; !errors.Is(err, eventlog.ErrClosed) {
			t.Errorf("%s: Next waiting while the subscription closed returned %v, want ErrClosed", name, err)
		}
		if err := waiting.Close(); err != nil {
			t.Errorf("%s: second Close: %v", name, err)
		}
		wantClosed(t, name+" subscription closed while waiting", waiting)
	}
	mustAppend(t, s, a, eventlog.Any, Ev("x", 1), Ev("x", 2), Ev("x", 3))
	for name, sub := range subscribe {
		read, err := sub(0)
		if err != nil {
			t.Fatal(err)
		}
		next(t, read)
		read.Close()
		wantClosed(t, name+" subscription closed with events to deliver", read)
	}
}

// testStoreCloseEndsSubscriptions: closing the store ends its
// subscriptions, waiting or not, with ErrClosed.
func testStoreCloseEndsSubscriptions(t *testing.T, s Store) {
	a := id("counter", "ends")
	mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1), Ev("x", 2), Ev("x", 3))
	waiting, err := s.SubscribeStream(bg, id("counter", "quiet"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	read, err := s.SubscribeFeed(bg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer read.Close()
	next(t, read)
	unread, err := s.SubscribeStream(bg, a, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unread.Close()
	done := waitInNext(waiting)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, eventlog.ErrClosed) {
		t.Errorf("Next waiting while the store closed returned %v, want ErrClosed", err)
	}
	wantClosed(t, "waiting subscription", waiting)
	wantClosed(t, "subscription that read one of 3 events", read)
	wantClosed(t, "subscription that read none of 3 events", unread)
}

// testSubscribeFromEnd: a subscription from past the end delivers the
// first event appended at or after its start.
func testSubscribeFromEnd(t *testing.T, s Store) {
	a, b := id("counter", "end1"), id("counter", "end2")
	mustAppend(t, s, a, eventlog.NoStream, Ev("x", 1), Ev("x", 2), Ev("x", 3))
	sub, err := s.SubscribeFeed(bg, s.Durable()+1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	wantNothing(t, sub)
	res := mustAppend(t, s, b, eventlog.NoStream, Ev("x", 1), Ev("x", 2))
	if e := next(t, sub); e.Pos != res.FirstPos || e.Actor != b || e.Seq != 1 {
		t.Fatalf("feed subscribed from the end got %s seq %d position %d, want %s seq 1 position %d", e.Actor, e.Seq, e.Pos, b, res.FirstPos)
	}

	from := s.Durable() + 3
	far, err := s.SubscribeFeed(bg, from)
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	var want uint64
	for i := 0; want == 0; i++ {
		if i == 10 {
			t.Fatalf("10 appends did not reach position %d", from)
		}
		if res := mustAppend(t, s, a, eventlog.Any, Ev("x", i)); res.FirstPos >= from {
			want = res.FirstPos
		}
	}
	if e := next(t, far); e.Pos != want {
		t.Fatalf("feed subscribed from %d got position %d first, want %d", from, e.Pos, want)
	}

	h, err := s.Head(bg, b)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := s.SubscribeStream(bg, b, h.Head+2)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	wantNothing(t, stream)
	mustAppend(t, s, b, eventlog.ExpectSeq(h.Head), Ev("x", 3), Ev("x", 4))
	if e := next(t, stream); e.Seq != h.Head+2 {
		t.Fatalf("stream subscribed from %d got seq %d first", h.Head+2, e.Seq)
	}
}
