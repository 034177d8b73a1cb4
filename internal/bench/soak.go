package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
)

// The soak's mixed traffic, open-loop: each stream starts an operation at its
// rate whether or not earlier ones have been answered, up to soakInFlight of
// its own outstanding (past that it skips a beat and counts it). The rates are
// a busy small shop's, well under what two cores serve, so that what grows is
// the shop's state and not a queue.
const (
	soakReadRate     = 50.0 // product reads a second (the list and one product, in turn)
	soakShopperRate  = 5.0  // shoppers a second: a cart, an item in it, its checkout
	soakLoginRate    = 0.5  // customers signing in with the right password, then out
	soakWrongRate    = 0.5  // sign-ins to customers' accounts with a wrong password
	soakSlowFlood    = 3.0  // failed sign-ins to unknown accounts from random addresses
	soakInFlight     = 64
	soakIdleSettle   = 2 * time.Second // after closing the clients' connections, before an idle sample
	soakDefaultEvery = 10 * time.Second
)

// The flatness rule. A series is flat when the mean of its last third of the
// soak's samples exceeds the mean of its second third by no more than
// flatTolerance of the latter, or by no more than its floor (small counts
// move by a few with the requests in flight at the instant of a sample).
// Shrinking is flat. The first third is left out: it holds the warm-up (the
// heap growing to its working size, the caches and pools filling).
// After the flood, with every client's connections closed, goroutines and
// open files must come back to their idle level before it by the same rule
// (flatTolerance, or their floor).
const flatTolerance = 0.10

// soakSeries are the sampled series the rule judges, with their floors.
var soakSeries = []struct {
	name  string
	unit  string
	floor float64
	get   func(SoakSample) float64
}{
	{"resident memory", "MiB", 16, func(s SoakSample) float64 { return mib(s.RSS) }},
	{"live heap", "MiB", 8, func(s SoakSample) float64 { return mib(int64(s.HeapLive)) }},
	{"goroutines", "", 10, func(s SoakSample) float64 { return float64(s.Goroutines) }},
	{"open files", "", 10, func(s SoakSample) float64 { return float64(s.FDs) }},
	// A worker holds one hash's 19 MiB of argon2 memory while it hashes and
	// may keep it a while after: a sample lands in a hash or between two.
	{"hash workers' resident memory", "MiB", 24, func(s SoakSample) float64 { return mib(s.WorkerRSS) }},
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// SoakSample is one sample of the process (the shop and the load share it).
type SoakSample struct {
	At         time.Duration // since the soak began (its first sample at rest, then its traffic)
	Phase      string        // idle-start, soak, idle-before, flood, idle-after
	RSS        int64         // resident memory, bytes (VmRSS)
	HeapLive   uint64        // the heap marked live by the last collection, bytes
	HeapTotal  uint64        // memory the Go runtime holds for the heap, bytes
	Goroutines int
	FDs        int // open file descriptors
	// The shop's password hash workers (its child processes): how many run
	// and their resident memory together, bytes.
	Workers   int
	WorkerRSS int64
	// Over the interval since the previous sample of the same run:
	Interval                 time.Duration
	Reads, CartWrites        int // answered as expected
	Checkouts, Logins, Flood int
	Errors                   int // answers not as expected, and transport errors
	Skipped                  int // operations not started: their stream was at soakInFlight
	CheckoutP50, CheckoutP99 time.Duration
	// CPU is the process's CPU time in the interval (the shop's and the
	// load's): per request, it tells a shop that gets slower from a machine
	// that gets busier. Load1 is the machine's load average over a minute.
	CPU   time.Duration
	Load1 float64
	// WorkerCPU is the hash workers' CPU time in the interval.
	WorkerCPU time.Duration
}

// SoakResult is the outcome of a soak.
type SoakResult struct {
	Samples []SoakSample
	Verdict []FlatVerdict
	Flood   FloodResult
	// The process at rest (no traffic, the clients' connections closed,
	// after a collection): before the soak's traffic, after it (before the
	// flood) and after the flood.
	IdleStart, IdleBefore, IdleAfter SoakSample
	// AtRest compares goroutines and open files at rest after the soak with
	// before it; AfterFlood, after the flood with before it.
	AtRest, AfterFlood []FlatVerdict
}

// FlatVerdict is the flatness rule applied to one series.
type FlatVerdict struct {
	Name, Unit         string
	Start, Middle, End float64 // the first, middle and last samples
	Second, Last       float64 // the means of the second and last thirds
	Allowed            float64 // the growth the rule allows
	Flat               bool
}

func (v FlatVerdict) String() string {
	word := "flat"
	if !v.Flat {
		word = "GROWS"
	}
	unit := v.Unit
	if unit != "" {
		unit = " " + unit
	}
	return fmt.Sprintf("%-16s start %8.1f  middle %8.1f  end %8.1f%s; mean second third %8.1f, last third %8.1f (%+.1f%%, allowed +%.1f): %s",
		v.Name, v.Start, v.Middle, v.End, unit, v.Second, v.Last, 100*(v.Last-v.Second)/max(v.Second, 1e-9), v.Allowed, word)
}

// flatness applies the rule to values in time order: the last third's mean
// against the second third's, allowing growth of tolerance times the latter
// or floor, whichever is larger. It needs at least three values.
func flatness(name, unit string, values []float64, tolerance, floor float64) (FlatVerdict, error) {
	n := len(values)
	if n < 3 {
		return FlatVerdict{}, fmt.Errorf("%s: %d samples, the rule needs at least 3", name, n)
	}
	v := FlatVerdict{Name: name, Unit: unit, Start: values[0], Middle: values[n/2], End: values[n-1],
		Second: mean(values[n/3 : 2*n/3]), Last: mean(values[2*n/3:])}
	v.Allowed = max(tolerance*v.Second, floor)
	v.Flat = v.Last-v.Second <= v.Allowed
	return v, nil
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// returned applies the rule to an idle level before and after: after may
// exceed before by tolerance of it, or floor.
func returned(name string, before, after, tolerance, floor float64) FlatVerdict {
	allowed := max(tolerance*before, floor)
	return FlatVerdict{Name: name, Start: before, Middle: after, End: after, Second: before, Last: after,
		Allowed: allowed, Flat: after-before <= allowed}
}

// parseVmRSS reads the resident set size, in bytes, from the text of
// /proc/<pid>/status.
func parseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want a number of kB", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS line %q: %w", sc.Text(), err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line")
}

// parseLoadAvg reads the one-minute load average from the text of
// /proc/loadavg.
func parseLoadAvg(r io.Reader) (float64, error) {
	b, err := io.ReadAll(io.LimitReader(r, 256))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return 0, fmt.Errorf("loadavg %q: want three averages", b)
	}
	return strconv.ParseFloat(f[0], 64)
}

