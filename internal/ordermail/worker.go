package ordermail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/mail"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/pacing"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// DefaultSchedule is the wait before each retry of a mail that failed to
// send: 9 attempts over about a day, then the job is kept as failed.
var DefaultSchedule = []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour}

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	Store  Store
	Sender mail.Sender
	// PublicURL is the shop's public-url, for the links in the mails.
	PublicURL string
	// GuestLink returns the signed link that opens a guest's order (guest
	// checkout): the OrderURL of a guest order's mails, since a guest has
	// no account to see it in. Nil leaves guests the account link.
	GuestLink func(orderID string) (string, error)
	// Schedule is the wait before each retry (DefaultSchedule when empty).
	Schedule []time.Duration
	// Owner names this instance in job leases.
	Owner string
	// Lease is how long a claimed job is held; it must outlast one send
	// (mail.SMTP gives up after 30 seconds).
	Lease time.Duration
	// Poll is how often due jobs are looked for.
	Poll time.Duration
	// Batch is how many jobs are claimed, and sent at once, at most.
	Batch int
	// Busy reports whether work that must not wait for mail is in progress
	// (the process's checkouts): while it is, mail is held back, for at
	// most MaxDelay (pacing.DefaultMaxDelay when 0). Nil is never busy.
	Busy     func() bool
	MaxDelay time.Duration
	Now      func() time.Time
	Log      *slog.Logger
	Registry prometheus.Registerer
	// Jitter returns a number in [0, 1) (webhook.Jitter when nil).
	Jitter func() float64
	// Failed is told of a poll that failed (the database out); nil logs it.
	Failed func(err error)
}

// Worker sends the due mail jobs. Several may run, in one process or many:
// each job is leased to one of them at a time.
type Worker struct {
	cfg      WorkerConfig
	attempts *prometheus.CounterVec
	parsed   parsed
}

// Outcomes of an attempt, the label of bulwark_order_mail_attempts_total.
const (
	outcomeSent    = "sent"
	outcomeRetry   = "failed"   // to be retried
	outcomeGivenUp = "given_up" // kept as failed
	outcomeSkipped = "skipped"
)

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
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Jitter == nil {
		cfg.Jitter = webhook.Jitter
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Failed == nil {
		log := cfg.Log
		cfg.Failed = func(err error) { log.Error("sending order mail", "err", err) }
	}
	w := &Worker{cfg: cfg, attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_order_mail_attempts_total",
		Help: "Order mail attempts by mail and outcome: sent, failed (to be retried), given_up (kept as failed) or skipped (no recipient: the customer was erased).",
	}, []string{"mail", "outcome"})}
	for _, n := range Names() {
		for _, o := range []string{outcomeSent, outcomeRetry, outcomeGivenUp, outcomeSkipped} {
			w.attempts.WithLabelValues(n, o)
		}
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(w.attempts)
	}
	return w
}

// Run sends due jobs every Poll until ctx ends, giving way to Busy (see
// pacing.Loop).
func (w *Worker) Run(ctx context.Context) {
	pacing.Loop{Once: w.RunOnce, Batch: w.cfg.Batch, Poll: w.cfg.Poll, Busy: w.cfg.Busy, MaxDelay: w.cfg.MaxDelay, Failed: w.cfg.Failed}.Run(ctx)
}

// RunOnce claims the due jobs (one batch) and sends them, and returns how
// many it attempted.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	now := w.cfg.Now()
	jobs, err := w.cfg.Store.ClaimMailJobs(ctx, w.cfg.Owner, now, now.Add(w.cfg.Lease), w.cfg.Batch)
	if err != nil {
		return 0, err
	}
	var templates []Template
	if len(jobs) > 0 {
		if templates, err = w.templates(ctx); err != nil {
			return 0, err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.send(ctx, j, templates)
		}()
	}
	wg.Wait()
	return len(jobs), errors.Join(errs...)
}

func (w *Worker) templates(ctx context.Context) ([]Template, error) {
	return templatesCached(ctx, w.cfg.Store, &w.parsed)
}

// maxErrorLength bounds the error text kept with a job.
const maxErrorLength = 500

