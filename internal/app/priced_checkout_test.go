package app_test

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// pricedCart is the API's Cart, as far as these tests read it.
type pricedCart struct {
	ID    string `json:"id"`
	Items []struct {
		VariantID string `json:"variant_id"`
		Discount  amount `json:"discount"`
		Tax       amount `json:"tax"`
	} `json:"items"`
	UnavailableItems []struct {
		VariantID string `json:"variant_id"`
	} `json:"unavailable_items"`
	Subtotal amount `json:"subtotal"`
	Discount *struct {
		Code   string `json:"code"`
		Amount amount `json:"amount"`
	} `json:"discount"`
	Shipping *struct {
		OptionID string `json:"option_id"`
		Amount   amount `json:"amount"`
	} `json:"shipping"`
	TaxesKnown bool `json:"taxes_known"`
	Taxes      []struct {
		Name   string `json:"name"`
		Amount amount `json:"amount"`
	} `json:"taxes"`
	Tax      amount `json:"tax"`
	Total    amount `json:"total"`
	Problems []struct {
		Code string `json:"code"`
	} `json:"problems"`
}

func (c pricedCart) problems() string {
	var codes []string
	for _, p := range c.Problems {
		codes = append(codes, p.Code)
	}
	return strings.Join(codes, ",")
}

// pricedOrder is the API's Order, as far as these tests read it.
type pricedOrder struct {
	ID             string `json:"id"`
	Subtotal       amount `json:"subtotal"`
	Discount       amount `json:"discount"`
	DiscountCode   string `json:"discount_code"`
	Shipping       amount `json:"shipping"`
	ShippingOption *struct {
		OptionID string `json:"option_id"`
	} `json:"shipping_option"`
	Tax   amount `json:"tax"`
	Taxes []struct {
		Name   string `json:"name"`
		Amount amount `json:"amount"`
	} `json:"taxes"`
	Total amount `json:"total"`
}

