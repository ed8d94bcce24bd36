package eventlog_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/goleak"
)

var bg = context.Background()

func openTemp(t testing.TB, opts eventlog.Options) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLog_Suite(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	eventlogtest.Run(t, func(t *testing.T) eventlogtest.Store {
		return openTemp(t, eventlog.Options{})
	})
}

func TestLog_SuiteInMemFS(t *testing.T) {
	eventlogtest.Run(t, func(t *testing.T) eventlogtest.Store {
		l, err := eventlog.Open("db", eventlog.Options{FS: vfs.NewMem(), SubscriberBuffer: 8})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

func TestMemory_Suite(t *testing.T) {
	eventlogtest.Run(t, func(t *testing.T) eventlogtest.Store { return eventlogtest.NewMemory() })
}

// TestLog_Faults runs the availability clause of the contract on a real
// directory whose disk fills up.
func TestLog_Faults(t *testing.T) {
	eventlogtest.RunFaults(t, func(t *testing.T) (eventlogtest.Store, eventlogtest.Faults) {
		disk := eventlogtest.NewDisk(nil)
		return openTemp(t, eventlog.Options{FS: disk.FS(), Logger: quietLogger()}), disk
	})
}

func TestMemory_Faults(t *testing.T) {
	eventlogtest.RunFaults(t, func(t *testing.T) (eventlogtest.Store, eventlogtest.Faults) {
		m := eventlogtest.NewMemory()
		return m, m
	})
}

func TestLog_Reopen(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := eventlog.ID{Type: "counter", Key: "r"}
	for i := 0; i < 10; i++ {
		if _, err := l.Append(bg, a, eventlog.Any, eventlogtest.Ev("x", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Erase the stream that holds the last position: the next position must
	// still not be reused.
	if err := l.Delete(bg, a, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = eventlog.Open(dir, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := l.Append(bg, a, eventlog.ExpectSeq(10), eventlogtest.Ev("x", 10))
	if err != nil {
		t.Fatal(err)
	}
	if res.First != 11 || res.FirstPos != 11 {
		t.Fatalf("after reopen got seq %d position %d, want 11 and 11", res.First, res.FirstPos)
	}
}

func TestLog_SecondOpenFailsFast(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := eventlog.Open(dir, eventlog.Options{}); !errors.Is(err, eventlog.ErrLocked) {
		t.Fatalf("second Open in process: err = %v, want ErrLocked", err)
	}
	if _, err := eventlog.Open(dir, eventlog.Options{ReadOnly: true}); !errors.Is(err, eventlog.ErrLocked) {
		t.Fatalf("read-only Open in process: err = %v, want ErrLocked", err)
	}
	// Another process: this test binary, run as a helper.
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=TestHelperOpen$")
	cmd.Env = append(os.Environ(), "EVENTLOG_HELPER_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "LOCKED") {
		t.Fatalf("helper process opened a held directory: %s", out)
	}
}

// TestHelperOpen is run by TestLog_SecondOpenFailsFast in another process.
func TestHelperOpen(t *testing.T) {
	dir := os.Getenv("EVENTLOG_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	_, err := eventlog.Open(dir, eventlog.Options{})
	if errors.Is(err, eventlog.ErrLocked) {
		os.Stdout.WriteString("LOCKED: " + err.Error() + "\n")
		return
	}
	t.Fatalf("Open of a held directory: err = %v", err)
}

func TestLog_ReadOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := eventlog.Open(filepath.Join(dir, "none"), eventlog.Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of a missing directory succeeded")
	}
	l, err := eventlog.Open(dir, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := eventlog.ID{Type: "counter", Key: "ro"}
	if _, err := l.Append(bg, a, eventlog.Any, eventlogtest.Ev("x", 1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	ro, err := eventlog.Open(dir, eventlog.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Append(bg, a, eventlog.Any, eventlogtest.Ev("x", 1)); !errors.Is(err, eventlog.ErrReadOnly) {
		t.Fatalf("append to read-only log: err = %v", err)
	}
	evs, err := eventlog.ReadStream(bg, ro, a, 1, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("read-only read: %d events, %v", len(evs), err)
	}
}

func TestLog_LimitsAndClosed(t *testing.T) {
	l := openTemp(t, eventlog.Options{MaxEventSize: 100, MaxAppendEvents: 3})
	a := eventlog.ID{Type: "counter", Key: "lim"}
	big := eventlogtest.Ev("x", strings.Repeat("z", 200))
	if _, err := l.Append(bg, a, eventlog.Any, big); !errors.Is(err, eventlog.ErrEventTooLarge) {
		t.Fatalf("oversize event: err = %v", err)
	}
	four := []eventlog.Event{eventlogtest.Ev("x", 1), eventlogtest.Ev("x", 1), eventlogtest.Ev("x", 1), eventlogtest.Ev("x", 1)}
	if _, err := l.Append(bg, a, eventlog.Any, four...); !errors.Is(err, eventlog.ErrEventTooLarge) {
		t.Fatalf("too many events: err = %v", err)
	}
	sub, err := l.SubscribeStream(bg, a, 1)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := sub.Next(bg); done <- err }()
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, eventlog.ErrClosed) {
			t.Fatalf("Next on closed log: err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after Close")
	}
	if _, err := l.Append(bg, a, eventlog.Any, eventlogtest.Ev("x", 1)); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("append after close: err = %v", err)
	}
}

func TestLog_SubscriberLags(t *testing.T) {
	l := openTemp(t, eventlog.Options{SubscriberBuffer: 4})
	a := eventlog.ID{Type: "counter", Key: "lag"}
	sub, err := l.SubscribeStream(bg, a, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// Catch up (nothing stored), so that the subscriber is live.
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	sub.Next(ctx)
	cancel()
	for i := 0; i < 3; i++ {
		if _, err := l.Append(bg, a, eventlog.Any, eventlogtest.Ev("x", i)); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := sub.Next(bg); err != nil || e.Seq != 1 {
		t.Fatalf("Next = seq %d, %v; want 1", e.Seq, err)
	}
	// Now overflow the buffer without reading: appends must not block.
	start := time.Now()
	for i := 0; i < 20; i++ {
		if _, err := l.Append(bg, a, eventlog.Any, eventlogtest.Ev("x", i)); err != nil {
			t.Fatal(err)
		}
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("appends blocked on a slow subscriber")
	}
	var lagged *eventlog.LaggedError
	for i := 0; ; i++ {
		_, err := sub.Next(bg)
		if errors.As(err, &lagged) {
			break
		}
		if err != nil || i > 10 {
			t.Fatalf("Next = %v after %d events; want a LaggedError", err, i)
		}
	}
	// Resume from where it says: nothing lost, nothing twice.
	sub2, err := l.SubscribeStream(bg, a, lagged.Next)
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	for want := lagged.Next; want <= 23; want++ {
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		e, err := sub2.Next(ctx)
		cancel()
		if err != nil || e.Seq != want {
			t.Fatalf("resumed Next = seq %d, %v; want %d", e.Seq, err, want)
		}
	}
}

func TestLog_TooManySubscribers(t *testing.T) {
	l := openTemp(t, eventlog.Options{MaxSubscribers: 2})
	s1, _ := l.SubscribeFeed(bg, 1)
	s2, _ := l.SubscribeFeed(bg, 1)
	if _, err := l.SubscribeFeed(bg, 1); !errors.Is(err, eventlog.ErrTooManySubscribers) {
		t.Fatalf("third subscriber: err = %v", err)
	}
	s1.Close()
	s3, err := l.SubscribeFeed(bg, 1)
	if err != nil {
		t.Fatalf("subscriber after one closed: %v", err)
	}
	s2.Close()
	s3.Close()
}

func TestSubscription_NextBatch(t *testing.T) {
	l := openTemp(t, eventlog.Options{})
	a := eventlog.ID{Type: "counter", Key: "batch"}
	evs := make([]eventlog.Event, 100)
	for i := range evs {
		evs[i] = eventlogtest.Ev("x", i)
	}
	for i := 0; i < 30; i++ {
		if _, err := l.Append(bg, a, eventlog.Any, evs...); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := l.SubscribeFeed(bg, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	var got []uint64
	batches := 0
	for len(got) < 3000 {
		b, err := sub.NextBatch(ctx, 5000)
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		batches++
		for _, e := range b {
			got = append(got, e.Pos)
		}
	}
	for i, p := range got {
		if p != uint64(i+1) {
			t.Fatalf("event %d has position %d", i, p)
		}
	}
	if batches > 10 {
		t.Fatalf("3000 stored events came in %d batches; want a few large ones", batches)
	}
	// Caught up: a batch holds what is live and does not wait for more.
	go l.Append(bg, a, eventlog.Any, evs[:3]...)
	b, err := sub.NextBatch(ctx, 5000)
	if err != nil || len(b) == 0 || b[0].Pos != 3001 {
		t.Fatalf("live batch = %d events from %v, %v", len(b), b, err)
	}
}

// TestLog_ReadsRacingClose: reads of every kind running while the log
// closes either finish or return ErrClosed; none reaches the closed Pebble
// (which panics).
func TestLog_ReadsRacingClose(t *testing.T) {
	for round := range 20 {
		l, err := eventlog.Open(t.TempDir(), eventlog.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		a := eventlog.ID{Type: "counter", Key: "r"}
		for range 20 {
			if _, err := l.Append(bg, a, eventlog.Any, eventlogtest.Ev("x", 1)); err != nil {
				t.Fatal(err)
			}
		}
		var closed atomic.Bool
		reads := []func() error{
			func() error { _, err := l.Head(bg, a); return err },
			func() error { return l.ScanStream(bg, a, 1, 0, func(*eventlog.Event) error { return nil }) },
			func() error { return l.ScanFeed(bg, 1, 0, func(*eventlog.Event) error { return nil }) },
			func() error { _, err := l.ListActors(bg, eventlog.ListOptions{}); return err },
			func() error { _, err := l.Get(bg, eventlog.FirstSpace, []byte("k")); return ignoreNotFound(err) },
			func() error { _, err := l.Peek(eventlog.FirstSpace, []byte("k")); return ignoreNotFound(err) },
			func() error {
				return l.Scan(bg, eventlog.FirstSpace, nil, nil, false, func(k, v []byte) error { return nil })
			},
			func() error {
				l.DiskUsage() // 0 once closed: it has no error to return
				if closed.Load() {
					return eventlog.ErrClosed
				}
				return nil
			},
		}
		errs := make(chan error, len(reads))
		start := make(chan struct{})
		for _, read := range reads {
			go func() {
				<-start
				for {
					if err := read(); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		close(start)
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		closed.Store(true)
		for range reads {
			select {
			case err := <-errs:
				if !errors.Is(err, eventlog.ErrClosed) {
					t.Fatalf("round %d: a read racing Close: %v", round, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: a read did not end after Close", round)
			}
		}
	}
}

func ignoreNotFound(err error) error {
	if errors.Is(err, eventlog.ErrNotFound) {
		return nil
	}
	return err
}

// TestOpen_PicksTheStore: eventlogtest.Open gives the tests of the
// packages above the log a Memory when ACTORLOG_TEST_STORE=memory, and a
// reopened directory keeps what was written, on either store.
func TestOpen_PicksTheStore(t *testing.T) {
	for _, mem := range []bool{false, true} {
		if mem {
			t.Setenv(eventlogtest.StoreEnv, "memory")
		} else {
			t.Setenv(eventlogtest.StoreEnv, "")
		}
		dir := t.TempDir()
		s := eventlogtest.Open(t, dir, eventlog.Options{Logger: quietLogger()})
		if _, isMem := s.(*eventlogtest.Memory); isMem != mem {
			t.Fatalf("memory %v: Open gave a %T", mem, s)
		}
		a := eventlog.ID{Type: "t", Key: "k"}
		if _, err := s.Append(bg, a, eventlog.NoStream, eventlogtest.Ev("x", 1)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = eventlogtest.Open(t, dir, eventlog.Options{Logger: quietLogger()})
		if h, err := s.Head(bg, a); err != nil || h.Head != 1 {
			t.Fatalf("memory %v: reopened head = %+v, %v; want 1", mem, h, err)
		}
		// A store with a filesystem of its own is always the Pebble log.
		if s := eventlogtest.Open(t, "db", eventlog.Options{FS: vfs.NewMem(), Logger: quietLogger()}); func() bool { _, ok := s.(*eventlog.Log); return !ok }() {
			t.Fatalf("memory %v: Open with an FS gave a %T", mem, s)
		}
	}
}
