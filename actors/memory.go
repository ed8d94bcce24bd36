package actors

import (
	"runtime/metrics"
	"time"
)

// The memory budget (Options.MemoryBudget): a watcher samples the Go
// runtime's own figures and, when they pass nine tenths of the budget,
// asks the least recently used idle actors to sleep, enough of them to
// come back to eight tenths by the memory each awake actor holds on
// average. It asks again only after a garbage collection, once what the
// actors it sent to sleep held can show as freed.

// memoryEvery is how often the watcher samples.
const memoryEvery = 100 * time.Millisecond

// memSampler reads the memory the runtime's actors may be blamed for, and
// the count of finished garbage collections.
type memSampler struct {
	samples []metrics.Sample
}

func newMemSampler() *memSampler {
	return &memSampler{samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}}
}

func (m *memSampler) read() (used int64, gcs uint64) {
	metrics.Read(m.samples)
	for _, s := range m.samples[:2] {
		if s.Value.Kind() == metrics.KindUint64 {
			used += int64(s.Value.Uint64())
		}
	}
	if s := m.samples[2]; s.Value.Kind() == metrics.KindUint64 {
		gcs = s.Value.Uint64()
	}
	return used, gcs
}

// watchMemory keeps the awake actors within Options.MemoryBudget until
// the runtime stops.
func (rt *Runtime) watchMemory() {
	sample := rt.memUsage
	if sample == nil {
		sample = newMemSampler().read
	}
	t := time.NewTicker(memoryEvery)
	defer t.Stop()
	var shedAt uint64 // the GC count when actors were last sent to sleep
	shed := false
	for {
		select {
		case <-rt.scope.Stopping():
			return
		case <-t.C:
		}
		used, gcs := sample()
		if shed && gcs == shedAt {
			continue // what was shed does not show yet
		}
		shed = false
		budget := rt.opts.MemoryBudget
		if used <= budget/10*9 {
			continue
		}
		rt.mu.Lock()
		awake := rt.lru.Len()
		if awake > 0 {
			perActor := max(used/int64(awake), 1)
			n := int((used-budget/10*8)/perActor) + 1
			rt.shedLocked(min(n, awake))
			shed, shedAt = true, gcs
		}
		rt.mu.Unlock()
		if shed {
			rt.lg.Debug("over the memory budget: idle actors sent to sleep", "used", used, "budget", budget, "awake", awake)
		}
	}
}