// countFDs counts the entries of dir (/proc/self/fd), less the one the
// listing itself holds open while it reads.
func countFDs(dir string) (int, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	return len(es) - 1, nil
}

// sampleProcess samples this process's memory, goroutines and open files.
func sampleProcess() (SoakSample, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return SoakSample{}, err
	}
	rss, err := parseVmRSS(f)
	f.Close()
	if err != nil {
		return SoakSample{}, err
	}
	fds, err := countFDs("/proc/self/fd")
	if err != nil {
		return SoakSample{}, err
	}
	ms := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(ms)
	s := SoakSample{RSS: rss, FDs: fds, Goroutines: runtime.NumGoroutine()}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		s.Load1, _ = parseLoadAvg(bytes.NewReader(b))
	}
	if ms[0].Value.Kind() == metrics.KindUint64 {
		s.HeapLive = ms[0].Value.Uint64()
	}
	for _, m := range ms[1:] {
		if m.Value.Kind() == metrics.KindUint64 {
			s.HeapTotal += m.Value.Uint64()
		}
	}
	return s, nil
}

// soakCounts are one run's counters, taken and reset at each sample.
type soakCounts struct {
	reads, carts, checkouts, logins, flood, errors, skipped atomic.Int64
	mu                                                      sync.Mutex
	checkoutLatency                                         []time.Duration
}

func (c *soakCounts) checkout(d time.Duration) {
	c.checkouts.Add(1)
	c.mu.Lock()
	c.checkoutLatency = append(c.checkoutLatency, d)
	c.mu.Unlock()
}

