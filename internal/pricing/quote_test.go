package pricing_test

import (
	"slices"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/pricing"
)

var (
	prodA = id.New(id.Product)
	prodB = id.New(id.Product)
	catX  = id.New(id.Category)
	now   = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
)

func line(product string, price, qty int64) pricing.Line {
	return pricing.Line{VariantID: "var_" + product, ProductID: product, UnitPrice: price, Quantity: qty}
}

func rate(country, region string, ppm int64) pricing.TaxRate {
	return pricing.TaxRate{ID: id.New(id.TaxRate), Place: pricing.Place{Country: country, Region: region}, RatePPM: ppm, Name: country + region}
}

func dest(country, region string) *pricing.Destination {
	return &pricing.Destination{Country: country, Region: region}
}

func eur(a int64) []money.Money { return []money.Money{{Amount: a, Currency: "EUR"}} }

func flat(price int64, zones ...pricing.Place) *pricing.ShippingOption {
	return &pricing.ShippingOption{ID: id.New(id.ShippingOption), Name: "Standard", Zones: zones, Kind: pricing.ShipFlat, Prices: eur(price), Active: true}
}

func discount(kind pricing.DiscountKind, bp int64, amounts []money.Money) *pricing.Discount {
	return &pricing.Discount{ID: id.New(id.Discount), Code: "SAVEMORE", Kind: kind, BasisPoints: bp, Amounts: amounts, Active: true}
}

var (
	de = pricing.Place{Country: "DE"}
	fr = pricing.Place{Country: "FR"}
)

