package actors

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"
	"unsafe"

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

// TestReuser_KeepsStack: an idle goroutine keeps the stack its work grew
// across garbage collections (idleWait), so the next work finds it in
// place instead of growing it again: a frame at the same depth is at the
// same address before and after two collections. Without idleWait's
// frame the GC halves the idle stack, which moves it.
func TestReuser_KeepsStack(t *testing.T) {
	s := lifetime.New()
	defer s.Close(context.Background())
	r := &reuser{scope: s}
	idle := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.idle)
	}
	run := func(grow bool) (uintptr, string) {
		ch := make(chan uintptr, 1)
		id := make(chan string, 1)
		if !r.Go(func() {
			var here byte
			if grow {
				deepStack(16 << 10) // grows the stack to 32 KB: copies it
			}
			ch <- uintptr(unsafe.Pointer(&here)) // where the frame is now
			id <- goid()
		}) {
			t.Fatal("Go refused")
		}
		return <-ch, <-id
	}
	first, g1 := run(true)
	for deadline := time.Now().Add(time.Second); idle() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	runtime.GC()
	runtime.GC()
	second, g2 := run(false)
	if g1 != g2 {
		t.Skipf("the second work ran on goroutine %s, not the idle %s", g2, g1)
	}
	if first != second {
		t.Errorf("the stack moved while its goroutine idled (a frame at %#x, then %#x): the GC shrank it", first, second)
	}
}

// deepest is where deepStack's last frame was (so that its frames are
// used, not optimized away).
var deepest uintptr

// deepStack uses about n bytes of stack.
//
//go:noinline
func deepStack(n int) byte {
	var buf [1024]byte
	if n <= len(buf) {
		deepest = uintptr(unsafe.Pointer(&buf[0]))
		return buf[0]
	}
	buf[1] = deepStack(n - len(buf))
	return buf[1]
}
