package eventlogtest

import (
	"os"
	"sync"
	"testing"

	"github.com/actorlog/actorlog/eventlog"
)

// StoreEnv is the environment variable that picks the store on which the
// tests of the packages built on the log run: ACTORLOG_TEST_STORE=memory
// runs them on Memory (fast, and the same tests over a second
// implementation of the contract); ACTORLOG_TEST_STORE=jetstream on the
// JetStream log (package eventlog/jetstream) on an embedded server;
// unset, on the Pebble log.
const StoreEnv = "ACTORLOG_TEST_STORE"

// OnMemory reports whether StoreEnv asks for Memory.
func OnMemory() bool { return os.Getenv(StoreEnv) == "memory" }

// dirs holds the Memory stores Open made, by directory, for the test
// binary's life.
var dirs = struct {
	sync.Mutex
	m map[string]*Memory
}{m: map[string]*Memory{}}

// Open opens the store of dir for a test and closes it when the test
// ends: the Pebble log with opts, or, when opts names no filesystem of
// its own (tests that inject faults or crash need Pebble), a Memory when
// OnMemory or a JetStream log when OnJetStream. A test that closes its
// store and opens the same directory again finds what it wrote, on any
// of them.
func Open(t testing.TB, dir string, opts eventlog.Options) eventlog.Store {
	t.Helper()
	var s eventlog.Store
	if OnMemory() && opts.FS == nil {
		dirs.Lock()
		m := dirs.m[dir]
		if m == nil {
			m = NewMemory()
			dirs.m[dir] = m
		}
		dirs.Unlock()
		s = m.Reopen()
	} else if OnJetStream() && opts.FS == nil {
		s, _ = openJetStream(t, dir, opts)
	} else {
		l, err := eventlog.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		s = l
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenFaulty is Open of a store whose disk the test can make fail: a
// Memory, a JetStream log whose stream can be made full, or the Pebble
// log on a Disk over the operating system's filesystem.
func OpenFaulty(t testing.TB, dir string, opts eventlog.Options) (eventlog.Store, Faults) {
	t.Helper()
	if OnMemory() {
		s := Open(t, dir, opts)
		return s, s.(*Memory)
	}
	if OnJetStream() {
		s, stream := openJetStream(t, dir, opts)
		t.Cleanup(func() { s.Close() })
		return s, jetStreamFaults(t, stream)
	}
	disk := NewDisk(nil)
	opts.FS = disk.FS()
	return Open(t, dir, opts), disk
}
