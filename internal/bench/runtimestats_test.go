package bench

import (
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	buckets := []float64{0, 0.001, 0.010, 0.100, math.Inf(1)}
	for _, c := range []struct {
		name   string
		counts []uint64
		q      float64
		want   time.Duration
	}{
		{"empty is zero", []uint64{0, 0, 0, 0}, 0.99, 0},
		{"all in the first bucket: its upper bound", []uint64{10, 0, 0, 0}, 0.99, time.Millisecond},
		{"the median of a spread", []uint64{40, 20, 40, 0}, 0.5, 10 * time.Millisecond},
		{"p99 in the tail bucket", []uint64{90, 9, 1, 0}, 0.99, 100 * time.Millisecond},
		{"the open last bucket reports its lower bound", []uint64{0, 0, 0, 5}, 0.99, 100 * time.Millisecond},
		{"the maximum: the last bucket counted in", []uint64{7, 0, 1, 0}, 1, 100 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			var total uint64
			for _, n := range c.counts {
				total += n
			}
			if got := histogramQuantile(c.counts, buckets, total, c.q); got != c.want {
				t.Fatalf("quantile %v of %v = %v, want %v", c.q, c.counts, got, c.want)
			}
		})
	}
}

func TestRuntimeStatsCoverAnInterval(t *testing.T) {
	a := readRuntimeStats()
	if a.schedWait == nil {
		t.Fatal("the runtime gave no scheduling-latency histogram")
	}
	// A fixed amount of work, not a time: goroutines woken to run, garbage,
	// and two collections forced.
	var wg sync.WaitGroup
	sink := make([][]byte, 4)
	for i := range sink {
		wg.Go(func() {
			for range 64 {
				sink[i] = make([]byte, 1<<16)
			}
		})
	}
	wg.Wait()
	runtime.GC()
	runtime.GC()
	d := readRuntimeStats().since(a)
	if d.SchedP99 <= 0 || d.GCCycles < 2 || d.GCShare <= 0 || d.GCShare >= 1 || d.GCPauses < 4 || d.GCPauseMax <= 0 {
		t.Fatalf("after four goroutines' garbage and two forced collections: %+v, want a wait for a CPU, at least 2 collections (4 pauses) and a share of CPU", d)
	}
}
