package vault_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/vault"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		card  vault.Card
		brand vault.Brand
		field string // the field refused, "" when valid
	}{
		{"visa test card", vault.Card{"4242424242424242", 12, 2030, "A"}, vault.Visa, ""},
		{"grouped with spaces", vault.Card{"4242 4242 4242 4242", 12, 2030, "A"}, vault.Visa, ""},
		{"grouped with dashes", vault.Card{"4000-0000-0000-0002", 1, 2027, "A"}, vault.Visa, ""},
		{"mastercard 5-series", vault.Card{"5555555555554444", 1, 2027, "A"}, vault.Mastercard, ""},
		{"mastercard 2-series", vault.Card{"2223003122003222", 1, 2027, "A"}, vault.Mastercard, ""},
		{"amex", vault.Card{"378282246310005", 1, 2027, "A"}, vault.Amex, ""},
		{"discover", vault.Card{"6011111111111117", 1, 2027, "A"}, vault.Discover, ""},
		{"jcb", vault.Card{"3566002020360505", 1, 2027, "A"}, vault.JCB, ""},
		{"diners", vault.Card{"36227206271667", 1, 2027, "A"}, vault.Diners, ""},
		{"unionpay", vault.Card{"6200000000000005", 1, 2027, "A"}, vault.UnionPay, ""},
		{"bad checksum", vault.Card{"4242424242424241", 12, 2030, "A"}, "", "number"},
		{"letters", vault.Card{"4242abcd42424242", 12, 2030, "A"}, "", "number"},
		{"too short", vault.Card{"42424242424", 12, 2030, "A"}, "", "number"},
		{"too long", vault.Card{"42424242424242424242", 12, 2030, "A"}, "", "number"},
		{"visa with a wrong length", vault.Card{"42424242424242", 12, 2030, "A"}, "", "number"},
		{"unknown brand", vault.Card{"9999999999999995", 12, 2030, "A"}, "", "number"},
		{"amex with 16 digits", vault.Card{"3782822463100052", 12, 2030, "A"}, "", "number"},
		{"unicode digits", vault.Card{"４２４２４２４２４２４２４２４２", 12, 2030, "A"}, "", "number"},
		{"expired last month", vault.Card{"4242424242424242", 10, 2026, "A"}, "", "exp_year"},
		{"valid through this month", vault.Card{"4242424242424242", 11, 2026, "A"}, vault.Visa, ""},
		{"month 13", vault.Card{"4242424242424242", 13, 2030, "A"}, "", "exp_month"},
		{"two-digit year", vault.Card{"4242424242424242", 12, 30, "A"}, "", "exp_year"},
		{"too far ahead", vault.Card{"4242424242424242", 12, 2060, "A"}, "", "exp_year"},
		{"no holder", vault.Card{"4242424242424242", 12, 2030, ""}, "", "holder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, brand, err := vault.Validate(tt.card, now)
			if tt.field == "" {
				if err != nil || brand != tt.brand || strings.ContainsAny(c.Number, " -") {
					t.Fatalf("Validate = %v %q %v, want %s", c.Number, brand, err, tt.brand)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "validation_failed") {
				t.Fatalf("Validate accepted it (brand %q), want %s refused", brand, tt.field)
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("4242424242424242", 12, 2030, "Ada")
	f.Add("378282246310005", 1, 2027, "")
	f.Add("4242-4242 4242-4242", 0, 0, "\x00")
	f.Fuzz(func(t *testing.T, number string, month, year int, holder string) {
		c, brand, err := vault.Validate(vault.Card{Number: number, ExpMonth: month, ExpYear: year, Holder: holder}, now)
		if err != nil {
			if strings.Contains(err.Error(), vault.NormalizeNumber(number)) && len(vault.NormalizeNumber(number)) >= 12 {
				t.Fatalf("the error repeats the number: %v", err)
			}
			return
		}
		if !vault.Luhn(c.Number) || brand == "" || len(c.Number) < 12 || len(c.Number) > 19 {
			t.Fatalf("accepted %q as %q", c.Number, brand)
		}
	})
}
