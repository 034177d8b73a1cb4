package pricing_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/pricing"
)

var sold = []string{"EUR", "USD"}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"summer-sale", "SUMMERSALE", true},
		{"Summer Sale", "SUMMERSALE", true},
		{"ABCD", "ABCD", true},
		{"ABC", "", false},   // too short
		{"A-B-C", "", false}, // too short once the hyphens are gone
		{strings.Repeat("A", 32), strings.Repeat("A", 32), true},
		{strings.Repeat("A", 33), "", false}, // too long
		{"save-10", "SAVE10", true},          // the names merchants use
		{"GOLDIE", "GOLDIE", true},
		{"SÜMMER", "", false}, // only the alphabet
		{"SAVE_20", "", false},
		{"ABCD\n", "", false},
		{strings.Repeat("-", 1000) + "ABCD", "", false}, // absurd input does no work
	}
	for _, tt := range tests {
		got, ok := pricing.NormalizeCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeCode(%q) = %q %v, want %q %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDiscountCheck(t *testing.T) {
	base := func() pricing.Discount {
		return pricing.Discount{ID: id.New(id.Discount), Code: "SUMMERSALE", Kind: pricing.DiscountPercent, BasisPoints: 1000, Active: true,
			StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)}
	}
	cart := pricing.DiscountCheck{Currency: "EUR", Lines: []pricing.Line{line(prodA, 1000, 1)}, Subtotal: 1000, Now: now}
	tests := []struct {
		name   string
		change func(*pricing.Discount, *pricing.DiscountCheck)
		code   string
	}{
		{"valid", func(*pricing.Discount, *pricing.DiscountCheck) {}, ""},
		{"inactive looks unknown", func(d *pricing.Discount, _ *pricing.DiscountCheck) { d.Active = false }, apperr.CodeDiscountInvalid},
		{"starts_at is inclusive", func(d *pricing.Discount, c *pricing.DiscountCheck) { c.Now = d.StartsAt }, ""},
		{"before starts_at", func(d *pricing.Discount, c *pricing.DiscountCheck) { c.Now = d.StartsAt.Add(-time.Microsecond) }, apperr.CodeDiscountInvalid},
		{"ends_at is exclusive", func(d *pricing.Discount, c *pricing.DiscountCheck) { c.Now = d.EndsAt }, apperr.CodeDiscountInvalid},
		{"just before ends_at", func(d *pricing.Discount, c *pricing.DiscountCheck) { c.Now = d.EndsAt.Add(-time.Microsecond) }, ""},
		{"open window", func(d *pricing.Discount, c *pricing.DiscountCheck) { d.StartsAt, d.EndsAt = time.Time{}, time.Time{} }, ""},
		{"minimum met exactly", func(d *pricing.Discount, _ *pricing.DiscountCheck) { d.MinSubtotal = eur(1000) }, ""},
		{"minimum missed by one", func(d *pricing.Discount, _ *pricing.DiscountCheck) { d.MinSubtotal = eur(1001) }, apperr.CodeDiscountInvalid},
		{"minimum only in another currency", func(d *pricing.Discount, _ *pricing.DiscountCheck) {
			d.MinSubtotal = []money.Money{{Amount: 1, Currency: "USD"}}
		}, apperr.CodeDiscountInvalid},
		{"fixed without an amount in the currency", func(d *pricing.Discount, _ *pricing.DiscountCheck) {
			d.Kind, d.BasisPoints, d.Amounts = pricing.DiscountFixed, 0, []money.Money{{Amount: 1, Currency: "USD"}}
		}, apperr.CodeDiscountInvalid},
		{"no eligible line", func(d *pricing.Discount, _ *pricing.DiscountCheck) { d.ProductIDs = []string{prodB} }, apperr.CodeDiscountInvalid},
		{"an eligible category", func(d *pricing.Discount, c *pricing.DiscountCheck) {
			d.CategoryIDs = []string{catX}
			c.Lines = []pricing.Line{{ProductID: prodA, CategoryIDs: []string{id.New(id.Category), catX}, UnitPrice: 1, Quantity: 1}}
		}, ""},
		{"one use left", func(d *pricing.Discount, _ *pricing.DiscountCheck) { d.MaxUses, d.Uses = 3, 2 }, ""},
		{"every use taken", func(d *pricing.Discount, _ *pricing.DiscountCheck) { d.MaxUses, d.Uses = 3, 3 }, apperr.CodeDiscountExhausted},
		{"no total limit", func(d *pricing.Discount, _ *pricing.DiscountCheck) { d.MaxUses, d.Uses = 0, 1<<40 }, ""},
		{"the customer's uses taken", func(d *pricing.Discount, c *pricing.DiscountCheck) { d.MaxUsesPerCustomer, c.CustomerUses = 1, 1 }, apperr.CodeDiscountExhausted},
		{"the customer has one left", func(d *pricing.Discount, c *pricing.DiscountCheck) { d.MaxUsesPerCustomer, c.CustomerUses = 2, 1 }, ""},
		{"a guest cannot use a code limited per customer", func(d *pricing.Discount, c *pricing.DiscountCheck) { d.MaxUsesPerCustomer, c.Guest = 1, true }, apperr.CodeDiscountInvalid},
		{"a guest can use a code without that limit", func(d *pricing.Discount, c *pricing.DiscountCheck) { d.MaxUses, c.Guest = 5, true }, ""},
		{"invalid wins over exhausted", func(d *pricing.Discount, c *pricing.DiscountCheck) { d.MaxUses, d.Uses, c.Now = 1, 1, d.EndsAt }, apperr.CodeDiscountInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, c := base(), cart
			tt.change(&d, &c)
			err := d.Check(c)
			if (tt.code == "" && err != nil) || (tt.code != "" && apperr.Code(err) != tt.code) {
				t.Fatalf("Check = %v, want %q", err, tt.code)
			}
			// Every reason a code does not apply gives the one answer, message
			// and all: a guesser cannot tell an unknown code from one that exists.
			if tt.code == apperr.CodeDiscountInvalid && err != pricing.ErrDiscountUnknown {
				t.Fatalf("Check = %v, want the one answer %v", err, pricing.ErrDiscountUnknown)
			}
		})
	}
	t.Run("unknown, inactive, out-of-window and inapplicable codes answer alike", func(t *testing.T) {
		d := base()
		d.Active = false
		inactive := d.Check(cart)
		d = base()
		c := cart
		c.Now = d.EndsAt
		expired := d.Check(c)
		if inactive.Error() != pricing.ErrDiscountUnknown.Error() || expired.Error() != pricing.ErrDiscountUnknown.Error() {
			t.Fatalf("inactive %v, expired %v", inactive, expired)
		}
	})
}

