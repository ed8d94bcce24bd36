package load

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// latencyHist is a concurrent histogram of durations in nanoseconds, with
// 128 buckets per power of two (under 0.8% error) and the exact maximum.
type latencyHist struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Int64
	max    atomic.Int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histBuckets = 2*histSub + (64-histSubBits-1)*histSub
)

func newLatencyHist() *latencyHist { return &latencyHist{} }

// histIndex is the bucket of v.
func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	s := bits.Len64(v) - histSubBits - 1 // >= 1
	top := v >> s                        // in [histSub, 2*histSub)
	return 2*histSub + (s-1)*histSub + int(top-histSub)
}

// histValue is the middle of bucket i.
func histValue(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	s := (i-2*histSub)/histSub + 1
	top := uint64((i-2*histSub)%histSub + histSub)
	return top<<s + (uint64(1)<<s)/2
}

// record counts d; a negative d counts as zero.
func (h *latencyHist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(uint64(d))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantile returns the q-quantile in nanoseconds.
func (h *latencyHist) quantile(q float64) uint64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(histValue(i), uint64(h.max.Load()))
		}
	}
	return uint64(h.max.Load())
}

// report gives the count and percentiles in milliseconds, rounded to the
// microsecond.
func (h *latencyHist) report() Latency {
	toMS := func(ns uint64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }
	return Latency{
		Count: h.n.Load(),
		P50:   toMS(h.quantile(0.50)),
		P90:   toMS(h.quantile(0.90)),
		P99:   toMS(h.quantile(0.99)),
		Max:   toMS(uint64(h.max.Load())),
	}
}
