package vault

import (
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// Card is a payment card as the customer sends it. It exists only in flight and
// inside the vault; nothing else keeps a Card.
type Card struct {
	Number   string
	ExpMonth int
	ExpYear  int
	Holder   string
}

// Brand is a card network.
type Brand string

// The brands accepted.
const (
	Visa       Brand = "visa"
	Mastercard Brand = "mastercard"
	Amex       Brand = "amex"
	Discover   Brand = "discover"
	JCB        Brand = "jcb"
	Diners     Brand = "diners"
	UnionPay   Brand = "unionpay"
)

// brandRule says which prefixes (inclusive ranges of the leading digits) and
// lengths a brand uses.
type brandRule struct {
	brand   Brand
	digits  int // how many leading digits lo and hi cover
	lo, hi  int
	lengths []int
}

// brandRules follow the networks' published IIN ranges; the first match wins,
// so narrower ranges come first.
var brandRules = []brandRule{
	{Amex, 2, 34, 34, []int{15}},
	{Amex, 2, 37, 37, []int{15}},
	{Diners, 3, 300, 305, []int{14, 16, 17, 18, 19}},
	{Diners, 2, 36, 36, []int{14, 15, 16, 17, 18, 19}},
	{Diners, 2, 38, 39, []int{16, 17, 18, 19}},
	{JCB, 4, 3528, 3589, []int{16, 17, 18, 19}},
	{Visa, 1, 4, 4, []int{13, 16, 19}},
	{Mastercard, 4, 2221, 2720, []int{16}},
	{Mastercard, 2, 51, 55, []int{16}},
	{Discover, 4, 6011, 6011, []int{16, 17, 18, 19}},
	{Discover, 3, 644, 649, []int{16, 17, 18, 19}},
	{Discover, 2, 65, 65, []int{16, 17, 18, 19}},
	{UnionPay, 2, 62, 62, []int{16, 17, 18, 19}},
}

// NormalizeNumber removes the spaces and dashes people type between groups.
func NormalizeNumber(s string) string {
	return strings.NewReplacer(" ", "", "-", "").Replace(s)
}

// Luhn reports whether digits (ASCII 0-9 only) pass the Luhn checksum.
func Luhn(digits string) bool {
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return len(digits) > 0 && sum%10 == 0
}

// BrandOf returns the brand of a normalized number, checking its length.
func BrandOf(number string) (Brand, bool) {
	for _, r := range brandRules {
		if len(number) < r.digits {
			continue
		}
		var prefix int
		if _, err := fmt.Sscanf(number[:r.digits], "%d", &prefix); err != nil {
			return "", false
		}
		if prefix < r.lo || prefix > r.hi {
			continue
		}
		for _, l := range r.lengths {
			if len(number) == l {
				return r.brand, true
			}
		}
		return "", false
	}
	return "", false
}

// Validate checks a card and returns it normalized with its brand. Messages
// never repeat the number.
func Validate(c Card, now time.Time) (Card, Brand, error) {
	c.Number = NormalizeNumber(c.Number)
	var v apperr.Validator
	digitsOnly := c.Number != "" && strings.Trim(c.Number, "0123456789") == ""
	brand, known := BrandOf(c.Number)
	switch {
	case !digitsOnly || len(c.Number) < 12 || len(c.Number) > 19:
		v.Check(false, "number", "must be 12 to 19 digits")
	case !Luhn(c.Number):
		v.Check(false, "number", "is not a valid card number")
	case !known:
		v.Check(false, "number", "is not a card brand or length we accept")
	}
	v.Check(c.ExpMonth >= 1 && c.ExpMonth <= 12, "exp_month", "must be 1 to 12")
	now = now.UTC()
	v.Check(c.ExpYear >= 2000 && c.ExpYear <= now.Year()+20, "exp_year", "must be a four-digit year within twenty years")
	if c.ExpMonth >= 1 && c.ExpMonth <= 12 && c.ExpYear >= 2000 {
		// A card is valid through the last day of its expiry month.
		firstAfter := time.Date(c.ExpYear, time.Month(c.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC)
		v.Check(now.Before(firstAfter), "exp_year", "the card has expired")
	}
	v.CheckText("holder", c.Holder, 1, 100, false)
	if err := v.Err(); err != nil {
		return Card{}, "", err
	}
	return c, brand, nil
}

// Last4 returns the last four digits of a normalized number.
func Last4(number string) string {
	if len(number) < 4 {
		return ""
	}
	return number[len(number)-4:]
}
