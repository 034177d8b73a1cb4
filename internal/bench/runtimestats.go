package bench

import (
	"fmt"
	"runtime/metrics"
	"time"
)

// runtimeStats is what the Go runtime says of an interval of a run: how long
// runnable goroutines waited for a CPU, how often the collector ran and what
// it took. Server and load share the process, so it covers both; it says
// whether a latency comes from waiting for a CPU (scheduling) or from
// something the requests wait on themselves.
type runtimeStats struct {
	schedWait *metrics.Float64Histogram // /sched/latencies:seconds, cumulative
	// The world stopped: for the collector, and for anything else (a change
	// of GOMAXPROCS, say). Every goroutine waits out such a pause, however
	// short its own work, so a pause is a floor under a request's latency.
	gcPauses, otherPauses *metrics.Float64Histogram
	gcCycles              uint64
	gcCPU, totalCPU       float64 // seconds
	mutexWait             float64 // seconds
}

var runtimeStatNames = []string{"/sched/latencies:seconds", "/gc/cycles/total:gc-cycles",
	"/cpu/classes/gc/total:cpu-seconds", "/cpu/classes/total:cpu-seconds", "/sync/mutex/wait/total:seconds",
	"/sched/pauses/total/gc:seconds", "/sched/pauses/total/other:seconds"}

// histogram copies the cumulative histogram in v, or returns nil.
func histogram(v metrics.Value) *metrics.Float64Histogram {
	if v.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	h := v.Float64Histogram()
	return &metrics.Float64Histogram{Counts: append([]uint64(nil), h.Counts...), Buckets: h.Buckets}
}

// histogramSince is what cumulative histogram b counted since a: the counts
// and their total, or nil when either is missing.
func histogramSince(a, b *metrics.Float64Histogram) (counts []uint64, total uint64) {
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return nil, 0
	}
	counts = make([]uint64, len(b.Counts))
	for i := range counts {
		counts[i] = b.Counts[i] - a.Counts[i]
		total += counts[i]
	}
	return counts, total
}

func readRuntimeStats() runtimeStats {
	s := make([]metrics.Sample, len(runtimeStatNames))
	for i, n := range runtimeStatNames {
		s[i].Name = n
	}
	metrics.Read(s)
	var r runtimeStats
	r.schedWait, r.gcPauses, r.otherPauses = histogram(s[0].Value), histogram(s[5].Value), histogram(s[6].Value)
	if s[1].Value.Kind() == metrics.KindUint64 {
		r.gcCycles = s[1].Value.Uint64()
	}
	for i, p := range []*float64{&r.gcCPU, &r.totalCPU, &r.mutexWait} {
		if v := s[2+i].Value; v.Kind() == metrics.KindFloat64 {
			*p = v.Float64()
		}
	}
	return r
}

// runtimeDelta is the runtime's account of the interval between two reads.
type runtimeDelta struct {
	SchedP50, SchedP99 time.Duration // a runnable goroutine's wait for a CPU
	GCCycles           uint64
	GCShare            float64 // of the process's CPU time
	MutexWait          time.Duration
	// The world stopped: how often, and the longest pause (the upper bound
	// of its bucket), for the collector and for anything else.
	GCPauses, OtherPauses     uint64
	GCPauseMax, OtherPauseMax time.Duration
}

func (b runtimeStats) since(a runtimeStats) runtimeDelta {
	d := runtimeDelta{GCCycles: b.gcCycles - a.gcCycles, MutexWait: time.Duration((b.mutexWait - a.mutexWait) * float64(time.Second))}
	if cpu := b.totalCPU - a.totalCPU; cpu > 0 {
		d.GCShare = (b.gcCPU - a.gcCPU) / cpu
	}
	if counts, total := histogramSince(a.schedWait, b.schedWait); counts != nil {
		d.SchedP50 = histogramQuantile(counts, b.schedWait.Buckets, total, 0.50)
		d.SchedP99 = histogramQuantile(counts, b.schedWait.Buckets, total, 0.99)
	}
	if counts, total := histogramSince(a.gcPauses, b.gcPauses); counts != nil {
		d.GCPauses, d.GCPauseMax = total, histogramQuantile(counts, b.gcPauses.Buckets, total, 1)
	}
	if counts, total := histogramSince(a.otherPauses, b.otherPauses); counts != nil {
		d.OtherPauses, d.OtherPauseMax = total, histogramQuantile(counts, b.otherPauses.Buckets, total, 1)
	}
	return d
}

// histogramQuantile is the upper bound of the bucket holding quantile q.
func histogramQuantile(counts []uint64, buckets []float64, total uint64, q float64) time.Duration {
	if total == 0 {
		return 0
	}
	want := min(uint64(q*float64(total)), total-1) // q = 1: the last counted
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen > want {
			upper := buckets[i+1]
			if upper > 3600 { // the last bucket is open (+Inf)
				upper = buckets[i]
			}
			return time.Duration(upper * float64(time.Second))
		}
	}
	return 0
}

func (d runtimeDelta) String() string {
	return fmt.Sprintf("runtime: wait for a CPU p50 %v p99 %v; %d collections, %.0f %% of CPU; mutex wait %v; world stopped %d times for the collector (longest %v), %d for other reasons (longest %v)",
		d.SchedP50.Round(time.Microsecond), d.SchedP99.Round(time.Microsecond), d.GCCycles, 100*d.GCShare, d.MutexWait.Round(time.Millisecond),
		d.GCPauses, d.GCPauseMax.Round(time.Microsecond), d.OtherPauses, d.OtherPauseMax.Round(time.Microsecond))
}