// TestPricedCheckout: a cart with a discount code, a destination and a
// shipping option shows every amount the server computed, and checkout
// charges exactly that; a price that changed since it was shown is refused
// with price_changed; codes and options that do not apply are refused with
// one answer each and change nothing; guessing codes is locked out; racing
// checkouts for a code's last use make one order.
func TestPricedCheckout(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("priced-admin@example.com")
		p := s.createProduct(admin, "PRICED-SHIRT", 10)
		s.must(201, req{method: "POST", path: "/api/v1/admin/tax-rates", token: admin,
			body: map[string]any{"country": "DE", "rate_ppm": 190000, "name": "MwSt"}})
		var dhl, colissimo shippingOption
		s.must(201, req{method: "POST", path: "/api/v1/admin/shipping-options", token: admin, body: map[string]any{
			"name": "DHL", "zones": []map[string]string{{"country": "DE"}}, "kind": "flat", "prices": eurJSON(490), "active": true}}).JSON(t, &dhl)
		s.must(201, req{method: "POST", path: "/api/v1/admin/shipping-options", token: admin, body: map[string]any{
			"name": "Colissimo", "zones": []map[string]string{{"country": "FR"}}, "kind": "flat", "prices": eurJSON(690), "active": true}}).JSON(t, &colissimo)
		newCode := func(code string, extra map[string]any) {
			body := map[string]any{"code": code, "kind": "percent", "basis_points": 1000, "active": true}
			for k, v := range extra {
				body[k] = v
			}
			s.must(201, req{method: "POST", path: "/api/v1/admin/discounts", token: admin, body: body})
		}
		newCode("TENOFF", nil)
		newCode("LASTONE", map[string]any{"max_uses": 1})
		newCode("BYGONE", map[string]any{"ends_at": s.now().Add(-time.Hour).Format(time.RFC3339)})
		newCode("BIGSPENDER", map[string]any{"min_subtotal": eurJSON(1_000_000)})

		ann := s.shopper("priced-ann@example.com", "4242424242424242")
		cartPath := func(id string) string { return "/api/v1/carts/" + id }
		get := func(sh shopper, id string) (c pricedCart) {
			t.Helper()
			s.must(200, req{method: "GET", path: cartPath(id), token: sh.token}).JSON(t, &c)
			return c
		}
		cartID := s.cartWith(ann, 2, p.ID) // 2 × 19.99

		t.Run("the cart shows every amount the server computed", func(t *testing.T) {
			c := get(ann, cartID)
			if c.Subtotal.Amount != 3998 || c.Total.Amount != 3998 || c.TaxesKnown || c.Discount != nil || c.Shipping != nil || c.problems() != "" {
				t.Fatalf("cart without choices = %+v", c)
			}
			s.must(200, req{method: "PUT", path: cartPath(cartID) + "/discount", token: ann.token, body: map[string]string{"code": "ten-off"}}).JSON(t, &c)
			if c.Discount == nil || c.Discount.Code != "TENOFF" || c.Discount.Amount.Amount != 400 || c.Total.Amount != 3598 {
				t.Fatalf("with TENOFF = %+v", c)
			}
			s.must(200, req{method: "PUT", path: cartPath(cartID) + "/shipping", token: ann.token,
				body: map[string]any{"address": map[string]string{"country": "DE"}}}).JSON(t, &c)
			if c.problems() != "shipping_required" || !c.TaxesKnown || c.Tax.Amount != 684 { // 19 % of 3598 = 683.62
				t.Fatalf("destination without an option = %+v", c)
			}
			s.must(200, req{method: "PUT", path: cartPath(cartID) + "/shipping", token: ann.token,
				body: map[string]any{"address": address, "shipping_option": dhl.ID}}).JSON(t, &c)
			// 3998 − 400 + 490 = 4088; tax 684 + 93 (19 % of 490 = 93.1) = 777.
			if c.Shipping == nil || c.Shipping.Amount.Amount != 490 || c.Tax.Amount != 777 || c.Total.Amount != 4865 || c.problems() != "" {
				t.Fatalf("with DHL = %+v", c)
			}
			if len(c.Taxes) != 1 || c.Taxes[0].Name != "MwSt" || c.Items[0].Discount.Amount != 400 || c.Items[0].Tax.Amount != 684 {
				t.Fatalf("tax lines %+v, items %+v", c.Taxes, c.Items)
			}
		})

		t.Run("codes and options that do not apply are refused alike and change nothing", func(t *testing.T) {
			before := get(ann, cartID)
			var detail string
			for _, code := range []string{"NOSUCHCODE", "bygone", "BIGSPENDER", "save 10%", strings.Repeat("A", 100)} {
				res := s.do(req{method: "PUT", path: cartPath(cartID) + "/discount", token: ann.token, body: map[string]string{"code": code}})
				var prob struct{ Code, Detail string }
				res.JSON(t, &prob)
				if res.Status != 422 || prob.Code != "discount_invalid" || (detail != "" && prob.Detail != detail) {
					t.Fatalf("code %.20q = %d %s", code, res.Status, res.Body)
				}
				detail = prob.Detail
			}
			for _, body := range []any{
				map[string]any{"address": map[string]string{"country": "DE"}, "shipping_option": colissimo.ID}, // another zone
				map[string]any{"address": map[string]string{"country": "DE"}, "shipping_option": "ship_nosuchoption"},
			} {
				s.must(422, req{method: "PUT", path: cartPath(cartID) + "/shipping", token: ann.token, body: body})
			}
			for _, body := range []any{map[string]any{}, map[string]any{"address": map[string]string{"country": "de"}}, `{"address":`} {
				if res := s.do(req{method: "PUT", path: cartPath(cartID) + "/shipping", token: ann.token, body: body}); res.Status != 400 && res.Status != 422 {
					t.Fatalf("shipping %v = %d %s", body, res.Status, res.Body)
				}
			}
			if after := get(ann, cartID); !reflect.DeepEqual(after, before) {
				t.Fatalf("refused input changed the cart:\n%+v\n→\n%+v", before, after)
			}
			other := s.shopper("priced-other@example.com", "4242424242424242")
			s.must(404, req{method: "PUT", path: cartPath(cartID) + "/discount", token: other.token, body: map[string]string{"code": "TENOFF"}})
		})

		t.Run("checkout charges the total shown, and refuses another", func(t *testing.T) {
			shown := get(ann, cartID)
			wrong := checkoutReq(ann, "priced-1", cartID, "123")
			wrong.body.(map[string]any)["expected_total"] = map[string]any{"amount": shown.Total.Amount - 1, "currency": "EUR"}
			if res := s.do(wrong); res.Status != 409 || res.Code(t) != "price_changed" {
				t.Fatalf("wrong expected total = %d %s", res.Status, res.Body)
			}
			if s.stock(p.ID) != 10 {
				t.Fatal("a refused checkout took stock")
			}
			// The same key runs again: the refusal was not recorded for it.
			right := checkoutReq(ann, "priced-1", cartID, "123")
			right.body.(map[string]any)["expected_total"] = map[string]any{"amount": shown.Total.Amount, "currency": "EUR"}
			var o pricedOrder
			s.must(201, right).JSON(t, &o)
			if o.Total != shown.Total || o.Discount.Amount != 400 || o.DiscountCode != "TENOFF" || o.Shipping.Amount != 490 ||
				o.ShippingOption == nil || o.ShippingOption.OptionID != dhl.ID || o.Tax.Amount != 777 || len(o.Taxes) != 1 {
				t.Fatalf("order %+v for cart %+v", o, shown)
			}
			var again pricedOrder
			s.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: ann.token}).JSON(t, &again)
			if !reflect.DeepEqual(again, o) {
				t.Fatalf("read back %+v, answered %+v", again, o)
			}
		})

		t.Run("a price changed after the cart was shown is refused with price_changed", func(t *testing.T) {
			c2 := s.cartWith(ann, 1, p.ID)
			s.must(200, req{method: "PUT", path: cartPath(c2) + "/shipping", token: ann.token,
				body: map[string]any{"address": address, "shipping_option": dhl.ID}})
			shown := get(ann, c2)
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: admin,
				body: map[string]any{"price": map[string]any{"amount": 2499, "currency": "EUR"}}})
			r := checkoutReq(ann, "priced-2", c2, "123")
			r.body.(map[string]any)["expected_total"] = shown.Total
			if res := s.do(r); res.Status != 409 || res.Code(t) != "price_changed" {
				t.Fatalf("checkout after a price change = %d %s", res.Status, res.Body)
			}
			if now := get(ann, c2); now.Total.Amount <= shown.Total.Amount {
				t.Fatalf("the cart still shows %+v", now.Total)
			}
		})

		t.Run("a cart whose destination has options but none chosen is refused", func(t *testing.T) {
			c3 := s.cartWith(ann, 1, p.ID)
			if res := s.checkout(ann, "priced-3", c3, "123"); res.Status != 422 || res.Code(t) != "shipping_required" {
				t.Fatalf("checkout without an option = %d %s", res.Status, res.Body)
			}
		})

		t.Run("racing checkouts for a code's last use make one order", func(t *testing.T) {
			racers := []shopper{ann, s.shopper("priced-bob@example.com", "4242424242424242")}
			carts := make([]string, len(racers))
			for i, sh := range racers {
				carts[i] = s.cartWith(sh, 1, p.ID)
				s.must(200, req{method: "PUT", path: cartPath(carts[i]) + "/discount", token: sh.token, body: map[string]string{"code": "LASTONE"}})
				s.must(200, req{method: "PUT", path: cartPath(carts[i]) + "/shipping", token: sh.token,
					body: map[string]any{"address": address, "shipping_option": dhl.ID}})
			}
			stock := s.stock(p.ID)
			results := make([]response, len(racers))
			var wg sync.WaitGroup
			for i, sh := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = s.do(checkoutReq(sh, "priced-race", carts[i], "123"))
				}()
			}
			wg.Wait()
			won := 0
			for _, r := range results {
				switch {
				case r.Status == 201:
					won++
				case r.Status != 409 || r.Code(t) != "discount_exhausted":
					t.Fatalf("a racer got %d %s", r.Status, r.Body)
				}
			}
			if won != 1 || s.stock(p.ID) != stock-1 {
				t.Fatalf("%d orders, stock %d → %d", won, stock, s.stock(p.ID))
			}
		})

		t.Run("guessing codes locks code entry for the customer, audited", func(t *testing.T) {
			eve := s.shopper("priced-eve@example.com", "4242424242424242")
			c := s.cartWith(eve, 1, p.ID)
			var last response
			for i := 0; i < 12; i++ {
				last = s.do(req{method: "PUT", path: cartPath(c) + "/discount", token: eve.token, body: map[string]string{"code": fmt.Sprintf("GUESS%03d", i)}})
			}
			if last.Status != 429 || last.Code(t) != "too_many_attempts" || last.Header.Get("Retry-After") == "" {
				t.Fatalf("after 12 guesses: %d %s", last.Status, last.Body)
			}
			if res := s.do(req{method: "PUT", path: cartPath(c) + "/discount", token: eve.token, body: map[string]string{"code": "TENOFF"}}); res.Status != 429 {
				t.Fatalf("a valid code while locked = %d", res.Status)
			}
			if s.countAudit("discount.guessing_locked") != 1 || s.metricSum("bulwark_discount_codes_refused_total") < 10 {
				t.Fatalf("audit %d, metric %v", s.countAudit("discount.guessing_locked"), s.metricSum("bulwark_discount_codes_refused_total"))
			}
		})

		t.Run("an item withdrawn from sale shows as unavailable and blocks checkout", func(t *testing.T) {
			gone := s.createProduct(admin, "PRICED-GONE", 5)
			c := s.cartWith(ann, 1, gone.ID, p.ID)
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + gone.ID, token: admin, body: map[string]any{"status": "archived"}})
			got := get(ann, c)
			if len(got.UnavailableItems) != 1 || len(got.Items) != 1 || !strings.Contains(got.problems(), "out_of_stock") {
				t.Fatalf("cart with an archived item = %+v", got)
			}
			if res := s.checkout(ann, "priced-gone", c, "123"); res.Status != 409 || res.Code(t) != "out_of_stock" {
				t.Fatalf("checkout = %d %s", res.Status, res.Body)
			}
		})
	})
}
