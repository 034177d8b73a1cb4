// Package webhook owns Bulwark's webhooks: the endpoints staff register, the
// events the shop tells them about, how each delivery is signed (Standard
// Webhooks, https://www.standardwebhooks.com) and how it is retried.
//
// Events are written to an outbox in the same database transaction as the
// change they report (an order paid, a refund made, a product changed), one
// delivery row per subscribed endpoint: an event is never lost to a crash
// between the commit and the send, and never sent for a change that rolled
// back. A Worker sends due deliveries through the egress guard, records every
// attempt and retries failures with exponential back-off and jitter until the
// schedule runs out; then the delivery is dead-lettered, and staff may send it
// again by hand. Every attempt of an event carries the same webhook-id, so a
// receiver can drop duplicates (delivery is at least once).
package webhook

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// Event types. Those in Emitted are sent today; the others may be subscribed
// to already and will be sent once the shop has the transitions they report.
const (
	OrderCreated    = "order.created"
	OrderAuthorized = "order.authorized"
	OrderPaid       = "order.paid"
	OrderFulfilled  = "order.fulfilled"
	OrderCancelled  = "order.cancelled"
	RefundCreated   = "refund.created"
	ReturnRequested = "return.requested"
	ProductUpdated  = "product.updated"
	// FindingRaised: threat detection raised a finding at or above the
	// alert-severity setting (FindingData).
	FindingRaised = "finding.raised"
	// AuditCheckpoint: the audit log signed a checkpoint (CheckpointData):
	// a copy pushed out of the shop's reach, to a SIEM or a witness.
	AuditCheckpoint  = "audit.checkpoint"
	maxEventsPerHook = 32
)

// Types lists every event type an endpoint may subscribe to.
func Types() []string {
	return []string{OrderCreated, OrderAuthorized, OrderPaid, OrderFulfilled, OrderCancelled, RefundCreated, ReturnRequested, ProductUpdated, FindingRaised, AuditCheckpoint}
}

// Emitted lists the event types the shop sends today.
func Emitted() []string {
	return []string{OrderCreated, OrderAuthorized, OrderPaid, OrderFulfilled, OrderCancelled, RefundCreated, ReturnRequested, ProductUpdated, FindingRaised, AuditCheckpoint}
}

// CheckpointData is what audit.checkpoint carries: the signed note as
// written to the checkpoint directory (verifiable with the shop's
// verifier key alone), with its size and root.
type CheckpointData struct {
	Size     uint64    `json:"size"`
	Root     string    `json:"root"` // base64, as in the note
	Note     string    `json:"note"`
	SignedAt time.Time `json:"signed_at"`
}

// Delivery statuses.
const (
	StatusPending   = "pending"   // waiting for its next attempt
	StatusSucceeded = "succeeded" // the endpoint answered 2xx
	StatusDead      = "dead"      // the retry schedule ran out: dead-lettered
	StatusCancelled = "cancelled" // its endpoint was deleted
)

// Audit actions.
const (
	ActionCreate = "webhook.create"
	ActionDelete = "webhook.delete"
	ActionRotate = "webhook.rotate_secret"
	ActionRetry  = "webhook.retry"
)

// Errors.
var (
	ErrNotFound         = apperr.New(apperr.CodeNotFound, "no such webhook")
	ErrDeliveryNotFound = apperr.New(apperr.CodeNotFound, "no such webhook delivery")
	// ErrDeliveryPending refuses a manual retry of a delivery already waiting.
	ErrDeliveryPending = apperr.New(CodeDeliveryPending, "the delivery is already waiting for its next attempt")
)

// CodeURLRefused is the code of a webhook URL the shop will not call
// (not https, or an internal address).
const (
	CodeURLRefused      = "webhook_url_refused"
	CodeDeliveryPending = "webhook_delivery_pending"
)

// Endpoint is a registered receiver of events.
type Endpoint struct {
	ID        string
	URL       string
	Events    []string
	CreatedAt time.Time
}

// Delivery is one event's delivery to one endpoint.
type Delivery struct {
	ID            string
	EventID       string // the webhook-id header, the same on every attempt
	EventType     string
	EndpointID    string
	Status        string
	Attempts      int
	NextAttemptAt time.Time // zero unless pending
	LastStatus    int       // HTTP status of the last attempt; 0 when none answered
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// History is every attempt, oldest first (filled by Deliveries).
	History []Attempt
}

// Attempt is one try at a delivery.
type Attempt struct {
	N          int
	At         time.Time
	StatusCode int
	Duration   time.Duration
	Error      string
}

// Event is an event as the outbox keeps it: its id, type and the exact body
// every attempt sends.
type Event struct {
	ID      string
	Type    string
	At      time.Time
	Payload []byte
}

// envelope is the body of every delivery (Standard Webhooks' payload shape).
type envelope struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// Body returns the JSON body of an event of type typ at at with data.
func Body(typ string, at time.Time, data any) ([]byte, error) {
	return json.Marshal(envelope{Type: typ, Timestamp: at.UTC(), Data: data})
}

