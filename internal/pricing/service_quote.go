package pricing

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-shop/bulwark/internal/id"
)

// QuoteRequest is what a cart or a checkout asks to have priced. The lines'
// prices come from the catalog; the rest are the customer's choices.
type QuoteRequest struct {
	Currency string
	Lines    []Line
	// Destination is the shipping address's country and region; nil before
	// the customer gave one (no tax, no shipping yet).
	Destination *Destination
	// ShippingOptionID is the chosen option; "" for none yet.
	ShippingOptionID string
	// DiscountCode is the code as the customer typed it; "" for none.
	DiscountCode string
	// CustomerID counts the customer's earlier uses of the code.
	CustomerID string
}

// Quote reads the rates, the option and the discount r names and prices r
// with Compute. It answers currency_not_sold for a currency the shop does not
// sell, ErrDiscountUnknown for a malformed, unknown, inactive or
// out-of-window code (one answer for all, so guessing learns nothing; the
// caller counts these for rate limiting and threat detection),
// shipping_unavailable for an unknown option or one that does not serve the
// cart, and Compute's errors. Checkout must still count the discount's use
// with the store's atomic redemption in the order's transaction: this read
// is not a reservation.
func (s *Service) Quote(ctx context.Context, r QuoteRequest) (Quote, error) {
	if err := CheckCurrency(s.sold, r.Currency); err != nil {
		return Quote{}, err
	}
	in := Input{Currency: r.Currency, Lines: r.Lines, TaxMode: s.taxMode, Destination: r.Destination, Now: s.now().UTC()}
	if r.Destination != nil && countryShape.MatchString(r.Destination.Country) {
		rates, err := s.store.TaxRatesFor(ctx, r.Destination.Country)
		if err != nil {
			return Quote{}, fmt.Errorf("tax rates for %s: %w", r.Destination.Country, err)
		}
		in.TaxRates = rates
	}
	if r.ShippingOptionID != "" {
		if !id.Valid(id.ShippingOption, r.ShippingOptionID) {
			return Quote{}, ErrShippingUnavailable
		}
		o, err := s.store.ShippingOption(ctx, r.ShippingOptionID)
		if errors.Is(err, ErrShippingOptionNotFound) {
			return Quote{}, ErrShippingUnavailable
		}
		if err != nil {
			return Quote{}, fmt.Errorf("shipping option %s: %w", r.ShippingOptionID, err)
		}
		in.Shipping = &o
	}
	if r.DiscountCode != "" {
		code, ok := NormalizeCode(r.DiscountCode)
		if !ok {
			return Quote{}, ErrDiscountUnknown
		}
		d, err := s.store.DiscountByCode(ctx, code)
		if errors.Is(err, ErrDiscountNotFound) {
			return Quote{}, ErrDiscountUnknown
		}
		if err != nil {
			return Quote{}, fmt.Errorf("discount by code: %w", err)
		}
		if r.CustomerID != "" {
			if in.CustomerUses, err = s.store.DiscountUses(ctx, d.ID, r.CustomerID); err != nil {
				return Quote{}, fmt.Errorf("discount uses: %w", err)
			}
		}
		in.Discount = &d
	}
	return Compute(in)
}