func TestValidate(t *testing.T) {
	okRate := pricing.TaxRate{Place: pricing.Place{Country: "DE"}, RatePPM: 190000, Name: "VAT"}
	okShip := *flat(500, de, pricing.Place{Country: "US", Region: "CA"})
	okDisc := pricing.Discount{Code: "SUMMERSALE", Kind: pricing.DiscountPercent, BasisPoints: 1000, Active: true}
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"a tax rate", okRate.Validate(), ""},
		{"100 % tax", func() error { r := okRate; r.RatePPM = pricing.MaxRatePPM; return r.Validate() }(), ""},
		{"tax above 100 %", func() error { r := okRate; r.RatePPM = pricing.MaxRatePPM + 1; return r.Validate() }(), apperr.CodeValidation},
		{"negative tax", func() error { r := okRate; r.RatePPM = -1; return r.Validate() }(), apperr.CodeValidation},
		{"a lower-case country", func() error { r := okRate; r.Place.Country = "de"; return r.Validate() }(), apperr.CodeValidation},
		{"a long region", func() error { r := okRate; r.Place.Region = "ABCD"; return r.Validate() }(), apperr.CodeValidation},
		{"a nameless rate", func() error { r := okRate; r.Name = ""; return r.Validate() }(), apperr.CodeValidation},

		{"a flat option", okShip.Validate(sold), ""},
		{"no zones", func() error { o := okShip; o.Zones = nil; return o.Validate(sold) }(), apperr.CodeValidation},
		{"a zone twice", func() error { o := okShip; o.Zones = []pricing.Place{de, de}; return o.Validate(sold) }(), apperr.CodeValidation},
		{"a negative price", func() error { o := okShip; o.Prices = eur(-1); return o.Validate(sold) }(), apperr.CodeValidation},
		{"an overflowing price", func() error { o := okShip; o.Prices = eur(money.MaxAmount + 1); return o.Validate(sold) }(), apperr.CodeValidation},
		{"a currency twice", func() error { o := okShip; o.Prices = append(eur(1), eur(2)...); return o.Validate(sold) }(), apperr.CodeValidation},
		{"an unsold currency", func() error {
			o := okShip
			o.Prices = []money.Money{{Amount: 1, Currency: "JPY"}}
			return o.Validate(sold)
		}(), apperr.CodeCurrencyNotSold},
		{"an unknown kind", func() error { o := okShip; o.Kind = "pigeon"; return o.Validate(sold) }(), apperr.CodeValidation},
		{"flat with bands", func() error { o := okShip; o.Bands = bands().Bands; return o.Validate(sold) }(), apperr.CodeValidation},
		{"free above", freeAbove(500, 5000).Validate(sold), ""},
		{"free above without a threshold in a priced currency", func() error {
			o := *freeAbove(500, 5000)
			o.Prices = append(o.Prices, money.Money{Amount: 1, Currency: "USD"})
			return o.Validate(sold)
		}(), apperr.CodeValidation},
		{"bands", bands().Validate(sold), ""},
		{"bands with a gap", func() error { o := *bands(); o.Bands[1].MinGrams = 2000; return o.Validate(sold) }(), ""},
		{"overlapping bands", func() error { o := *bands(); o.Bands[1].MinGrams = 999; return o.Validate(sold) }(), apperr.CodeValidation},
		{"bands out of order", func() error { o := *bands(); o.Bands[0], o.Bands[1] = o.Bands[1], o.Bands[0]; return o.Validate(sold) }(), apperr.CodeValidation},
		{"an empty band", func() error { o := *bands(); o.Bands[0].MaxGrams = 0; return o.Validate(sold) }(), apperr.CodeValidation},
		{"an unbounded band", func() error { o := *bands(); o.Bands[1].MaxGrams = pricing.MaxWeightGrams + 1; return o.Validate(sold) }(), apperr.CodeValidation},
		{"a band without prices", func() error { o := *bands(); o.Bands[1].Prices = nil; return o.Validate(sold) }(), apperr.CodeValidation},

		{"a percent discount", okDisc.Validate(sold), ""},
		{"a discount of exactly 100 %", func() error { d := okDisc; d.BasisPoints = 10000; return d.Validate(sold) }(), ""},
		{"a discount over 100 %", func() error { d := okDisc; d.BasisPoints = 10001; return d.Validate(sold) }(), apperr.CodeValidation},
		{"a discount of 0 %", func() error { d := okDisc; d.BasisPoints = 0; return d.Validate(sold) }(), apperr.CodeValidation},
		{"a code not normalized", func() error { d := okDisc; d.Code = "welcome"; return d.Validate(sold) }(), apperr.CodeValidation},
		{"a fixed discount", func() error {
			d := okDisc
			d.Kind, d.BasisPoints, d.Amounts = pricing.DiscountFixed, 0, eur(500)
			return d.Validate(sold)
		}(), ""},
		{"a fixed discount of nothing", func() error {
			d := okDisc
			d.Kind, d.BasisPoints, d.Amounts = pricing.DiscountFixed, 0, eur(0)
			return d.Validate(sold)
		}(), apperr.CodeValidation},
		{"a fixed discount in an unsold currency", func() error {
			d := okDisc
			d.Kind, d.BasisPoints, d.Amounts = pricing.DiscountFixed, 0, []money.Money{{Amount: 1, Currency: "GBP"}}
			return d.Validate(sold)
		}(), apperr.CodeCurrencyNotSold},
		{"a minimum in an unsold currency", func() error {
			d := okDisc
			d.MinSubtotal = []money.Money{{Amount: 1, Currency: "GBP"}}
			return d.Validate(sold)
		}(), apperr.CodeCurrencyNotSold},
		{"free shipping with a percentage", func() error { d := okDisc; d.Kind = pricing.DiscountFreeShipping; return d.Validate(sold) }(), apperr.CodeValidation},
		{"ends before it starts", func() error { d := okDisc; d.StartsAt, d.EndsAt = now, now; return d.Validate(sold) }(), apperr.CodeValidation},
		{"negative use limits", func() error { d := okDisc; d.MaxUsesPerCustomer = -1; return d.Validate(sold) }(), apperr.CodeValidation},
		{"a product id of another type", func() error { d := okDisc; d.ProductIDs = []string{id.New(id.User)}; return d.Validate(sold) }(), apperr.CodeValidation},
		{"a category twice", func() error { d := okDisc; d.CategoryIDs = []string{catX, catX}; return d.Validate(sold) }(), apperr.CodeValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.code == "" && tt.err != nil) || (tt.code != "" && apperr.Code(tt.err) != tt.code) {
				t.Fatalf("Validate = %v, want %q", tt.err, tt.code)
			}
		})
	}
}

