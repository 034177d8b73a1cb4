package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// Refund is one refund of an order, as listed with it.
type Refund struct {
	ID        string      `json:"id"`
	Amount    money.Money `json:"amount"`
	Status    string      `json:"status"`
	CreatedAt time.Time   `json:"created_at"`
}

// Fulfillment is one shipment of some of an order's lines.
type Fulfillment struct {
	ID             string            `json:"id"`
	Lines          []FulfillmentLine `json:"lines"`
	Carrier        string            `json:"carrier"`
	TrackingNumber string            `json:"tracking_number"`
	CreatedAt      time.Time         `json:"created_at"`
}

// FulfillmentLine is how many of one order line a fulfilment ships.
type FulfillmentLine struct {
	LineID   string `json:"line_id"`
	Quantity int    `json:"quantity"`
}

// Codes of the lifecycle's refusals.
const CodeFulfillmentExceedsOrder = "fulfillment_exceeds_order"

// ErrFulfillmentExceedsOrder refuses a fulfilment of more than was ordered
// and not yet shipped.
var ErrFulfillmentExceedsOrder = apperr.New(CodeFulfillmentExceedsOrder,
	"a fulfilment cannot ship more of a line than was ordered and not yet shipped; nothing was recorded")

// Payment operations that claim an order while the processor is called.
const (
	OpCapture = "capture"
	OpVoid    = "void"
	OpCancel  = "cancel"
)

// Audit actions of the lifecycle: ActionTransition + the action ("order.capture").
const ActionTransition = "order."

// PaymentChange is what FinishPayment records once the processor answered.
type PaymentChange struct {
	OrderID string
	Op      string // the claim it ends
	Action  Action
	Actor   Actor
	At      time.Time
	// Capture sets the captured amount to the order's total.
	Capture bool
	// Restock gives the stock of every line's unshipped units back.
	Restock bool
	// RefundID, when set, is the pending refund (ReserveRefund) the change
	// completed at the processor as GatewayRefundID.
	RefundID, GatewayRefundID string
	// Label, when set, labels the order for training (LabelFraud or
	// LabelLegitimate) in the same transaction: a review's decision.
	Label string
}

// FulfillmentRequest is a fulfilment as staff send it.
type FulfillmentRequest struct {
	Lines          []FulfillmentLine
	Carrier        string
	TrackingNumber string
}

// maxFulfillmentLines bounds a fulfilment's lines (an order has fewer).
const maxFulfillmentLines = 100

// Validate records every problem of r into v.
func (r FulfillmentRequest) Validate(v *apperr.Validator) {
	v.Check(len(r.Lines) >= 1 && len(r.Lines) <= maxFulfillmentLines, "lines", "must list 1 to 100 lines")
	seen := map[string]bool{}
	for i, l := range r.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		v.Check(id.Valid(id.OrderLine, l.LineID), f+".line_id", "is not an order line id")
		v.Check(!seen[l.LineID], f+".line_id", "is listed twice")
		seen[l.LineID] = true
		v.Check(l.Quantity >= 1 && l.Quantity <= 99, f+".quantity", "must be between 1 and 99")
	}
	v.CheckText("carrier", r.Carrier, 1, 100, false)
	v.CheckText("tracking_number", r.TrackingNumber, 1, 100, false)
}

