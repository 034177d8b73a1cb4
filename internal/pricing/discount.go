package pricing

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// DiscountKind is what a discount takes off.
type DiscountKind string

// The discount kinds.
const (
	// DiscountPercent takes BasisPoints of the eligible lines.
	DiscountPercent DiscountKind = "percent"
	// DiscountFixed takes the amount in the cart's currency off the eligible
	// lines (at most their total).
	DiscountFixed DiscountKind = "fixed"
	// DiscountFreeShipping makes the chosen shipping free.
	DiscountFreeShipping DiscountKind = "free_shipping"
)

// Limits of a discount.
const (
	MinCodeLength = 4
	MaxCodeLength = 32
	// MaxEligible bounds the products and the categories a discount names.
	MaxEligible = 100
	// MaxUses bounds the use limits.
	MaxUses = 1_000_000_000
)

// DiscountAlphabet is what a normalized code is made of: upper-case ASCII letters
// and digits. Look-alikes (0/O, 1/I) are allowed: merchants name codes like
// SAVE10, and refusing them pushes shops to other systems; codes resist
// guessing through the cart route's rate limit and one answer for every
// unusable code, not through their alphabet.
const DiscountAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NormalizeCode returns the code a customer or staff typed in its one stored
// form — upper-case, hyphens and spaces removed — and whether that form is a
// valid code (MinCodeLength..MaxCodeLength characters of DiscountAlphabet).
func NormalizeCode(s string) (string, bool) {
	if len(s) > 4*MaxCodeLength {
		return "", false // do no work for an absurd input
	}
	n := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
	if len(n) < MinCodeLength || len(n) > MaxCodeLength {
		return "", false
	}
	for _, r := range n {
		if !strings.ContainsRune(DiscountAlphabet, r) {
			return "", false
		}
	}
	return n, true
}

// Discount is a discount code and its rules.
type Discount struct {
	ID   string
	Code string // normalized (NormalizeCode)
	Kind DiscountKind
	// BasisPoints is the percentage of a percent discount (1..10000).
	BasisPoints int64
	// Amounts are a fixed discount's amount per currency.
	Amounts []money.Money
	// StartsAt (inclusive) and EndsAt (exclusive) bound when it is valid;
	// the zero time leaves that side open.
	StartsAt time.Time
	EndsAt   time.Time
	// MinSubtotal is the least subtotal, per currency, it needs.
	MinSubtotal []money.Money
	// MaxUses and MaxUsesPerCustomer limit its uses; 0 is no limit.
	MaxUses            int64
	MaxUsesPerCustomer int64
	// ProductIDs and CategoryIDs, when either is set, limit it to the lines
	// of those products or of products in those categories.
	ProductIDs  []string
	CategoryIDs []string
	Active      bool
	// Uses counts the orders that used it (kept by the store, atomically).
	Uses      int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CustomerUse is how often one customer has used one discount: the count
// that MaxUsesPerCustomer is checked against. It ties a person to a code, so
// it is personal data: exported to the person and deleted when they are
// erased, while Discount.Uses, the total, stays for accounting.
type CustomerUse struct {
	DiscountID string
	Uses       int64
}

// Validate reports every invalid field of d (validation_failed), or else an
// amount in a currency the shop does not sell (currency_not_sold).
func (d Discount) Validate(sold []string) error {
	var v apperr.Validator
	n, ok := NormalizeCode(d.Code)
	v.Check(ok && n == d.Code, "code", fmt.Sprintf("must be %d to %d ASCII letters and digits; hyphens and spaces are ignored", MinCodeLength, MaxCodeLength))
	switch d.Kind {
	case DiscountPercent:
		v.Check(d.BasisPoints >= 1 && d.BasisPoints <= MaxBasisPoints, "basis_points", fmt.Sprintf("must be between 1 and %d (100 %%)", MaxBasisPoints))
		v.Check(len(d.Amounts) == 0, "amounts", "only a fixed discount has amounts")
	case DiscountFixed:
		v.Check(d.BasisPoints == 0, "basis_points", "only a percent discount has basis points")
		checkPrices(&v, "amounts", d.Amounts, sold, true)
		for i, a := range d.Amounts {
			v.Check(a.Amount > 0, fmt.Sprintf("amounts[%d].amount", i), "must be above 0")
		}
	case DiscountFreeShipping:
		v.Check(d.BasisPoints == 0, "basis_points", "only a percent discount has basis points")
		v.Check(len(d.Amounts) == 0, "amounts", "only a fixed discount has amounts")
	default:
		v.Check(false, "kind", "must be percent, fixed or free_shipping")
	}
	v.Check(d.StartsAt.IsZero() || d.EndsAt.IsZero() || d.StartsAt.Before(d.EndsAt), "ends_at", "must be after starts_at")
	checkPrices(&v, "min_subtotal", d.MinSubtotal, sold, false)
	v.Check(d.MaxUses >= 0 && d.MaxUses <= MaxUses, "max_uses", fmt.Sprintf("must be between 0 (no limit) and %d", MaxUses))
	v.Check(d.MaxUsesPerCustomer >= 0 && d.MaxUsesPerCustomer <= MaxUses, "max_uses_per_customer", fmt.Sprintf("must be between 0 (no limit) and %d", MaxUses))
	checkIDs(&v, "product_ids", d.ProductIDs, id.Product)
	checkIDs(&v, "category_ids", d.CategoryIDs, id.Category)
	if err := v.Err(); err != nil {
		return err
	}
	for _, a := range append(slices.Clone(d.Amounts), d.MinSubtotal...) {
		if err := CheckCurrency(sold, a.Currency); err != nil {
			return err
		}
	}
	return nil
}

func checkIDs(v *apperr.Validator, field string, ids []string, prefix string) {
	v.Check(len(ids) <= MaxEligible, field, fmt.Sprintf("holds at most %d ids", MaxEligible))
	seen := map[string]bool{}
	for i, s := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		v.Check(id.Valid(prefix, s), f, "must be an id starting with "+prefix)
		v.Check(!seen[s], f, "appears twice")
		seen[s] = true
	}
}

