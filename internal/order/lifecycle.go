package order

import (
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// The lifecycle of an order after payment, as one table: for each status,
// the actions it allows and the status each leads to. Every change of an
// order's status goes through Next, so no service (or store) can move an
// order along a path the table does not have; whatever is not in the table
// is refused with ErrIllegalTransition, naming the status and the action.
//
//	pending ──pay──▶ paid ──fulfil_partial──▶ partially_fulfilled ──fulfil──▶ fulfilled
//	   │  └─authorize─▶ authorized ──capture──▶ paid
//	   └─hold─▶ pending_review ──capture──▶ paid
//	authorized, pending_review ──void | cancel | expire──▶ cancelled
//	paid, partially_refunded ──cancel──▶ cancelled (the capture is refunded)
//	paid, partially_fulfilled, fulfilled, partially_refunded ──refund_partial──▶ partially_refunded
//	                                                         ──refund──▶ refunded
//
// Cancelled and refunded are final. A refund of a shipped order moves it to
// partially_refunded or refunded (the amounts say how much); the
// fulfilments stay on the order, and the rest of a partially refunded order
// may still be shipped.

// Action is what is done to an order.
type Action string

// The actions of the lifecycle.
const (
	// ActPay completes a checkout that authorized and captured at once
	// (payment-capture=checkout).
	ActPay Action = "pay"
	// ActAuthorize completes a checkout that only authorized
	// (payment-capture=fulfilment).
	ActAuthorize Action = "authorize"
	// ActHold puts a checked-out order aside for review (fraud rules).
	ActHold Action = "hold"
	// ActCapture takes the authorized amount.
	ActCapture Action = "capture"
	// ActVoid gives up the authorization (staff); ActExpire does it when the
	// authorization outlived authorization-expiry (the system).
	ActVoid   Action = "void"
	ActExpire Action = "expire"
	// ActCancel ends an order before anything shipped: voided if only
	// authorized, refunded if captured.
	ActCancel Action = "cancel"
	// ActFulfilPartial ships some of what is left; ActFulfil ships the last of it.
	ActFulfilPartial Action = "fulfil_partial"
	ActFulfil        Action = "fulfil"
	// ActRefundPartial gives back part of the capture, leaving some;
	// ActRefund gives back the last of it.
	ActRefundPartial Action = "refund_partial"
	ActRefund        Action = "refund"
)

// Actions lists every action, for tests that walk the whole table.
func Actions() []Action {
	return []Action{ActPay, ActAuthorize, ActHold, ActCapture, ActVoid, ActExpire, ActCancel,
		ActFulfilPartial, ActFulfil, ActRefundPartial, ActRefund}
}

// Further statuses of the lifecycle (the others are in order.go).
const (
	StatusAuthorized         = "authorized"
	StatusPartiallyFulfilled = "partially_fulfilled"
)

// Statuses lists every status, pending included.
func Statuses() []string {
	return []string{StatusPending, StatusPendingReview, StatusAuthorized, StatusPaid, StatusPartiallyFulfilled, StatusFulfilled,
		StatusCancelled, StatusRefunded, StatusPartiallyRefunded}
}

// transitions is the table: status → action → next status.
var transitions = map[string]map[Action]string{
	StatusPending: {
		ActPay:       StatusPaid,
		ActAuthorize: StatusAuthorized,
		ActHold:      StatusPendingReview,
	},
	StatusPendingReview: {
		ActCapture: StatusPaid,
		ActVoid:    StatusCancelled,
		ActExpire:  StatusCancelled,
		ActCancel:  StatusCancelled,
	},
	StatusAuthorized: {
		ActCapture: StatusPaid,
		ActVoid:    StatusCancelled,
		ActExpire:  StatusCancelled,
		ActCancel:  StatusCancelled,
	},
	StatusPaid: {
		ActCancel:        StatusCancelled,
		ActFulfilPartial: StatusPartiallyFulfilled,
		ActFulfil:        StatusFulfilled,
		ActRefundPartial: StatusPartiallyRefunded,
		ActRefund:        StatusRefunded,
	},
	StatusPartiallyFulfilled: {
		ActFulfilPartial: StatusPartiallyFulfilled,
		ActFulfil:        StatusFulfilled,
		ActRefundPartial: StatusPartiallyRefunded,
		ActRefund:        StatusRefunded,
	},
	StatusFulfilled: {
		ActRefundPartial: StatusPartiallyRefunded,
		ActRefund:        StatusRefunded,
	},
	StatusPartiallyRefunded: {
		// Cancel is refused here by the service once anything shipped (the
		// status alone does not say so after a refund).
		ActCancel:        StatusCancelled,
		ActFulfilPartial: StatusPartiallyFulfilled,
		ActFulfil:        StatusFulfilled,
		ActRefundPartial: StatusPartiallyRefunded,
		ActRefund:        StatusRefunded,
	},
	StatusCancelled: {},
	StatusRefunded:  {},
}

// CodeIllegalTransition refuses an action the order's status does not allow.
const CodeIllegalTransition = "illegal_transition"

// Next is the status an order in status from goes to by action a, or an
// *apperr.Error with CodeIllegalTransition naming both.
func Next(from string, a Action) (string, error) {
	if to, ok := transitions[from][a]; ok {
		return to, nil
	}
	return "", IllegalTransition(from, a)
}

// IllegalTransition is the refusal of action a on an order in status from.
func IllegalTransition(from string, a Action) *apperr.Error {
	return &apperr.Error{Code: CodeIllegalTransition,
		Message: fmt.Sprintf("an order that is %s cannot take the action %s", from, a)}
}

// RefundAction is the refund that leaves refunded of captured given back.
func RefundAction(captured, refunded int64) Action {
	if refunded >= captured {
		return ActRefund
	}
	return ActRefundPartial
}

// Actor kinds of an event: who made the change.
const (
	ActorCustomer = "customer"
	ActorStaff    = "staff"
	ActorSystem   = "system"
)

// Event is one transition of an order, as recorded with it.
type Event struct {
	At        time.Time `json:"at"`
	ActorKind string    `json:"actor_kind"`
	ActorID   string    `json:"actor_id"`
	Action    Action    `json:"action"`
	From      string    `json:"from"`
	To        string    `json:"to"`
}

// Actor is who makes a change, for its event and audit record.
type Actor struct {
	Kind string // ActorCustomer, ActorStaff or ActorSystem
	ID   string // the account's id; "" for the system
}
