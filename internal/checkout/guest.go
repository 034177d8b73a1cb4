package checkout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// GuestRequest is a guest's checkout (issue 13): the card comes with the
// request instead of a saved payment method, and an email stands in for the
// account. The card is sent to the vault for this checkout only and
// destroyed there when it ends; the shop database never holds it. The
// Request's PaymentMethodID is not used.
type GuestRequest struct {
	Request
	Email string
	Card  vault.Card
	// BillingCountry is the country of the card's billing address ("" or
	// ISO 3166-1 alpha-2), for fraud scoring.
	BillingCountry string
}

// Guests keeps a guest's contact data and the vault tokens of guests' cards
// while their checkouts run (store, guests.go).
type Guests interface {
	// SetGuestEmail seals email and name as the guest's contact data.
	SetGuestEmail(ctx context.Context, guestID, email, name string, at time.Time) error
	// HoldGuestCard records a guest card's vault token before it is used;
	// DropGuestCard forgets it once the vault deleted the card.
	HoldGuestCard(ctx context.Context, token string, at time.Time) error
	DropGuestCard(ctx context.Context, token string) error
	// StaleGuestCards lists up to limit tokens held since before before.
	StaleGuestCards(ctx context.Context, before time.Time, limit int) ([]string, error)
}

// GuestCardLife is how long a guest's card may stay in the vault before
// SweepGuestCards deletes it: far longer than any checkout runs.
const GuestCardLife = time.Hour

// guestCardSweep bounds the cards one sweep deletes.
const guestCardSweep = 100

// ErrGuestCheckoutOff answers a guest checkout while the setting is off
// (as if the route did not exist).
var ErrGuestCheckoutOff = apperr.NotFound("route")

// guestHash identifies a guest checkout's body for idempotency: the cart,
// the email and what may be shown of the card (brand digits are not kept:
// a hash of a card number is as sensitive as the number), with the rest of
// the request.
func guestHash(r GuestRequest) string {
	card := "guest " + r.Email + " " + last4(r.Card.Number) + " " + strconv.Itoa(r.Card.ExpMonth) + "/" + strconv.Itoa(r.Card.ExpYear) + " " + r.BillingCountry
	rr := r.Request
	rr.PaymentMethodID = card
	return requestHash(rr)
}

func last4(number string) string {
	if len(number) < 4 {
		return number
	}
	return number[len(number)-4:]
}