// want is what a case checks; nil slices are not checked.
type want struct {
	code                                     string // apperr code of the refusal, "" for success
	subtotal, discount, shipping, tax, total int64
	lineDiscounts, lineTaxes, taxLines       []int64
	taxesKnown                               bool
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name string
		in   pricing.Input
		want want
	}{
		// Tax, exclusive.
		{"exclusive: tax is added", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}, Destination: dest("DE", "")},
			want{subtotal: 1000, tax: 190, total: 1190, taxLines: []int64{190}, taxesKnown: true}},
		{"exclusive: half-even, .5 rounds to even (0)", pricing.Input{Lines: []pricing.Line{line(prodA, 50, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 10000)}, Destination: dest("DE", "")},
			want{subtotal: 50, tax: 0, total: 50, taxesKnown: true}},
		{"exclusive: half-even, 1.5 rounds to even (2)", pricing.Input{Lines: []pricing.Line{line(prodA, 150, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 10000)}, Destination: dest("DE", "")},
			want{subtotal: 150, tax: 2, total: 152, taxesKnown: true}},
		{"exclusive: half-even, 2.5 rounds to even (2)", pricing.Input{Lines: []pricing.Line{line(prodA, 250, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 10000)}, Destination: dest("DE", "")},
			want{subtotal: 250, tax: 2, total: 252, taxesKnown: true}},
		{"exclusive: above half rounds up", pricing.Input{Lines: []pricing.Line{line(prodA, 151, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 10000)}, Destination: dest("DE", "")},
			want{subtotal: 151, tax: 2, total: 153, taxesKnown: true}},
		{"tax is rounded per line, not on the sum", pricing.Input{Lines: []pricing.Line{line(prodA, 50, 1), line(prodB, 50, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 10000)}, Destination: dest("DE", "")},
			want{subtotal: 100, tax: 0, total: 100, lineTaxes: []int64{0, 0}, taxesKnown: true}},
		{"a quantity multiplies the line before tax", pricing.Input{Lines: []pricing.Line{line(prodA, 50, 3)}, TaxRates: []pricing.TaxRate{rate("DE", "", 10000)}, Destination: dest("DE", "")},
			want{subtotal: 150, tax: 2, total: 152, taxesKnown: true}},
		{"country and region rates add up; each is a tax line", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1)},
			TaxRates: []pricing.TaxRate{rate("CA", "", 50000), rate("CA", "QC", 99750), rate("CA", "ON", 80000)}, Destination: dest("CA", "QC")},
			want{subtotal: 1000, tax: 150, total: 1150, taxLines: []int64{50, 100}, taxesKnown: true}},
		{"another region gets only the country rate", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1)},
			TaxRates: []pricing.TaxRate{rate("CA", "", 50000), rate("CA", "QC", 99750)}, Destination: dest("CA", "BC")},
			want{subtotal: 1000, tax: 50, total: 1050, taxLines: []int64{50}, taxesKnown: true}},
		{"a rate finer than a basis point (8.875 %); 35.5 rounds to even 36", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1), line(prodB, 400, 1)}, TaxRates: []pricing.TaxRate{rate("US", "NY", 88750)}, Destination: dest("US", "NY")},
			want{subtotal: 1400, tax: 125, total: 1525, lineTaxes: []int64{89, 36}, taxesKnown: true}},
		{"zero-rated shows a tax line of 0", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1)}, TaxRates: []pricing.TaxRate{rate("GB", "", 0)}, Destination: dest("GB", "")},
			want{subtotal: 1000, tax: 0, total: 1000, taxLines: []int64{0}, taxesKnown: true}},
		{"no rate for the country: no tax", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}, Destination: dest("US", "")},
			want{subtotal: 1000, total: 1000, taxLines: []int64{}, taxesKnown: true}},
		{"no destination: taxes not known, none added", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}},
			want{subtotal: 1000, total: 1000}},
		{"an empty cart costs nothing", pricing.Input{Destination: dest("DE", ""), TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}},
			want{taxLines: []int64{0}, taxesKnown: true}},

		// Tax, inclusive.
		{"inclusive: the tax is in the price", pricing.Input{TaxMode: pricing.TaxInclusive, Lines: []pricing.Line{line(prodA, 1190, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}, Destination: dest("DE", "")},
			want{subtotal: 1190, tax: 190, total: 1190, taxLines: []int64{190}, taxesKnown: true}},
		{"inclusive: rounded half-even (9.99 × 19/119 = 1.595 → 1.60)", pricing.Input{TaxMode: pricing.TaxInclusive, Lines: []pricing.Line{line(prodA, 999, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}, Destination: dest("DE", "")},
			want{subtotal: 999, tax: 160, total: 999, taxesKnown: true}},
		{"inclusive: tie to even (1.05 × 5/105 = 0.05 exactly; 21 × 5/105 = 1)", pricing.Input{TaxMode: pricing.TaxInclusive, Lines: []pricing.Line{line(prodA, 105, 1), line(prodB, 21, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 50000)}, Destination: dest("DE", "")},
			want{subtotal: 126, tax: 6, total: 126, lineTaxes: []int64{5, 1}, taxesKnown: true}},
		{"inclusive: several rates share the gross price", pricing.Input{TaxMode: pricing.TaxInclusive, Lines: []pricing.Line{line(prodA, 1150, 1)},
			TaxRates: []pricing.TaxRate{rate("CA", "", 50000), rate("CA", "QC", 97500)}, Destination: dest("CA", "QC")},
			want{subtotal: 1150, tax: 148, total: 1150, taxLines: []int64{50, 98}, taxesKnown: true}},

		// Discounts.
		{"percent: rounded half-even on the eligible subtotal (0.5 → 0)", pricing.Input{Lines: []pricing.Line{line(prodA, 50, 1)}, Discount: discount(pricing.DiscountPercent, 100, nil)},
			want{subtotal: 50, discount: 0, total: 50}},
		{"percent: 1.5 → 2", pricing.Input{Lines: []pricing.Line{line(prodA, 150, 1)}, Discount: discount(pricing.DiscountPercent, 100, nil)},
			want{subtotal: 150, discount: 2, total: 148, lineDiscounts: []int64{2}}},
		{"100 % takes everything", pricing.Input{Lines: []pricing.Line{line(prodA, 999, 2)}, Discount: discount(pricing.DiscountPercent, 10000, nil)},
			want{subtotal: 1998, discount: 1998, total: 0}},
		{"allocation: largest remainder gets the leftover unit", pricing.Input{Lines: []pricing.Line{line(prodA, 333, 1), line(prodA, 333, 1), line(prodB, 334, 1)}, Discount: discount(pricing.DiscountFixed, 0, eur(100))},
			want{subtotal: 1000, discount: 100, total: 900, lineDiscounts: []int64{33, 33, 34}}},
		{"allocation: equal remainders go to the earlier lines", pricing.Input{Lines: []pricing.Line{line(prodA, 1, 1), line(prodA, 1, 1), line(prodB, 1, 1)}, Discount: discount(pricing.DiscountFixed, 0, eur(2))},
			want{subtotal: 3, discount: 2, total: 1, lineDiscounts: []int64{1, 1, 0}}},
		{"fixed: capped at the eligible lines", pricing.Input{Lines: []pricing.Line{line(prodA, 300, 1)}, Discount: discount(pricing.DiscountFixed, 0, eur(500))},
			want{subtotal: 300, discount: 300, total: 0, lineDiscounts: []int64{300}}},
		{"only eligible products are discounted", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1), line(prodB, 1000, 1)},
			Discount: func() *pricing.Discount {
				d := discount(pricing.DiscountPercent, 1000, nil)
				d.ProductIDs = []string{prodB}
				return d
			}()},
			want{subtotal: 2000, discount: 100, total: 1900, lineDiscounts: []int64{0, 100}}},
		{"eligible by category", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1), {ProductID: prodB, CategoryIDs: []string{catX}, UnitPrice: 500, Quantity: 2}},
			Discount: func() *pricing.Discount {
				d := discount(pricing.DiscountFixed, 0, eur(50))
				d.CategoryIDs = []string{catX}
				return d
			}()},
			want{subtotal: 2000, discount: 50, total: 1950, lineDiscounts: []int64{0, 50}}},
		{"tax is on the line after its discount", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1), line(prodB, 1000, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}, Destination: dest("DE", ""),
			Discount: func() *pricing.Discount {
				d := discount(pricing.DiscountPercent, 5000, nil)
				d.ProductIDs = []string{prodA}
				return d
			}()},
			want{subtotal: 2000, discount: 500, tax: 285, total: 1785, lineDiscounts: []int64{500, 0}, lineTaxes: []int64{95, 190}, taxesKnown: true}},
		{"inclusive: tax on the discounted gross", pricing.Input{TaxMode: pricing.TaxInclusive, Lines: []pricing.Line{line(prodA, 1190, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}, Destination: dest("DE", ""),
			Discount: discount(pricing.DiscountFixed, 0, eur(119))},
			want{subtotal: 1190, discount: 119, tax: 171, total: 1071, taxesKnown: true}},

		// Shipping.
		{"flat shipping is charged and taxed", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}, Destination: dest("DE", ""), Shipping: flat(500, de)},
			want{subtotal: 1000, shipping: 500, tax: 285, total: 1785, taxLines: []int64{285}, taxesKnown: true}},
		{"a free-shipping code makes shipping 0, and untaxed", pricing.Input{Lines: []pricing.Line{line(prodA, 1000, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}, Destination: dest("DE", ""), Shipping: flat(500, de),
			Discount: discount(pricing.DiscountFreeShipping, 0, nil)},
			want{subtotal: 1000, discount: 0, shipping: 0, tax: 190, total: 1190, taxesKnown: true}},
		{"free above: at the threshold it is free", pricing.Input{Lines: []pricing.Line{line(prodA, 5000, 1)}, Destination: dest("DE", ""), Shipping: freeAbove(500, 5000)},
			want{subtotal: 5000, shipping: 0, total: 5000, taxLines: []int64{}, taxesKnown: true}},
		{"free above: one unit below, it costs", pricing.Input{Lines: []pricing.Line{line(prodA, 4999, 1)}, Destination: dest("DE", ""), Shipping: freeAbove(500, 5000)},
			want{subtotal: 4999, shipping: 500, total: 5499, taxesKnown: true}},
		{"free above: counted after the discount", pricing.Input{Lines: []pricing.Line{line(prodA, 5000, 1)}, Destination: dest("DE", ""), Shipping: freeAbove(500, 5000), Discount: discount(pricing.DiscountFixed, 0, eur(1))},
			want{subtotal: 5000, discount: 1, shipping: 500, total: 5499, taxesKnown: true}},
		{"weight band: below the first upper bound", pricing.Input{Lines: []pricing.Line{{ProductID: prodA, UnitPrice: 100, Quantity: 3, WeightGrams: 333}}, Destination: dest("DE", ""), Shipping: bands()},
			want{subtotal: 300, shipping: 400, total: 700, taxesKnown: true}},
		{"weight band: the upper bound belongs to the next band", pricing.Input{Lines: []pricing.Line{{ProductID: prodA, UnitPrice: 100, Quantity: 2, WeightGrams: 500}}, Destination: dest("DE", ""), Shipping: bands()},
			want{subtotal: 200, shipping: 900, total: 1100, taxesKnown: true}},
		{"weight band: weightless goods are in the first band", pricing.Input{Lines: []pricing.Line{line(prodA, 100, 1)}, Destination: dest("DE", ""), Shipping: bands()},
			want{subtotal: 100, shipping: 400, total: 500, taxesKnown: true}},
		{"weight band: past the last band it is unavailable", pricing.Input{Lines: []pricing.Line{{ProductID: prodA, UnitPrice: 100, Quantity: 1, WeightGrams: 5000}}, Destination: dest("DE", ""), Shipping: bands()},
			want{code: apperr.CodeShippingUnavailable}},
		{"shipping for another zone is unavailable", pricing.Input{Lines: []pricing.Line{line(prodA, 100, 1)}, Destination: dest("FR", ""), Shipping: flat(500, de)},
			want{code: apperr.CodeShippingUnavailable}},
		{"a region zone does not serve the rest of the country", pricing.Input{Lines: []pricing.Line{line(prodA, 100, 1)}, Destination: dest("US", "NY"), Shipping: flat(500, pricing.Place{Country: "US", Region: "CA"})},
			want{code: apperr.CodeShippingUnavailable}},
		{"a region zone serves its region", pricing.Input{Lines: []pricing.Line{line(prodA, 100, 1)}, Destination: dest("US", "CA"), Shipping: flat(500, pricing.Place{Country: "US", Region: "CA"})},
			want{subtotal: 100, shipping: 500, total: 600, taxesKnown: true}},
		{"shipping without a price in the currency is unavailable", pricing.Input{Currency: "USD", Lines: []pricing.Line{line(prodA, 100, 1)}, Destination: dest("DE", ""), Shipping: flat(500, de)},
			want{code: apperr.CodeShippingUnavailable}},
		{"an inactive option is unavailable", pricing.Input{Lines: []pricing.Line{line(prodA, 100, 1)}, Destination: dest("DE", ""), Shipping: func() *pricing.ShippingOption { o := flat(500, de, fr); o.Active = false; return o }()},
			want{code: apperr.CodeShippingUnavailable}},
		{"shipping needs a destination", pricing.Input{Lines: []pricing.Line{line(prodA, 100, 1)}, Shipping: flat(500, de)},
			want{code: apperr.CodeValidation}},

		// Refusals.
		{"a negative price is refused", pricing.Input{Lines: []pricing.Line{line(prodA, -1, 1)}}, want{code: apperr.CodeValidation}},
		{"a zero quantity is refused", pricing.Input{Lines: []pricing.Line{line(prodA, 1, 0)}}, want{code: apperr.CodeValidation}},
		{"a line past the maximum is refused", pricing.Input{Lines: []pricing.Line{line(prodA, money.MaxAmount/2+1, 2)}}, want{code: apperr.CodeValidation}},
		{"a quantity that would wrap int64 is refused", pricing.Input{Lines: []pricing.Line{line(prodA, money.MaxAmount, 1<<62)}}, want{code: apperr.CodeValidation}},
		{"a subtotal past the maximum is refused", pricing.Input{Lines: []pricing.Line{line(prodA, money.MaxAmount, 1), line(prodB, 1, 1)}}, want{code: apperr.CodeValidation}},
		{"exactly the maximum is fine", pricing.Input{Lines: []pricing.Line{line(prodA, money.MaxAmount, 1)}}, want{subtotal: money.MaxAmount, total: money.MaxAmount}},
		{"a total past the maximum with tax is refused", pricing.Input{Lines: []pricing.Line{line(prodA, money.MaxAmount, 1)}, TaxRates: []pricing.TaxRate{rate("DE", "", 190000)}, Destination: dest("DE", "")},
			want{code: apperr.CodeValidation}},
		{"a total past the maximum with shipping is refused", pricing.Input{Lines: []pricing.Line{line(prodA, money.MaxAmount, 1)}, Destination: dest("DE", ""), Shipping: flat(1, de)},
			want{code: apperr.CodeValidation}},
		{"an expired code is refused", pricing.Input{Lines: []pricing.Line{line(prodA, 100, 1)},
			Discount: func() *pricing.Discount { d := discount(pricing.DiscountPercent, 1000, nil); d.EndsAt = now; return d }()},
			want{code: apperr.CodeDiscountInvalid}},
		{"an exhausted code is refused", pricing.Input{Lines: []pricing.Line{line(prodA, 100, 1)},
			Discount: func() *pricing.Discount {
				d := discount(pricing.DiscountPercent, 1000, nil)
				d.MaxUses, d.Uses = 5, 5
				return d
			}()},
			want{code: apperr.CodeDiscountExhausted}},
		{"a malformed currency is refused", pricing.Input{Currency: "euro", Lines: []pricing.Line{line(prodA, 100, 1)}}, want{code: apperr.CodeValidation}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.Currency == "" {
				in.Currency = "EUR"
			}
			if in.TaxMode == "" {
				in.TaxMode = pricing.TaxExclusive
			}
			in.Now = now
			q, err := pricing.Compute(in)
			if tt.want.code != "" {
				if apperr.Code(err) != tt.want.code {
					t.Fatalf("err = %v, want code %s (quote %+v)", err, tt.want.code, q)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := want{subtotal: q.Subtotal, discount: q.Discount, shipping: q.ShippingAmount(), tax: q.Tax, total: q.Total, taxesKnown: q.TaxesKnown}
			for _, l := range q.Lines {
				got.lineDiscounts = append(got.lineDiscounts, l.Discount)
				got.lineTaxes = append(got.lineTaxes, l.Tax)
			}
			got.taxLines = []int64{}
			for _, tl := range q.Taxes {
				got.taxLines = append(got.taxLines, tl.Amount)
			}
			w := tt.want
			if w.lineDiscounts == nil {
				got.lineDiscounts = nil
			}
			if w.lineTaxes == nil {
				got.lineTaxes = nil
			}
			if w.taxLines == nil {
				got.taxLines = nil
			}
			if got.subtotal != w.subtotal || got.discount != w.discount || got.shipping != w.shipping || got.tax != w.tax || got.total != w.total ||
				got.taxesKnown != w.taxesKnown || !slices.Equal(got.lineDiscounts, w.lineDiscounts) || !slices.Equal(got.lineTaxes, w.lineTaxes) || !slices.Equal(got.taxLines, w.taxLines) {
				t.Fatalf("got  %+v\nwant %+v", got, w)
			}
			checkInvariants(t, in, q)
		})
	}
}

