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

// minorDigits are the ISO 4217 currencies whose minor unit is not a
// hundredth; every other has two decimals.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
	"UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// Digits is how many decimals currency's minor unit has (2 for EUR, 0 for
// JPY, 3 for KWD).
func Digits(currency string) int {
	if d, ok := minorDigits[currency]; ok {
		return d
	}
	return 2
}