// Eligible reports whether the discount applies to l.
func (d Discount) Eligible(l Line) bool {
	if len(d.ProductIDs) == 0 && len(d.CategoryIDs) == 0 {
		return true
	}
	if slices.Contains(d.ProductIDs, l.ProductID) {
		return true
	}
	for _, c := range l.CategoryIDs {
		if slices.Contains(d.CategoryIDs, c) {
			return true
		}
	}
	return false
}

// ErrDiscountUnknown is the one answer for a code that cannot be used on
// this cart, whatever the reason: it does not exist, is not active, is
// outside its validity window, is not valid in the cart's currency, needs a
// larger subtotal, or applies to none of the cart's products. Telling these
// apart would tell a guesser which codes exist (and for what); a customer
// with a real code knows its terms from where they got it. Only an exhausted
// code answers otherwise (discount_exhausted), which reveals a code nobody
// can use any more.
var ErrDiscountUnknown = apperr.New(apperr.CodeDiscountInvalid, "this discount code is not valid for this cart")

// DiscountCheck is what the validity of a discount depends on besides itself.
type DiscountCheck struct {
	Currency string
	Lines    []Line
	// Subtotal is the lines' total before any discount.
	Subtotal int64
	Now      time.Time
	// CustomerUses counts the customer's earlier uses of this discount.
	CustomerUses int64
	// Guest is a guest of guest checkout: every guest cart is a new guest,
	// so a per-customer limit cannot be counted for one.
	Guest bool
}

// Check returns nil when d applies to the cart of c; ErrDiscountUnknown
// (discount_invalid) when it does not, whatever the reason, and
// ErrDiscountExhausted when its use limits are reached.
func (d Discount) Check(c DiscountCheck) error {
	if !d.Active || (!d.StartsAt.IsZero() && c.Now.Before(d.StartsAt)) || (!d.EndsAt.IsZero() && !c.Now.Before(d.EndsAt)) {
		return ErrDiscountUnknown
	}
	if d.Kind == DiscountFixed {
		if _, ok := priceIn(d.Amounts, c.Currency); !ok {
			return ErrDiscountUnknown
		}
	}
	if len(d.MinSubtotal) > 0 {
		min, ok := priceIn(d.MinSubtotal, c.Currency)
		if !ok || c.Subtotal < min {
			return ErrDiscountUnknown
		}
	}
	if !slices.ContainsFunc(c.Lines, d.Eligible) {
		return ErrDiscountUnknown
	}
	if d.MaxUses > 0 && d.Uses >= d.MaxUses {
		return ErrDiscountExhausted
	}
	if d.MaxUsesPerCustomer > 0 && c.Guest {
		// A code limited per customer is for customers with an account: a
		// guest could use it once per new guest cart (found by review).
		return ErrDiscountUnknown
	}
	if d.MaxUsesPerCustomer > 0 && c.CustomerUses >= d.MaxUsesPerCustomer {
		return ErrDiscountExhausted
	}
	return nil
}
