package eventlogtest

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// Faults is a store's disk as a test controls it: Fail makes it refuse
// writes as a full disk does, Heal makes it take them again. Memory is
// one; Disk gives the Pebble log one.
type Faults interface {
	Fail()
	Heal()
}

// Disk is a filesystem whose writes can be made to fail with ENOSPC, as
// a full disk's do, for the Pebble log (Options.FS: disk.FS()). Closing
// files, locking and removing stay allowed, as they are on a full disk.
// Its syncs can also be made to wait (Stall), as those of a disk that
// stops answering do.
type Disk struct {
	fs      vfs.FS
	failing atomic.Bool

	mu      sync.Mutex
	stalled chan struct{} // closed by Resume; nil when not stalled
	held    atomic.Int32  // syncs waiting for Resume
}

// NewDisk wraps fs (nil: the operating system's).
func NewDisk(fs vfs.FS) *Disk {
	if fs == nil {
		fs = vfs.Default
	}
	return &Disk{fs: fs}
}

// FS is the filesystem to open the log on.
func (d *Disk) FS() vfs.FS { return errorfs.Wrap(d.fs, d) }

// Fail implements Faults.
func (d *Disk) Fail() { d.failing.Store(true) }

// Heal implements Faults.
func (d *Disk) Heal() { d.failing.Store(false) }

// Stall makes syncs wait, as a disk that stops answering does, until
// Resume.
func (d *Disk) Stall() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stalled == nil {
		d.stalled = make(chan struct{})
	}
}

// Resume lets the syncs that Stall holds go on.
func (d *Disk) Resume() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stalled != nil {
		close(d.stalled)
		d.stalled = nil
	}
}

// Held returns the number of syncs Stall holds now.
func (d *Disk) Held() int { return int(d.held.Load()) }

func (d *Disk) String() string { return "eventlogtest disk" }

// MaybeError implements errorfs.Injector.
func (d *Disk) MaybeError(op errorfs.Op) error {
	if op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo {
		d.mu.Lock()
		stalled := d.stalled
		d.mu.Unlock()
		if stalled != nil {
			d.held.Add(1)
			<-stalled
			d.held.Add(-1)
		}
	}
	if !d.failing.Load() || op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
		return nil
	}
	switch op.Kind {
	case errorfs.OpFileClose, errorfs.OpLock, errorfs.OpRemove, errorfs.OpRemoveAll:
		return nil
	}
	return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
}
