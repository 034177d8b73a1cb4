package app_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// problemOf is what a refusal says, without its request id.
func problemOf(t *testing.T, r response) string {
	t.Helper()
	var p struct {
		Type, Title, Detail, Code string
		Status                    int
	}
	r.JSON(t, &p)
	b, _ := json.Marshal(p)
	return string(b)
}

func (s *server) listedIDs(path string) []string {
	s.t.Helper()
	var l struct {
		Items []struct{ ID string } `json:"items"`
	}
	s.must(200, req{method: "GET", path: path}).JSON(s.t, &l)
	var ids []string
	for _, p := range l.Items {
		ids = append(ids, p.ID)
	}
	return ids
}

// Unreleased designs stay confidential: a draft, archived or scheduled
// product answers every public route exactly as a product that does not
// exist — by product id, by variant id, in lists and category listings, when
// added to a cart, in a cart that already holds it, and at checkout — until
// it is published; staff reads of it are audited.
func TestSecretLaunches(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, withCurrencies("EUR,USD"))
		admin := s.createAdmin("launch-admin@example.com")
		cat := s.category(admin, "Tees", "tees", "")
		create := func(sku string, body map[string]any) fullProduct {
			body["categories"] = []string{cat.ID}
			var p fullProduct
			s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: body}).JSON(t, &p)
			return p
		}
		launch := s.now().Add(time.Hour).UTC().Truncate(time.Second)
		draft := create("SECRET", twoSizes("SECRET", ""))
		scheduledBody := twoSizes("SOON", "active")
		scheduledBody["publish_at"] = launch.Format(time.RFC3339)
		scheduled := create("SOON", scheduledBody)
		archived := create("OLD", twoSizes("OLD", "active"))
		s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + archived.ID, token: admin, body: map[string]any{"status": "archived"}})
		visible := create("SEEN", twoSizes("SEEN", "active"))
		if draft.Status != "draft" || scheduled.PublishAt == "" || scheduled.Active || !visible.Active {
			t.Fatalf("setup: draft %+v, scheduled %+v, visible %+v", draft, scheduled, visible)
		}
		const missingProduct, missingVariant = "prod_aaaaaaaaaaaaaaaaaaaaaaaaaa", "var_aaaaaaaaaaaaaaaaaaaaaaaaaa"
		missing := problemOf(t, s.must(404, req{method: "GET", path: "/api/v1/products/" + missingProduct}))
		sh := s.shopper("curious@example.com", "4242424242424242")
		cart := s.cartWith(sh, 1)
		missingInCart := problemOf(t, s.must(404, req{method: "PUT", path: "/api/v1/carts/" + cart + "/items/" + missingVariant, token: sh.token, body: map[string]int{"quantity": 1}}))
		if p := problemOf(t, s.must(404, req{method: "PUT", path: "/api/v1/carts/" + cart + "/items/" + missingProduct, token: sh.token, body: map[string]int{"quantity": 1}})); p != missingInCart {
			t.Fatalf("an unknown product id and an unknown variant id answer differently: %s / %s", p, missingInCart)
		}

		hidden := map[string]fullProduct{"draft": draft, "scheduled": scheduled, "archived": archived}
		for name, h := range hidden {
			t.Run("a "+name+" product is not found by product id", func(t *testing.T) {
				if got := problemOf(t, s.do(req{method: "GET", path: "/api/v1/products/" + h.ID})); got != missing {
					t.Fatalf("GET %s product = %s, missing = %s", name, got, missing)
				}
			})
			t.Run("a "+name+" product is in no list", func(t *testing.T) {
				for _, path := range []string{"/api/v1/products?limit=100", "/api/v1/products?q=" + h.SKU, "/api/v1/products?category=" + cat.ID,
					"/api/v1/products?currency=USD&min_price=0&in_stock=true", "/api/v1/products?q=" + url.QueryEscape(h.Name)} {
					if ids := s.listedIDs(path); slices.Contains(ids, h.ID) {
						t.Fatalf("%s lists the %s product", path, name)
					}
				}
			})
			t.Run("a "+name+" product cannot be added to a cart, by variant or product id", func(t *testing.T) {
				for _, item := range []string{h.Variants[0].ID, h.Variants[1].ID, h.ID} {
					res := s.do(req{method: "PUT", path: "/api/v1/carts/" + cart + "/items/" + item, token: sh.token, body: map[string]int{"quantity": 1}})
					if got := problemOf(t, res); got != missingInCart {
						t.Fatalf("adding %s of the %s product = %s, missing = %s", item, name, got, missingInCart)
					}
				}
			})
		}
		if ids := s.listedIDs("/api/v1/products?category=" + cat.ID); !slices.Equal(ids, []string{visible.ID}) {
			t.Fatalf("the category lists %v, want only the visible product %s", ids, visible.ID)
		}

		t.Run("a product hidden after it was put in a cart leaves the cart and is refused at checkout, nothing reserved", func(t *testing.T) {
			c := s.cartWith(sh, 2, visible.Variants[0].ID)
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + visible.ID, token: admin, body: map[string]any{"status": "draft"}})
			var v cartView
			s.must(200, req{method: "GET", path: "/api/v1/carts/" + c, token: sh.token}).JSON(t, &v)
			if len(v.Items) != 0 || v.Subtotal.Amount != 0 {
				t.Fatalf("the cart still shows the hidden product: %+v", v)
			}
			res := s.do(checkoutReq(sh, "hidden-1", c, "123"))
			if res.Status != 409 || res.Code(t) != "out_of_stock" {
				t.Fatalf("checkout of a hidden product = %d %s", res.Status, res.Body)
			}
			var p fullProduct
			s.must(200, req{method: "GET", path: "/api/v1/admin/products/" + visible.ID, token: admin}).JSON(t, &p)
			if p.Variants[0].Stock != 5 {
				t.Fatalf("the refused checkout took stock: %d left of 5", p.Variants[0].Stock)
			}
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + visible.ID, token: admin, body: map[string]any{"status": "active"}})
			s.must(200, req{method: "GET", path: "/api/v1/carts/" + c, token: sh.token}).JSON(t, &v)
			if len(v.Items) != 1 {
				t.Fatalf("the published product did not come back to the cart: %+v", v)
			}
		})

		t.Run("staff reads of hidden products are audited, of visible ones not", func(t *testing.T) {
			before := s.countAudit("product.read_hidden")
			var p fullProduct
			s.must(200, req{method: "GET", path: "/api/v1/admin/products/" + draft.ID, token: admin}).JSON(t, &p)
			if p.ID != draft.ID || p.Status != "draft" || len(p.Variants) != 2 {
				t.Fatalf("staff read = %+v", p)
			}
			if n := s.countAudit("product.read_hidden"); n != before+1 {
				t.Fatalf("%d audit records for reading a draft, want 1", n-before)
			}
			s.must(200, req{method: "GET", path: "/api/v1/admin/products/" + visible.ID, token: admin})
			if n := s.countAudit("product.read_hidden"); n != before+1 {
				t.Fatalf("reading a visible product was audited")
			}
			var l struct{ Items []fullProduct }
			s.must(200, req{method: "GET", path: "/api/v1/admin/products?status=draft", token: admin}).JSON(t, &l)
			if len(l.Items) != 1 || l.Items[0].ID != draft.ID {
				t.Fatalf("staff list of drafts = %+v", l.Items)
			}
			if n := s.countAudit("product.read_hidden"); n != before+2 {
				t.Fatalf("listing drafts was not audited")
			}
			s.must(200, req{method: "GET", path: "/api/v1/admin/products?limit=100", token: admin}).JSON(t, &l)
			if len(l.Items) != 4 {
				t.Fatalf("staff list of every status has %d products, want 4", len(l.Items))
			}
			customer := s.do(req{method: "GET", path: "/api/v1/admin/products/" + draft.ID, token: sh.token})
			if customer.Status != 403 {
				t.Fatalf("a customer's staff read = %d", customer.Status)
			}
		})

		t.Run("the scheduled product appears once its time comes", func(t *testing.T) {
			s.Clock.Set(launch.Add(-time.Second))
			s.must(404, req{method: "GET", path: "/api/v1/products/" + scheduled.ID})
			s.Clock.Set(launch)
			var p fullProduct
			s.must(200, req{method: "GET", path: "/api/v1/products/" + scheduled.ID}).JSON(t, &p)
			if !p.Active || p.PublishAt != launch.Format("2006-01-02T15:04:05.000Z") {
				t.Fatalf("published product = %+v", p)
			}
			if ids := s.listedIDs("/api/v1/products?category=" + cat.ID); !slices.Contains(ids, scheduled.ID) {
				t.Fatalf("the category does not list the published product: %v", ids)
			}
			c := s.cartWith(sh, 1, scheduled.Variants[1].ID)
			var o orderJSON
			s.must(201, checkoutReq(sh, "launch-1", c, "123")).JSON(t, &o)
			if o.Total.Amount != 1200 {
				t.Fatalf("order = %+v", o)
			}
		})
	})
}

