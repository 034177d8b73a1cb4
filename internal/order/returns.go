package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// Returns: a customer asks to send back shipped units within the return
// window; staff accept or reject the request, then receive the goods,
// restocking the lines they choose and refunding what they decide (never
// above what was captured and not refunded).

// Return statuses.
const (
	ReturnRequested = "requested"
	ReturnAccepted  = "accepted"
	ReturnReceived  = "received"
	ReturnRejected  = "rejected"
	// ReturnReceiving holds a return while its refund is at the processor,
	// so a second receive cannot refund it again; a hold older than the
	// service's lease (pending-order-timeout: a stopped instance) may be
	// taken over.
	ReturnReceiving = "receiving"
)

// Return actions.
const (
	RetAccept  Action = "accept"
	RetReject  Action = "reject"
	RetReceive Action = "receive"
)

// returnTransitions is the returns' own table.
var returnTransitions = map[string]map[Action]string{
	ReturnRequested: {RetAccept: ReturnAccepted, RetReject: ReturnRejected},
	ReturnAccepted:  {RetReceive: ReturnReceived, RetReject: ReturnRejected},
	ReturnReceiving: {},
	ReturnReceived:  {},
	ReturnRejected:  {},
}

// NextReturn is the status a return in status from goes to by a, or
// illegal_transition.
func NextReturn(from string, a Action) (string, error) {
	if to, ok := returnTransitions[from][a]; ok {
		return to, nil
	}
	return "", &apperr.Error{Code: CodeIllegalTransition, Message: fmt.Sprintf("a return that is %s cannot take the action %s", from, a)}
}

// Codes of the returns' refusals.
const (
	CodeReturnExceedsShipped = "return_exceeds_shipped"
	CodeReturnWindowClosed   = "return_window_closed"
)

// Errors of returns.
var (
	ErrReturnExceedsShipped = apperr.New(CodeReturnExceedsShipped, "a return cannot hold more of a line than shipped and not yet returned; nothing was recorded")
	ErrReturnWindowClosed   = apperr.New(CodeReturnWindowClosed, "the return window of this order has closed")
	ErrReturnNotFound       = apperr.NotFound("return")
)

// DefaultReturnWindow is how long after its last fulfilment an order may be
// returned, unless the return-window setting says otherwise.
const DefaultReturnWindow = 720 * time.Hour

// ReturnLine is how many of one order line a return holds, and (once
// received) whether they went back into stock.
type ReturnLine struct {
	LineID   string `json:"line_id"`
	Quantity int    `json:"quantity"`
	Restock  bool   `json:"restock"`
}

