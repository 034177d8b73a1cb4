// Package payment owns how the shop is paid: the card processor behind a small
// Gateway interface (with a simulated processor for development and tests) and
// the customer's saved payment methods, which hold a vault token, the brand, the
// last four digits and the expiry — never a card number.
package payment

import (
	"context"
	"errors"

	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// Decline reasons a gateway reports.
var (
	ErrDeclined          = errors.New("card declined")
	ErrInsufficientFunds = errors.New("insufficient funds")
	ErrIncorrectCVC      = errors.New("incorrect cvc")
)

// AuthorizeRequest asks the processor to hold an amount on a card. The CVC is
// here only in flight.
type AuthorizeRequest struct {
	Card      vault.Card
	CVC       string
	Amount    money.Money
	Reference string // the shop's reference, such as an order id
	// Record, when set, is called with the authorization's id before any
	// amount is held on the card; if it fails, nothing is held and
	// Authorize returns its error. The shop records the id there, so that
	// whenever it stops afterwards it knows what to void: an id learnt only
	// from Authorize's answer is lost with a server that stops before
	// writing it down, and the hold with it (until the processor lets it go
	// days later).
	Record func(ctx context.Context, authorizationID string) error
	// Checked, when set, is told what the processor verified of the card
	// it authorized (the CVC's check), for the fraud rules that look at
	// it after the authorization (docs/FRAUD.md). A gateway that learns
	// nothing of it does not call it.
	Checked func(Checks)
}

// Checks are what a processor verified of a card when it authorized it.
type Checks struct {
	// CVC is CheckPass, CheckFail, CheckUnavailable (the issuer did not
	// check it) or CheckUnchecked (no CVC was sent, or nothing is known).
	CVC string
}

// The outcomes of a check, as Stripe names them.
const (
	CheckPass        = "pass"
	CheckFail        = "fail"
	CheckUnavailable = "unavailable"
	CheckUnchecked   = "unchecked"
)

// CardInfo is what a processor tells of a card before anything is held on
// it: the country of the issuing bank (ISO 3166-1 alpha-2, "" when it does
// not know).
type CardInfo struct {
	Country string
}

// Inspector is a gateway that can tell what it knows of a card without
// authorizing anything (Stripe reads it off the payment method it creates
// for the authorization to come): fraud rules compare the issuer's country
// with the shipping address before the processor is asked to hold money.
type Inspector interface {
	// Inspect returns what the processor knows of req's card; req is the
	// authorization to come (Amount and Record are not used).
	Inspect(ctx context.Context, req AuthorizeRequest) (CardInfo, error)
}

// Gateway is a card processor. A real processor's adapter implements it (the
// Stripe adapter in internal/payment/stripe); the Simulator is the built-in
// one. Declines are errors wrapping ErrDeclined; a processor that cannot be
// reached or answers that it cannot serve now returns an error marked as an
// outage of dependency.Payment (503 unavailable with Retry-After, never a 500).
type Gateway interface {
	// Authorize holds the amount and returns the processor's authorization id.
	Authorize(ctx context.Context, req AuthorizeRequest) (string, error)
	// Capture collects an authorized amount.
	Capture(ctx context.Context, authorizationID string, amount money.Money) error
	// Refund returns part or all of a captured amount and returns the
	// processor's refund id. reference names this refund in the shop (a
	// refund id, or the order id for a checkout's own compensation): a
	// processor that takes idempotency keys derives one from it, so a retried
	// call never refunds twice, while two refunds of the same amount with
	// different references are two refunds.
	Refund(ctx context.Context, authorizationID string, amount money.Money, reference string) (string, error)
	// Void releases an authorization that will not be captured.
	Void(ctx context.Context, authorizationID string) error
}