// send makes one attempt at j and records it. An error is the store's (the
// attempt is not recorded; the lease runs out and the job is tried again).
func (w *Worker) send(ctx context.Context, j Job, templates []Template) error {
	at := w.cfg.Now()
	r := Result{JobID: j.ID, Owner: w.cfg.Owner, Attempts: j.Attempts + 1, At: at}
	var c Content
	var err error
	if knownName(j.Kind) {
		c, err = w.cfg.Store.MailContent(ctx, j)
	}
	switch {
	case !knownName(j.Kind):
		r.Status, r.Error = StatusFailed, "no such mail"
	case errors.Is(err, order.ErrNotFound):
		r.Status, r.Error = StatusFailed, "the order is not found"
	case err != nil:
		return fmt.Errorf("read mail %s: %w", j.ID, err)
	case c.Order.CustomerEmail == "":
		// The customer was erased after the change: no one to write to.
		r.Status = StatusSkipped
	default:
		msg, err := w.message(j, c, templates)
		if err == nil {
			err = w.cfg.Sender.Send(ctx, msg)
			if err != nil && ctx.Err() != nil {
				// Shutting down: not a failure of the mail server. The lease
				// runs out and the job is sent again without an attempt spent.
				return nil
			}
		}
		if err == nil {
			r.Status = StatusSent
			break
		}
		r.Error = withoutRecipient(err.Error(), c.Order.CustomerEmail)
		if len(r.Error) > maxErrorLength {
			r.Error = r.Error[:maxErrorLength]
		}
		if wait, ok := webhook.Backoff(w.cfg.Schedule, r.Attempts, w.cfg.Jitter()); ok {
			r.Status, r.NextAttemptAt = StatusPending, at.Add(wait)
		} else {
			r.Status = StatusFailed
		}
	}
	outcome := map[string]string{StatusSent: outcomeSent, StatusPending: outcomeRetry, StatusFailed: outcomeGivenUp, StatusSkipped: outcomeSkipped}[r.Status]
	w.attempts.WithLabelValues(j.Kind, outcome).Inc()
	if r.Status == StatusFailed {
		w.cfg.Log.Warn("order mail given up", "job", j.ID, "mail", j.Kind, "order", j.OrderID, "attempts", r.Attempts, "err", r.Error)
		rec := audit.New(ctx, at, ActionFailed, j.ID, audit.Failure,
			"mail="+j.Kind+" order="+j.OrderID+" attempts="+strconv.Itoa(r.Attempts)+" error="+r.Error)
		r.Audit = &rec
	}
	if err := w.cfg.Store.FinishMailJob(context.WithoutCancel(ctx), r); err != nil {
		return fmt.Errorf("record mail attempt %s: %w", j.ID, err)
	}
	return nil
}

// withoutRecipient takes the recipient's address out of an error (an SMTP
// server's refusal often quotes it), so that the job's last error, the log
// and the audit trail keep no personal data in the clear.
func withoutRecipient(msg, email string) string {
	if email == "" {
		return msg
	}
	return regexp.MustCompile("(?i)"+regexp.QuoteMeta(email)).ReplaceAllString(msg, "<recipient>")
}

// GuestLinkBlock introduces the signed link at the end of a guest's order
// mail.
const GuestLinkBlock = "Your order is here (keep this link to yourself: whoever has it can see the order):\n"

// message renders j's mail with the shop's template; should that fail on
// this order (a branch the sample data did not take), the default is used,
// so the customer still gets the mail.
func (w *Worker) message(j Job, c Content, templates []Template) (mail.Message, error) {
	d := DataFor(c, w.cfg.PublicURL)
	// A guest's signed link is the guest's only way back to the order, and
	// a secret: it goes in a fixed block after the shop's template, which
	// can neither leave it out nor carry it elsewhere (a staff template
	// with https://elsewhere/?u={{.OrderURL}} would hand out the order).
	// The template's OrderURL is the guest order page without the token.
	guestLink := ""
	if c.Order.CustomerGuest && w.cfg.GuestLink != nil {
		// Signed at each send, so each mail's link runs its full time.
		link, err := w.cfg.GuestLink(c.Order.ID)
		if err != nil {
			return mail.Message{}, fmt.Errorf("sign the guest's order link: %w", err)
		}
		guestLink = link
		d.OrderURL = strings.TrimRight(w.cfg.PublicURL, "/") + "/guest-order"
	}
	t := Default(j.Kind)
	for _, x := range templates {
		if x.Name == j.Kind {
			t = x
		}
	}
	subject, body, err := t.Render(d)
	if err != nil && t.Custom {
		w.cfg.Log.Warn("the shop's mail template failed; sending the default", "mail", j.Kind, "order", j.OrderID, "err", err)
		subject, body, err = Default(j.Kind).Render(d)
	}
	if err != nil {
		return mail.Message{}, err
	}
	if guestLink != "" {
		body = strings.TrimRight(body, "\n") + "\n\n" + GuestLinkBlock + guestLink + "\n"
	}
	return mail.Message{To: c.Order.CustomerEmail, Subject: subject, Body: body}, nil
}
