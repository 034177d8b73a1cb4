package pricing

import (
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// ShippingKind is how a shipping option is priced.
type ShippingKind string

// The shipping kinds.
const (
	// ShipFlat costs Prices whatever the cart.
	ShipFlat ShippingKind = "flat"
	// ShipWeightBands costs the price of the band the cart's weight falls in.
	ShipWeightBands ShippingKind = "weight_bands"
	// ShipFreeAbove costs Prices below FreeAbove and nothing from it on.
	ShipFreeAbove ShippingKind = "free_above"
)

// Limits of a shipping option.
const (
	MaxZones = 250
	MaxBands = 50
	// MaxPrices bounds the prices of one option or band (one per currency).
	MaxPrices = 20
	// MaxWeightGrams bounds a band and a cart's weight (1000 tonnes).
	MaxWeightGrams = 1_000_000_000
)

// Band is a weight range [MinGrams, MaxGrams) and its prices.
type Band struct {
	MinGrams int64
	MaxGrams int64
	Prices   []money.Money
}

// ShippingOption is a way to ship to a zone, with its price.
type ShippingOption struct {
	ID    string
	Name  string
	Zones []Place
	Kind  ShippingKind
	// Prices are the flat price (flat), or the price below the threshold (free_above).
	Prices []money.Money
	// Bands price weight_bands.
	Bands []Band
	// FreeAbove is the threshold per currency of free_above: free when the
	// subtotal after discount is at least this.
	FreeAbove []money.Money
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// priceIn returns the amount of prices in currency.
func priceIn(prices []money.Money, currency string) (int64, bool) {
	for _, p := range prices {
		if p.Currency == currency {
			return p.Amount, true
		}
	}
	return 0, false
}

// checkPrices records invalid prices of a list and returns the first
// currency in it the shop does not sell ("" when none).
func checkPrices(v *apperr.Validator, field string, prices []money.Money, sold []string, required bool) string {
	v.Check(!required || len(prices) > 0, field, "needs a price in at least one currency")
	v.Check(len(prices) <= MaxPrices, field, fmt.Sprintf("holds at most %d prices", MaxPrices))
	seen := map[string]bool{}
	unsold := ""
	for i, p := range prices {
		f := fmt.Sprintf("%s[%d]", field, i)
		v.Check(inRange(p.Amount), f+".amount", fmt.Sprintf("must be between 0 and %d", int64(money.MaxAmount)))
		if !currencyShape.MatchString(p.Currency) {
			v.Check(false, f+".currency", "must be an ISO 4217 code such as EUR")
			continue
		}
		v.Check(!seen[p.Currency], f+".currency", "appears twice")
		seen[p.Currency] = true
		if unsold == "" && CheckCurrency(sold, p.Currency) != nil {
			unsold = p.Currency
		}
	}
	return unsold
}

// Validate reports every invalid field of o (validation_failed), or else a
// price in a currency the shop does not sell (currency_not_sold).
func (o ShippingOption) Validate(sold []string) error {
	var v apperr.Validator
	v.CheckText("name", o.Name, 1, MaxNameLength, false)
	v.Check(len(o.Zones) > 0 && len(o.Zones) <= MaxZones, "zones", fmt.Sprintf("must name 1 to %d countries or regions", MaxZones))
	seen := map[Place]bool{}
	for i, z := range o.Zones {
		f := fmt.Sprintf("zones[%d]", i)
		checkPlace(&v, f, z)
		v.Check(!seen[z], f, "appears twice")
		seen[z] = true
	}
	var unsold []string
	switch o.Kind {
	case ShipFlat:
		unsold = append(unsold, checkPrices(&v, "prices", o.Prices, sold, true))
		v.Check(len(o.Bands) == 0, "bands", "only a weight_bands option has bands")
		v.Check(len(o.FreeAbove) == 0, "free_above", "only a free_above option has a threshold")
	case ShipFreeAbove:
		unsold = append(unsold, checkPrices(&v, "prices", o.Prices, sold, true))
		unsold = append(unsold, checkPrices(&v, "free_above", o.FreeAbove, sold, true))
		v.Check(len(o.Bands) == 0, "bands", "only a weight_bands option has bands")
		for i, t := range o.FreeAbove {
			_, ok := priceIn(o.Prices, t.Currency)
			v.Check(ok, fmt.Sprintf("free_above[%d].currency", i), "needs a price in the same currency")
		}
		for i, p := range o.Prices {
			_, ok := priceIn(o.FreeAbove, p.Currency)
			v.Check(ok, fmt.Sprintf("prices[%d].currency", i), "needs a threshold in the same currency")
		}
	case ShipWeightBands:
		v.Check(len(o.Prices) == 0, "prices", "a weight_bands option is priced by its bands")
		v.Check(len(o.FreeAbove) == 0, "free_above", "only a free_above option has a threshold")
		v.Check(len(o.Bands) > 0 && len(o.Bands) <= MaxBands, "bands", fmt.Sprintf("must hold 1 to %d bands", MaxBands))
		for i, b := range o.Bands {
			f := fmt.Sprintf("bands[%d]", i)
			v.Check(b.MinGrams >= 0 && b.MinGrams < MaxWeightGrams, f+".min_grams", fmt.Sprintf("must be between 0 and %d", MaxWeightGrams-1))
			v.Check(b.MaxGrams > b.MinGrams && b.MaxGrams <= MaxWeightGrams, f+".max_grams", fmt.Sprintf("must be above min_grams and at most %d", MaxWeightGrams))
			if i > 0 {
				v.Check(b.MinGrams >= o.Bands[i-1].MaxGrams, f+".min_grams", "bands must be in ascending order and must not overlap: at least the previous band's max_grams")
			}
			unsold = append(unsold, checkPrices(&v, f+".prices", b.Prices, sold, true))
		}
	default:
		v.Check(false, "kind", "must be flat, weight_bands or free_above")
	}
	if err := v.Err(); err != nil {
		return err
	}
	for _, c := range unsold {
		if c != "" {
			return CheckCurrency(sold, c)
		}
	}
	return nil
}

// Serves reports whether o ships to d.
func (o ShippingOption) Serves(d Destination) bool {
	for _, z := range o.Zones {
		if z.covers(d) {
			return true
		}
	}
	return false
}

// Price returns what o costs for a cart of weightGrams and goods (the
// subtotal after discount) in currency, shipped to d; shipping_unavailable
// when o is inactive, does not serve d, has no price in currency or no band
// for the weight.
func (o ShippingOption) Price(d Destination, currency string, weightGrams, goods int64) (int64, error) {
	if !o.Active || !o.Serves(d) {
		return 0, ErrShippingUnavailable
	}
	switch o.Kind {
	case ShipFlat:
		if p, ok := priceIn(o.Prices, currency); ok {
			return p, nil
		}
	case ShipFreeAbove:
		p, ok := priceIn(o.Prices, currency)
		t, ok2 := priceIn(o.FreeAbove, currency)
		if ok && ok2 {
			if goods >= t {
				return 0, nil
			}
			return p, nil
		}
	case ShipWeightBands:
		for _, b := range o.Bands {
			if weightGrams >= b.MinGrams && weightGrams < b.MaxGrams {
				if p, ok := priceIn(b.Prices, currency); ok {
					return p, nil
				}
			}
		}
	}
	return 0, ErrShippingUnavailable
}

// AvailableFor returns the active options of opts that serve d and have a
// price in currency (for some weight, for weight bands; any currency when
// currency is ""), in the order given.
func AvailableFor(opts []ShippingOption, d Destination, currency string) []ShippingOption {
	var out []ShippingOption
	for _, o := range opts {
		if !o.Active || !o.Serves(d) {
			continue
		}
		_, priced := priceIn(o.Prices, currency)
		priced = priced || currency == ""
		for _, b := range o.Bands {
			if _, ok := priceIn(b.Prices, currency); ok {
				priced = true
			}
		}
		if priced {
			out = append(out, o)
		}
	}
	return out
}
