package shop

import "github.com/bulwark-shop/bulwark/internal/apperr"

// CodeDiscountExhausted is a code defined by its package, missing from apperr's table.
const (
	CodeDiscountExhausted = "discount_exhausted"
)

var ErrNotSold = apperr.New("currency_not_sold", "this currency is not sold")
var ErrOut = &apperr.Error{Code: "out_of_stock", Message: "known"}

func refuse(code string) error {
	return apperr.New(code, "refused")
}
