// Package money holds amounts of money as integer minor units of one currency.
// There are no floats anywhere money is handled.
package money

// MaxAmount bounds every amount (ten billion major units of a two-decimal
// currency), far above any real price and far below overflow when summed.
const MaxAmount = 1_000_000_000_000

// Money is an amount in minor units (cents for EUR) of an ISO 4217 currency.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}
