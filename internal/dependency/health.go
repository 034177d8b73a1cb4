package dependency

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Probe checks one dependency; nil means it serves.
type Probe func(ctx context.Context) error

// Tracker keeps each dependency's state. Requests report failures with Down;
// probes, run by Run and Check, find the dependency back. Each change of state
// is logged once, with its error, and shown in the gauge
// bulwark_dependency_up{name}, so an outage costs a few log lines however many
// requests meet it.
type Tracker struct {
	log      *slog.Logger
	now      func() time.Time
	gauge    *prometheus.GaugeVec
	mu       sync.Mutex
	deps     map[string]*state
	timeout  time.Duration
	interval time.Duration
	// draining is set once the instance is stopping (Drain).
	draining atomic.Bool
}

type state struct {
	probe Probe
	up    bool
	// lastDown is when a request last met the dependency down; a probe that
	// passes right after does not flip it up again (a database that answers a
	// ping but fails writes would flap otherwise).
	lastDown time.Time
}

// TrackerOptions configure a Tracker.
type TrackerOptions struct {
	Log *slog.Logger
	Now func() time.Time
	// Registry receives the gauge; nil registers none.
	Registry prometheus.Registerer
	// Interval is how often Run probes every dependency (default 2 s).
	Interval time.Duration
	// Timeout bounds one probe (default 1 s).
	Timeout time.Duration
}

// NewTracker returns a tracker with no dependencies yet.
func NewTracker(o TrackerOptions) *Tracker {
	t := &Tracker{log: o.Log, now: o.Now, deps: map[string]*state{}, interval: o.Interval, timeout: o.Timeout,
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bulwark_dependency_up", Help: "1 while the dependency serves, 0 while it is out (database, disk, vault, redis).",
		}, []string{"name"})}
	if t.interval <= 0 {
		t.interval = 2 * time.Second
	}
	if t.timeout <= 0 {
		t.timeout = time.Second
	}
	if t.now == nil {
		t.now = time.Now
	}
	if o.Registry != nil {
		o.Registry.MustRegister(t.gauge)
	}
	return t
}

// Add tracks the dependency name, checked by probe; it starts up.
func (t *Tracker) Add(name string, probe Probe) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deps[name] = &state{probe: probe, up: true}
	t.gauge.WithLabelValues(name).Set(1)
}

// Down records that a request met name out of service with err. The first
// report of an outage is logged; the rest only keep it down. An unknown name
// is ignored.
func (t *Tracker) Down(name string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.deps[name]
	if !ok {
		return
	}
	st.lastDown = t.now()
	if st.up {
		st.up = false
		t.gauge.WithLabelValues(name).Set(0)
		t.log.Warn("dependency down", "dependency", name, "err", err)
	}
}

// up records a passing probe.
func (t *Tracker) up(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.deps[name]
	if !ok || st.up || t.now().Sub(st.lastDown) < t.interval {
		return
	}
	st.up = true
	t.gauge.WithLabelValues(name).Set(1)
	t.log.Info("dependency up", "dependency", name)
}

// Up reports whether name is up as last seen (true for an unknown name).
func (t *Tracker) Up(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.deps[name]
	return !ok || st.up
}

// Drain marks the instance as stopping: from now on Draining is true, and
// /readyz answers 503 draining whatever the dependencies say, so that a load
// balancer takes the instance out of its pool while it still serves. It
// cannot be undone: a draining instance only stops.
func (t *Tracker) Drain() { t.draining.Store(true) }

// Draining reports whether Drain was called.
func (t *Tracker) Draining() bool { return t.draining.Load() }

// Check probes every dependency now, records what it finds and returns each
// dependency's error (nil when it serves), for the readiness probe.
func (t *Tracker) Check(ctx context.Context) map[string]error {
	t.mu.Lock()
	names := make([]string, 0, len(t.deps))
	probes := make([]Probe, 0, len(t.deps))
	for n, st := range t.deps {
		names = append(names, n)
		probes = append(probes, st.probe)
	}
	t.mu.Unlock()
	out := make(map[string]error, len(names))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range names {
		wg.Add(1)
		go func() { // probes run side by side: one hung dependency costs one timeout
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, t.timeout)
			defer cancel()
			err := probes[i](pctx)
			mu.Lock()
			out[names[i]] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return out // shutting down or the caller gave up: that says nothing of the dependencies
	}
	for _, n := range Names(out) {
		if err := out[n]; err != nil {
			t.Down(n, err)
		} else {
			t.up(n)
		}
	}
	return out
}

// Run probes every dependency each interval until ctx ends, so that an
// outage is noticed, and its end logged, without waiting for traffic.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.Check(ctx)
		}
	}
}

// Names returns the keys of m in order.
func Names[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
