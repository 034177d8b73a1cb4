package pricing

import "github.com/bulwark-shop/bulwark/internal/apperr"

// Errors of the pricing decisions. Their codes are defined in apperr so the
// HTTP layer gives each its status.
var (
	// ErrOutOfRange refuses an amount, a sum or a product past money.MaxAmount
	// (or a negative one): the computation never wraps.
	ErrOutOfRange = apperr.New(apperr.CodeValidation, "an amount is negative or larger than the shop handles")
	// ErrDiscountExhausted is a valid code that has been used as often as allowed.
	ErrDiscountExhausted = apperr.New(apperr.CodeDiscountExhausted, "this discount code has been used as often as it may be")
	// ErrShippingUnavailable is a shipping option that does not serve the
	// destination, the currency or the weight of the cart.
	ErrShippingUnavailable = apperr.New(apperr.CodeShippingUnavailable, "this shipping option is not available for this destination and cart")
	// ErrTaxRateOverlap refuses a second rate for one country and region.
	ErrTaxRateOverlap = apperr.New(apperr.CodeTaxRateOverlap, "a tax rate for this country and region exists already")
	// ErrDiscountCodeTaken refuses a second discount with the same code.
	ErrDiscountCodeTaken = apperr.New(apperr.CodeDiscountCodeTaken, "a discount with this code exists already")
	// ErrChangedMeanwhile refuses a change made from a version that another
	// change has replaced since it was read.
	ErrChangedMeanwhile = apperr.New(apperr.CodeConflict, "it was changed by someone else meanwhile; read it again and retry")

	ErrTaxRateNotFound        = apperr.NotFound("tax rate")
	ErrShippingOptionNotFound = apperr.NotFound("shipping option")
	ErrDiscountNotFound       = apperr.NotFound("discount")
)

// CheckCurrency returns currency_not_sold unless currency is one of sold.
func CheckCurrency(sold []string, currency string) error {
	for _, c := range sold {
		if c == currency {
			return nil
		}
	}
	return apperr.New(apperr.CodeCurrencyNotSold, "the shop does not sell in %q", currency)
}
