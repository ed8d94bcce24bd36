package lifetime_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/internal/lifetime"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestScope_CloseWaitsForEveryGoroutine(t *testing.T) {
	s := lifetime.New()
	var ended atomic.Int64
	for i := 0; i < 10; i++ {
		s.Go(func() {
			<-s.Stopping()
			// A goroutine of the scope may start another while Close waits.
			s.Go(func() {
				time.Sleep(5 * time.Millisecond)
				ended.Add(1)
			})
			ended.Add(1)
		})
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ended.Load(); got != 20 {
		t.Fatalf("Close returned with %d of 20 goroutines ended", got)
	}
	if s.Context().Err() == nil {
		t.Fatal("the scope's context is not cancelled after Close")
	}
	if s.Go(func() { t.Error("ran after Close") }) {
		t.Fatal("Go after Close returned true")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestScope_CloseGivesUpAtDeadline(t *testing.T) {
	s := lifetime.New()
	release := make(chan struct{})
	aborted := make(chan struct{})
	s.Go(func() {
		<-release
		<-s.Context().Done() // cancelled once Close gives up
		close(aborted)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a goroutine stuck = %v, want deadline exceeded", err)
	}
	if s.Context().Err() == nil {
		t.Fatal("the scope's context is not cancelled after Close")
	}
	close(release)
	<-aborted
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close after the goroutine ended: %v", err)
	}
}

func TestScope_CloseWithNothingRunning(t *testing.T) {
	s := lifetime.New()
	done := make(chan struct{})
	s.Go(func() { close(done) })
	<-done
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close = %v", err)
	}
}
