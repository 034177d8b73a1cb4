package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestFraudAttributes: the attributes fraud rules see beyond velocity, end
// to end on both engines with the built-in simulator and rules —
//   - a card issued abroad (the processor says where) whose billing address
//     is abroad too, shipped to Germany, is held for review; the saved
//     card keeps its billing country, and a malformed one is refused;
//   - a card the issuer authorizes with its CVC check failed is refused as
//     a decline after the authorization, which is voided: nothing is held
//     or captured, the stock is back;
//   - one email declined five times within the hour over five guest carts
//     is refused on its sixth checkout even with a good card, while another
//     email buys with the same card.
func TestFraudAttributes(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, guestOn)
		admin := s.createAdmin("attr-admin@example.com")
		p := s.createProduct(admin, "ATTR-1", 100)

		t.Run("a card and a billing address abroad are reviewed", func(t *testing.T) {
			buyer := s.shopper("attr-abroad@example.com", "4242424242424242")
			if res := s.do(req{method: "POST", path: "/api/v1/payment-methods", token: buyer.token, body: map[string]any{
				"number": "4000000760000002", "exp_month": 12, "exp_year": 2031, "holder": "Pat Payer", "billing_country": "Brazil"}}); res.Status != 422 ||
				!strings.Contains(string(res.Body), "billing_country") {
				t.Fatalf("a malformed billing country: %d %s", res.Status, res.Body)
			}
			var m struct {
				ID      string
				Billing string `json:"billing_country"`
			}
			s.must(201, req{method: "POST", path: "/api/v1/payment-methods", token: buyer.token, body: map[string]any{
				"number": "4000000760000002", "exp_month": 12, "exp_year": 2031, "holder": "Pat Payer", "billing_country": "BR"}}).JSON(t, &m)
			if m.Billing != "BR" {
				t.Fatalf("the saved card: %+v", m)
			}
			abroad := buyer
			abroad.method = m.ID
			var o scoredOrder
			s.must(201, checkoutReq(abroad, "abroad-1", s.cartWith(abroad, 1, p.ID), "123")).JSON(t, &o)
			if o.Status != "pending_review" {
				t.Fatalf("card and billing in Brazil, shipped to Germany: %s", o.Status)
			}
			var seen scoredOrder
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + o.ID, token: admin}).JSON(t, &seen)
			if r := seen.Risk; r == nil || r.Features["card_country_mismatch"] != 1 || r.Features["billing_mismatch"] != 1 ||
				!strings.Contains(strings.Join(r.Reasons, ","), "card_and_billing_abroad") {
				t.Fatalf("the risk: %+v", r)
			}
			// Either alone is a traveller: the German card billed in Brazil
			// (an expatriate's) is paid.
			s.must(201, req{method: "POST", path: "/api/v1/payment-methods", token: buyer.token, body: map[string]any{
				"number": "4000002760000016", "exp_month": 12, "exp_year": 2031, "holder": "Pat Payer", "billing_country": "BR"}}).JSON(t, &m)
			abroad.method = m.ID
			s.must(201, checkoutReq(abroad, "abroad-2", s.cartWith(abroad, 1, p.ID), "123")).JSON(t, &o)
			if o.Status != "paid" {
				t.Fatalf("a German card billed abroad, shipped to Germany: %s", o.Status)
			}
		})

		t.Run("a failed CVC check is refused after the authorization, which is voided", func(t *testing.T) {
			buyer := s.shopper("attr-cvc@example.com", "4000000000000101")
			before := s.stock(p.ID)
			res := s.checkout(buyer, "cvc-1", s.cartWith(buyer, 1, p.ID), "123")
			if res.Status != 402 || !strings.Contains(string(res.Body), "payment_declined") || strings.Contains(string(res.Body), "cvc") {
				t.Fatalf("a failed CVC check: %d %s", res.Status, res.Body)
			}
			if got := s.stock(p.ID); got != before {
				t.Fatalf("stock %d, want %d back", got, before)
			}
			var list struct{ Items []scoredOrder }
			s.must(200, req{method: "GET", path: "/api/v1/orders", token: buyer.token}).JSON(t, &list)
			if len(list.Items) != 0 {
				t.Fatalf("orders after the refusal: %+v", list.Items)
			}
			if !s.auditHas(order.ActionCheckout, audit.Failure, "blocked by fraud scoring after authorization") {
				t.Fatal("the refusal after the authorization is not in the audit trail")
			}
		})

		t.Run("one email declined over many guest carts is refused whatever the card", func(t *testing.T) {
			declined := map[string]any{"number": "4000000000000002", "exp_month": 12, "exp_year": 2031, "holder": "Pat Payer"}
			guestBuy := func(key, email string, card map[string]any) response {
				c := s.guestCart()
				s.must(200, req{method: "PUT", path: "/api/v1/carts/" + c.ID + "/items/" + p.ID, header: asGuest(c), body: map[string]int{"quantity": 1}})
				return s.do(guestCheckoutReq(c, key, email, card))
			}
			for i := range 5 {
				card := map[string]any{}
				for k, v := range declined {
					card[k] = v
				}
				if res := guestBuy(fmt.Sprintf("email-%d", i), "tester@example.com", card); res.Status != 402 {
					t.Fatalf("declined card %d: %d %s", i, res.Status, res.Body)
				}
			}
			// A malformed or oversized billing country is refused (422; the NUL by
			// the WAF, 403), nothing taken.
			before := s.stock(p.ID)
			for _, bad := range []string{"Germany", "de", strings.Repeat("D", 100_000), "D\u0000"} {
				card := map[string]any{"billing_country": bad}
				for k, v := range guestCard {
					card[k] = v
				}
				if res := guestBuy("email-bad-"+bad[:1], "bad-billing@example.com", card); res.Status != 422 && res.Status != 413 && res.Status != 403 {
					t.Fatalf("billing country %.20q: %d %s", bad, res.Status, res.Body)
				}
			}
			if got := s.stock(p.ID); got != before {
				t.Fatalf("stock %d after refused checkouts, want %d", got, before)
			}
			if res := guestBuy("email-good", "tester@example.com", guestCard); res.Status != 402 {
				t.Fatalf("the tester's email with a good card: %d %s", res.Status, res.Body)
			}
			if res := guestBuy("email-other", "someone@example.com", guestCard); res.Status != 201 {
				t.Fatalf("another email with the good card: %d %s", res.Status, res.Body)
			}
		})
	})
}