func TestOverlapsAndApplicable(t *testing.T) {
	a, b := rate("US", "", 0), rate("US", "CA", 72500)
	if a.Overlaps(b) || !a.Overlaps(rate("US", "", 100)) || a.Overlaps(a) {
		t.Fatal("overlap is the same country and region, another rate")
	}
	if got := pricing.ApplicableRates([]pricing.TaxRate{a, b, rate("CA", "", 1)}, pricing.Destination{Country: "US", Region: "CA"}); len(got) != 2 {
		t.Fatalf("applicable = %v", got)
	}
}

func TestAvailableFor(t *testing.T) {
	eu := flat(500, de, fr)
	usd := &pricing.ShippingOption{ID: id.New(id.ShippingOption), Name: "US", Zones: []pricing.Place{{Country: "US"}}, Kind: pricing.ShipFlat, Prices: []money.Money{{Amount: 1, Currency: "USD"}}, Active: true}
	off := flat(1, de)
	off.Active = false
	opts := []pricing.ShippingOption{*eu, *usd, *off, *bands()}
	if got := pricing.AvailableFor(opts, pricing.Destination{Country: "DE"}, "EUR"); len(got) != 2 || got[0].ID != eu.ID {
		t.Fatalf("DE/EUR: %v", got)
	}
	if got := pricing.AvailableFor(opts, pricing.Destination{Country: "US", Region: "NY"}, ""); len(got) != 1 || got[0].ID != usd.ID {
		t.Fatalf("US/any: %v", got)
	}
	if got := pricing.AvailableFor(opts, pricing.Destination{Country: "US"}, "EUR"); len(got) != 0 {
		t.Fatalf("US/EUR: %v", got)
	}
}