// Return is a customer's return of shipped units.
type Return struct {
	ID        string       `json:"id"`
	OrderID   string       `json:"order_id"`
	Status    string       `json:"status"`
	Reason    string       `json:"reason"`
	Lines     []ReturnLine `json:"lines"`
	RefundID  string       `json:"refund_id,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// ReturnRequest is a return as the customer sends it.
type ReturnRequest struct {
	Lines  []FulfillmentLine
	Reason string
}

// Validate records every problem of r into v.
func (r ReturnRequest) Validate(v *apperr.Validator) {
	v.Check(len(r.Lines) >= 1 && len(r.Lines) <= maxFulfillmentLines, "lines", "must list 1 to 100 lines")
	seen := map[string]bool{}
	for i, l := range r.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		v.Check(id.Valid(id.OrderLine, l.LineID), f+".line_id", "is not an order line id")
		v.Check(!seen[l.LineID], f+".line_id", "is listed twice")
		seen[l.LineID] = true
		v.Check(l.Quantity >= 1 && l.Quantity <= 99, f+".quantity", "must be between 1 and 99")
	}
	v.CheckText("reason", r.Reason, 1, 500, true)
}

// PlanReturn decides whether r may be asked of o at now: every line o's,
// no more than shipped and not returned (ErrReturnExceedsShipped), within
// window of the last fulfilment (ErrReturnWindowClosed).
func PlanReturn(o Order, r ReturnRequest, now time.Time, window time.Duration) error {
	left := map[string]int{}
	for _, l := range o.Lines {
		left[l.ID] = l.Fulfilled - l.Returned
	}
	var v apperr.Validator
	for i, l := range r.Lines {
		_, ok := left[l.LineID]
		v.Check(ok, fmt.Sprintf("lines[%d].line_id", i), "is not a line of this order")
	}
	if err := v.Err(); err != nil {
		return err
	}
	var last time.Time
	for _, f := range o.Fulfillments {
		if f.CreatedAt.After(last) {
			last = f.CreatedAt
		}
	}
	if last.IsZero() {
		return ErrReturnExceedsShipped // nothing shipped
	}
	if now.Sub(last) > window {
		return ErrReturnWindowClosed
	}
	for _, l := range r.Lines {
		if l.Quantity > left[l.LineID] {
			return ErrReturnExceedsShipped
		}
	}
	return nil
}

// ReceiveRequest is what staff record when the goods come back: per line
// whether it goes back into stock, and an optional refund.
type ReceiveRequest struct {
	Restock map[string]bool // line id → restock
	Refund  *money.Money
}

// ReturnStore keeps returns.
type ReturnStore interface {
	// CreateReturn locks the order (the customer's), asks plan, and records
	// ret with the returned quantities, its audit record and the
	// return.requested webhook, in one transaction.
	CreateReturn(ctx context.Context, customerID string, ret Return, plan func(Order) error) (Return, error)
	// MoveReturn locks the return, asks NextReturn and records the move
	// (a rejection gives the quantities back to be returned again).
	MoveReturn(ctx context.Context, returnID string, a Action, at time.Time) (Return, error)
	// ClaimReturn moves an accepted return to receiving; ReleaseReturn back.
	ClaimReturn(ctx context.Context, returnID string, at time.Time, lease time.Duration) (Return, error)
	ReleaseReturn(ctx context.Context, returnID string) error
	// FinishReturn records the receipt: restocks, the refund's completion
	// (with the order's transition) and the return received.
	FinishReturn(ctx context.Context, r ReturnReceipt) (Return, error)
}

// ReturnReceipt is what FinishReturn records.
type ReturnReceipt struct {
	ReturnID                  string
	Restock                   map[string]bool
	RefundID, GatewayRefundID string
	Actor                     Actor
	At                        time.Time
}

// RequestReturn asks to return shipped units of one of the caller's orders.
func (s *Service) RequestReturn(ctx context.Context, orderID string, r ReturnRequest) (Return, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return Return{}, err
	}
	if !id.Valid(id.Order, orderID) {
		return Return{}, ErrNotFound
	}
	var v apperr.Validator
	r.Validate(&v)
	if err := v.Err(); err != nil {
		return Return{}, err
	}
	window := s.ReturnWindow
	if window <= 0 {
		window = DefaultReturnWindow
	}
	now := s.now().UTC()
	ret := Return{ID: id.New(id.Return), OrderID: orderID, Status: ReturnRequested, Reason: r.Reason, CreatedAt: now, UpdatedAt: now}
	for _, l := range r.Lines {
		ret.Lines = append(ret.Lines, ReturnLine{LineID: l.LineID, Quantity: l.Quantity})
	}
	return s.returns().CreateReturn(ctx, p.UserID, ret, func(o Order) error { return PlanReturn(o, r, now, window) })
}

func (s *Service) returns() ReturnStore { return s.store }

// AcceptReturn and RejectReturn decide on a return. Need access.Refund.
func (s *Service) AcceptReturn(ctx context.Context, returnID string) (Return, error) {
	return s.moveReturn(ctx, returnID, RetAccept)
}

// RejectReturn refuses a requested or accepted return.
func (s *Service) RejectReturn(ctx context.Context, returnID string) (Return, error) {
	return s.moveReturn(ctx, returnID, RetReject)
}

func (s *Service) moveReturn(ctx context.Context, returnID string, a Action) (Return, error) {
	if _, err := access.Require(ctx, access.Refund); err != nil {
		return Return{}, err
	}
	if !id.Valid(id.Return, returnID) {
		return Return{}, ErrReturnNotFound
	}
	return s.returns().MoveReturn(ctx, returnID, a, s.now())
}

// ReceiveReturn records the goods of an accepted return as received,
// restocking the lines r says and refunding r.Refund (never above what was
// captured and not refunded). Needs access.Refund with a recent login.
func (s *Service) ReceiveReturn(ctx context.Context, returnID string, r ReceiveRequest) (Return, error) {
	if _, err := access.RequireRecent(ctx, access.Refund, s.now()); err != nil {
		return Return{}, err
	}
	if !id.Valid(id.Return, returnID) {
		return Return{}, ErrReturnNotFound
	}
	var v apperr.Validator
	v.Check(len(r.Restock) <= maxFulfillmentLines, "lines", "must list at most 100 lines")
	for lineID := range r.Restock {
		v.Check(id.Valid(id.OrderLine, lineID), "lines", "names a line id that is not one")
	}
	if r.Refund != nil {
		v.Check(r.Refund.Amount > 0 && r.Refund.Amount <= money.MaxAmount, "refund.amount", "must be a positive number of minor units")
	}
	if err := v.Err(); err != nil {
		return Return{}, err
	}
	ret, err := s.returns().ClaimReturn(ctx, returnID, s.now(), s.lease)
	if err != nil {
		return Return{}, err
	}
	release := func(err error) (Return, error) {
		return Return{}, errors.Join(err, s.returns().ReleaseReturn(context.WithoutCancel(ctx), returnID))
	}
	in := map[string]bool{}
	for _, l := range ret.Lines {
		in[l.LineID] = true
	}
	for lineID := range r.Restock {
		if !in[lineID] {
			return release(&apperr.Error{Code: apperr.CodeValidation, Message: "a line to restock is not in the return",
				Fields: []apperr.FieldError{{Field: "lines", Message: "names " + lineID + ", which the return does not hold"}}})
		}
	}
	receipt := ReturnReceipt{ReturnID: returnID, Restock: r.Restock, Actor: actorOf(ctx), At: s.now()}
	// A receipt that a stopped server left after reserving its refund is
	// resumed with that refund and amount, whatever the retry asks: never a
	// second refund, never one left pending.
	pendingID, pendingAmt, pending, err := s.store.PendingRefund(ctx, ret.OrderID, ReturnPurpose(returnID))
	if err != nil {
		return release(err)
	}
	if pending {
		r.Refund = &pendingAmt
	}
	var o Order
	if r.Refund != nil {
		var err error
		if o, err = s.store.Order(ctx, "", ret.OrderID); err != nil {
			return release(err)
		}
		if r.Refund.Currency != o.Captured.Currency {
			return release(&apperr.Error{Code: apperr.CodeValidation, Message: "the refund is not in the order's currency",
				Fields: []apperr.FieldError{{Field: "refund.currency", Message: "must be the order's currency " + o.Captured.Currency}}})
		}
		refundID := pendingID
		if !pending {
			refundID = id.New(id.Refund)
			if _, _, err := s.store.ReserveRefund(ctx, RefundReservation{OrderID: ret.OrderID, RefundID: refundID, Amount: *r.Refund,
				ClaimLease: s.lease, Purpose: ReturnPurpose(returnID), At: s.now(), LeaseUntil: s.now().Add(s.lease)}); err != nil {
				return release(err)
			}
		}
		gwID, err := s.gateway.Refund(ctx, o.AuthorizationID, *r.Refund, refundID)
		if err != nil && unknownOutcome(ctx, err) {
			// Perhaps made: the refund stays pending, and the retried
			// receipt resumes it under the same id.
			return release(fmt.Errorf("refund return %s: %w", returnID, err))
		}
		if err != nil {
			cerr := s.store.CancelRefund(context.WithoutCancel(ctx), ret.OrderID, refundID, *r.Refund)
			return release(errors.Join(fmt.Errorf("refund return %s: %w", returnID, err), cerr))
		}
		receipt.RefundID, receipt.GatewayRefundID = refundID, gwID
	}
	done, err := s.returns().FinishReturn(ctx, receipt)
	if err != nil {
		return Return{}, fmt.Errorf("record receipt of return %s: %w", returnID, err)
	}
	if receipt.RefundID != "" {
		s.refunded(ctx, o, *r.Refund, "return")
	}
	return done, nil
}
