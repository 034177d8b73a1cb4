package pricing

import (
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// MaxLines bounds the lines of one quote.
const MaxLines = 1000

// Line is one line of a cart or order as pricing sees it: what is bought, at
// the catalog's unit price in the quote's currency.
type Line struct {
	VariantID   string
	ProductID   string
	CategoryIDs []string
	UnitPrice   int64
	Quantity    int64
	WeightGrams int64
}

// Input is everything an amount depends on. The caller reads it from the
// catalog and the store; nothing in it comes from the client but the choice
// of lines, quantities, code and shipping option.
type Input struct {
	Currency string
	Lines    []Line
	TaxMode  TaxMode
	// TaxRates are the shop's rates; those for Destination apply.
	TaxRates []TaxRate
	// Destination is where the order ships; nil computes no tax and no shipping.
	Destination *Destination
	// Shipping is the chosen option; nil for none chosen yet.
	Shipping *ShippingOption
	// Discount is the applied discount; nil for none.
	Discount *Discount
	// Now decides the discount's validity window.
	Now time.Time
	// CustomerUses counts the customer's earlier uses of Discount; Guest
	// says the customer is a guest (DiscountCheck.Guest).
	CustomerUses int64
	Guest        bool
}

// QuotedLine is a line with its amounts.
type QuotedLine struct {
	Line
	// Total is UnitPrice × Quantity.
	Total int64
	// Discount is this line's part of the quote's discount.
	Discount int64
	// Tax is the tax on this line (included in Total in inclusive mode).
	Tax int64
}

// ShippingQuote is the chosen shipping and its price.
type ShippingQuote struct {
	OptionID string
	Name     string
	// Price is the option's price for this cart; Amount is what is charged
	// (0 under a free-shipping discount).
	Price  int64
	Amount int64
}

// TaxLine is the tax of one rate over the whole quote.
type TaxLine struct {
	RateID  string
	Name    string
	Place   Place
	RatePPM int64
	// Base is the amount taxed: lines after discount and shipping, before tax
	// (exclusive) or including it (inclusive).
	Base   int64
	Amount int64
}

// Quote is every amount of a cart or an order, in minor units of Currency.
type Quote struct {
	Currency string
	TaxMode  TaxMode
	Lines    []QuotedLine
	Subtotal int64
	// DiscountID and DiscountCode name the applied discount ("" for none);
	// Discount is what it takes off the lines.
	DiscountID   string
	DiscountCode string
	Discount     int64
	Shipping     *ShippingQuote
	// Taxes has one line per applicable rate, in the order of Input.TaxRates;
	// TaxesKnown is false without a destination.
	Taxes      []TaxLine
	TaxesKnown bool
	Tax        int64
	// Total is Subtotal − Discount + Shipping.Amount, plus Tax when exclusive.
	Total int64
	// For a quote with a destination and no shipping option chosen (set by
	// Service.Quote): ShippingChoices counts the active options that serve
	// the destination in the currency, and ShipsAnywhere says whether the
	// shop has any active option at all. A shop that ships but not there
	// must not ship for free.
	ShippingChoices int
	ShipsAnywhere   bool
}

// ShippingAmount is what the quote charges for shipping.
func (q Quote) ShippingAmount() int64 {
	if q.Shipping == nil {
		return 0
	}
	return q.Shipping.Amount
}

// Compute prices in. It refuses malformed lines and every amount past
// money.MaxAmount (ErrOutOfRange), a discount that does not apply
// (discount_invalid, discount_exhausted: Discount.Check) and a shipping
// option that does not serve the cart (shipping_unavailable); a shipping
// option without a destination is a validation error.
func Compute(in Input) (Quote, error) {
	if _, ok := ParseTaxMode(string(in.TaxMode)); !ok {
		return Quote{}, fmt.Errorf("pricing: tax mode %q", in.TaxMode) // a wiring mistake, not input
	}
	var v apperr.Validator
	v.Check(currencyShape.MatchString(in.Currency), "currency", "must be an ISO 4217 code such as EUR")
	v.Check(len(in.Lines) <= MaxLines, "lines", fmt.Sprintf("at most %d lines", MaxLines))
	v.Check(in.Shipping == nil || in.Destination != nil, "shipping_address", "is needed to choose shipping")
	if in.Destination != nil {
		checkPlace(&v, "shipping_address", *in.Destination)
	}
	if err := v.Err(); err != nil {
		return Quote{}, err
	}
	q := Quote{Currency: in.Currency, TaxMode: in.TaxMode, Lines: make([]QuotedLine, len(in.Lines))}
	var weight int64
	for i, l := range in.Lines {
		if l.Quantity < 1 || l.WeightGrams < 0 {
			return Quote{}, apperr.New(apperr.CodeValidation, "line %d: the quantity must be at least 1 and the weight not negative", i)
		}
		total, err := times(l.UnitPrice, l.Quantity)
		if err != nil {
			return Quote{}, err
		}
		if q.Subtotal, err = add(q.Subtotal, total); err != nil {
			return Quote{}, err
		}
		w, err := times(l.WeightGrams, l.Quantity)
		if err != nil || w > MaxWeightGrams || weight+w > MaxWeightGrams {
			return Quote{}, apperr.New(apperr.CodeValidation, "the cart weighs more than %d grams", MaxWeightGrams)
		}
		weight += w
		q.Lines[i] = QuotedLine{Line: l, Total: total}
	}

	freeShipping := false
	if d := in.Discount; d != nil {
		if err := d.Check(DiscountCheck{Currency: in.Currency, Lines: in.Lines, Subtotal: q.Subtotal, Now: in.Now, CustomerUses: in.CustomerUses, Guest: in.Guest}); err != nil {
			return Quote{}, err
		}
		q.DiscountID, q.DiscountCode = d.ID, d.Code
		if err := applyDiscount(&q, *d); err != nil {
			return Quote{}, err
		}
		freeShipping = d.Kind == DiscountFreeShipping
	}
	goods := q.Subtotal - q.Discount // discount ≤ subtotal by construction

	if o := in.Shipping; o != nil {
		price, err := o.Price(*in.Destination, in.Currency, weight, goods)
		if err != nil {
			return Quote{}, err
		}
		if !inRange(price) {
			return Quote{}, ErrOutOfRange // stored options were validated; never trust it blindly
		}
		q.Shipping = &ShippingQuote{OptionID: o.ID, Name: o.Name, Price: price, Amount: price}
		if freeShipping {
			q.Shipping.Amount = 0
		}
	}

	if in.Destination != nil {
		q.TaxesKnown = true
		if err := applyTaxes(&q, ApplicableRates(in.TaxRates, *in.Destination)); err != nil {
			return Quote{}, err
		}
	}

	total, err := add(goods, q.ShippingAmount())
	if err != nil {
		return Quote{}, err
	}
	if in.TaxMode == TaxExclusive {
		if total, err = add(total, q.Tax); err != nil {
			return Quote{}, err
		}
	}
	q.Total = total
	return q, nil
}

// applyDiscount sets q.Discount and allocates it over the eligible lines
// (rules 2 and 3 of the package doc). A stored discount was validated, but
// an out-of-range one is refused here too rather than trusted.
func applyDiscount(q *Quote, d Discount) error {
	weights := make([]int64, len(q.Lines))
	var eligible int64
	for i, l := range q.Lines {
		if d.Eligible(l.Line) {
			weights[i] = l.Total
			eligible += l.Total // ≤ Subtotal ≤ MaxAmount
		}
	}
	switch d.Kind {
	case DiscountPercent:
		if d.BasisPoints < 0 || d.BasisPoints > MaxBasisPoints {
			return ErrOutOfRange
		}
		q.Discount = mulDivHalfEven(eligible, d.BasisPoints, MaxBasisPoints)
	case DiscountFixed:
		amount, _ := priceIn(d.Amounts, q.Currency) // Check made sure it is there
		if !inRange(amount) {
			return ErrOutOfRange
		}
		q.Discount = min(amount, eligible)
	}
	for i, part := range allocate(q.Discount, weights) {
		q.Lines[i].Discount = part
	}
	return nil
}

// applyTaxes computes the tax lines of rates over q's lines and shipping
// (rule 4 of the package doc).
func applyTaxes(q *Quote, rates []TaxRate) error {
	var sum int64
	for _, r := range rates {
		if r.RatePPM < 0 || r.RatePPM > MaxRatePPM {
			return ErrOutOfRange
		}
		sum += r.RatePPM
	}
	divisor := int64(MaxRatePPM)
	if q.TaxMode == TaxInclusive {
		divisor += sum
	}
	taxOf := func(base, ppm int64) int64 { return mulDivHalfEven(base, ppm, divisor) }
	q.Taxes = make([]TaxLine, 0, len(rates))
	for _, r := range rates {
		t := TaxLine{RateID: r.ID, Name: r.Name, Place: r.Place, RatePPM: r.RatePPM}
		var err error
		for i, l := range q.Lines {
			base := l.Total - l.Discount
			tax := taxOf(base, r.RatePPM)
			if t.Base, err = add(t.Base, base); err != nil {
				return err
			}
			if t.Amount, err = add(t.Amount, tax); err != nil {
				return err
			}
			if q.Lines[i].Tax, err = add(q.Lines[i].Tax, tax); err != nil {
				return err
			}
		}
		if s := q.ShippingAmount(); s > 0 {
			if t.Base, err = add(t.Base, s); err != nil {
				return err
			}
			if t.Amount, err = add(t.Amount, taxOf(s, r.RatePPM)); err != nil {
				return err
			}
		}
		if q.Tax, err = add(q.Tax, t.Amount); err != nil {
			return err
		}
		q.Taxes = append(q.Taxes, t)
	}
	return nil
}
