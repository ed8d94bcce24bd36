package eventlog_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// syncCounter counts the file syncs of a file system (an errorfs injector
// that never injects).
type syncCounter struct{ n atomic.Int64 }

func (c *syncCounter) String() string { return "syncCounter" }

func (c *syncCounter) MaybeError(op errorfs.Op) error {
	if op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo {
		c.n.Add(1)
	}
	return nil
}

// TestLog_LazyWrite: a lazy write of records is applied and readable at
// once with no sync of its own, is made durable by the next synced write,
// and is there after the log is reopened; an append is synced even if
// marked lazy.
func TestLog_LazyWrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := &syncCounter{}
	l, err := eventlog.Open(dir, eventlog.Options{FS: errorfs.Wrap(vfs.Default, c), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	sp := eventlog.FirstSpace
	before := c.n.Load()
	for i := range 20 {
		if _, err := l.Write(ctx, eventlog.Request{Ops: []eventlog.Op{{Space: sp, Key: []byte{'k', byte(i)}, Value: []byte("v")}}, Lazy: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.n.Load() - before; n != 0 {
		t.Errorf("20 lazy writes made %d syncs, want none", n)
	}
	if v, err := l.Get(ctx, sp, []byte{'k', 19}); err != nil || string(v) != "v" {
		t.Fatalf("a lazy write read back: %q %v", v, err)
	}
	id := eventlog.ID{Type: "t", Key: "k"}
	before = c.n.Load()
	if _, err := l.Write(ctx, eventlog.Request{Actor: id, Events: []eventlog.Event{{Type: "e", Data: []byte{0xc0}}}, Lazy: true}); err != nil {
		t.Fatal(err)
	}
	if c.n.Load() == before {
		t.Error("an append marked lazy was not synced")
	}
	before = c.n.Load()
	if _, err := l.Write(ctx, eventlog.Request{Ops: []eventlog.Op{{Space: sp, Key: []byte("synced"), Value: []byte("v")}}}); err != nil {
		t.Fatal(err)
	}
	if c.n.Load() == before {
		t.Error("a write of records not marked lazy was not synced")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = eventlog.Open(dir, eventlog.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 20 {
		if v, err := l.Get(ctx, sp, []byte{'k', byte(i)}); err != nil || string(v) != "v" {
			t.Fatalf("lazy write %d after reopening: %q %v", i, v, err)
		}
	}
}
