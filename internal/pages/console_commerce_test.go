package pages

import (
	"io"
	"log/slog"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/money"
)

func TestCommerceTemplatesLoad(t *testing.T) {
	s, err := New(Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"console-orders.html", "console-order.html", "console-catalog.html", "console-catalog-new.html",
		"console-catalog-product.html", "console-catalog-categories.html", "console-catalog-category.html", "console-pricing.html",
		"console-pricing-discount.html", "console-pricing-tax.html", "console-pricing-shipping.html", "console-users.html",
		"console-keys.html", "console-webhooks.html", "console-webhooks-deliveries.html", "console-mail.html", "console-mail-template.html"} {
		if _, ok := s.views.pages[name]; !ok {
			t.Errorf("no template %s", name)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		in, cur string
		want    int64
		ok      bool
	}{
		{"19.99", "EUR", 1999, true},
		{"19.9", "EUR", 1990, true},
		{"19", "EUR", 1900, true},
		{" 0.01 ", "EUR", 1, true},
		{"1999", "JPY", 1999, true},
		{"1.5", "JPY", 0, false},
		{"1.234", "KWD", 1234, true},
		{"19.999", "EUR", 0, false},
		{"-1", "EUR", 0, false},
		{"1e3", "EUR", 0, false},
		{"", "EUR", 0, false},
		{".5", "EUR", 0, false},
		{"5.", "EUR", 0, false},
		{"1,50", "EUR", 0, false},
		{"99999999999999", "EUR", 0, false},
	} {
		got, ok := parseAmount(c.in, c.cur)
		if got != c.want || ok != c.ok {
			t.Errorf("parseAmount(%q, %s) = %d, %v; want %d, %v", c.in, c.cur, got, ok, c.want, c.ok)
		}
	}
}

func TestPricesRoundTrip(t *testing.T) {
	in := []money.Money{{Amount: 1999, Currency: "EUR"}, {Amount: 2400, Currency: "USD"}, {Amount: 500, Currency: "JPY"}}
	text := formatPrices(in)
	if text != "19.99 EUR, 24.00 USD, 500 JPY" {
		t.Fatalf("formatPrices = %q", text)
	}
	out, err := parsePrices("prices", text)
	if err != nil || len(out) != 3 || out[0] != in[0] || out[1] != in[1] || out[2] != in[2] {
		t.Fatalf("parsePrices(%q) = %v, %v", text, out, err)
	}
	if _, err := parsePrices("prices", "19.99"); err == nil {
		t.Error("a price without a currency was read")
	}
	if out, err := parsePrices("prices", " "); err != nil || len(out) != 0 {
		t.Errorf("empty prices = %v, %v", out, err)
	}
}

func TestFixed(t *testing.T) {
	for _, c := range []struct {
		in     string
		places int
		want   int64
	}{{"19", 4, 190000}, {"8.875", 4, 88750}, {"12.5", 2, 1250}, {"100", 2, 10000}, {"0.01", 2, 1}} {
		got, err := parseFixed("f", c.in, c.places)
		if err != nil || got != c.want {
			t.Errorf("parseFixed(%q, %d) = %d, %v", c.in, c.places, got, err)
		}
		if back := formatFixed(got, c.places); back != c.in {
			t.Errorf("formatFixed(%d, %d) = %q, want %q", got, c.places, back, c.in)
		}
	}
	for _, bad := range []string{"", "1.23456", "x", "-1", "1."} {
		if _, err := parseFixed("f", bad, 4); err == nil {
			t.Errorf("parseFixed(%q) accepted", bad)
		}
	}
}

func TestOptionsAndBands(t *testing.T) {
	opts, err := parseOptions("size: S, M, L\n\ncolour: red")
	if err != nil || len(opts) != 2 || opts[0].Name != "size" || len(opts[0].Values) != 3 || opts[1].Values[0] != "red" {
		t.Fatalf("parseOptions = %+v, %v", opts, err)
	}
	if _, err := parseOptions("size S M"); err == nil {
		t.Error("an option without a colon was read")
	}
	choice, err := parseChoice("c", "size=M, colour = red")
	if err != nil || choice["size"] != "M" || choice["colour"] != "red" {
		t.Fatalf("parseChoice = %v, %v", choice, err)
	}
	o := shippingOption{Bands: []band{{0, 1000, []money.Money{{Amount: 490, Currency: "EUR"}}}, {1000, 5000, []money.Money{{Amount: 990, Currency: "EUR"}}}},
		Zones: []place{{"DE", ""}, {"US", "CA"}}}
	bands, err := parseBands(o.BandsText())
	if err != nil || len(bands) != 2 || bands[1].MaxGrams != 5000 || bands[1].Prices[0].Amount != 990 {
		t.Fatalf("parseBands(%q) = %+v, %v", o.BandsText(), bands, err)
	}
	if z := parseZones(o.ZonesText()); len(z) != 2 || z[1] != (place{"US", "CA"}) {
		t.Fatalf("parseZones = %+v", z)
	}
}

func TestParseUTC(t *testing.T) {
	got, err := parseUTC("x", "2027-01-31T09:00")
	if err != nil || got.Format("2006-01-02T15:04:05Z07:00") != "2027-01-31T09:00:00Z" {
		t.Fatalf("parseUTC = %v, %v", got, err)
	}
	if inputTime("2027-01-31T09:00:00Z") != "2027-01-31T09:00" {
		t.Fatal("inputTime")
	}
	if got, err := parseUTC("x", ""); got != nil || err != nil {
		t.Fatal("empty time")
	}
	if _, err := parseUTC("x", "tomorrow"); err == nil {
		t.Fatal("a bad time was read")
	}
}
