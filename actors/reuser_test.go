package actors

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/actorlog/actorlog/internal/lifetime"
)

// goid returns the calling goroutine's id, from its stack header.
func goid() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := bytes.Cut(bytes.TrimPrefix(buf, []byte("goroutine ")), []byte(" "))
	return string(id)
}

// TestReuser: work given while a goroutine idles runs on it; one idle for
// reuseLinger ends; Close does not wait out the linger.
func TestReuser(t *testing.T) {
	s := lifetime.New()
	r := &reuser{scope: s}
	run := func() string {
		ch := make(chan string, 1)
		if !r.Go(func() { ch <- goid() }) {
			t.Fatal("Go refused")
		}
		return <-ch
	}
	idle := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.idle)
	}
	first := run()
	for deadline := time.Now().Add(time.Second); idle() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := run(); got != first {
		t.Errorf("second work ran on goroutine %s, want the idle %s", got, first)
	}
	for deadline := time.Now().Add(5 * time.Second); idle() != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := idle(); n != 0 {
		t.Fatalf("%d goroutines idle %v after the last work, want 0", n, 5*time.Second)
	}
	if got := run(); got == first {
		t.Errorf("work after the linger ran on goroutine %s, which should have ended", got)
	}
	start := time.Now()
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= reuseLinger {
		t.Errorf("Close took %v with a goroutine idle, want less than the linger (%v)", d, reuseLinger)
	}
}
