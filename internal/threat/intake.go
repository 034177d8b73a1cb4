package threat

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// Limits of the intake. A signal waits in a queue of QueueSize for one of
// Workers; one that finds the queue full is dropped and counted (an attack
// that fills the queue is already being counted by what is in it). Each
// signal gets ProcessTimeout for its counters and its finding write.
const (
	QueueSize      = 4096
	Workers        = 2
	ProcessTimeout = 5 * time.Second
	// FailureLogEvery bounds the log lines of failing signals.
	FailureLogEvery = time.Minute
)

// Outcomes of a signal (bulwark_signals_total).
const (
	OutcomeProcessed = "processed"
	OutcomeDropped   = "dropped"
	OutcomeFailed    = "failed"
)

// Intake takes the signals of every layer and turns them into findings.
type Intake struct {
	engine *detect.Engine
	store  Store
	log    *slog.Logger
	queue  chan queued
	// signals counts signals by outcome; findings counts raised findings
	// by type and severity level.
	signals  *prometheus.CounterVec
	received *prometheus.CounterVec
	findings *prometheus.CounterVec
	// lastLogged is when a failed signal was last logged (Unix ns).
	lastLogged atomic.Int64
	now        func() time.Time
	raised     func(ctx context.Context, f finding.Finding)
	observed   func(ctx context.Context, f finding.Finding, raised bool)
	alertFrom  int
}

// queued is a signal with the request's attributes for the log.
type queued struct {
	s         detect.Signal
	requestID string
}

// IntakeConfig is what an Intake needs.
type IntakeConfig struct {
	Engine   *detect.Engine
	Store    Store
	Log      *slog.Logger
	Registry prometheus.Registerer
	Now      func() time.Time
	// Raised, when set, is told of each finding raised, after it is
	// stored, on the intake's worker: where responses and alerts (issue 14,
	// next steps) attach. It must not block for long.
	Raised func(ctx context.Context, f finding.Finding)
	// Observed, when set, is told of every observation recorded (raised
	// says whether it raised the finding), after Raised, on the worker:
	// where responses attach, since a subject whose block ended and who
	// starts again adds to its still-active finding rather than raising a
	// new one. It must not block for long.
	Observed func(ctx context.Context, f finding.Finding, raised bool)
	// AlertFrom is the alert-severity setting: a finding raised at or
	// above it is sent to the finding.raised webhook event (written with
	// the finding). 0 sends none.
	AlertFrom int
}

// NewIntake returns an intake whose counters are registered in c.Registry.
// Nothing is processed until Run.
func NewIntake(c IntakeConfig) *Intake {
	in := &Intake{engine: c.Engine, store: c.Store, log: c.Log, now: c.Now, raised: c.Raised, observed: c.Observed, alertFrom: c.AlertFrom,
		queue: make(chan queued, QueueSize),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_signals_total",
			Help: "Security signals reported to threat detection, by outcome: processed, dropped (queue full) or failed (a counter or the database could not answer).",
		}, []string{"outcome"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_signals_received_total",
			Help: "Security signals reported to threat detection, by kind (login.failed, http.404, payment.declined, ...), before the queue.",
		}, []string{"kind"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_findings_total",
			Help: "Findings raised, by type and severity level (low 0-39, medium 40-69, high 70-89, critical 90-100).",
		}, []string{"type", "severity"}),
	}
	c.Registry.MustRegister(in.signals, in.received, in.findings)
	for _, k := range detect.Kinds() {
		in.received.WithLabelValues(string(k))
	}
	for _, o := range []string{OutcomeProcessed, OutcomeDropped, OutcomeFailed} {
		in.signals.WithLabelValues(o)
	}
	return in
}

// Report hands s to detection and returns at once: it never fails and never
// waits. A full queue drops s (counted and logged at debug level, as a
// flood would otherwise flood the log too). A nil Intake reports nothing.
func (in *Intake) Report(ctx context.Context, s detect.Signal) {
	if in == nil {
		return
	}
	in.received.WithLabelValues(string(s.Kind)).Inc()
	if edgeSignal(s.Kind) && len(in.queue) >= QueueSize/2 {
		// Half the queue is kept for the signals of sign-ins: a flood of
		// cheap 404s or WAF refusals from many addresses must not crowd out
		// the failed logins of a brute force happening at the same time.
		in.signals.WithLabelValues(OutcomeDropped).Inc()
		return
	}
	select {
	case in.queue <- queued{s: s, requestID: requestID(ctx)}:
	default:
		in.signals.WithLabelValues(OutcomeDropped).Inc()
		in.log.DebugContext(ctx, "threat: signal dropped, queue full", "signal", string(s.Kind))
	}
}

// edgeSignal reports whether k is one of the HTTP layer's signals, which
// anyone can send by the thousand for the price of a request each.
func edgeSignal(k detect.Kind) bool {
	return k == detect.NotFound || k == detect.WAFBlocked || k == detect.AccessRefused || k == detect.BotTrap
}

// Run processes queued signals with Workers goroutines until ctx ends.
func (in *Intake) Run(ctx context.Context) {
	done := make(chan struct{})
	for range Workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case q := <-in.queue:
					pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ProcessTimeout)
					in.note(ctx, q, in.Process(pctx, q.s))
					cancel()
				}
			}
		}()
	}
	for range Workers {
		<-done
	}
}

// note logs a failed signal at most once per FailureLogEvery: with Redis
// down every signal fails, and a line per signal would be a line per
// request (the metric counts each).
func (in *Intake) note(ctx context.Context, q queued, err error) {
	if err == nil {
		return
	}
	now := in.now().UnixNano()
	last := in.lastLogged.Load()
	if last != 0 && now-last < int64(FailureLogEvery) || !in.lastLogged.CompareAndSwap(last, now) {
		return
	}
	in.log.WarnContext(ctx, "threat: signal not processed; further failures within a minute are only counted (bulwark_signals_total)",
		"signal", string(q.s.Kind), "request_id", q.requestID, "err", err)
}

// Process runs the detectors over s and records their observations now: a
// counter or database that cannot answer is an error, counted as failed.
// The observations counted before the failure are still recorded.
func (in *Intake) Process(ctx context.Context, s detect.Signal) error {
	obs, err := in.engine.Observe(ctx, s)
	for _, o := range obs {
		o.AlertFrom = in.alertFrom
		f, raised, ferr := in.store.ObserveFinding(ctx, o)
		if ferr != nil {
			err = fmt.Errorf("record %s on %s: %w", o.Type, o.Subject, ferr)
			break
		}
		if raised {
			in.findings.WithLabelValues(string(f.Type), finding.Level(f.Severity)).Inc()
			in.log.WarnContext(ctx, "threat: finding raised", "finding", f.ID, "type", string(f.Type),
				"severity", f.Severity, "subject", f.Subject.String(), "detection_point", f.Type.DetectionPoint(), "response", f.Response)
			if in.raised != nil {
				in.raised(ctx, f)
			}
		}
		if in.observed != nil {
			in.observed(ctx, f, raised)
		}
	}
	if err != nil {
		in.signals.WithLabelValues(OutcomeFailed).Inc()
		return fmt.Errorf("process %s signal: %w", s.Kind, err)
	}
	in.signals.WithLabelValues(OutcomeProcessed).Inc()
	return nil
}

func requestID(ctx context.Context) string { return reqinfo.From(ctx).RequestID }
