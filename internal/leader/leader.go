// Package leader elects, among the instances of a shop that share one
// database, the one that runs the scheduled jobs that must not run on
// several at once (backups, retention, re-encryption, audit checkpoints,
// discovery), and runs them there.
//
// The election is a lock held by a database session (PostgreSQL's
// session-level advisory lock, store.TryLock): the instance that takes it
// leads; the others try again every Retry. The leader checks its session
// every Retry too; when the check fails, it takes leadership as lost,
// cancels its jobs, waits for them to return and closes the session. When
// a leader dies, its session ends and PostgreSQL frees the lock, so another
// instance leads within a Retry or two.
//
// What it guarantees: at most one instance holds the lock at a time. What
// it does not: a leader cut off from the database may still be finishing a
// step of a job (until its check fails and the job sees its context end)
// while another instance already leads. The jobs it runs are each safe to
// run twice at once (they commit in transactions, compare-and-set, or keep
// one result per run); the election saves the work and the noise of N
// instances doing them, it is not what keeps them correct.
package leader

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Lock is a held lock.
type Lock interface {
	// Check returns an error when the lock may no longer be held.
	Check(ctx context.Context) error
	// Release gives the lock up.
	Release()
}

// Locker takes named locks that live as long as their holder.
type Locker interface {
	// TryLock takes the lock name without waiting; it returns a nil Lock
	// and no error when someone else holds it.
	TryLock(ctx context.Context, name string) (Lock, error)
}

// Job is a job that runs only on the leader, until its context ends.
type Job struct {
	Name string
	Run  func(ctx context.Context)
}

// Options configure an Elector.
type Options struct {
	Locker Locker
	// Lock names the lock every instance competes for.
	Lock string
	// Retry is how often a follower tries the lock and the leader checks
	// it (default 2 s); one check may take as long.
	Retry time.Duration
	Log   *slog.Logger
	// Registry receives the gauge bulwark_leader{job}; nil registers none.
	Registry prometheus.Registerer
}

// DefaultRetry is how often followers try the lock and the leader checks it.
const DefaultRetry = 2 * time.Second

// Elector competes for leadership and runs its jobs while it leads.
type Elector struct {
	locker Locker
	lock   string
	retry  time.Duration
	log    *slog.Logger
	jobs   []Job
	leads  atomic.Bool
	gauge  *prometheus.GaugeVec
}

// New returns an elector for jobs; Run starts it.
func New(o Options, jobs ...Job) *Elector {
	e := &Elector{locker: o.Locker, lock: o.Lock, retry: o.Retry, log: o.Log, jobs: jobs,
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bulwark_leader",
			Help: "1 while this instance leads and runs the job (elected among the instances sharing the database), 0 while another does.",
		}, []string{"job"})}
	if e.retry <= 0 {
		e.retry = DefaultRetry
	}
	for _, j := range jobs {
		e.gauge.WithLabelValues(j.Name).Set(0)
	}
	if o.Registry != nil {
		o.Registry.MustRegister(e.gauge)
	}
	return e
}

// Leads reports whether this instance leads now.
func (e *Elector) Leads() bool { return e.leads.Load() }

// Run competes for the lock until ctx ends: it tries at once, then every
// Retry; while it holds the lock it runs the jobs. When ctx ends it stops
// the jobs, waits for them and releases the lock before it returns.
func (e *Elector) Run(ctx context.Context) {
	following, lastErr := false, ""
	for {
		lock, err := e.locker.TryLock(ctx, e.lock)
		switch {
		case err != nil:
			// The database out: logged once until it changes (the
			// dependency tracker reports the outage itself).
			if ctx.Err() == nil && err.Error() != lastErr {
				lastErr = err.Error()
				e.log.Warn("leader election: cannot try the lock", "lock", e.lock, "err", err)
			}
		case lock != nil:
			following, lastErr = false, ""
			e.lead(ctx, lock)
		case !following:
			following, lastErr = true, ""
			e.log.Info("another instance leads: its scheduled jobs run there", "lock", e.lock, "jobs", e.names())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.retry):
		}
	}
}

// lead runs the jobs while lock holds and ctx lasts.
func (e *Elector) lead(ctx context.Context, lock Lock) {
	jobCtx, stop := context.WithCancel(ctx)
	defer stop()
	e.setLeads(true)
	e.log.Info("leading: this instance runs the scheduled jobs", "lock", e.lock, "jobs", e.names())
	var wg sync.WaitGroup
	for _, j := range e.jobs {
		wg.Go(func() { j.Run(jobCtx) })
	}
	tick := time.NewTicker(e.retry)
	defer tick.Stop()
	var lost error
	for lost == nil && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			cctx, cancel := context.WithTimeout(ctx, e.retry)
			if err := lock.Check(cctx); err != nil && ctx.Err() == nil {
				lost = err
			}
			cancel()
		}
	}
	stop()
	wg.Wait()
	lock.Release()
	e.setLeads(false)
	if lost != nil {
		e.log.Warn("leadership lost: scheduled jobs stopped here", "lock", e.lock, "err", lost)
	} else {
		e.log.Info("leadership released", "lock", e.lock)
	}
}

func (e *Elector) setLeads(on bool) {
	e.leads.Store(on)
	v := 0.0
	if on {
		v = 1
	}
	for _, j := range e.jobs {
		e.gauge.WithLabelValues(j.Name).Set(v)
	}
}

func (e *Elector) names() []string {
	out := make([]string, len(e.jobs))
	for i, j := range e.jobs {
		out[i] = j.Name
	}
	return out
}