func TestCheckCurrency(t *testing.T) {
	if pricing.CheckCurrency(sold, "USD") != nil || apperr.Code(pricing.CheckCurrency(sold, "GBP")) != apperr.CodeCurrencyNotSold {
		t.Fatal("CheckCurrency")
	}
}

// FuzzCompute: for any cart the computation either refuses it or gives a
// quote whose parts add up (checkInvariants), with every amount in range.
func FuzzCompute(f *testing.F) {
	f.Add(int64(999), int64(3), int64(1), int64(1), int64(190000), int64(1500), int64(500), uint8(0), false, int64(0))
	f.Add(int64(money.MaxAmount), int64(1), int64(0), int64(0), int64(0), int64(10000), int64(0), uint8(1), true, int64(100))
	f.Add(int64(1), int64(99), int64(333), int64(7), int64(88750), int64(1), int64(1), uint8(2), true, int64(1000))
	f.Fuzz(func(t *testing.T, p1, q1, p2, q2, ppm, bp, fixed int64, kind uint8, inclusive bool, ship int64) {
		mode := pricing.TaxExclusive
		if inclusive {
			mode = pricing.TaxInclusive
		}
		in := pricing.Input{Currency: "EUR", TaxMode: mode, Now: now, Destination: dest("DE", ""),
			Lines:    []pricing.Line{line(prodA, p1, q1), {ProductID: prodB, CategoryIDs: []string{catX}, UnitPrice: p2, Quantity: q2}},
			TaxRates: []pricing.TaxRate{rate("DE", "", ppm%(pricing.MaxRatePPM+1)), rate("DE", "BE", 70000)}}
		if ship >= 0 && ship <= money.MaxAmount {
			in.Shipping = flat(ship, de)
		}
		switch kind % 4 {
		case 1:
			in.Discount = discount(pricing.DiscountPercent, bp, nil)
		case 2:
			in.Discount = discount(pricing.DiscountFixed, 0, eur(fixed))
			in.Discount.CategoryIDs = []string{catX}
		case 3:
			in.Discount = discount(pricing.DiscountFreeShipping, 0, nil)
		}
		q, err := pricing.Compute(in)
		if err != nil {
			if apperr.Code(err) == apperr.CodeInternal {
				t.Fatalf("an input error that is not an *apperr.Error: %v", err)
			}
			return
		}
		checkInvariants(t, in, q)
	})
}
