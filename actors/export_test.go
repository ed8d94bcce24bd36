package actors

import "github.com/actorlog/actorlog/snapshots"

// NewWithMemory is New with the memory watcher reading usage instead of
// the Go runtime's figures, for tests of the memory budget.
func NewWithMemory(log Log, snaps *snapshots.Store, reg *Registry, opts Options, usage func() (int64, uint64)) *Runtime {
	return newRuntime(log, snaps, reg, opts, usage)
}