func freeAbove(price, threshold int64) *pricing.ShippingOption {
	return &pricing.ShippingOption{ID: id.New(id.ShippingOption), Name: "Free over 50", Zones: []pricing.Place{de}, Kind: pricing.ShipFreeAbove,
		Prices: eur(price), FreeAbove: eur(threshold), Active: true}
}

// bands: [0, 1000) g costs 4.00, [1000, 5000) g 9.00.
func bands() *pricing.ShippingOption {
	return &pricing.ShippingOption{ID: id.New(id.ShippingOption), Name: "By weight", Zones: []pricing.Place{de}, Kind: pricing.ShipWeightBands, Active: true,
		Bands: []pricing.Band{{MinGrams: 0, MaxGrams: 1000, Prices: eur(400)}, {MinGrams: 1000, MaxGrams: 5000, Prices: eur(900)}}}
}

// checkInvariants holds for every quote Compute returns.
func checkInvariants(t testing.TB, in pricing.Input, q pricing.Quote) {
	t.Helper()
	var subtotal, discount, lineTax int64
	for i, l := range q.Lines {
		if l.Total != l.UnitPrice*l.Quantity || l.Discount < 0 || l.Discount > l.Total || l.Tax < 0 {
			t.Fatalf("line %d: %+v", i, l)
		}
		if in.Discount == nil || !in.Discount.Eligible(l.Line) {
			if l.Discount != 0 {
				t.Fatalf("line %d is not eligible but has a discount of %d", i, l.Discount)
			}
		}
		subtotal += l.Total
		discount += l.Discount
		lineTax += l.Tax
	}
	var tax, shippingTax int64
	for _, tl := range q.Taxes {
		tax += tl.Amount
		if tl.Amount < 0 || tl.Base < 0 {
			t.Fatalf("tax line %+v", tl)
		}
	}
	shippingTax = tax - lineTax
	if subtotal != q.Subtotal || discount != q.Discount || tax != q.Tax || shippingTax < 0 {
		t.Fatalf("sums: lines %d/%d/%d, quote %d/%d/%d (shipping tax %d)", subtotal, discount, tax, q.Subtotal, q.Discount, q.Tax, shippingTax)
	}
	want := q.Subtotal - q.Discount + q.ShippingAmount()
	if q.TaxMode == pricing.TaxExclusive {
		want += q.Tax
	}
	if q.Total != want || q.Total < 0 || q.Total > money.MaxAmount {
		t.Fatalf("total %d, want %d", q.Total, want)
	}
	if q.Shipping != nil && (q.Shipping.Amount < 0 || q.Shipping.Amount > q.Shipping.Price) {
		t.Fatalf("shipping %+v", q.Shipping)
	}
	if q.TaxMode == pricing.TaxInclusive && q.Tax > q.Total {
		t.Fatalf("inclusive tax %d is more than the total %d", q.Tax, q.Total)
	}
}
