package pricing

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// CustomerID counts the customer's earlier uses of the code; Guest
	// says it is a guest of guest checkout.
	CustomerID string
	Guest      bool
}

// Quote reads the rates, the option and the discount r names and prices r
// with Compute. It answers currency_not_sold for a currency the shop does not
// sell, validation_failed for a destination that is not a country,
// region_required (CheckRegion) for one without the region its taxes or
// shipping depend on, ErrDiscountUnknown for a malformed, unknown, inactive or
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
	var options []ShippingOption // the active options with a zone in the destination's country
	if d := r.Destination; d != nil {
		if err := CheckDestination(*d, "shipping_address"); err != nil {
			return Quote{}, err
		}
		rates, err := s.store.TaxRatesFor(ctx, d.Country)
		if err != nil {
			return Quote{}, fmt.Errorf("tax rates for %s: %w", d.Country, err)
		}
		if options, err = s.store.ShippingOptionsTo(ctx, d.Country, MaxLimit); err != nil {
			return Quote{}, fmt.Errorf("shipping options to %s: %w", d.Country, err)
		}
		if err := CheckRegion(*d, rates, options); err != nil {
			return Quote{}, err
		}
		in.TaxRates = rates
	}
	if r.ShippingOptionID != "" {
		// An option that can serve the destination is an active one with a
		// zone in its country, so it is among those just read: no read of
		// its own. One that is not there (unknown, inactive, another
		// country's) cannot serve it.
		i := slices.IndexFunc(options, func(o ShippingOption) bool { return o.ID == r.ShippingOptionID && o.Active })
		if r.Destination == nil || i < 0 {
			return Quote{}, ErrShippingUnavailable
		}
		in.Shipping = &options[i]
	}
	if r.DiscountCode != "" {
		code, ok := NormalizeCode(r.DiscountCode)
		if !ok {
			return Quote{}, ErrDiscountUnknown
		}
		// The discount and the customer's uses of it in one read, whether
		// the code exists or not: the two cost the same.
		d, uses, err := s.store.DiscountForCustomer(ctx, code, r.CustomerID)
		if errors.Is(err, ErrDiscountNotFound) {
			return Quote{}, ErrDiscountUnknown
		}
		if err != nil {
			return Quote{}, fmt.Errorf("discount by code: %w", err)
		}
		in.Discount, in.CustomerUses, in.Guest = &d, uses, r.Guest
	}
	q, err := Compute(in)
	if err != nil {
		return Quote{}, err
	}
	if r.Destination != nil && r.ShippingOptionID == "" {
		q.ShippingChoices = len(AvailableFor(options, *r.Destination, r.Currency))
		q.ShipsAnywhere = q.ShippingChoices > 0
		if !q.ShipsAnywhere {
			if q.ShipsAnywhere, err = s.store.AnyShippingOption(ctx); err != nil {
				return Quote{}, fmt.Errorf("any shipping option: %w", err)
			}
		}
	}
	return q, nil
}
