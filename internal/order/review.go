package order

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
)

// The review queue (issue 14): a checkout that fraud scoring decided to
// review is authorized and not captured, its order pending_review, until
// finance or admin approve it (captured) or reject it (voided, restocked,
// its customer mailed). Each decision is a transition of the lifecycle
// (audited with its actor, idempotent) and labels the order for the next
// model's training in the same transaction.

// Reviews lists the orders held for review, oldest first (fraud:review).
func (s *Service) Reviews(ctx context.Context, limit int, after string) ([]Order, bool, error) {
	if _, err := access.Require(ctx, access.FraudReview); err != nil {
		return nil, false, err
	}
	os, more, err := s.list(ctx, ListQuery{Status: StatusPendingReview, Limit: limit, After: after})
	if err != nil {
		return nil, false, err
	}
	return os, more, s.readBy(ctx, "", listDetail("pending_review", len(os), false))
}

// Approve captures an order held for review and labels it legitimate
// (fraud:review, with a recent login). An order approved before is
// answered as it is (done true); one that was never held, or was rejected,
// is an illegal_transition.
func (s *Service) Approve(ctx context.Context, orderID string) (Order, bool, error) {
	return s.review(ctx, orderID, LabelLegitimate)
}

// Reject cancels an order held for review — its authorization voided, its
// stock given back, its customer mailed as for any cancellation — and
// labels it fraud (fraud:review, with a recent login). An order rejected
// before is answered as it is (done true).
func (s *Service) Reject(ctx context.Context, orderID string) (Order, bool, error) {
	return s.review(ctx, orderID, LabelFraud)
}

func (s *Service) review(ctx context.Context, orderID, label string) (Order, bool, error) {
	if _, err := access.RequireRecent(ctx, access.FraudReview, s.now()); err != nil {
		return Order{}, false, err
	}
	if !id.Valid(id.Order, orderID) {
		return Order{}, false, ErrNotFound
	}
	action, op, done := ActCapture, OpCapture, StatusPaid
	if label == LabelFraud {
		action, op, done = ActCancel, OpVoid, StatusCancelled
	}
	var already bool
	o, err := s.store.ClaimPayment(ctx, orderID, op, s.now(), s.lease, func(o Order) error {
		if o.Status != StatusPendingReview {
			// Decided before, this way: answered as it is. Any other
			// status was never held, or was decided the other way.
			if o.Status == done && o.Label == label {
				already = true
				return errDone
			}
			return &apperr.Error{Code: CodeIllegalTransition, Message: fmt.Sprintf("an order that is %s is not held for review", o.Status)}
		}
		_, err := Next(o.Status, action)
		return err
	})
	if already {
		return s.answerDone(ctx, orderID)
	}
	if err != nil {
		return Order{}, false, err
	}
	change := PaymentChange{OrderID: orderID, Op: op, Action: action, Actor: actorOf(ctx), At: s.now(), Label: label}
	if label == LabelFraud {
		err, change.Restock = s.gateway.Void(ctx, o.AuthorizationID), true
	} else {
		err, change.Capture = s.gateway.Capture(ctx, o.AuthorizationID, o.Total), true
	}
	if err != nil {
		// Nothing changed at the processor (or it is not known to have):
		// the claim goes, and staff may decide again.
		rerr := s.store.ReleaseClaim(context.WithoutCancel(ctx), orderID, op)
		return Order{}, false, fmt.Errorf("%s %s: %w", action, orderID, errors.Join(err, rerr))
	}
	decided, err := s.store.FinishPayment(ctx, change)
	if err != nil {
		return Order{}, false, fmt.Errorf("record the review of %s: %w", orderID, err)
	}
	return decided, false, nil
}

// Label labels an order fraud or legitimate for the next model's training
// (fraud:review): a chargeback that came in, a review's second thought.
// Labelling it again replaces the label; audited with the actor.
func (s *Service) Label(ctx context.Context, orderID, label string) (Order, error) {
	p, err := access.Require(ctx, access.FraudReview)
	if err != nil {
		return Order{}, err
	}
	if err := CheckLabel(label); err != nil {
		return Order{}, err
	}
	if !id.Valid(id.Order, orderID) {
		return Order{}, ErrNotFound
	}
	now := s.now().UTC()
	rec := audit.New(ctx, now, ActionLabel, orderID, audit.Success, "label="+label)
	return s.store.LabelOrder(ctx, orderID, label, p.UserID, now, rec)
}