// FindingData is what finding.raised says of a finding: what was seen,
// about whom (an address, an account id, a card fingerprint — never a card
// number), how bad, and what was done; the evidence is the detector's.
type FindingData struct {
	ID             string            `json:"id"`
	Type           string            `json:"type"`
	Severity       int               `json:"severity"`
	SubjectKind    string            `json:"subject_kind"`
	SubjectID      string            `json:"subject_id"`
	FirstSeen      time.Time         `json:"first_seen"`
	Count          int64             `json:"count"`
	DetectionPoint string            `json:"detection_point"`
	Evidence       map[string]string `json:"evidence"`
}

// OrderData is what order events say of an order: ids, status, amounts and
// lines. Deliberately no personal data (no customer id, name, email or
// address) and nothing of the card: a receiver that needs more reads the order
// through the API with a key that may see it.
type OrderData struct {
	ID        string      `json:"id"`
	Status    string      `json:"status"`
	Currency  string      `json:"currency"`
	Subtotal  money.Money `json:"subtotal"`
	Discount  money.Money `json:"discount"`
	Shipping  money.Money `json:"shipping"`
	Tax       money.Money `json:"tax"`
	Total     money.Money `json:"total"`
	Captured  money.Money `json:"captured"`
	Refunded  money.Money `json:"refunded"`
	Lines     []LineData  `json:"lines"`
	CreatedAt time.Time   `json:"created_at"`
}

// LineData is an order line in an event.
type LineData struct {
	LineID    string      `json:"line_id"`
	ProductID string      `json:"product_id"`
	VariantID string      `json:"variant_id"`
	SKU       string      `json:"sku"`
	Quantity  int         `json:"quantity"`
	UnitPrice money.Money `json:"unit_price"`
	LineTotal money.Money `json:"line_total"`
	Fulfilled int         `json:"fulfilled"`
}

// OrderEvent is the data of order events.
func OrderEvent(o order.Order) OrderData {
	d := OrderData{ID: o.ID, Status: o.Status, Currency: o.Total.Currency, Subtotal: o.Subtotal, Discount: o.Discount,
		Shipping: o.Shipping, Tax: o.Tax, Total: o.Total, Captured: o.Captured, Refunded: o.Refunded,
		Lines: []LineData{}, CreatedAt: o.CreatedAt.UTC()}
	for _, l := range o.Lines {
		d.Lines = append(d.Lines, LineData{LineID: l.ID, ProductID: l.ProductID, VariantID: l.VariantID, SKU: l.SKU, Quantity: l.Quantity,
			UnitPrice: l.UnitPrice, LineTotal: l.LineTotal, Fulfilled: l.Fulfilled})
	}
	return d
}

// FulfillmentData is the data of order.fulfilled: the shipment and the
// order after it.
type FulfillmentData struct {
	ID             string                  `json:"id"`
	Carrier        string                  `json:"carrier"`
	TrackingNumber string                  `json:"tracking_number"`
	Lines          []order.FulfillmentLine `json:"lines"`
	Order          OrderData               `json:"order"`
}

// FulfillmentEvent is the data of order.fulfilled.
func FulfillmentEvent(o order.Order, f order.Fulfillment) FulfillmentData {
	return FulfillmentData{ID: f.ID, Carrier: f.Carrier, TrackingNumber: f.TrackingNumber, Lines: f.Lines, Order: OrderEvent(o)}
}

// ReturnData is the data of return.requested: no reason (free text a
// customer wrote may hold personal data).
type ReturnData struct {
	ID        string             `json:"id"`
	OrderID   string             `json:"order_id"`
	Status    string             `json:"status"`
	Lines     []order.ReturnLine `json:"lines"`
	CreatedAt time.Time          `json:"created_at"`
}

// ReturnEvent is the data of return.requested.
func ReturnEvent(r order.Return) ReturnData {
	return ReturnData{ID: r.ID, OrderID: r.OrderID, Status: r.Status, Lines: r.Lines, CreatedAt: r.CreatedAt.UTC()}
}

// RefundData is the data of refund.created.
type RefundData struct {
	ID     string      `json:"id"`
	Amount money.Money `json:"amount"`
	Order  OrderData   `json:"order"`
}

// ProductData is the data of product.updated: what a storefront cache or a
// search index needs to refresh.
type ProductData struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Status    string        `json:"status"`
	Variants  []VariantData `json:"variants"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// VariantData is a variant in product.updated.
type VariantData struct {
	ID     string        `json:"id"`
	SKU    string        `json:"sku"`
	Prices []money.Money `json:"prices"`
	Stock  int64         `json:"stock"`
}

// ProductEvent is the data of product events.
func ProductEvent(p catalog.Product) ProductData {
	d := ProductData{ID: p.ID, Name: p.Name, Status: p.Status, Variants: []VariantData{}, UpdatedAt: p.UpdatedAt.UTC()}
	for _, v := range p.Variants {
		prices := v.Prices
		if prices == nil {
			prices = []money.Money{}
		}
		d.Variants = append(d.Variants, VariantData{ID: v.ID, SKU: v.SKU, Prices: prices, Stock: v.Stock})
	}
	return d
}

// validEvents checks a subscription list: known types, at least one, no repeats.
func validEvents(events []string) ([]string, error) {
	if len(events) == 0 || len(events) > maxEventsPerHook {
		return nil, errors.New("want one or more event types")
	}
	out := slices.Clone(events)
	slices.Sort(out)
	out = slices.Compact(out)
	for _, e := range out {
		if !slices.Contains(Types(), e) {
			return nil, errors.New("unknown event type " + e)
		}
	}
	return out, nil
}
