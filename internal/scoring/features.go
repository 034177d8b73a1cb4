// Package scoring decides the fraud risk of a checkout (issue 14, "Fraud
// scoring at checkout"): it computes the checkout's features — the order,
// the account's history, and the velocity of the card, the address and the
// account (attempts and declines per hour and day, distinct cards per
// address) — and runs the shop's rules over them, Radar-like: block rules
// first, then review rules, then allow rules. It implements
// checkout.Scorer; the checkout voids a blocked checkout and holds one for
// review.
//
// Rules are operator input: each is an expression of expr-lang/expr over
// Features, compiled with node and memory limits, that must be boolean; an
// invalid rule set is refused whole and the running one stays.
package scoring

import (
	"reflect"
)

// Features are what a checkout is scored on, by the names rules use
// (docs/FRAUD.md). Counts include the checkout being scored; declines are
// the processor's declines and fraud blocks of earlier attempts.
type Features struct {
	// Amount is the order's total in major units (euros, not cents).
	Amount float64 `expr:"amount"`
	// Units and Lines: how many items and lines the order has.
	Units float64 `expr:"units"`
	Lines float64 `expr:"lines"`
	// Guest is 1 for a guest of guest checkout, 0 for an account.
	Guest float64 `expr:"guest"`
	// AccountAgeHours is how long the account has existed (0 for a guest).
	AccountAgeHours float64 `expr:"account_age_hours"`
	// PriorOrders is how many orders the account has had (not counting
	// this one); AmountVsAverage is Amount over their average total in
	// the same currency (1 when there are none).
	PriorOrders     float64 `expr:"prior_orders"`
	AmountVsAverage float64 `expr:"amount_vs_average"`
	// The card's velocity.
	CardAttemptsHour float64 `expr:"card_attempts_hour"`
	CardDeclinesHour float64 `expr:"card_declines_hour"`
	CardDeclinesDay  float64 `expr:"card_declines_day"`
	// The client address's velocity, and how many distinct cards it used
	// today.
	AddressAttemptsHour float64 `expr:"address_attempts_hour"`
	AddressDeclinesHour float64 `expr:"address_declines_hour"`
	AddressDeclinesDay  float64 `expr:"address_declines_day"`
	AddressCardsDay     float64 `expr:"address_cards_day"`
	// The account's velocity.
	AccountAttemptsHour float64 `expr:"account_attempts_hour"`
	AccountDeclinesHour float64 `expr:"account_declines_hour"`
	AccountDeclinesDay  float64 `expr:"account_declines_day"`
	// The email's velocity: the customer's email (an account's or a
	// guest's, by its blind index), across accounts and guests.
	EmailAttemptsHour float64 `expr:"email_attempts_hour"`
	EmailDeclinesHour float64 `expr:"email_declines_hour"`
	EmailDeclinesDay  float64 `expr:"email_declines_day"`
	// CardCountryMismatch is 1 when the card's issuer is in another
	// country than the shipping address; BillingMismatch 1 when the
	// card's billing address is. Each is 0 when a country is unknown.
	CardCountryMismatch float64 `expr:"card_country_mismatch"`
	BillingMismatch     float64 `expr:"billing_mismatch"`

	// Text attributes rules may compare (not numeric features): the
	// shipping country (ISO 3166-1 alpha-2), the card's BIN (six digits)
	// and network, its issuer's country as the processor tells it and its
	// billing address's ("" when unknown), and the CVC check: "unchecked"
	// before the authorization, then the processor's "pass", "fail" or
	// "unavailable" (rules run again once it answers, docs/FRAUD.md).
	ShipCountry    string `expr:"ship_country"`
	BIN            string `expr:"bin"`
	Brand          string `expr:"brand"`
	CardCountry    string `expr:"card_country"`
	BillingCountry string `expr:"billing_country"`
	CVCCheck       string `expr:"cvc_check"`
}

// mismatch is 1 when both countries are known and differ.
func mismatch(a, b string) float64 {
	if a != "" && b != "" && a != b {
		return 1
	}
	return 0
}

// Map returns the numeric features by name, as kept on the order
// (order.Risk.Features) for staff and for training.
func (f Features) Map() map[string]float64 {
	out := map[string]float64{}
	v := reflect.ValueOf(f)
	for i := range v.NumField() {
		if v.Field(i).Kind() == reflect.Float64 {
			out[v.Type().Field(i).Tag.Get("expr")] = v.Field(i).Float()
		}
	}
	return out
}

// FromMap is the inverse of Map: the numeric features of m by name (a
// stored order's), the text ones empty. Unknown names are ignored.
func FromMap(m map[string]float64) Features {
	var f Features
	v := reflect.ValueOf(&f).Elem()
	for i := range v.NumField() {
		if v.Field(i).Kind() == reflect.Float64 {
			v.Field(i).SetFloat(m[v.Type().Field(i).Tag.Get("expr")])
		}
	}
	return f
}

// NumericNames lists the numeric features' names, as a trained model
// learns them.
func NumericNames() []string {
	var out []string
	t := reflect.TypeFor[Features]()
	for i := range t.NumField() {
		if t.Field(i).Type.Kind() == reflect.Float64 {
			out = append(out, t.Field(i).Tag.Get("expr"))
		}
	}
	return out
}

// Names lists every name a rule may use, numeric and text.
func Names() []string {
	var out []string
	t := reflect.TypeFor[Features]()
	for i := range t.NumField() {
		out = append(out, t.Field(i).Tag.Get("expr"))
	}
	return out
}