// take moves the counters since the last take into s.
func (c *soakCounts) take(s *SoakSample) {
	s.Reads, s.CartWrites = int(c.reads.Swap(0)), int(c.carts.Swap(0))
	s.Checkouts, s.Logins, s.Flood = int(c.checkouts.Swap(0)), int(c.logins.Swap(0)), int(c.flood.Swap(0))
	s.Errors, s.Skipped = int(c.errors.Swap(0)), int(c.skipped.Swap(0))
	c.mu.Lock()
	lat := c.checkoutLatency
	c.checkoutLatency = nil
	c.mu.Unlock()
	if n := len(lat); n > 0 {
		slices.Sort(lat)
		s.CheckoutP50, s.CheckoutP99 = lat[n*50/100], lat[min(n-1, n*99/100)]
	}
}

// stream starts op rate times a second until stop ends, each in its own
// goroutine with ctx (so that the last ones finish rather than count as
// failures), at most soakInFlight outstanding; it returns when every started
// op has returned.
func stream(stop, ctx context.Context, rate float64, c *soakCounts, op func(ctx context.Context, i int)) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	slots := make(chan struct{}, soakInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-stop.Done():
			return
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			c.skipped.Add(1)
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			op(ctx, i)
		})
	}
}

// do sends r and reports whether it was answered want (the body is read
// and dropped).
func do(ctx context.Context, c *http.Client, r *http.Request, err error, want int) bool {
	return status(ctx, c, r, err) == want
}

