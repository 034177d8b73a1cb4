package app_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestProductSearch: GET /api/v1/products?q= is full-text search on either
// engine — word starts, every word, SKUs, description text but not its
// markup — that never finds an unreleased product by any of its words (until
// it is published), and whose input is text: hostile queries answer 200 or
// 422, never a 500.
func TestProductSearch(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		// The firewall only detects, so the hostile queries reach the search.
		s := startServer(t, db, wafDetectOnly)
		admin := s.createAdmin("search-admin@example.com")
		create := func(body map[string]any) fullProduct {
			var p fullProduct
			s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: body}).JSON(t, &p)
			return p
		}
		shirt := create(map[string]any{"name": "Linen Shirt", "status": "active",
			"description": `<p>A <strong>breath</strong>able shirt <script>alert(1)</script><a href="https://example.com/cotton">guide</a></p>`,
			"variants":    []map[string]any{{"sku": "LS-RED-M", "prices": []any{eur(2500)}, "stock": 3}}})
		mug := create(map[string]any{"name": "Café Mug", "status": "active", "description": "<p>Stoneware</p>",
			"variants": []map[string]any{{"sku": "MUG-01", "prices": []any{eur(900)}, "stock": 0}}})
		draft := create(map[string]any{"name": "Nebula Prototype", "description": "<p>The zorblax fabric.</p>",
			"variants": []map[string]any{{"sku": "NEB-SECRET-1", "prices": []any{eur(5000)}, "stock": 1}}})
		if draft.Status != "draft" {
			t.Fatalf("setup: %+v", draft)
		}
		search := func(q string) []string { return s.listedIDs("/api/v1/products?q=" + url.QueryEscape(q)) }

		t.Run("finds by word start, every word, SKU and description text", func(t *testing.T) {
			for q, want := range map[string][]string{
				"shi": {shirt.ID}, "LINEN shirt": {shirt.ID}, "linen mug": nil, "ls-red": {shirt.ID}, "mug-01": {mug.ID},
				"breathable": {shirt.ID}, "cafe": {mug.ID}, "stone": {mug.ID},
				"strong": nil, "script": nil, "alert": nil, "href": nil, "cotton": nil,
			} {
				if got := search(q); !slices.Equal(got, want) {
					t.Errorf("q=%s lists %v, want %v", q, got, want)
				}
			}
			var page struct {
				Items []struct{ ID string }
			}
			s.must(200, req{method: "GET", path: "/api/v1/products?q=m&in_stock=true"}).JSON(t, &page)
			if len(page.Items) != 1 || page.Items[0].ID != shirt.ID {
				t.Errorf("q=m&in_stock=true lists %+v, want the shirt alone", page.Items)
			}
		})

		t.Run("an unreleased product is found by none of its words until published", func(t *testing.T) {
			for _, q := range []string{"zorblax", "nebula", "prototype", "neb-secret", "NEB-SECRET-1", "fabric"} {
				if got := search(q); len(got) != 0 {
					t.Errorf("q=%s lists %v", q, got)
				}
			}
			s.must(401, req{method: "GET", path: "/api/v1/admin/products?q=zorblax"})
			var l struct{ Items []struct{ ID string } }
			s.must(200, req{method: "GET", path: "/api/v1/admin/products?q=zorblax", token: admin}).JSON(t, &l)
			if len(l.Items) != 1 || l.Items[0].ID != draft.ID {
				t.Errorf("staff search = %+v, want the draft", l.Items)
			}
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + draft.ID, token: admin, body: map[string]any{"status": "active"}})
			if got := search("zorblax"); !slices.Equal(got, []string{draft.ID}) {
				t.Errorf("once published, q=zorblax lists %v", got)
			}
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + draft.ID, token: admin, body: map[string]any{"status": "archived"}})
			if got := search("zorblax"); len(got) != 0 {
				t.Errorf("once archived, q=zorblax lists %v", got)
			}
		})

		t.Run("hostile queries answer 200 or 422", func(t *testing.T) {
			for _, q := range []string{`"`, `*`, `NEAR(`, `NEAR(linen shirt, 2)`, `:*`, `shi:*`, `&|!`, `-`, `-shirt`, `"unbalanced`,
				`shirt" OR "mug`, `'`, `\`, `'; DROP TABLE products; --`, `{terms}: shirt`, `^shirt`, `shirt AND NOT mug`,
				"émoji 🛡️", "\u0301", strings.Repeat("a", 101), strings.Repeat("x", 65), "a b c d e f g h i j k",
				strings.Repeat(`"*(`, 33)} {
				res := s.do(req{method: "GET", path: "/api/v1/products?q=" + url.QueryEscape(q)})
				switch {
				case res.Status == 200:
				case res.Status == 422 && res.Code(t) == "validation_failed":
				default:
					t.Errorf("q=%.40q = %d %s", q, res.Status, res.Body)
				}
			}
			for _, q := range []string{`"shirt`, `shirt*`, `shi:*`, `-shirt`, `!shirt`} {
				if got := search(q); !slices.Equal(got, []string{shirt.ID}) {
					t.Errorf("q=%s lists %v, want the shirt", q, got)
				}
			}
		})
	})
}
