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

	"github.com/bulwark-shop/bulwark/internal/pacing"
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
	// Batch is how many deliveries are claimed, and sent at once, at most
	// (DefaultBatch when 0).
	Batch    int
	Now      func() time.Time
	Log      *slog.Logger
	Registry prometheus.Registerer
	// Busy reports whether work that must not wait for deliveries is in
	// progress (the process's checkouts). While it is, the worker holds
	// deliveries back, for at most MaxDelay after it last found the outbox
	// empty. Nil is never busy.
	Busy func() bool
	// MaxDelay bounds how long Busy holds deliveries back
	// (pacing.DefaultMaxDelay when 0).
	MaxDelay time.Duration
	// Jitter returns a number in [0, 1) (the Jitter function when nil).
	Jitter func() float64
	// Failed is told of a poll that failed (the database out, say); nil
	// logs it as an error. The app hands outages to its dependency
	// tracker, which logs one once, not every poll.
	Failed func(err error)
}

// DefaultBatch is how many deliveries a Worker claims at once by default.
// Each batch costs a fixed four statements to claim (the store's) and one
// transaction of two to record, whatever its size, so under load a larger batch is fewer transactions
// beside the checkouts (issue 13); its sends run side by side, so a slow
// receiver delays the batch by at most the client's timeout.
const DefaultBatch = 32

// Worker sends the outbox's due deliveries. Several instances may run at
// once, in one process or many: each delivery is leased to one of them.
type Worker struct {
	cfg      WorkerConfig
	attempts *prometheus.CounterVec

	// owed are the attempts of the last batch, not yet recorded: a full
	// batch's are recorded with the next claim, which follows at once.
	mu   sync.Mutex
	owed []AttemptResult
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
		cfg.Batch = DefaultBatch
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

// Run sends due deliveries every Poll until ctx ends, giving way to Busy
// (see pacing.Loop).
func (w *Worker) Run(ctx context.Context) {
	pacing.Loop{Once: w.RunOnce, Batch: w.cfg.Batch, Poll: w.cfg.Poll, Busy: w.cfg.Busy, MaxDelay: w.cfg.MaxDelay, Failed: w.cfg.Failed}.Run(ctx)
	// Stopping: what the last batch owes is recorded now, or its
	// deliveries are sent again once their leases run out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if owed := w.takeOwed(); len(owed) > 0 {
		if err := w.cfg.Store.FinishWebhookAttempts(ctx, owed); err != nil {
			w.cfg.Failed(fmt.Errorf("record %d webhook attempts: %w", len(owed), err))
		}
	}
}

func (w *Worker) takeOwed() []AttemptResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	owed := w.owed
	w.owed = nil
	return owed
}

func (w *Worker) owe(rs []AttemptResult) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.owed = append(w.owed, rs...)
}

// RunOnce claims the due deliveries (one batch), sends them at once and
// records their attempts, and returns how many it attempted.
//
// The batch's attempts are recorded together, in one transaction, once every
// send has ended (each within the client's timeout, so within the lease): a
// database commit per batch, not per delivery, beside the checkouts that
// share the database (issue 13). A full batch's are recorded in the
// transaction of the next claim, which the loop makes at once: one commit
// for both (a short batch's now, as no claim follows soon). A crash between
// the sends and the record sends the batch again once the leases run out —
// with the same webhook-id and body, as every retry: delivery stays at least
// once.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	now := w.cfg.Now()
	owed := w.takeOwed()
	claims, err := w.cfg.Store.FinishAndClaimWebhookDeliveries(ctx, owed, w.cfg.Owner, now, now.Add(w.cfg.Lease), w.cfg.Batch)
	if err != nil {
		w.owe(owed) // recorded with the next claim, or when Run stops
		return 0, err
	}
	if len(claims) == 0 {
		return 0, nil
	}
	began := time.Now()
	secrets := w.openSecrets(claims)
	var wg sync.WaitGroup
	results := make([]*AttemptResult, len(claims))
	for i, c := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.deliver(ctx, c, secrets)
		}()
	}
	wg.Wait()
	done := make([]AttemptResult, 0, len(results))
	for _, r := range results {
		if r != nil {
			done = append(done, *r)
		}
	}
	// Owed to the next claim only while the leases leave room for the
	// longest a busy process holds the loop back (pacing's MaxDelay).
	maxDelay := w.cfg.MaxDelay
	if maxDelay <= 0 {
		maxDelay = pacing.DefaultMaxDelay
	}
	if len(claims) == w.cfg.Batch && time.Since(began)+maxDelay < w.cfg.Lease/2 {
		w.owe(done)
		return len(claims), nil
	}
	if err := w.cfg.Store.FinishWebhookAttempts(context.WithoutCancel(ctx), done); err != nil {
		return len(claims), fmt.Errorf("record %d webhook attempts: %w", len(done), err)
	}
	return len(claims), nil
}

// openSecret is a signing secret opened, or why it could not be.
type openSecret struct {
	plain string
	err   error
}

// openSecrets opens each signing secret of a batch once (a batch holds many
// deliveries to few endpoints), by secret id. The plaintexts live only as
// long as the batch.
func (w *Worker) openSecrets(claims []Claim) map[string]openSecret {
	out := map[string]openSecret{}
	for _, c := range claims {
		for _, s := range c.Secrets {
			if _, ok := out[s.ID]; ok {
				continue
			}
			pt, err := w.cfg.AEAD.Decrypt(s.Ciphertext, secretAD(s.ID))
			if err != nil {
				out[s.ID] = openSecret{err: fmt.Errorf("open signing secret %s: %w", s.ID, err)}
				continue
			}
			out[s.ID] = openSecret{plain: string(pt)}
		}
	}
	return out
}

// maxErrorLength bounds the error text kept with an attempt.
const maxErrorLength = 500

// deliver makes one attempt at c and returns what to record of it, or nil
// when there is nothing to record.
func (w *Worker) deliver(ctx context.Context, c Claim, secrets map[string]openSecret) *AttemptResult {
	at := w.cfg.Now()
	start := time.Now() // the attempt's duration is measured on the wall clock
	code, sendErr := w.send(ctx, c, secrets, at)
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
	return &r
}

// send posts the event's body, signed, and returns the answer's status.
func (w *Worker) send(ctx context.Context, c Claim, opened map[string]openSecret, at time.Time) (int, error) {
	secrets := make([]string, 0, len(c.Secrets))
	for _, s := range c.Secrets {
		o := opened[s.ID]
		if o.err != nil {
			return 0, o.err
		}
		secrets = append(secrets, o.plain)
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