// status sends r and returns the status of its answer, 0 when there is none.
func status(ctx context.Context, c *http.Client, r *http.Request, err error) int {
	if err != nil {
		return 0
	}
	res, err := c.Do(r.WithContext(ctx))
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// Soak runs mixed traffic against one shop (SQLite, the whole edge on, the
// real per-address sign-in and read limits, clients spread over addresses
// through the trusted loopback proxy) for o.Soak, sampling the process every
// o.SoakEvery; then, traffic stopped, measures checkout latency quiet and
// during a login flood at 10x the login capacity on the same shop, and
// whether goroutines and open files come back to their idle level after
// it. It writes the samples to o.SoakOut as CSV, with a plot beside it
// (the same name ending .svg), and heap and goroutine profiles at the
// soak's middle and end (.heap-mid.pprof, .goroutine-end.txt, ...).
func Soak(ctx context.Context, o Options) (SoakResult, error) {
	var res SoakResult
	every := o.SoakEvery
	if every <= 0 {
		every = soakDefaultEvery
	}
	if o.Soak < 3*every {
		return res, fmt.Errorf("a soak of %s gives fewer than 3 samples at one each %s", o.Soak, every)
	}
	const name = "soak"
	sh, err := startShop(ctx, o, name, "", "", func(c *config.Config) { realEdge(c); edgeOn(c) })
	if err != nil {
		return res, err
	}
	defer sh.Close()
	floodCarts, err := sh.carts(ctx, 2*o.FloodCheckouts)
	if err != nil {
		return res, err
	}
	emails := make([]string, len(sh.customers))
	for i := range emails {
		emails[i] = fmt.Sprintf("bench%d@example.com", i)
	}
	s := sh.session
	var counts soakCounts
	count := func(ok bool, n *atomic.Int64) {
		if ok {
			n.Add(1)
		} else {
			counts.errors.Add(1)
		}
	}
	streams := []struct {
		rate float64
		op   func(ctx context.Context, i int)
	}{
		{soakReadRate, func(ctx context.Context, i int) {
			path := "/api/v1/products?limit=20"
			if i%2 == 1 {
				path = "/api/v1/products/" + sh.product
			}
			r, err := s.request("GET", path, "", nil, nil)
			count(do(ctx, s.c, r, err, http.StatusOK), &counts.reads)
		}},
		{soakShopperRate, func(ctx context.Context, i int) {
			cu := sh.customers[i%len(sh.customers)]
			var cart struct{ ID string }
			if err := s.call("POST", "/api/v1/carts", cu.token, nil, nil, http.StatusCreated, &cart); err != nil {
				counts.errors.Add(1)
				return
			}
			counts.carts.Add(1)
			r, err := s.request("PUT", "/api/v1/carts/"+cart.ID+"/items/"+sh.product, cu.token, nil, map[string]int{"quantity": 1 + i%3})
			if !do(ctx, s.c, r, err, http.StatusOK) {
				counts.errors.Add(1)
				return
			}
			counts.carts.Add(1)
			r, err = s.checkoutRequest(cu, cart.ID, fmt.Sprintf("soak-%d", i), nil)
			t0 := time.Now()
			if !do(ctx, s.c, r, err, http.StatusCreated) {
				counts.errors.Add(1)
				return
			}
			counts.checkout(time.Since(t0))
		}},
		{soakLoginRate, func(ctx context.Context, i int) {
			tok, err := s.login(emails[i%len(emails)], "bench customer passphrase")
			if err != nil {
				counts.errors.Add(1)
				return
			}
			r, err := s.request("POST", "/api/v1/auth/logout", tok, nil, nil)
			count(do(ctx, s.c, r, err, http.StatusNoContent), &counts.logins)
		}},
		{soakWrongRate, func(ctx context.Context, i int) {
			r, err := s.request("POST", "/api/v1/auth/login", "", nil, map[string]string{
				"email": emails[i%len(emails)], "password": fmt.Sprintf("wrong passphrase %d", rand.Uint64())})
			count(do(ctx, s.c, r, err, http.StatusUnauthorized), &counts.logins)
		}},
		{soakSlowFlood, func(ctx context.Context, _ int) {
			// Refused while the hash pool is full (503 overloaded) is an
			// answer the flood is meant to get.
			st := status(ctx, s.c, badLogin(sh.url), nil)
			count(st == http.StatusUnauthorized || st == http.StatusServiceUnavailable, &counts.flood)
		}},
	}

	// The sampler runs through every phase.
	var mu sync.Mutex
	phase := "soak"
	start := time.Now()
	last, lastCPU := start, cpuTime()
	var workersCPU childCPU
	if ws, err := childProcesses("/proc", os.Getpid()); err == nil {
		workersCPU.interval(ws) // the setup's hashes are not the soak's
	}
	sample := func() (SoakSample, error) {
		mu.Lock()
		defer mu.Unlock()
		sm, err := sampleProcess()
		if err != nil {
			return sm, err
		}
		workers, err := childProcesses("/proc", os.Getpid())
		if err != nil {
			return sm, fmt.Errorf("hash workers: %w", err)
		}
		sm.Workers, sm.WorkerCPU = len(workers), workersCPU.interval(workers)
		for _, w := range workers {
			sm.WorkerRSS += w.RSS
		}
		now := time.Now()
		cpu := cpuTime()
		sm.At, sm.Phase, sm.Interval, sm.CPU = now.Sub(start).Round(time.Millisecond), phase, now.Sub(last), cpu-lastCPU
		last, lastCPU = now, cpu
		counts.take(&sm)
		res.Samples = append(res.Samples, sm)
		fmt.Fprintln(o.Out, sm.line())
		return sm, nil
	}
	setPhase := func(p string) {
		mu.Lock()
		phase = p
		mu.Unlock()
	}
	sctx, stopSampler := context.WithCancel(ctx)
	samplerDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				samplerDone <- nil
				return
			case <-tick.C:
				if _, err := sample(); err != nil {
					samplerDone <- err
					return
				}
			}
		}
	}()
	defer stopSampler()

	fmt.Fprintf(o.Out, "soak: %s of mixed traffic (per second: %.0f product reads, %.0f shoppers with a cart and a checkout, %.1f sign-ins and outs, %.1f wrong passwords, %.0f failed sign-ins from random addresses), a sample each %s\n",
		o.Soak, soakReadRate, soakShopperRate, soakLoginRate, soakWrongRate, soakSlowFlood, every)
	fmt.Fprintln(o.Out, sampleHeader)
	idle := func(p string) (SoakSample, error) {
		setPhase(p)
		s.c.CloseIdleConnections()
		select {
		case <-time.After(soakIdleSettle):
		case <-ctx.Done():
			return SoakSample{}, ctx.Err()
		}
		runtime.GC() // the live heap as of now
		return sample()
	}
	if res.IdleStart, err = idle("idle-start"); err != nil {
		return res, err
	}
	setPhase("soak")
	tctx, stopTraffic := context.WithTimeout(ctx, o.Soak)
	defer stopTraffic()
	var traffic sync.WaitGroup
	for _, st := range streams {
		traffic.Go(func() { stream(tctx, ctx, st.rate, &counts, st.op) })
	}
	profiled := make(chan error, 1)
	go func() {
		select {
		case <-time.After(o.Soak / 2):
			profiled <- o.writeProfiles("mid")
		case <-tctx.Done():
			profiled <- nil
		}
	}()
	traffic.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := <-profiled; err != nil {
		return res, err
	}
	mu.Lock()
	tail := time.Since(last)
	mu.Unlock()
	if tail >= every/2 { // the last interval of traffic, unless too short to count
		if _, err := sample(); err != nil {
			return res, err
		}
	}
	if err := o.writeProfiles("end"); err != nil {
		return res, err
	}
	mu.Lock()
	soakOnly := res.soak()
	mu.Unlock()
	for _, se := range soakSeries {
		values := make([]float64, len(soakOnly))
		for i, sm := range soakOnly {
			values[i] = se.get(sm)
		}
		v, err := flatness(se.name, se.unit, values, flatTolerance, se.floor)
		if err != nil {
			return res, err
		}
		res.Verdict = append(res.Verdict, v)
	}

	if res.IdleBefore, err = idle("idle-before"); err != nil {
		return res, err
	}
	setPhase("flood")
	if res.Flood, err = sh.loginFlood(ctx, o, name+": flood", floodCarts); err != nil {
		return res, fmt.Errorf("flood: %w", err)
	}
	if res.IdleAfter, err = idle("idle-after"); err != nil {
		return res, err
	}
	stopSampler()
	if err := <-samplerDone; err != nil {
		return res, err
	}
	res.AfterFlood = []FlatVerdict{
		returned("goroutines", float64(res.IdleBefore.Goroutines), float64(res.IdleAfter.Goroutines), flatTolerance, 5),
		returned("open files", float64(res.IdleBefore.FDs), float64(res.IdleAfter.FDs), flatTolerance, 4),
	}
	res.AtRest = []FlatVerdict{
		returned("goroutines", float64(res.IdleStart.Goroutines), float64(res.IdleBefore.Goroutines), flatTolerance, 5),
		returned("open files", float64(res.IdleStart.FDs), float64(res.IdleBefore.FDs), flatTolerance, 4),
	}
	res.print(o.Out, o.Soak)
	if o.SoakOut != "" {
		if err := writeSoakFiles(o.SoakOut, res); err != nil {
			return res, err
		}
		fmt.Fprintf(o.Out, "soak: samples in %s, plot in %s\n", o.SoakOut, plotPath(o.SoakOut))
	}
	return res, nil
}

