package app_test

import (
	"testing"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestStrictJSONRefusesCaseVariantsAndNulls runs issue 11's three attacks on
// the strict decoder against the real server: a key that differs from a field
// only in case used to overwrite it (encoding/json matches names without
// regard to case), and a null used to read as the zero value, so a cart line
// was deleted and a refund without an amount refunded the whole order.
func TestStrictJSONRefusesCaseVariantsAndNulls(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("strict-admin@example.com")
		finance := s.staff(admin, "strict-finance@example.com", "finance")
		p := s.createProduct(admin, "STRICT-1", 10)

		t.Run("a case-variant key does not overwrite the name", func(t *testing.T) {
			res := s.do(req{method: "POST", path: "/api/v1/auth/register",
				body: `{"email":"alice@example.com","password":"` + testPassword + `","name":"Alice","NAME":"Mallory"}`})
			if res.Status != 400 || res.Code(t) != "invalid_json" {
				t.Fatalf("register with NAME = %d %s, want 400 invalid_json", res.Status, res.Body)
			}
			res = s.do(req{method: "POST", path: "/api/v1/admin/products", token: admin,
				body: `{"sku":"STRICT-2","name":"Cap","Name":"Mallory","description":"","price":{"amount":1500,"currency":"EUR"},"stock":1}`})
			if res.Status != 400 || res.Code(t) != "invalid_json" {
				t.Fatalf("create product with Name = %d %s, want 400 invalid_json", res.Status, res.Body)
			}
			res = s.do(req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: admin, body: `{"name":"Cap","NAME":"Mallory"}`})
			if res.Status != 400 || res.Code(t) != "invalid_json" {
				t.Fatalf("update product with NAME = %d %s, want 400 invalid_json", res.Status, res.Body)
			}
			var got product
			s.must(200, req{method: "GET", path: "/api/v1/products/" + p.ID}).JSON(t, &got)
			if got.Name == "Mallory" {
				t.Fatalf("the case variant was stored: %+v", got)
			}
			var list struct{ Items []product }
			s.must(200, req{method: "GET", path: "/api/v1/products?limit=100"}).JSON(t, &list)
			for _, it := range list.Items {
				if it.SKU == "STRICT-2" || it.Name == "Mallory" {
					t.Fatalf("a refused product was stored: %+v", it)
				}
			}
			// Nothing was created by the refused registration, so the address
			// registers normally, with the name its owner sent.
			s.register("alice@example.com")
			tok := s.login("alice@example.com", testPassword)
			var me user
			s.must(200, req{method: "GET", path: "/api/v1/me", token: tok}).JSON(t, &me)
			if me.Name == "Mallory" {
				t.Fatalf("me = %+v", me)
			}
		})

		pat := s.shopper("strict-shopper@example.com", "4242424242424242")

		t.Run("a null quantity leaves the cart line alone", func(t *testing.T) {
			cartID := s.cartWith(pat, 2, p.ID)
			res := s.do(req{method: "PUT", path: "/api/v1/carts/" + cartID + "/items/" + p.ID, token: pat.token, body: `{"quantity": null}`})
			if res.Status != 400 || res.Code(t) != "invalid_json" {
				t.Fatalf("quantity null = %d %s, want 400 invalid_json", res.Status, res.Body)
			}
			res = s.do(req{method: "PUT", path: "/api/v1/carts/" + cartID + "/items/" + p.ID, token: pat.token, body: `{"QUANTITY": 0}`})
			if res.Status != 400 {
				t.Fatalf("QUANTITY 0 = %d %s, want 400", res.Status, res.Body)
			}
			// Left out, the required quantity read as 0 too, and deleted the line.
			res = s.do(req{method: "PUT", path: "/api/v1/carts/" + cartID + "/items/" + p.ID, token: pat.token, body: `{}`})
			if res.Status != 422 || res.Code(t) != "validation_failed" {
				t.Fatalf("{} = %d %s, want 422 validation_failed", res.Status, res.Body)
			}
			var c cartJSON
			s.must(200, req{method: "GET", path: "/api/v1/carts/" + cartID, token: pat.token}).JSON(t, &c)
			if len(c.Items) != 1 || c.Items[0].Quantity != 2 {
				t.Fatalf("after the refused nulls the cart is %+v, want the line of 2 untouched", c)
			}
		})

		t.Run("a null refund amount refunds nothing", func(t *testing.T) {
			var o orderJSON
			s.must(201, req{method: "POST", path: "/api/v1/checkout", token: pat.token, header: map[string]string{"Idempotency-Key": "strict-1"},
				body: map[string]any{"cart_id": s.cartWith(pat, 1, p.ID), "payment_method": pat.method, "cvc": "123", "shipping_address": address}}).JSON(t, &o)
			for i, body := range []string{`{"amount": null}`, `{"Amount": {"amount": 1, "currency": "EUR"}}`, `{"amount": {"amount": null, "currency": "EUR"}}`} {
				res := s.do(req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: finance,
					header: map[string]string{"Idempotency-Key": "strict-refund-" + string(rune('a'+i))}, body: body})
				if res.Status != 400 || res.Code(t) != "invalid_json" {
					t.Fatalf("refund %s = %d %s, want 400 invalid_json", body, res.Status, res.Body)
				}
			}
			s.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: pat.token}).JSON(t, &o)
			if o.Status != "paid" || o.Refunded.Amount != 0 {
				t.Fatalf("after the refused refunds the order is %+v, want paid with nothing refunded", o)
			}
			if n := s.countAudit("order.refund"); n != 0 {
				t.Fatalf("%d refund audit records, want none", n)
			}
		})
	})
}
