package app_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestFieldMatrix checks the order fields each role sees against docs/ACCESS.md.
func TestFieldMatrix(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("fields-admin@example.com")
		p := s.createProduct(admin, "FIELD-1", 10)
		buyer := s.shopper("fields-buyer@example.com", "4242424242424242")
		var placed struct{ ID string }
		s.checkout(buyer, "fields", s.cartWith(buyer, 1, p.ID), "123").JSON(t, &placed)

		keysOf := func(body []byte, path string) string {
			var doc map[string]json.RawMessage
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if path == "items[0]" {
				var list struct{ Items []map[string]json.RawMessage }
				json.Unmarshal(body, &list)
				doc = list.Items[0]
			}
			var ks []string
			for k := range doc {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			return strings.Join(ks, ",")
		}
		listAs := func(token string) []byte {
			return s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: token}).Body
		}
		full := "captured,created_at,customer,discount,discount_code,id,items,payment,refunded,shipping,shipping_address,status,subtotal,tax,tax_inclusive,taxes,total"
		cases := []struct {
			who, want string
			body      func() []byte
		}{
			// Fraud scoring's risk: finance and admin only (fraud:review).
			{"admin", strings.Replace(full, ",shipping,", ",risk,shipping,", 1), func() []byte { return listAs(admin) }},
			{"support", full, func() []byte { return listAs(s.staff(admin, "fields-support@example.com", "support")) }},
			{"fulfillment", "created_at,id,items,shipping_address,status", func() []byte { return listAs(s.staff(admin, "fields-fulfil@example.com", "fulfillment")) }},
			{"customer", "captured,created_at,discount,discount_code,id,items,payment,refunded,shipping,shipping_address,status,subtotal,tax,tax_inclusive,taxes,total", func() []byte {
				return s.must(200, req{method: "GET", path: "/api/v1/orders", token: buyer.token}).Body
			}},
		}
		for _, c := range cases {
			t.Run(c.who, func(t *testing.T) {
				body := c.body()
				if got := keysOf(body, "items[0]"); got != c.want {
					t.Fatalf("%s sees %s\nwant %s", c.who, got, c.want)
				}
				if c.who == "fulfillment" && strings.Contains(string(body), "unit_price") {
					t.Fatal("fulfillment sees prices")
				}
				if c.who != "admin" && c.who != "support" && strings.Contains(string(body), "fields-buyer@example.com") {
					t.Fatalf("%s sees the customer's email", c.who)
				}
				if strings.Contains(string(body), "4242424242424242") || strings.Contains(string(body), "tok_") {
					t.Fatalf("%s sees card data", c.who)
				}
			})
		}
		t.Run("finance", func(t *testing.T) {
			finance := s.staff(admin, "fields-finance@example.com", "finance")
			body := s.must(200, req{method: "POST", path: "/api/v1/admin/orders/" + placed.ID + "/refund", token: finance,
				header: map[string]string{"Idempotency-Key": "fields"}, body: map[string]any{"amount": map[string]any{"amount": 1, "currency": "EUR"}}}).Body
			if got, want := keysOf(body, ""), "captured,created_at,discount,discount_code,events,fulfillments,id,items,payment,refunded,refunds,returns,risk,shipping,status,subtotal,tax,tax_inclusive,taxes,total"; got != want {
				t.Fatalf("finance sees %s\nwant %s", got, want)
			}
		})
		// One order carries its history: refunds only for views that see amounts.
		t.Run("one order, as fulfillment staff", func(t *testing.T) {
			fulfil := s.staff(admin, "fields-fulfil-one@example.com", "fulfillment")
			body := s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + placed.ID, token: fulfil}).Body
			if got, want := keysOf(body, ""), "created_at,events,fulfillments,id,items,returns,shipping_address,status"; got != want {
				t.Fatalf("fulfillment sees %s\nwant %s", got, want)
			}
			if strings.Contains(string(body), "unit_price") || strings.Contains(string(body), `"amount"`) {
				t.Fatal("fulfillment sees amounts")
			}
		})
		t.Run("one order, as its customer", func(t *testing.T) {
			body := s.must(200, req{method: "GET", path: "/api/v1/orders/" + placed.ID, token: buyer.token}).Body
			if got, want := keysOf(body, ""), "captured,created_at,discount,discount_code,events,fulfillments,id,items,payment,refunded,refunds,returns,shipping,shipping_address,status,subtotal,tax,tax_inclusive,taxes,total"; got != want {
				t.Fatalf("the customer sees %s\nwant %s", got, want)
			}
		})
	})
}
