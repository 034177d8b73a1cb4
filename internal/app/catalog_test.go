package app_test

import (
	"fmt"
	"net/url"
	"sync"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestCatalog(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("catalog-admin@example.com")
		catalogStaff := s.staff(admin, "catalog-staff@example.com", "catalog")

		t.Run("staff create, the public reads", func(t *testing.T) {
			p := s.createProduct(catalogStaff, "READ-1", 5)
			var got product
			s.must(200, req{method: "GET", path: "/api/v1/products/" + p.ID}).JSON(t, &got)
			if got.SKU != "READ-1" || got.Stock != 5 || got.Price.Amount != 1999 || got.Price.Currency != "EUR" || !got.Active {
				t.Fatalf("product = %+v", got)
			}
		})

		t.Run("a duplicate sku is refused", func(t *testing.T) {
			s.createProduct(admin, "DUP-1", 1)
			res := s.do(req{method: "POST", path: "/api/v1/admin/products", token: admin, body: map[string]any{
				"sku": "DUP-1", "name": "again", "description": "", "price": map[string]any{"amount": 1, "currency": "EUR"}, "stock": 1}})
			if res.Status != 409 || res.Code(t) != "sku_taken" {
				t.Fatalf("duplicate sku = %d %s", res.Status, res.Body)
			}
		})

		t.Run("a price in another currency or negative is refused", func(t *testing.T) {
			for _, price := range []map[string]any{{"amount": 100, "currency": "USD"}, {"amount": -1, "currency": "EUR"}, {"amount": 1e13, "currency": "EUR"}} {
				res := s.do(req{method: "POST", path: "/api/v1/admin/products", token: admin, body: map[string]any{
					"sku": "PRICE-X", "name": "x", "price": price, "stock": 1}})
				if res.Status != 422 {
					t.Fatalf("price %v = %d %s", price, res.Status, res.Body)
				}
			}
		})

		t.Run("patch changes name, price and active; inactive products are hidden", func(t *testing.T) {
			p := s.createProduct(admin, "PATCH-1", 3)
			var got product
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: catalogStaff, body: map[string]any{
				"name": "Renamed", "price": map[string]any{"amount": 500, "currency": "EUR"}, "active": false}}).JSON(t, &got)
			if got.Name != "Renamed" || got.Price.Amount != 500 || got.Active || got.SKU != "PATCH-1" || got.Stock != 3 {
				t.Fatalf("patched = %+v", got)
			}
			s.must(404, req{method: "GET", path: "/api/v1/products/" + p.ID})
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: catalogStaff, body: map[string]any{"active": true}})
			s.must(200, req{method: "GET", path: "/api/v1/products/" + p.ID})
		})

		t.Run("patch cannot set stock or sku", func(t *testing.T) {
			p := s.createProduct(admin, "PATCH-2", 3)
			for _, body := range []string{`{"stock": 1000}`, `{"sku": "OTHER"}`, `{"id": "prod_x"}`} {
				if res := s.do(req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: admin, body: body}); res.Status != 400 {
					t.Fatalf("patch %s = %d", body, res.Status)
				}
			}
			var got product
			s.must(200, req{method: "GET", path: "/api/v1/products/" + p.ID}).JSON(t, &got)
			if got.Stock != 3 || got.SKU != "PATCH-2" {
				t.Fatalf("product changed: %+v", got)
			}
		})

		t.Run("unknown and malformed product ids are 404", func(t *testing.T) {
			for _, id := range []string{"prod_aaaaaaaaaaaaaaaaaaaaaaaaaa", "nope", "prod_'%20OR%201=1", "usr_aaaaaaaaaaaaaaaaaaaaaaaaaa"} {
				s.must(404, req{method: "GET", path: "/api/v1/products/" + id})
				s.must(404, req{method: "PATCH", path: "/api/v1/admin/products/" + id, token: admin, body: map[string]any{"name": "x"}})
			}
		})

		t.Run("stock never goes below zero", func(t *testing.T) {
			p := s.createProduct(admin, "STOCK-1", 2)
			res := s.do(req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/stock", token: admin, body: map[string]any{"delta": -3, "reason": "count"}})
			if res.Status != 409 || res.Code(t) != "insufficient_stock" {
				t.Fatalf("stock -3 of 2 = %d %s", res.Status, res.Body)
			}
			var got product
			s.must(200, req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/stock", token: admin, body: map[string]any{"delta": -2, "reason": "sold at fair"}}).JSON(t, &got)
			if got.Stock != 0 {
				t.Fatalf("stock = %d, want 0", got.Stock)
			}
		})

		t.Run("concurrent decrements stop at zero", func(t *testing.T) {
			p := s.createProduct(admin, "RACE-1", 10)
			var wg sync.WaitGroup
			statuses := make(chan int, 30)
			for range 30 {
				wg.Go(func() {
					statuses <- s.do(req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/stock", token: admin, body: map[string]any{"delta": -1, "reason": "race"}}).Status
				})
			}
			wg.Wait()
			close(statuses)
			counts := map[int]int{}
			for st := range statuses {
				counts[st]++
			}
			if counts[200] != 10 || counts[409] != 20 {
				t.Fatalf("statuses %v, want 10×200 and 20×409", counts)
			}
			var got product
			s.must(200, req{method: "GET", path: "/api/v1/products/" + p.ID}).JSON(t, &got)
			if got.Stock != 0 {
				t.Fatalf("stock = %d, want 0", got.Stock)
			}
		})

		t.Run("search and cursor pagination", func(t *testing.T) {
			for i := range 25 {
				s.createProduct(admin, fmt.Sprintf("PAGE-%02d", i), 1)
			}
			seen := map[string]bool{}
			cursor, pages := "", 0
			for {
				var page struct {
					Items      []product `json:"items"`
					NextCursor string    `json:"next_cursor"`
				}
				s.must(200, req{method: "GET", path: "/api/v1/products?q=page-&limit=10&cursor=" + url.QueryEscape(cursor)}).JSON(t, &page)
				pages++
				for _, p := range page.Items {
					if seen[p.ID] {
						t.Fatalf("product %s on two pages", p.ID)
					}
					seen[p.ID] = true
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			if len(seen) != 25 || pages != 3 {
				t.Fatalf("saw %d products on %d pages, want 25 on 3", len(seen), pages)
			}
		})

		t.Run("search treats wildcards as text", func(t *testing.T) {
			var page struct{ Items []product }
			s.must(200, req{method: "GET", path: "/api/v1/products?q=" + url.QueryEscape("%")}).JSON(t, &page)
			if len(page.Items) != 0 {
				t.Fatalf("q=%% matched %d products", len(page.Items))
			}
		})

		t.Run("bad list parameters", func(t *testing.T) {
			for q, want := range map[string]int{"limit=0": 422, "limit=101": 422, "limit=abc": 422, "cursor=!!!": 400, "cursor=bm9wZQ": 400} {
				if res := s.do(req{method: "GET", path: "/api/v1/products?" + q}); res.Status != want {
					t.Fatalf("?%s = %d, want %d", q, res.Status, want)
				}
			}
		})
	})
}