// PlanFulfillment decides what shipping r does to o: the action (a partial
// or the last fulfilment), or a refusal: a line o does not have (422), more
// than is left of a line (ErrFulfillmentExceedsOrder), or a status that
// ships nothing (illegal_transition).
func PlanFulfillment(o Order, r FulfillmentRequest) (Action, error) {
	left := map[string]int{}
	for _, l := range o.Lines {
		left[l.ID] = l.Quantity - l.Fulfilled
	}
	var v apperr.Validator
	for i, l := range r.Lines {
		_, ok := left[l.LineID]
		v.Check(ok, fmt.Sprintf("lines[%d].line_id", i), "is not a line of this order")
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	for _, l := range r.Lines {
		if l.Quantity > left[l.LineID] {
			return "", ErrFulfillmentExceedsOrder
		}
		left[l.LineID] -= l.Quantity
	}
	a := ActFulfil
	for _, n := range left {
		if n > 0 {
			a = ActFulfilPartial
		}
	}
	if _, err := Next(o.Status, a); err != nil {
		return "", err
	}
	return a, nil
}

// shipped reports whether anything of o has been fulfilled.
func shipped(o Order) bool {
	for _, l := range o.Lines {
		if l.Fulfilled > 0 {
			return true
		}
	}
	return false
}

// actorOf names who is asking: staff (or a staff API key), a customer, or
// the system (no principal: a background job).
func actorOf(ctx context.Context) Actor {
	p := access.PrincipalFrom(ctx)
	switch {
	case p == nil:
		return Actor{Kind: ActorSystem}
	case p.KeyID != "" || access.IsStaff(p.Roles):
		return Actor{Kind: ActorStaff, ID: p.UserID}
	default:
		return Actor{Kind: ActorCustomer, ID: p.UserID}
	}
}

// Record is the audit record of a transition of orderID by e's actor.
func (e Event) Record(ctx context.Context, orderID string) audit.Record {
	r := audit.New(ctx, e.At, ActionTransition+string(e.Action), orderID, audit.Success,
		fmt.Sprintf("%s -> %s by %s %s", e.From, e.To, e.ActorKind, e.ActorID))
	if e.ActorKind == ActorSystem {
		r.Actor = audit.ActorSystem
	}
	return r
}

// Staff reads any order. Needs access.OrdersRead.
func (s *Service) Staff(ctx context.Context, orderID string) (Order, error) {
	if _, err := access.Require(ctx, access.OrdersRead); err != nil {
		return Order{}, err
	}
	if !id.Valid(id.Order, orderID) {
		return Order{}, ErrNotFound
	}
	o, err := s.store.Order(ctx, "", orderID)
	if err != nil {
		return Order{}, err
	}
	return o, s.readBy(ctx, o.ID, "")
}

// Capture takes the authorized total of an order (payment-capture=fulfilment).
// It is naturally idempotent: an order already captured is answered as it
// is (done true), and of concurrent captures one calls the processor while
// the others get ErrInProgress. Needs access.Refund with a recent login.
func (s *Service) Capture(ctx context.Context, orderID string) (o Order, done bool, err error) {
	if _, err := access.RequireRecent(ctx, access.Refund, s.now()); err != nil {
		return Order{}, false, err
	}
	if !id.Valid(id.Order, orderID) {
		return Order{}, false, ErrNotFound
	}
	return s.capture(ctx, orderID)
}

func (s *Service) capture(ctx context.Context, orderID string) (Order, bool, error) {
	var already bool
	o, err := s.store.ClaimPayment(ctx, orderID, OpCapture, s.now(), s.lease, func(o Order) error {
		if o.Status != StatusAuthorized && o.Status != StatusPendingReview && o.Captured.Amount > 0 {
			already = true // captured before: answered as it is
			return errDone
		}
		_, err := Next(o.Status, ActCapture)
		return err
	})
	if already {
		return s.answerDone(ctx, orderID)
	}
	if err != nil {
		return Order{}, false, err
	}
	if err := s.gateway.Capture(ctx, o.AuthorizationID, o.Total); err != nil {
		// Not captured (or not known to be): the claim goes, and staff may try again.
		rerr := s.store.ReleaseClaim(context.WithoutCancel(ctx), orderID, OpCapture)
		return Order{}, false, errors.Join(fmt.Errorf("capture %s: %w", orderID, err), rerr)
	}
	done, err := s.store.FinishPayment(ctx, PaymentChange{OrderID: orderID, Op: OpCapture, Action: ActCapture,
		Actor: actorOf(ctx), At: s.now(), Capture: true})
	if err != nil {
		return Order{}, false, fmt.Errorf("record capture of %s: %w", orderID, err)
	}
	return done, false, nil
}

// answerDone answers an operation done before with the order as it is now.
func (s *Service) answerDone(ctx context.Context, orderID string) (Order, bool, error) {
	o, err := s.store.Order(ctx, "", orderID)
	return o, err == nil, err
}

// errDone stops a claim whose work was done before; never returned.
var errDone = errors.New("already done")

// Void gives up an order's authorization, restocks it and cancels it; an
// order already voided or cancelled is answered as it is. Needs
// access.Refund with a recent login.
func (s *Service) Void(ctx context.Context, orderID string) (Order, bool, error) {
	if _, err := access.RequireRecent(ctx, access.Refund, s.now()); err != nil {
		return Order{}, false, err
	}
	if !id.Valid(id.Order, orderID) {
		return Order{}, false, ErrNotFound
	}
	return s.void(ctx, orderID, ActVoid)
}

func (s *Service) void(ctx context.Context, orderID string, a Action) (Order, bool, error) {
	var already bool
	o, err := s.store.ClaimPayment(ctx, orderID, OpVoid, s.now(), s.lease, func(o Order) error {
		if o.Status == StatusCancelled {
			already = true
			return errDone
		}
		// Decided under the order's lock: a cancellation that read the
		// order authorized may find it captured since (by a fulfilment),
		// and a captured order is refunded, never voided.
		if o.Status != StatusAuthorized && o.Status != StatusPendingReview {
			return &apperr.Error{Code: CodeIllegalTransition, Message: fmt.Sprintf("an order that is %s cannot be voided; it was captured meanwhile: cancel it again to refund it", o.Status)}
		}
		_, err := Next(o.Status, a)
		return err
	})
	if already {
		return s.answerDone(ctx, orderID)
	}
	if err != nil {
		return Order{}, false, err
	}
	if err := s.gateway.Void(ctx, o.AuthorizationID); err != nil {
		rerr := s.store.ReleaseClaim(context.WithoutCancel(ctx), orderID, OpVoid)
		return Order{}, false, errors.Join(fmt.Errorf("void %s: %w", orderID, err), rerr)
	}
	done, err := s.store.FinishPayment(ctx, PaymentChange{OrderID: orderID, Op: OpVoid, Action: a,
		Actor: actorOf(ctx), At: s.now(), Restock: true})
	if err != nil {
		return Order{}, false, fmt.Errorf("record void of %s: %w", orderID, err)
	}
	return done, false, nil
}

// Cancel ends an order before anything shipped: an authorization is voided,
// a capture refunded (what is not refunded yet, as a refund of the order),
// every line restocked, and the order cancelled. An order already cancelled
// is answered as it is; one that shipped anything is refused with
// illegal_transition. Needs access.Refund with a recent login.
func (s *Service) Cancel(ctx context.Context, orderID string) (Order, bool, error) {
	if _, err := access.RequireRecent(ctx, access.Refund, s.now()); err != nil {
		return Order{}, false, err
	}
	if !id.Valid(id.Order, orderID) {
		return Order{}, false, ErrNotFound
	}
	o, err := s.store.Order(ctx, "", orderID)
	if err != nil {
		return Order{}, false, err
	}
	if o.Status == StatusAuthorized || o.Status == StatusPendingReview {
		return s.void(ctx, orderID, ActCancel)
	}
	var already bool
	o, err = s.store.ClaimPayment(ctx, orderID, OpCancel, s.now(), s.lease, func(o Order) error {
		if o.Status == StatusCancelled {
			already = true
			return errDone
		}
		if shipped(o) {
			return &apperr.Error{Code: CodeIllegalTransition, Message: "an order that shipped anything cannot be cancelled; refund it or take a return"}
		}
		_, err := Next(o.Status, ActCancel)
		return err
	})
	if already {
		return s.answerDone(ctx, orderID)
	}
	if err != nil {
		return Order{}, false, err
	}
	release := func(err error) (Order, bool, error) {
		return Order{}, false, errors.Join(err, s.store.ReleaseClaim(context.WithoutCancel(ctx), orderID, OpCancel))
	}
	change := PaymentChange{OrderID: orderID, Op: OpCancel, Action: ActCancel, Actor: actorOf(ctx), At: s.now(), Restock: true}
	// A cancellation that a stopped server left after reserving its refund
	// is resumed with that refund (the processor makes it once under its
	// id), never with a second one.
	refundID, amt, pending, err := s.store.PendingRefund(ctx, orderID, PurposeCancel)
	if err != nil {
		return release(err)
	}
	if rest := o.Captured.Amount - o.Refunded.Amount; rest > 0 && !pending {
		amt = money.Money{Amount: rest, Currency: o.Captured.Currency}
		refundID = id.New(id.Refund)
		if _, _, err := s.store.ReserveRefund(ctx, RefundReservation{OrderID: orderID, RefundID: refundID, Amount: amt,
			Claim: OpCancel, ClaimLease: s.lease, Purpose: PurposeCancel, At: s.now(), LeaseUntil: s.now().Add(s.lease)}); err != nil {
			return release(err)
		}
		pending = true
	}
	if pending {
		gwID, err := s.gateway.Refund(ctx, o.AuthorizationID, amt, refundID)
		if err != nil && unknownOutcome(ctx, err) {
			// Perhaps made: the refund stays pending, and the retried
			// cancellation resumes it under the same id (PendingRefund).
			return release(fmt.Errorf("refund %s to cancel it: %w", orderID, err))
		}
		if err != nil {
			cerr := s.store.CancelRefund(context.WithoutCancel(ctx), orderID, refundID, amt)
			return release(errors.Join(fmt.Errorf("refund %s to cancel it: %w", orderID, err), cerr))
		}
		change.RefundID, change.GatewayRefundID = refundID, gwID
	}
	done, err := s.store.FinishPayment(ctx, change)
	if err != nil {
		return Order{}, false, fmt.Errorf("record cancellation of %s: %w", orderID, err)
	}
	if change.RefundID != "" {
		s.refunded(ctx, o, amt, "cancel")
	}
	return done, false, nil
}

// Fulfil records a shipment of some of an order's lines. With
// payment-capture=fulfilment the authorized order is captured first; a
// failed capture records no fulfilment. Needs access.Fulfil.
func (s *Service) Fulfil(ctx context.Context, orderID string, r FulfillmentRequest) (Fulfillment, Order, error) {
	if _, err := access.Require(ctx, access.Fulfil); err != nil {
		return Fulfillment{}, Order{}, err
	}
	if !id.Valid(id.Order, orderID) {
		return Fulfillment{}, Order{}, ErrNotFound
	}
	var v apperr.Validator
	r.Validate(&v)
	if err := v.Err(); err != nil {
		return Fulfillment{}, Order{}, err
	}
	o, err := s.store.Order(ctx, "", orderID)
	if err != nil {
		return Fulfillment{}, Order{}, err
	}
	// Checked before a capture, so a fulfilment that would be refused takes no money.
	if o.Status != StatusAuthorized {
		if _, err := PlanFulfillment(o, r); err != nil {
			return Fulfillment{}, Order{}, err
		}
	} else {
		probe := o
		probe.Status = StatusPaid
		if _, err := PlanFulfillment(probe, r); err != nil {
			return Fulfillment{}, Order{}, err
		}
		if _, _, err := s.capture(ctx, orderID); err != nil {
			return Fulfillment{}, Order{}, err
		}
	}
	f := Fulfillment{ID: id.New(id.Fulfillment), Lines: r.Lines, Carrier: r.Carrier, TrackingNumber: r.TrackingNumber, CreatedAt: s.now().UTC()}
	done, err := s.store.Fulfil(ctx, orderID, f, actorOf(ctx), s.lease, func(o Order) (Action, error) { return PlanFulfillment(o, r) })
	if err != nil {
		return Fulfillment{}, Order{}, err
	}
	return f, done, nil
}

// ExpireAuthorizations voids, restocks and cancels every authorized order
// (held for review or not) checked out before now - expiry (at most limit
// of them), as the system. It returns how many it expired.
func (s *Service) ExpireAuthorizations(ctx context.Context, expiry time.Duration, limit int) (int, error) {
	ids, err := s.store.AuthorizedBefore(ctx, s.now().Add(-expiry), limit)
	if err != nil {
		return 0, fmt.Errorf("list expired authorizations: %w", err)
	}
	n := 0
	for _, orderID := range ids {
		_, already, err := s.void(ctx, orderID, ActExpire)
		var e *apperr.Error
		if errors.As(err, &e) {
			continue // captured or voided meanwhile, or claimed by staff: not ours
		}
		if err != nil {
			return n, err
		}
		if !already {
			n++
		}
	}
	return n, nil
}
