// Package order owns orders and refunds: what a customer bought, at what price,
// how it was paid, and what was given back. It guarantees that refunds never
// exceed what was captured, that each customer sees only their own orders, and
// that every refund is audited.
package order

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/payment"
)

// Statuses of an order. Pending is internal: an order whose stock is reserved
// while its payment is authorized; it is never listed.
const (
	StatusPending           = "pending"
	StatusPaid              = "paid"
	StatusPendingReview     = "pending_review"
	StatusRefunded          = "refunded"
	StatusPartiallyRefunded = "partially_refunded"
	StatusCancelled         = "cancelled"
	StatusFulfilled         = "fulfilled"
)

// Audit actions.
const (
	ActionCheckout = "order.checkout"
	ActionRefund   = "order.refund"
)

// Codes of this package's errors.
const (
	CodeOutOfStock             = "out_of_stock"
	CodePaymentDeclined        = "payment_declined"
	CodeRefundExceedsCapture   = "refund_exceeds_capture"
	CodeIdempotencyKeyRequired = "idempotency_key_required"
	CodeIdempotencyKeyReused   = "idempotency_key_reused"
	CodeRequestInProgress      = "request_in_progress"
	CodeCartEmpty              = "cart_empty"
)

// Errors.
var (
	ErrNotFound             = apperr.NotFound("order")
	ErrOutOfStock           = apperr.New(CodeOutOfStock, "not enough stock for every line of the cart; nothing was reserved or charged")
	ErrDeclined             = apperr.New(CodePaymentDeclined, "the card was declined")
	ErrRefundExceedsCapture = apperr.New(CodeRefundExceedsCapture, "a refund cannot exceed what was captured and not yet refunded")
	ErrKeyRequired          = apperr.New(CodeIdempotencyKeyRequired, "send an Idempotency-Key header of 1 to 255 visible characters")
	ErrKeyReused            = apperr.New(CodeIdempotencyKeyReused, "this Idempotency-Key was used with a different request")
	ErrInProgress           = apperr.New(CodeRequestInProgress, "a request with this Idempotency-Key is still running")
	ErrCartEmpty            = apperr.New(CodeCartEmpty, "the cart is empty")
)

// Address is where an order ships.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
	// Region is the subdivision of Country as the part after the hyphen of
	// its ISO 3166-2 code (CA of US-CA), where taxes or shipping differ by
	// region; "" where they do not.
	Region string `json:"region,omitempty"`
	Phone  string `json:"phone,omitempty"`
}

var (
	regionShape = regexp.MustCompile(`^[A-Z0-9]{1,3}$`)
	phoneShape  = regexp.MustCompile(`^\+?[0-9][0-9 ()-]{3,24}$`)
	keyShape    = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
)

// Validate records every problem of a into v, under field prefix.
func (a Address) Validate(v *apperr.Validator, prefix string) {
	v.CheckText(prefix+".name", a.Name, 1, 100, false)
	v.CheckText(prefix+".line1", a.Line1, 1, 200, false)
	v.CheckText(prefix+".line2", a.Line2, 0, 200, false)
	v.CheckText(prefix+".city", a.City, 1, 100, false)
	v.CheckText(prefix+".postal_code", a.PostalCode, 1, 20, false)
	v.CheckCountry(prefix+".country", a.Country, false)
	v.Check(a.Region == "" || regionShape.MatchString(a.Region), prefix+".region", "must be the 1 to 3 letters or digits after the hyphen of an ISO 3166-2 code, such as CA for US-CA")
	v.Check(a.Phone == "" || phoneShape.MatchString(a.Phone), prefix+".phone", "must be a phone number")
}

// Line is one variant of an order, at the price it was sold for. ProductID
// is kept for history (the product the variant belonged to).
type Line struct {
	// ID names the line for fulfilments and returns.
	ID        string            `json:"line_id"`
	VariantID string            `json:"variant_id"`
	ProductID string            `json:"product_id"`
	Options   map[string]string `json:"options,omitempty"`
	SKU       string            `json:"sku"`
	Name      string            `json:"name"`
	Quantity  int               `json:"quantity"`
	UnitPrice money.Money       `json:"unit_price"`
	LineTotal money.Money       `json:"line_total"`
	// Discount is this line's part of the order's discount; Tax is the tax
	// on the line after it (contained in LineTotal when prices include tax).
	Discount money.Money `json:"discount"`
	Tax      money.Money `json:"tax"`
	// Fulfilled is how many of Quantity have shipped; Returned how many of
	// those a return not rejected holds.
	Fulfilled int `json:"fulfilled"`
	Returned  int `json:"returned"`
}