// CheckoutGuest runs the checkout of the guest's cart (the caller must be
// the guest holding r.CartID's token), through the same path as an
// account's: the same pricing, stock, idempotency and recovery. The email is
// validated and sealed on the guest; the card goes to the vault (its
// validation_failed answer changes nothing) only once the key is known to be
// fresh, pays this order and is deleted from the vault whatever the outcome.
// It returns the order and whether it is a replay.
func (s *Service) CheckoutGuest(ctx context.Context, key string, r GuestRequest) (order.Order, bool, error) {
	if !s.guestOn || s.vault == nil || s.guests == nil {
		return order.Order{}, false, ErrGuestCheckoutOff
	}
	p := access.PrincipalFrom(ctx)
	if p == nil || p.GuestCartID == "" {
		return order.Order{}, false, apperr.New(apperr.CodeUnauthenticated, "send the guest cart's token in the Cart-Token header")
	}
	if !order.ValidKey(key) {
		return order.Order{}, false, order.ErrKeyRequired
	}
	r.Email = identity.NormalizeEmail(r.Email)
	var v apperr.Validator
	v.Check(id.Valid(id.Cart, r.CartID) && p.Shops(r.CartID), "cart_id", "is not this guest's cart")
	if problem := identity.EmailProblem(r.Email); problem != "" {
		v.Check(false, "email", problem)
	}
	v.Check(r.Card.Number != "", "card.number", "is required")
	v.Check(r.Card.ExpMonth >= 1 && r.Card.ExpMonth <= 12, "card.exp_month", "must be between 1 and 12")
	v.Check(r.Card.ExpYear >= 2000 && r.Card.ExpYear <= 2100, "card.exp_year", "must be a four-digit year")
	// The vault checks the digits (spaces and dashes between groups allowed);
	// this only bounds what is sent to it.
	v.Check(len(r.Card.Number) <= 32, "card.number", "must be 12 to 19 digits")
	v.CheckText("card.holder", r.Card.Holder, 1, 100, false)
	v.CheckCountry("card.billing_country", r.BillingCountry, true)
	v.Check(len(r.CVC) >= 3 && len(r.CVC) <= 4 && isDigits(r.CVC), "cvc", "must be 3 or 4 digits")
	r.ShippingAddress.Validate(&v, "shipping_address")
	if e := r.ExpectedTotal; e != nil {
		v.Check(e.Amount >= 0 && e.Amount <= money.MaxAmount, "expected_total.amount", "must be between 0 and 10^12 minor units")
	}
	if err := v.Err(); err != nil {
		return order.Order{}, false, err
	}
	hash := guestHash(r)
	// A key already answered is answered again before the card goes
	// anywhere.
	if prior, err := s.store.PeekIdempotent(ctx, p.UserID, order.ScopeCheckout, key, hash); err != nil {
		return order.Order{}, false, fmt.Errorf("read idempotency key: %w", err)
	} else if !prior.Fresh && !prior.InProgress {
		return order.Replay(prior)
	}
	if err := s.guests.SetGuestEmail(ctx, p.UserID, r.Email, r.ShippingAddress.Name, s.now().UTC()); err != nil {
		return order.Order{}, false, fmt.Errorf("keep guest email: %w", err)
	}
	tok, err := s.vault.Tokenize(ctx, r.Card)
	if err != nil {
		return order.Order{}, false, err
	}
	// Held before it is used, so that a card whose checkout never reaches
	// its end (the instance stops) is still found and deleted by the sweep.
	if err := s.guests.HoldGuestCard(ctx, tok.ID, s.now().UTC()); err != nil {
		return order.Order{}, false, errors.Join(fmt.Errorf("hold guest card: %w", err), s.vault.Delete(context.WithoutCancel(ctx), tok.ID))
	}
	defer func() {
		// Used once: the card leaves the vault when the checkout ends,
		// paid or not (the gateway keeps what a refund needs). One the
		// vault does not delete now is left to SweepGuestCards.
		bg := context.WithoutCancel(ctx)
		if err := s.dropGuestCard(bg, tok.ID); err != nil {
			s.log.WarnContext(ctx, "guest card left to the sweep", "cart", r.CartID, "err", err)
		}
	}()
	m := payment.Method{OwnerID: p.UserID, Token: tok.ID, Brand: tok.Brand, Last4: tok.Last4,
		ExpMonth: tok.ExpMonth, ExpYear: tok.ExpYear, CreatedAt: s.now().UTC(), BillingCountry: r.BillingCountry}
	rr := r.Request
	if s.emailIndex != nil {
		// The email stands for the guest in fraud scoring's velocity, by
		// its blind index (as an account's is kept), never in clear.
		ix, err := s.emailIndex(r.Email)
		if err != nil {
			return order.Order{}, false, fmt.Errorf("index the guest's email: %w", err)
		}
		rr.emailIndex = ix
	}
	return s.run(ctx, p.UserID, key, hash, rr, m)
}

// dropGuestCard deletes a guest's card from the vault, then forgets its token.
func (s *Service) dropGuestCard(ctx context.Context, token string) error {
	if err := s.vault.Delete(ctx, token); err != nil {
		return fmt.Errorf("delete guest card: %w", err)
	}
	return s.guests.DropGuestCard(ctx, token)
}

// SweepGuestCards deletes from the vault the guests' cards whose checkout
// ended without deleting them (held longer than GuestCardLife), at most a
// hundred a call, and returns how many it deleted. It runs whether guest
// checkout is on or not, so turning it off leaves no card behind; several
// instances may run it at once (deleting a deleted card is no error).
func (s *Service) SweepGuestCards(ctx context.Context) (int, error) {
	if s.vault == nil || s.guests == nil {
		return 0, nil
	}
	stale, err := s.guests.StaleGuestCards(ctx, s.now().UTC().Add(-GuestCardLife), guestCardSweep)
	if err != nil {
		return 0, err
	}
	for i, token := range stale {
		if err := s.dropGuestCard(ctx, token); err != nil {
			return i, err
		}
	}
	return len(stale), nil
}
