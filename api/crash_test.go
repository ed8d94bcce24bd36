package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCrash_AcknowledgedIsSynced runs the server on a crashable in-memory
// filesystem and, while clients write over HTTP and a socket listens,
// takes crash images holding only what was synced: every write
// acknowledged, and every event a socket received, before an image was
// taken must be in it. Unlike kill -9, which keeps what the kernel was
// given, this loses whatever was not synced.
func TestCrash_AcknowledgedIsSynced(t *testing.T) {
	fs := vfs.NewCrashableMem()
	// Syncs take a while, as on a disk: a reply sent before its sync
	// would be seen by the client well before the data is safe.
	s := newStack(t, "", config{fs: slowSyncFS{FS: fs, d: time.Millisecond}})
	keys := []string{"k0", "k1", "k2", "hot", "hot", "hot"}
	var mu sync.Mutex
	acked := map[string]int64{}
	var seen int64 // the highest seq of k0 a socket received

	w := s.ws("/ws/counter/k0")
	w.next()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			f, err := w.read()
			if err != nil {
				return
			}
			mu.Lock()
			seen = max(seen, int64(f.Seq))
			mu.Unlock()
		}
	}()
	errs := make(chan error, len(keys))
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := s.try(http.MethodPost, "/api/counter/"+k+"/increment", nil)
				if err != nil || r.status != 200 {
					errs <- fmt.Errorf("increment %s: %v %v", k, r, err)
					return
				}
				var c struct{ Count int64 }
				if err := json.Unmarshal(r.body, &c); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked[k] = max(acked[k], c.Count)
				mu.Unlock()
			}
		}()
	}

	type image struct {
		fs     *vfs.MemFS
		acked  map[string]int64
		seenK0 int64
	}
	var images []image
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for i := 0; i < 6; i++ {
		time.Sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond)
		mu.Lock()
		img := image{acked: map[string]int64{}, seenK0: seen}
		for k, v := range acked {
			img.acked[k] = v
		}
		mu.Unlock()
		// Everything recorded above was acknowledged before the image.
		img.fs = fs.CrashClone(vfs.CrashCloneCfg{})
		images = append(images, img)
	}
	close(stop)
	w.c.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	ctx := context.Background()
	for i, img := range images {
		l, err := eventlog.Open("db", eventlog.Options{FS: img.fs, Logger: quiet()})
		if err != nil {
			t.Fatalf("image %d: open: %v", i, err)
		}
		for _, k := range []string{"k0", "k1", "k2", "hot"} {
			id := eventlog.ID{Type: "counter", Key: k}
			head, err := l.Head(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if int64(head.Head) < img.acked[k] {
				t.Errorf("image %d: %s has %d events, but count %d was acknowledged before the crash", i, k, head.Head, img.acked[k])
			}
			if k == "k0" && int64(head.Head) < img.seenK0 {
				t.Errorf("image %d: k0 has %d events, but a socket received seq %d before the crash", i, head.Head, img.seenK0)
			}
			n := uint64(0)
			err = l.ScanStream(ctx, id, 1, 0, func(e *eventlog.Event) error {
				n++
				if e.Seq != n {
					return fmt.Errorf("seq %d at position %d", e.Seq, n)
				}
				return nil
			})
			if err != nil || n != head.Head {
				t.Errorf("image %d: %s: %d events read of %d (%v)", i, k, n, head.Head, err)
			}
		}
		l.Close()
	}
	// The server starts on the last image and goes on from there.
	img := images[len(images)-1]
	t.Logf("last image: acknowledged %v, k0 seen %d", img.acked, img.seenK0)
	s2 := newStack(t, "", config{fs: img.fs})
	for _, k := range []string{"k0", "k1", "k2", "hot"} {
		var c struct{ Count int64 }
		ok(t, "count after crash", s2.get("/api/counter/"+k), &c)
		r := s2.post("/api/counter/"+k+"/increment", "")
		if c.Count < img.acked[k] || seqHeader(t, r) != uint64(c.Count)+1 {
			t.Errorf("%s after crash: count %d, next write at seq %s; %d was acknowledged", k, c.Count, r.header.Get("Actorlog-Seq"), img.acked[k])
		}
	}
}

// slowSyncFS delays every sync of a file it opens for writing.
type slowSyncFS struct {
	vfs.FS
	d time.Duration
}

func (f slowSyncFS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return slowSyncFile{file, f.d}, nil
}

func (f slowSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return f.wrap(f.FS.Create(name, c))
}

func (f slowSyncFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return f.wrap(f.FS.OpenReadWrite(name, c, opts...))
}

func (f slowSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return f.wrap(f.FS.ReuseForWrite(oldname, newname, c))
}

type slowSyncFile struct {
	vfs.File
	d time.Duration
}

func (f slowSyncFile) Sync() error {
	time.Sleep(f.d)
	return f.File.Sync()
}

func (f slowSyncFile) SyncData() error {
	time.Sleep(f.d)
	return f.File.SyncData()
}

func (f slowSyncFile) SyncTo(length int64) (bool, error) {
	time.Sleep(f.d)
	return f.File.SyncTo(length)
}
