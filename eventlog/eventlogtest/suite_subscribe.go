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