const sampleHeader = "  at      phase        RSS MiB  heap live  goroutines  fds  workers MiB   req/s  checkouts/s  p50 ms   p99 ms  errors skipped  CPU ms/req  load"

func (s SoakSample) line() string {
	return fmt.Sprintf("  %-7s %-11s %8.1f %10.1f %11d %4d %3d %7.1f %7.1f %12.1f %7.1f %8.1f %7d %7d %11.2f %5.1f",
		s.At.Round(time.Second), s.Phase, mib(s.RSS), mib(int64(s.HeapLive)), s.Goroutines, s.FDs, s.Workers, mib(s.WorkerRSS),
		float64(s.requests())/max(s.Interval.Seconds(), 1e-9), float64(s.Checkouts)/max(s.Interval.Seconds(), 1e-9),
		ms(s.CheckoutP50), ms(s.CheckoutP99), s.Errors, s.Skipped, s.cpuPerRequest(), s.Load1)
}

// cpuPerRequest is the interval's CPU per request answered, the hash
// workers' included, in ms (0 when none was).
func (s SoakSample) cpuPerRequest() float64 {
	if s.requests() == 0 {
		return 0
	}
	return ms(s.CPU+s.WorkerCPU) / float64(s.requests())
}

// requests are the HTTP requests answered as expected in the interval (a
// shopper makes three, a sign-in two).
func (s SoakSample) requests() int {
	return s.Reads + s.CartWrites + s.Checkouts + 2*s.Logins + s.Flood
}