// ShippingChoice is the shipping option an order was sold with.
type ShippingChoice struct {
	OptionID string `json:"option_id"`
	Name     string `json:"name"`
}

// TaxLine is the tax of one rate over an order.
type TaxLine struct {
	RateID  string      `json:"rate_id"`
	Name    string      `json:"name"`
	Country string      `json:"country"`
	Region  string      `json:"region,omitempty"`
	RatePPM int64       `json:"rate_ppm"`
	Base    money.Money `json:"base"`
	Amount  money.Money `json:"amount"`
}

// Order is a purchase.
type Order struct {
	ID         string      `json:"id"`
	CustomerID string      `json:"customer_id"`
	Status     string      `json:"status"`
	Lines      []Line      `json:"lines"`
	Subtotal   money.Money `json:"subtotal"`
	// Discount is what DiscountCode took off the lines ("" and 0 for none).
	Discount     money.Money `json:"discount"`
	DiscountCode string      `json:"discount_code"`
	Shipping     money.Money `json:"shipping"`
	// ShippingOption is the option chosen; nil for an order sold without one
	// (a shop with no shipping options, or an order from before them).
	ShippingOption *ShippingChoice `json:"shipping_option"`
	// Tax is the sum of Taxes; TaxInclusive says whether the prices
	// contained it (then Total does not add it).
	Tax             money.Money `json:"tax"`
	TaxInclusive    bool        `json:"tax_inclusive"`
	Taxes           []TaxLine   `json:"taxes"`
	Total           money.Money `json:"total"`
	Captured        money.Money `json:"captured"`
	Refunded        money.Money `json:"refunded"`
	PaymentMethodID string      `json:"payment_method_id"`
	Brand           string      `json:"brand"`
	Last4           string      `json:"last4"`
	AuthorizationID string      `json:"authorization_id"`
	ShippingAddress Address     `json:"shipping_address"`
	// The customer's contact data, for the roles that may see it.
	CustomerEmail string `json:"customer_email"`
	CustomerName  string `json:"customer_name"`
	// CustomerGuest says the customer is a guest of guest checkout (no
	// account; CustomerID is the guest's pseudonymous id).
	CustomerGuest bool      `json:"customer_guest,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	// Risk is what fraud scoring concluded at checkout (nil when nothing
	// scored it); Label what staff said it was (LabelFraud,
	// LabelLegitimate or ""). For finance and admin only.
	Risk  *Risk  `json:"risk,omitempty"`
	Label string `json:"label,omitempty"`

	// The history, read with one order (nil in lists): its transitions,
	// refunds and fulfilments, oldest first.
	Events       []Event       `json:"events,omitempty"`
	Refunds      []Refund      `json:"refunds,omitempty"`
	Fulfillments []Fulfillment `json:"fulfillments,omitempty"`
	Returns      []Return      `json:"returns,omitempty"`
}

// Claim is the capture, void or cancel running on an order at the
// processor (Op "" for none), and since when.
type Claim struct {
	Op string
	At time.Time
}

// Holds reports whether the claim still holds the order at now: it names an
// operation and is younger than lease (the service's: pending-order-timeout;
// an older one was left by a stopped instance, and another may take it
// over: the processor calls it makes again carry the same idempotency keys,
// so a takeover never captures, voids or refunds twice).
func (c Claim) Holds(now time.Time, lease time.Duration) bool {
	return c.Op != "" && now.Sub(c.At) <= lease
}

// ValidKey reports whether an Idempotency-Key has the shape API.md allows.
func ValidKey(key string) bool { return keyShape.MatchString(key) }

// Idempotency scopes.
const (
	ScopeCheckout = "checkout"
	ScopeRefund   = "refund"
)

// Prior is what an earlier request with the same idempotency key left.
type Prior struct {
	// Fresh is true when this request is the first with the key and now owns it.
	Fresh      bool
	InProgress bool
	Mismatch   bool
	// Done: either Order (a success) or ErrorCode (a refusal that was recorded).
	Order     *Order
	ErrorCode string
}

// ListQuery selects a page of orders.
type ListQuery struct {
	CustomerID string // empty for every customer (staff)
	// CustomerEmail, when set, keeps the orders of the account with this
	// normalized email (found through its blind index; never stored in the clear).
	CustomerEmail string
	// Status, when set, keeps the orders in this status (the review
	// queue: StatusPendingReview).
	Status string
	Limit  int
	After  string
}

// Store keeps orders, refunds and idempotency records.
type Store interface {
	// BeginIdempotent claims (ownerID, scope, key) for a request whose body hashes
	// to hash, or reports what an earlier request with that key left.
	BeginIdempotent(ctx context.Context, ownerID, scope, key, hash string, at time.Time) (Prior, error)
	// ForgetIdempotent releases a claim after a failure worth retrying.
	ForgetIdempotent(ctx context.Context, ownerID, scope, key string) error
	// FinishIdempotentError records a refusal as the key's answer (claiming the
	// key if no claim exists), with rec.
	FinishIdempotentError(ctx context.Context, ownerID, scope, key, hash, code string, at time.Time, rec audit.Record) error
	Order(ctx context.Context, customerID, orderID string) (Order, error) // customerID "" for staff
	Orders(ctx context.Context, q ListQuery) ([]Order, error)
	// LabelOrder labels an order for training (by the staff account by,
	// at at), appending rec: ErrNotFound.
	LabelOrder(ctx context.Context, orderID, label, by string, at time.Time, rec audit.Record) (Order, error)
	// PeekIdempotent reports what an earlier request with a key left,
	// without claiming it (Fresh when there was none).
	PeekIdempotent(ctx context.Context, ownerID, scope, key, hash string) (Prior, error)
	// ReserveRefund claims the refund's Idempotency-Key when it has one
	// (answering what the key holds instead when it is not Fresh), adds the
	// amount to the order's refunded total unless that would exceed what was
	// captured (ErrRefundExceedsCapture) or the status allows no refund
	// (illegal_transition), and records the refund as pending until its
	// lease ends, in one transaction. The order must be held by r.Claim (""
	// for none: a capture, void or cancel running refuses it with
	// ErrInProgress).
	ReserveRefund(ctx context.Context, r RefundReservation) (Order, Prior, error)
	// CompleteRefund marks a pending refund done, sets the order's status,
	// finishes the idempotency key with the order and appends rec. A refund
	// that is no longer pending (another instance completed it) is left as
	// it is: the order is returned, nothing is recorded twice.
	CompleteRefund(ctx context.Context, r RefundCompletion, rec audit.Record) (Order, error)
	// CancelRefund undoes ReserveRefund after the processor refused, once.
	CancelRefund(ctx context.Context, orderID, refundID string, amount money.Money) error

	// ClaimPayment locks the order, calls decide with it, and when decide
	// returns nil claims the order for op until ReleaseClaim or
	// FinishPayment; a claim younger than lease refuses with
	// ErrInProgress. Decide's error is returned with the order as read.
	ClaimPayment(ctx context.Context, orderID, op string, at time.Time, lease time.Duration, decide func(Order) error) (Order, error)
	// ReleaseClaim ends op's claim without a change (the processor refused).
	ReleaseClaim(ctx context.Context, orderID, op string) error
	// FinishPayment records c in one transaction: the transition (through
	// Next, with its event and audit record), the capture, refund and
	// restock it says, the end of the claim, and the webhook event.
	FinishPayment(ctx context.Context, c PaymentChange) (Order, error)
	// Fulfil locks the order, asks plan what f does to it, and records f,
	// the shipped quantities and the transition (event, audit, webhook), in
	// one transaction; plan's refusal changes nothing.
	Fulfil(ctx context.Context, orderID string, f Fulfillment, actor Actor, lease time.Duration, plan func(Order) (Action, error)) (Order, error)
	// AuthorizedBefore lists up to limit authorized orders checked out before t.
	AuthorizedBefore(ctx context.Context, t time.Time, limit int) ([]string, error)
	ReturnStore
	// StaleRefunds lists the pending refunds whose lease ended before now:
	// their server stopped between reserving and completing them.
	StaleRefunds(ctx context.Context, now time.Time) ([]StaleRefund, error)
	AppendAudit(ctx context.Context, r audit.Record) error
	// PendingRefund finds the order's refund reserved for purpose and not
	// completed (found false when there is none).
	PendingRefund(ctx context.Context, orderID, purpose string) (refundID string, amount money.Money, found bool, err error)
}

// Purposes of a refund that an operation other than a staff refund makes.
const PurposeCancel = "cancel"

// ReturnPurpose is the purpose of a return's refund.
func ReturnPurpose(returnID string) string { return "return:" + returnID }

// RefundReservation is a refund about to be asked of the processor.
type RefundReservation struct {
	OrderID, RefundID string
	Amount            money.Money
	// ActorID, Key and Hash are the staff member, the Idempotency-Key the
	// refund answers and its request's hash, so that recovery can record its
	// answer there; Key is "" for the refund of a cancellation or a return,
	// which are made idempotent by the order's claim and the return's state.
	ActorID, Key, Hash string
	// Claim is the lifecycle operation holding the order ("" for none);
	// ClaimLease is how long another operation's claim holds it.
	Claim      string
	ClaimLease time.Duration
	// Purpose is "" for a staff refund, which recovery finishes, or the
	// operation whose refund it is (PurposeCancel, ReturnPurpose), which
	// resumes it when retried (PendingRefund).
	Purpose string
	At      time.Time
	// LeaseUntil is when recovery may take the refund over.
	LeaseUntil time.Time
}

// StaleRefund is a pending refund whose server stopped.
type StaleRefund struct {
	OrderID, RefundID, AuthorizationID string
	Amount                             money.Money
	ActorID, Key                       string
}

// RefundCompletion is what CompleteRefund records.
type RefundCompletion struct {
	OrderID, RefundID, GatewayRefundID string
	ActorID, Key                       string
	At                                 time.Time
	// Actor is who refunds, for the order's event.
	Actor Actor
}

// Service is the order use cases.
type Service struct {
	store   Store
	gateway payment.Gateway
	now     func() time.Time
	// lease is how long a refund may run before recovery takes it over.
	lease time.Duration
	// ReturnWindow is the return-window setting (zero: DefaultReturnWindow);
	// set before the service is used.
	ReturnWindow time.Duration
	signals      Signals
	reads        ReadAuditor
}

// ReadAuditor records staff reads of orders (audit.Trail): an order shows
// its customer's contact, address and card's last digits, so every read of
// it by staff or an API key is in the audit log (PCI DSS 10.2.1.1).
type ReadAuditor interface {
	Record(ctx context.Context, action, target, outcome, detail string) error
}

// ActionRead is the audit action of a staff read of orders: one order
// (the target its id) or a page of them (the detail says which).
const ActionRead = "order.read"

// UseReadAudit records staff reads in a; without it they are not recorded.
func (s *Service) UseReadAudit(a ReadAuditor) { s.reads = a }

// readBy records a staff read; a read that cannot be recorded is refused.
func (s *Service) readBy(ctx context.Context, target, detail string) error {
	if s.reads == nil {
		return nil
	}
	if err := s.reads.Record(ctx, ActionRead, target, "success", detail); err != nil {
		return fmt.Errorf("record the read of orders: %w", err)
	}
	return nil
}

// Signals takes the security signals orders report (threat.Intake).
type Signals interface {
	Report(ctx context.Context, s detect.Signal)
}

// UseSignals makes every refund made (staff's, a cancellation's, a
// return's) a signal to threat detection, for its metric and for detectors
// the operator configures (docs/OPERATIONS.md).
func (s *Service) UseSignals(r Signals) { s.signals = r }

// refunded reports a refund of amount of o made through via ("refund",
// "cancel", "return").
func (s *Service) refunded(ctx context.Context, o Order, amount money.Money, via string) {
	if s.signals == nil {
		return
	}
	s.signals.Report(ctx, detect.Signal{Kind: detect.Refunded, At: s.now().UTC(), Account: o.CustomerID,
		Detail: map[string]string{"order": o.ID, "amount": strconv.FormatInt(amount.Amount, 10), "currency": amount.Currency, "via": via}})
}

// NewService returns the order service. A refund that has run for lease
// (the checkout's lease: a refund is as short as a checkout's payment) is
// taken over by RecoverRefunds.
func NewService(store Store, gateway payment.Gateway, now func() time.Time, lease time.Duration) *Service {
	return &Service{store: store, gateway: gateway, now: now, lease: lease}
}

// listDetail describes a page of orders read, never the email searched.
func listDetail(what string, n int, byEmail bool) string {
	d := fmt.Sprintf("list=%s orders=%d", what, n)
	if byEmail {
		d += " by customer email"
	}
	return d
}

// Mine lists the caller's orders.
func (s *Service) Mine(ctx context.Context, limit int, after string) ([]Order, bool, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return nil, false, err
	}
	return s.list(ctx, ListQuery{CustomerID: p.UserID, Limit: limit, After: after})
}

// All lists every customer's orders, or, with email, the orders of the
// account with that normalized email. Needs access.OrdersRead; searching by
// email needs a view that shows contact data (support, admin), since a match
// would otherwise reveal whose orders they are.
func (s *Service) All(ctx context.Context, limit int, after, email string) ([]Order, bool, error) {
	p, err := access.Require(ctx, access.OrdersRead)
	if err != nil {
		return nil, false, err
	}
	if email != "" && access.OrderViewFor(p) < access.OrderSupport {
		return nil, false, apperr.New(apperr.CodeForbidden, "searching orders by customer email needs a role that sees contact data")
	}
	if len(email) > 254 {
		return nil, false, &apperr.Error{Code: apperr.CodeValidation, Message: "the email is too long",
			Fields: []apperr.FieldError{{Field: "email", Message: "at most 254 characters"}}}
	}
	os, more, err := s.list(ctx, ListQuery{Limit: limit, After: after, CustomerEmail: email})
	if err != nil {
		return nil, false, err
	}
	return os, more, s.readBy(ctx, "", listDetail("all", len(os), email != ""))
}

func (s *Service) list(ctx context.Context, q ListQuery) ([]Order, bool, error) {
	var v apperr.Validator
	v.Check(q.Limit >= 1 && q.Limit <= 100, "limit", "must be between 1 and 100")
	v.Check(q.After == "" || id.Valid(id.Order, q.After), "cursor", "is not a cursor this server gave")
	if err := v.Err(); err != nil {
		return nil, false, err
	}
	want := q.Limit
	q.Limit++
	os, err := s.store.Orders(ctx, q)
	if err != nil {
		return nil, false, fmt.Errorf("list orders: %w", err)
	}
	if len(os) > want {
		return os[:want], true, nil
	}
	return os, false, nil
}

// Get returns one of the caller's orders.
func (s *Service) Get(ctx context.Context, orderID string) (Order, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return Order{}, err
	}
	if !id.Valid(id.Order, orderID) {
		return Order{}, ErrNotFound
	}
	return s.store.Order(ctx, p.UserID, orderID)
}

// Refund gives back amount (nil: everything not yet refunded) of an order's
// capture. Idempotent by key per staff member; never above the capture. Needs access.Refund.
func (s *Service) Refund(ctx context.Context, key, orderID string, amount *money.Money) (Order, bool, error) {
	p, err := access.RequireRecent(ctx, access.Refund, s.now())
	if err != nil {
		return Order{}, false, err
	}
	if !ValidKey(key) {
		return Order{}, false, ErrKeyRequired
	}
	if !id.Valid(id.Order, orderID) {
		return Order{}, false, ErrNotFound
	}
	o, err := s.store.Order(ctx, "", orderID)
	if err != nil {
		return Order{}, false, err
	}
	amt := money.Money{Amount: o.Captured.Amount - o.Refunded.Amount, Currency: o.Captured.Currency}
	hash := "order=" + orderID + " amount=rest"
	if amount != nil {
		var v apperr.Validator
		v.Check(amount.Amount > 0 && amount.Amount <= money.MaxAmount, "amount.amount", "must be a positive number of minor units")
		v.Check(amount.Currency == o.Captured.Currency, "amount.currency", "must be the order's currency "+o.Captured.Currency)
		if err := v.Err(); err != nil {
			return Order{}, false, err
		}
		amt = *amount
		hash = fmt.Sprintf("order=%s amount=%d %s", orderID, amount.Amount, amount.Currency)
	}
	// The key is looked up here and claimed in the transaction that reserves
	// the refund (ReserveRefund), so that a server stopping between the two
	// cannot leave a key in progress with no refund for recovery to finish.
	prior, err := s.store.PeekIdempotent(ctx, p.UserID, ScopeRefund, key, hash)
	if err == nil && prior.InProgress {
		// The first request with this key may have died with its server:
		// finish what is stale, then look again, so the retry gets the
		// answer as soon as the lease allows rather than request_in_progress.
		if n, rerr := s.RecoverRefunds(ctx); rerr == nil && n > 0 {
			prior, err = s.store.PeekIdempotent(ctx, p.UserID, ScopeRefund, key, hash)
		}
	}
	if err != nil {
		return Order{}, false, fmt.Errorf("refund: %w", err)
	}
	if done, replayed, err := replay(prior); replayed || err != nil {
		return done, replayed, err
	}
	refundID := id.New(id.Refund)
	fail := func(err error) (Order, bool, error) {
		var code string
		var e *apperr.Error
		if errors.As(err, &e) {
			code = e.Code
			rec := audit.New(ctx, s.now(), ActionRefund, orderID, audit.Failure, fmt.Sprintf("amount=%d %s", amt.Amount, code))
			if ferr := s.store.FinishIdempotentError(ctx, p.UserID, ScopeRefund, key, hash, code, s.now(), rec); ferr != nil {
				return Order{}, false, ferr
			}
			return Order{}, false, err
		}
		_ = s.store.ForgetIdempotent(context.WithoutCancel(ctx), p.UserID, ScopeRefund, key)
		return Order{}, false, err
	}
	if amt.Amount <= 0 {
		return fail(ErrRefundExceedsCapture)
	}
	_, prior, err = s.store.ReserveRefund(ctx, RefundReservation{OrderID: orderID, RefundID: refundID, Amount: amt,
		ActorID: p.UserID, Key: key, Hash: hash, ClaimLease: s.lease, At: s.now(), LeaseUntil: s.now().Add(s.lease)})
	if err != nil {
		return fail(err)
	}
	if !prior.Fresh { // a concurrent request with the key claimed it first
		return replay(prior)
	}
	gwID, err := s.gateway.Refund(ctx, o.AuthorizationID, amt, refundID)
	if err != nil && unknownOutcome(ctx, err) {
		// The processor may have made the refund (a timeout, a 5xx, its
		// answer lost): giving the amount back to the order now, and the
		// key to a retry under a new refund id, could refund twice. The
		// refund stays pending with its key in progress; recovery asks again
		// under the same id once the lease ends, and the retry of the key
		// then gets its answer.
		return Order{}, false, fmt.Errorf("refund of %s (left to recovery): %w", orderID, err)
	}
	if err != nil {
		if cerr := s.store.CancelRefund(context.WithoutCancel(ctx), orderID, refundID, amt); cerr != nil {
			return fail(errors.Join(err, cerr))
		}
		return fail(fmt.Errorf("processor refused refund of %s: %w", orderID, err))
	}
	rec := audit.New(ctx, s.now(), ActionRefund, orderID, audit.Success, fmt.Sprintf("refund=%s amount=%d %s", refundID, amt.Amount, amt.Currency))
	done, err := s.store.CompleteRefund(ctx, RefundCompletion{OrderID: orderID, RefundID: refundID, GatewayRefundID: gwID,
		ActorID: p.UserID, Key: key, At: s.now(), Actor: actorOf(ctx)}, rec)
	if err != nil {
		return Order{}, false, fmt.Errorf("complete refund of %s: %w", orderID, err)
	}
	s.refunded(ctx, o, amt, "refund")
	return done, false, nil
}

// RecoverRefunds finishes the refunds a stopped server left between
// reserving and completing them: each is asked of the processor again with
// its own reference, which the processor answers with the same refund if it
// was made already (never a second one), and completed for the staff
// member's Idempotency-Key, audited as done by the system. A refund the
// processor refuses is given back to the order and its key freed, so the
// staff member's retry asks again. It returns how many it finished; an
// outage stops it, leaving the rest for the next pass. Several instances may
// run it at once: a refund is completed once (CompleteRefund).
func (s *Service) RecoverRefunds(ctx context.Context) (int, error) {
	stale, err := s.store.StaleRefunds(ctx, s.now().UTC())
	if err != nil {
		return 0, fmt.Errorf("list stale refunds: %w", err)
	}
	var failed []error
	done := 0
	for _, r := range stale {
		gwID, err := s.gateway.Refund(ctx, r.AuthorizationID, r.Amount, r.RefundID)
		if err != nil {
			if unknownOutcome(ctx, err) {
				// The processor is out: the others would meet it too.
				return done, errors.Join(append(failed, fmt.Errorf("recover refund %s of %s: %w", r.RefundID, r.OrderID, err))...)
			}
			bg := context.WithoutCancel(ctx)
			rec := audit.New(bg, s.now(), ActionRefund, r.OrderID, audit.Failure, fmt.Sprintf("refund=%s amount=%d %s refused on recovery",
				r.RefundID, r.Amount.Amount, r.Amount.Currency))
			// One refund that cannot be finished must not hold back the
			// others: its error is reported, and the pass goes on.
			if err := errors.Join(s.store.CancelRefund(bg, r.OrderID, r.RefundID, r.Amount),
				s.store.ForgetIdempotent(bg, r.ActorID, ScopeRefund, r.Key), s.store.AppendAudit(bg, rec)); err != nil {
				failed = append(failed, fmt.Errorf("give back refused refund %s: %w", r.RefundID, err))
			}
			continue
		}
		rec := audit.New(ctx, s.now(), ActionRefund, r.OrderID, audit.Success, fmt.Sprintf("refund=%s amount=%d %s completed by recovery",
			r.RefundID, r.Amount.Amount, r.Amount.Currency))
		if _, err := s.store.CompleteRefund(ctx, RefundCompletion{OrderID: r.OrderID, RefundID: r.RefundID, GatewayRefundID: gwID,
			ActorID: r.ActorID, Key: r.Key, At: s.now().UTC()}, rec); err != nil {
			failed = append(failed, fmt.Errorf("complete recovered refund %s: %w", r.RefundID, err))
			continue
		}
		done++
	}
	return done, errors.Join(failed...)
}

// unknownOutcome reports whether a processor call that failed may yet have
// been carried out: an outage (no answer, a 5xx, a key in use) or the
// caller gone, as opposed to a refusal.
func unknownOutcome(ctx context.Context, err error) bool {
	_, outage := dependency.Classify(err)
	return outage || ctx.Err() != nil
}

// replay turns a Prior into the earlier answer, or says the request is new.
func replay(p Prior) (Order, bool, error) {
	switch {
	case p.Fresh:
		return Order{}, false, nil
	case p.Mismatch:
		return Order{}, false, ErrKeyReused
	case p.InProgress:
		return Order{}, false, ErrInProgress
	case p.Order != nil:
		return *p.Order, true, nil
	default:
		// The same refusal as the first time, message and all.
		for _, e := range []*apperr.Error{ErrOutOfStock, ErrDeclined, ErrRefundExceedsCapture, ErrNotFound, ErrCartEmpty, ErrFulfillmentExceedsOrder, ErrReturnExceedsShipped, ErrReturnWindowClosed} {
			if e.Code == p.ErrorCode {
				return Order{}, true, e
			}
		}
		return Order{}, true, &apperr.Error{Code: p.ErrorCode, Message: "the first request with this Idempotency-Key was refused"}
	}
}

// Replay is replay for the checkout package.
func Replay(p Prior) (Order, bool, error) { return replay(p) }