// A staff description passes the WAF's XSS rules (the catalog exclusion lets
// HTML through) and is sanitized on write: what is stored and served keeps
// the allowed tags only.
func TestDescriptionsSanitized(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("describe-admin@example.com")
		hostile := `<p onmouseover="alert(1)">Soft <strong>wool</strong></p><script>alert(1)</script>` +
			`<a href="javascript:alert(1)">x</a><a href="https://example.com/care">care</a><iframe src="https://evil.example"></iframe>` +
			`<svg onload="alert(1)"></svg><p style="background:url(x)">y</p>`
		want := `<p>Soft <strong>wool</strong></p>x<a href="https://example.com/care" rel="nofollow">care</a><p>y</p>`
		var p fullProduct
		s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: map[string]any{
			"sku": "HTML-1", "name": "Described", "description": hostile, "price": eur(100), "stock": 1}}).JSON(t, &p)
		if p.Description != want {
			t.Fatalf("created description = %q, want %q", p.Description, want)
		}
		s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: admin, body: map[string]any{"description": hostile + "<h2>More</h2>"}})
		s.must(200, req{method: "GET", path: "/api/v1/products/" + p.ID}).JSON(t, &p)
		if p.Description != want+"<h2>More</h2>" {
			t.Fatalf("served description = %q", p.Description)
		}
	})
}
