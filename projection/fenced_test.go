package projection_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
	"github.com/actorlog/actorlog/projection"
)

// openShared opens a JetStream log on one embedded server: a store that
// several runners can share, whose record writes can be conditional.
func openShared(t *testing.T) *jetstream.Log {
	t.Helper()
	srv := jetstreamtest.StartT(t, 1)
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	l, err := jetstream.Open(ctx, jetstream.Options{URL: srv.URL(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// fencedCounter is a slog handler that counts the messages that say a
// runner's commit was refused.
type fencedCounter struct{ n *atomic.Int64 }

func (h fencedCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h fencedCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "moved by another runner") {
		h.n.Add(1)
	}
	return nil
}
func (h fencedCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h fencedCounter) WithGroup(string) slog.Handler      { return h }

// TestRunner_TwoRunnersFenced runs two Runners of one counting projection
// over one shared store at once, while writers append: what a cluster
// sees for a moment when a node that lost the projections' lease still
// commits. Each commit is conditional on the checkpoint it read, so the
// second of two commits from one checkpoint writes nothing, and the view
// counts every event exactly once.
func TestRunner_TwoRunnersFenced(t *testing.T) {
	l := openShared(t)
	var fenced atomic.Int64
	opts := projection.Options{Logger: slog.New(fencedCounter{&fenced}), BatchSize: 7, MaxBackoff: 50 * time.Millisecond}
	var runners []*projection.Runner
	for range 2 {
		r, err := projection.Start(l, opts, counting("all"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close(context.Background())
		runners = append(runners, r)
	}
	ids := []eventlog.ID{{Type: "counter", Key: "a"}, {Type: "counter", Key: "b"}, {Type: "chatRoom", Key: "c"}}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				if _, err := l.Append(bg, id, eventlog.Any, eventlogtest.Ev("x", i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, r := range runners {
		waitCaughtUp(t, r, l, "all")
	}
	v, _ := runners[0].View("all")
	var total uint64
	for _, id := range ids {
		h, _ := l.Head(bg, id)
		total += h.Head
		if got := count(t, v, "n/"+id.String()); got != h.Head {
			t.Fatalf("%s counted %d times, the log holds %d events", id, got, h.Head)
		}
	}
	if got := count(t, v, "total"); got != total {
		t.Fatalf("total %d, the log holds %d events", got, total)
	}
	if fenced.Load() == 0 {
		t.Fatal("no commit was refused: the two runners never raced")
	}
	t.Logf("%d commits refused", fenced.Load())
}

// TestRunner_Standby: a Standby Runner runs nothing until Activate, and
// answers Status and View from the store meanwhile, naming the node that
// runs the projections; Pause on it is ErrStandby. Activated once the
// other runner stopped, it goes on from the stored checkpoint: every
// event counted once.
func TestRunner_Standby(t *testing.T) {
	l := openShared(t)
	a, err := projection.Start(l, projection.Options{Logger: quiet(), Node: "n1"}, counting("all"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	b, err := projection.Start(l, projection.Options{Logger: quiet(), Node: "n2", Standby: true, Holder: func() string { return "n1" }}, counting("all"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if !a.Active() || b.Active() {
		t.Fatalf("Active = %v, %v; want true, false", a.Active(), b.Active())
	}
	id := eventlog.ID{Type: "counter", Key: "a"}
	appendN(t, l, id, 20)
	waitCaughtUp(t, a, l, "all")
	waitCaughtUp(t, b, l, "all") // polls the stored checkpoint
	st, err := b.StatusOf("all")
	if err != nil || st.State != "running" || st.Node != "n1" || st.Position != l.Durable() || st.LagEvents != 0 {
		t.Fatalf("standby's status = %+v, %v", st, err)
	}
	if sts := b.Status(); len(sts) != 1 || sts[0].Position != st.Position {
		t.Fatalf("standby's Status = %+v", sts)
	}
	if st, _ := a.StatusOf("all"); st.Node != "n1" {
		t.Fatalf("runner's status names node %q", st.Node)
	}
	v, _ := b.View("all")
	if got := count(t, v, "total"); got != 20 {
		t.Fatalf("standby's view total = %d, want 20", got)
	}
	if err := b.Pause("all"); !errors.Is(err, projection.ErrStandby) {
		t.Fatalf("Pause on a standby = %v, want ErrStandby", err)
	}

	// The runner stops; events arrive; the standby takes over.
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, id, 15)
	if err := b.Activate(); err != nil {
		t.Fatal(err)
	}
	if !b.Active() {
		t.Fatal("not active after Activate")
	}
	appendN(t, l, id, 5)
	waitCaughtUp(t, b, l, "all")
	if got := count(t, v, "total"); got != 40 {
		t.Fatalf("total after the takeover = %d, want 40", got)
	}
	if st, _ := b.StatusOf("all"); st.Node != "n2" || st.State != "running" {
		t.Fatalf("status after the takeover = %+v", st)
	}
	if err := b.Deactivate(context.Background()); err != nil || b.Active() {
		t.Fatalf("Deactivate = %v, Active %v", err, b.Active())
	}
}
