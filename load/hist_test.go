package load

import (
	"testing"
	"time"
)

func TestLatencyHist(t *testing.T) {
	h := newLatencyHist()
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	r := h.report()
	near := func(got, want float64) bool { return got >= want*0.99 && got <= want*1.01 }
	if r.Count != 1000 || !near(r.P50, 0.5) || !near(r.P90, 0.9) || !near(r.P99, 0.99) || r.Max != 1 {
		t.Fatalf("%+v", r)
	}
	for _, v := range []uint64{0, 1, 255, 256, 257, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1, 1<<64 - 1} {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("%d: index %d of %d", v, i, histBuckets)
		}
		if got := histValue(i); float64(got) < float64(v)*0.99 || float64(got) > float64(v)*1.01+1 {
			t.Errorf("%d: bucket %d holds %d", v, i, got)
		}
	}
}

func TestLatencyHistEmptyAndNegative(t *testing.T) {
	h := newLatencyHist()
	if r := h.report(); r != (Latency{}) {
		t.Fatalf("an empty histogram reports %+v", r)
	}
	h.record(-time.Second)
	if r := h.report(); r.Count != 1 || r.P50 != 0 || r.Max != 0 {
		t.Fatalf("a negative duration counts as zero: %+v", r)
	}
}
