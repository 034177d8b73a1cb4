package shop

import "github.com/bulwark-shop/bulwark/internal/apperr"

// CodeGiftCardSpent is a code defined by its package, missing from apperr's table.
const (
	CodeGiftCardSpent = "gift_card_spent"
)

var ErrExpired = apperr.New("gift_card_expired", "this gift card has expired")
var ErrOut = &apperr.Error{Code: "out_of_stock", Message: "known"}

func refuse(code string) error {
	return apperr.New(code, "refused")
}
