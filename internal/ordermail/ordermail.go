// Package ordermail owns the mail a customer gets about an order: the
// confirmation, the shipment, the cancellation, the refund and the return.
//
// Mail is never sent from the request that made the change. The store writes
// a job, in the same transaction as the event the change emits (see
// store.emitEvent), for every event type that mails (KindFor): a job commits
// with its change or not at all, and outlives a crash between the commit and
// the send. A job holds no personal data, only the event id, the order id,
// the kind of mail and the id of the refund, return or fulfilment; the
// recipient and the order are read, and opened, when the mail is sent, so a
// customer erased in between gets no mail. A Worker leases due jobs (several
// instances never send one job at once), sends them through mail.Sender,
// retries failures with back-off and, once its schedule runs out, keeps the
// job as failed and audits it.
//
// The shop may change each mail's subject and body: plain-text templates
// (text/template) checked by Parse, which refuses whatever could reach outside
// the documented Data, loop without bound, or inject a header.
package ordermail

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// The mails, by template name.
const (
	Confirmation = "confirmation"
	Shipment     = "shipment"
	Cancellation = "cancellation"
	Refund       = "refund"
	Return       = "return"
)

// Names lists every mail, in the order the staff list shows them.
func Names() []string { return []string{Confirmation, Shipment, Cancellation, Refund, Return} }

// KindFor returns the mail an event of type eventType sends, or "" when it
// sends none.
func KindFor(eventType string) string {
	switch eventType {
	case webhook.OrderCreated:
		return Confirmation
	case webhook.OrderFulfilled:
		return Shipment
	case webhook.OrderCancelled:
		return Cancellation
	case webhook.RefundCreated:
		return Refund
	case webhook.ReturnRequested:
		return Return
	}
	return ""
}

// Refs reads, from an event's data as JSON, the order it is about and the
// other thing it names (a refund, return or fulfilment id), whatever the
// event's data type: an order's own data has the order id as "id"; the data
// of something done to an order names it as "order_id" or as an embedded
// "order". ok is false when no order id is found.
func Refs(data []byte) (orderID, refID string, ok bool) {
	var d struct {
		ID      string `json:"id"`
		OrderID string `json:"order_id"`
		Order   struct {
			ID string `json:"id"`
		} `json:"order"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return "", "", false
	}
	switch {
	case strings.HasPrefix(d.Order.ID, orderPrefix):
		orderID = d.Order.ID
	case strings.HasPrefix(d.OrderID, orderPrefix):
		orderID = d.OrderID
	case strings.HasPrefix(d.ID, orderPrefix):
		orderID = d.ID
	default:
		return "", "", false
	}
	if d.ID != orderID {
		refID = d.ID
	}
	if len(refID) > 64 {
		return "", "", false
	}
	return orderID, refID, true
}

const orderPrefix = "ord_"

// Job statuses.
const (
	StatusPending = "pending" // waiting for its next attempt
	StatusSent    = "sent"
	StatusFailed  = "failed"  // the retry schedule ran out, or the mail cannot be made
	StatusSkipped = "skipped" // no one to send it to: the customer was erased
)

// Audit actions.
const (
	ActionTemplateUpdate = "mail.template_update"
	ActionTemplateReset  = "mail.template_reset"
	ActionFailed         = "mail.failed"
)

// Errors.
var ErrTemplateNotFound = apperr.NotFound("mail template")

// Job is a queued mail: ids only, never personal data.
type Job struct {
	ID       string
	EventID  string
	Kind     string
	OrderID  string
	RefID    string // the refund, return or fulfilment; "" for none
	Attempts int
}

// Content is what a job's mail is made from, read when it is sent.
type Content struct {
	// Order carries the recipient (CustomerEmail, opened from sealed personal
	// data; "" once the customer is erased).
	Order order.Order
	// RefundAmount is the refund's amount (refund mail).
	RefundAmount money.Money
	// Carrier and TrackingNumber are the fulfilment's (shipment mail).
	Carrier, TrackingNumber string
}

// Result is what FinishJob records of an attempt.
type Result struct {
	JobID, Owner string
	Status       string // StatusPending (with NextAttemptAt), StatusSent, StatusFailed or StatusSkipped
	Attempts     int
	At           time.Time
	// NextAttemptAt is set with StatusPending.
	NextAttemptAt time.Time
	Error         string
	// Audit, when set, is appended with the result (a job given up).
	Audit *audit.Record
}

// Stored is a template the shop changed.
type Stored struct {
	Name, Subject, Body string
	UpdatedAt           time.Time
}

// Store keeps the jobs and the shop's templates. Jobs are written by the
// store itself, inside the transactions of the changes they report.
type Store interface {
	// ClaimMailJobs leases up to limit due jobs to owner until until; a job
	// leased by an instance that stopped is claimed again once its lease ran out.
	ClaimMailJobs(ctx context.Context, owner string, now, until time.Time, limit int) ([]Job, error)
	// MailContent reads the order (and refund) a job is about: order.ErrNotFound.
	MailContent(ctx context.Context, j Job) (Content, error)
	// FinishMailJob records an attempt of a job owner holds.
	FinishMailJob(ctx context.Context, r Result) error
	// MailTemplates returns the templates the shop changed.
	MailTemplates(ctx context.Context) ([]Stored, error)
	// PutMailTemplate stores a changed template with rec.
	PutMailTemplate(ctx context.Context, t Stored, rec audit.Record) error
	// DeleteMailTemplate removes a changed template (the default applies again) with rec.
	DeleteMailTemplate(ctx context.Context, name string, rec audit.Record) error
}
