package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	Store Store
	AEAD  AEAD
	// Client sends the deliveries: the egress guard's client, with its
	// timeouts, size limit and refusal of internal addresses.
	Client *http.Client
	// Schedule is the wait before each retry (DefaultSchedule when empty).
	Schedule []time.Duration
	// Owner names this instance in delivery leases.
	Owner string
	// Lease is how long a claimed delivery is held; it must outlast one
	// attempt (the client's total timeout).
	Lease time.Duration
	// Poll is how often due deliveries are looked for.
	Poll time.Duration
	// Batch is how many deliveries are claimed, and sent at once, at most.
	Batch    int
	Now      func() time.Time
	Log      *slog.Logger
	Registry prometheus.Registerer
	// Jitter returns a number in [0, 1) (the Jitter function when nil).
	Jitter func() float64
	// Failed is told of a poll that failed (the database out, say); nil
	// logs it as an error. The app hands outages to its dependency
	// tracker, which logs one once, not every poll.
	Failed func(err error)
}

// Worker sends the outbox's due deliveries. Several instances may run at
// once, in one process or many: each delivery is leased to one of them.
type Worker struct {
	cfg      WorkerConfig
	attempts *prometheus.CounterVec
}

// NewWorker returns a Worker.
func NewWorker(cfg WorkerConfig) *Worker {
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 8
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Jitter == nil {
		cfg.Jitter = Jitter
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Failed == nil {
		log := cfg.Log
		cfg.Failed = func(err error) { log.Error("sending webhooks", "err", err) }
	}
	w := &Worker{cfg: cfg, attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_webhook_attempts_total",
		Help: "Webhook delivery attempts, by outcome: succeeded, failed (to be retried) or dead (the retry schedule ran out).",
	}, []string{"outcome"})}
	for _, o := range []string{StatusSucceeded, "failed", StatusDead} {
		w.attempts.WithLabelValues(o)
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(w.attempts)
	}
	return w
}

// Run sends due deliveries every Poll until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	tick := time.NewTicker(w.cfg.Poll)
	defer tick.Stop()
	for {
		// A full batch means more may be due: go on at once.
		for {
			n, err := w.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				w.cfg.Failed(err)
			}
			if err != nil || n < w.cfg.Batch || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RunOnce claims the due deliveries (one batch) and sends them, and returns
// how many it attempted.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	now := w.cfg.Now()
	claims, err := w.cfg.Store.ClaimWebhookDeliveries(ctx, w.cfg.Owner, now, now.Add(w.cfg.Lease), w.cfg.Batch)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(claims))
	for i, c := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.deliver(ctx, c)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return len(claims), err
		}
	}
	return len(claims), nil
}

// maxErrorLength bounds the error text kept with an attempt.
const maxErrorLength = 500

// deliver makes one attempt at c and records it.
func (w *Worker) deliver(ctx context.Context, c Claim) error {
	at := w.cfg.Now()
	start := time.Now() // the attempt's duration is measured on the wall clock
	code, sendErr := w.send(ctx, c, at)
	if sendErr != nil && ctx.Err() != nil {
		// Shutting down: not the receiver's failure. The lease runs out and
		// the delivery is sent again, by this instance after a restart or by
		// another, without an attempt spent.
		return nil
	}
	a := Attempt{N: c.Delivery.Attempts + 1, At: at, StatusCode: code, Duration: time.Since(start)}
	r := AttemptResult{DeliveryID: c.Delivery.ID, Owner: w.cfg.Owner, Attempt: a}
	switch {
	case sendErr == nil && code >= 200 && code < 300:
		r.Status = StatusSucceeded
	default:
		if sendErr != nil {
			r.Attempt.Error = sendErr.Error()
		} else {
			r.Attempt.Error = "HTTP " + strconv.Itoa(code)
		}
		if len(r.Attempt.Error) > maxErrorLength {
			r.Attempt.Error = r.Attempt.Error[:maxErrorLength]
		}
		if wait, ok := Backoff(w.cfg.Schedule, a.N, w.cfg.Jitter()); ok {
			r.Status, r.NextAttemptAt = StatusPending, at.Add(wait)
		} else {
			r.Status = StatusDead
			w.cfg.Log.Warn("webhook delivery dead-lettered", "delivery", c.Delivery.ID, "event", c.Event.ID,
				"endpoint", c.Delivery.EndpointID, "attempts", a.N, "err", r.Attempt.Error)
		}
	}
	outcome := r.Status
	if outcome == StatusPending {
		outcome = "failed"
	}
	w.attempts.WithLabelValues(outcome).Inc()
	if err := w.cfg.Store.FinishWebhookAttempt(context.WithoutCancel(ctx), r); err != nil {
		return fmt.Errorf("record webhook attempt %s: %w", c.Delivery.ID, err)
	}
	return nil
}

// send posts the event's body, signed, and returns the answer's status.
func (w *Worker) send(ctx context.Context, c Claim, at time.Time) (int, error) {
	secrets := make([]string, 0, len(c.Secrets))
	for _, s := range c.Secrets {
		pt, err := w.cfg.AEAD.Decrypt(s.Ciphertext, secretAD(s.ID))
		if err != nil {
			return 0, fmt.Errorf("open signing secret %s: %w", s.ID, err)
		}
		secrets = append(secrets, string(pt))
	}
	sig, err := Sign(secrets, c.Event.ID, at, c.Event.Payload)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Event.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Bulwark-Webhooks/1")
	req.Header.Set(HeaderID, c.Event.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// The answer's body is read (within the client's limit) so the
	// connection can be reused, and otherwise ignored.
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