func (r SoakResult) print(w io.Writer, d time.Duration) {
	fmt.Fprintf(w, "soak: rule: a series is flat when the mean of the last third of the %d soak samples exceeds the second third's by at most %.0f%% of it, or its floor (16 MiB resident, 8 MiB heap, 10 goroutines, 10 files, 24 MiB of hash workers)\n",
		len(r.soak()), 100*flatTolerance)
	for _, v := range r.Verdict {
		fmt.Fprintln(w, "  "+v.String())
	}
	fmt.Fprintln(w, r.Flood)
	fmt.Fprintf(w, "soak: at rest (no traffic, clients' connections closed, %s later, after a collection): before the soak, after it, after the flood; rule: later exceeds earlier by at most %.0f%% or 5 goroutines, 4 files\n",
		soakIdleSettle, 100*flatTolerance)
	for i, v := range r.AtRest {
		after := r.AfterFlood[i]
		fmt.Fprintf(w, "  %-16s %6.0f -> %6.0f (soak: %s) -> %6.0f (flood: %s)\n", v.Name, v.Second, v.Last, backWord(v), after.Last, backWord(after))
	}
	fmt.Fprintf(w, "  live heap        %6.1f -> %6.1f -> %6.1f MiB\n", mib(int64(r.IdleStart.HeapLive)), mib(int64(r.IdleBefore.HeapLive)), mib(int64(r.IdleAfter.HeapLive)))
	fmt.Fprintf(w, "  resident memory  %6.1f -> %6.1f -> %6.1f MiB (the runtime returns freed memory to the system lazily)\n",
		mib(r.IdleStart.RSS), mib(r.IdleBefore.RSS), mib(r.IdleAfter.RSS))
	fmt.Fprintf(w, "  hash workers     %6.1f -> %6.1f -> %6.1f MiB resident, %d -> %d -> %d processes\n",
		mib(r.IdleStart.WorkerRSS), mib(r.IdleBefore.WorkerRSS), mib(r.IdleAfter.WorkerRSS), r.IdleStart.Workers, r.IdleBefore.Workers, r.IdleAfter.Workers)
}

func backWord(v FlatVerdict) string {
	if v.Flat {
		return "back to its level"
	}
	return "NOT BACK"
}

func (r SoakResult) soak() []SoakSample {
	var out []SoakSample
	for _, s := range r.Samples {
		if s.Phase == "soak" {
			out = append(out, s)
		}
	}
	return out
}

// writeProfiles writes heap and goroutine profiles beside o.SoakOut, named
// for when (mid, end); nothing when o.SoakOut is empty.
func (o Options) writeProfiles(when string) error {
	if o.SoakOut == "" {
		return nil
	}
	base := strings.TrimSuffix(o.SoakOut, filepath.Ext(o.SoakOut))
	runtime.GC() // the heap profile shows the live heap as of the last collection
	for _, p := range []struct {
		profile, file string
		debug         int
	}{{"heap", base + ".heap-" + when + ".pprof", 0}, {"goroutine", base + ".goroutine-" + when + ".txt", 1}} {
		f, err := os.Create(p.file)
		if err != nil {
			return err
		}
		err = pprof.Lookup(p.profile).WriteTo(f, p.debug)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s profile: %w", p.profile, err)
		}
	}
	return nil
}

// plotPath is where the plot of the samples at csvPath goes.
func plotPath(csvPath string) string {
	return strings.TrimSuffix(csvPath, filepath.Ext(csvPath)) + ".svg"
}

func writeSoakFiles(csvPath string, r SoakResult) error {
	f, err := os.Create(csvPath)
	if err != nil {
		return err
	}
	err = writeSoakCSV(f, r.Samples)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	f, err = os.Create(plotPath(csvPath))
	if err != nil {
		return err
	}
	err = writeSoakPlot(f, r.Samples)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

var soakCSVHeader = []string{"seconds", "phase", "rss_bytes", "heap_live_bytes", "heap_total_bytes", "goroutines", "open_fds",
	"interval_seconds", "reads", "cart_writes", "checkouts", "logins", "flood_logins", "errors", "skipped",
	"checkout_p50_ms", "checkout_p99_ms", "cpu_seconds", "load1", "hash_workers", "hash_workers_rss_bytes", "hash_workers_cpu_seconds"}

// writeSoakCSV writes the samples, one row each, under soakCSVHeader.
func writeSoakCSV(w io.Writer, samples []SoakSample) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(soakCSVHeader); err != nil {
		return err
	}
	for _, s := range samples {
		i := strconv.Itoa
		u := func(v uint64) string { return strconv.FormatUint(v, 10) }
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
		if err := cw.Write([]string{f(s.At.Seconds()), s.Phase, strconv.FormatInt(s.RSS, 10), u(s.HeapLive), u(s.HeapTotal),
			i(s.Goroutines), i(s.FDs), f(s.Interval.Seconds()), i(s.Reads), i(s.CartWrites), i(s.Checkouts), i(s.Logins),
			i(s.Flood), i(s.Errors), i(s.Skipped), f(ms(s.CheckoutP50)), f(ms(s.CheckoutP99)), f(s.CPU.Seconds()), f(s.Load1),
			i(s.Workers), strconv.FormatInt(s.WorkerRSS, 10), f(s.WorkerCPU.Seconds())}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
