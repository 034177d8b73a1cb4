package order

import (
	"errors"
	"fmt"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// Decisions of fraud scoring about a checkout (issue 14).
const (
	// DecisionAllow: captured as the shop's payment-capture setting says.
	DecisionAllow = "allow"
	// DecisionReview: authorized, not captured; the order waits in
	// pending_review for finance or admin to approve (capture) or reject
	// (void, restock, mail).
	DecisionReview = "review"
	// DecisionBlock: the authorization is voided and the checkout answered
	// as a decline, with no hint that rules decided.
	DecisionBlock = "block"
)

// Risk is what fraud scoring concluded about an order's checkout: kept on
// the order for finance and admin (never its customer, support or
// fulfilment), and for training the next model once staff label the order.
type Risk struct {
	// Score is 0 to 99: the higher, the likelier fraud.
	Score    int    `json:"score"`
	Decision string `json:"decision"`
	// Reasons say why: the rules that fired, the features that pushed the
	// model's score, or that the scorer failed (and the checkout was held).
	Reasons      []string `json:"reasons"`
	ModelVersion string   `json:"model_version,omitempty"`
	RulesVersion string   `json:"rules_version,omitempty"`
	// Features are the attributes the order was scored on, by name (what a
	// labelled order teaches the next model); never a card number, CVC or
	// password.
	Features map[string]float64 `json:"features,omitempty"`
	// Shadow says what a rule set or model in shadow mode would have
	// decided (logged and kept, never enforced); "" when none ran.
	Shadow string `json:"shadow,omitempty"`
}

// Check reports a risk no order may carry: a score outside 0-99, or a
// decision that is not allow, review or block.
func (r Risk) Check() error {
	var errs []error
	if r.Score < 0 || r.Score > 99 {
		errs = append(errs, fmt.Errorf("score %d is not 0-99", r.Score))
	}
	switch r.Decision {
	case DecisionAllow, DecisionReview, DecisionBlock:
	default:
		errs = append(errs, fmt.Errorf("decision %q is not allow, review or block", r.Decision))
	}
	return errors.Join(errs...)
}

// Labels staff give an order for training (POST /admin/orders/{id}/label).
const (
	LabelFraud      = "fraud"
	LabelLegitimate = "legitimate"
)

// ActionLabel is the audit action of labelling an order.
const ActionLabel = "order.label"

// ValidLabel reports whether l is a label staff may give.
func ValidLabel(l string) bool { return l == LabelFraud || l == LabelLegitimate }

// CheckLabel refuses a label that is neither, as a validation_failed
// naming the field.
func CheckLabel(l string) error {
	var v apperr.Validator
	v.Check(ValidLabel(l), "label", "fraud or legitimate")
	return v.Err()
}

// ActionFor is the lifecycle's step that completes a checkout the scorer
// decided about: held for review, or paid / authorized as the capture
// setting says (authorizeOnly is payment-capture=fulfilment). A block
// completes nothing: the checkout is refused.
func ActionFor(decision string, authorizeOnly bool) Action {
	switch {
	case decision == DecisionReview:
		return ActHold
	case authorizeOnly:
		return ActAuthorize
	default:
		return ActPay
	}
}
