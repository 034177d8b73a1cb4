package app_test

import (
	"slices"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

type categoryJSON struct {
	ID       string `json:"id"`
	ParentID string `json:"parent_id"`
	Name     string `json:"name"`
	Slug     string `json:"slug"`
	Position int    `json:"position"`
}

// category creates a category as staff with token (parent "" for a root).
func (s *server) category(token, name, slug, parent string) categoryJSON {
	s.t.Helper()
	var c categoryJSON
	body := map[string]any{"name": name, "slug": slug}
	if parent != "" {
		body["parent_id"] = parent
	}
	s.must(201, req{method: "POST", path: "/api/v1/admin/categories", token: token, body: body}).JSON(s.t, &c)
	return c
}

func TestCategoriesAndFilters(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, withCurrencies("EUR,USD"))
		admin := s.createAdmin("categories-admin@example.com")
		category := func(name, slug, parent string) categoryJSON { return s.category(admin, name, slug, parent) }
		clothes := category("Clothes", "clothes", "")
		tees := category("Tees", "tees", clothes.ID)
		mugs := category("Mugs", "mugs", "")

		t.Run("staff see the whole tree, parents first", func(t *testing.T) {
			var l struct{ Items []categoryJSON }
			s.must(200, req{method: "GET", path: "/api/v1/admin/categories", token: admin}).JSON(t, &l)
			var slugs []string
			for _, c := range l.Items {
				slugs = append(slugs, c.Slug)
			}
			if !slices.Equal(slugs, []string{"clothes", "tees", "mugs"}) || l.Items[1].ParentID != clothes.ID {
				t.Fatalf("categories = %+v", l.Items)
			}
		})
		t.Run("no cycles, no duplicate slugs, no deletion of a parent, bounded depth", func(t *testing.T) {
			for _, c := range []struct {
				res  response
				want int
				code string
			}{
				{s.do(req{method: "PATCH", path: "/api/v1/admin/categories/" + clothes.ID, token: admin, body: map[string]any{"parent_id": tees.ID}}), 409, "category_cycle"},
				{s.do(req{method: "PATCH", path: "/api/v1/admin/categories/" + clothes.ID, token: admin, body: map[string]any{"parent_id": clothes.ID}}), 409, "category_cycle"},
				{s.do(req{method: "POST", path: "/api/v1/admin/categories", token: admin, body: map[string]any{"name": "Again", "slug": "tees"}}), 409, "slug_taken"},
				{s.do(req{method: "POST", path: "/api/v1/admin/categories", token: admin, body: map[string]any{"name": "Bad", "slug": "Not A Slug"}}), 422, "validation_failed"},
				{s.do(req{method: "DELETE", path: "/api/v1/admin/categories/" + clothes.ID, token: admin}), 409, "category_has_children"},
				{s.do(req{method: "POST", path: "/api/v1/admin/categories", token: admin, body: map[string]any{"name": "Orphan", "slug": "orphan", "parent_id": "cat_aaaaaaaaaaaaaaaaaaaaaaaaaa"}}), 404, "not_found"},
			} {
				if c.res.Status != c.want || c.res.Code(t) != c.code {
					t.Errorf("got %d %s, want %d %s", c.res.Status, c.res.Body, c.want, c.code)
				}
			}
			parent := tees.ID
			for i, slug := range []string{"d2", "d3", "d4"} {
				parent = category("Deep", slug, parent).ID
				_ = i
			}
			res := s.do(req{method: "POST", path: "/api/v1/admin/categories", token: admin, body: map[string]any{"name": "Too deep", "slug": "d5", "parent_id": parent}})
			if res.Status != 422 || res.Code(t) != "category_too_deep" {
				t.Fatalf("a sixth level: %d %s", res.Status, res.Body)
			}
			var l struct{ Items []categoryJSON }
			s.must(200, req{method: "GET", path: "/api/v1/admin/categories", token: admin}).JSON(t, &l)
			if len(l.Items) != 6 {
				t.Fatalf("refused changes changed the tree: %+v", l.Items)
			}
		})

		tee := map[string]any{"name": "Tee", "status": "active", "categories": []string{tees.ID},
			"variants": []map[string]any{{"sku": "F-TEE", "prices": []any{eur(1500), usd(1700)}, "stock": 3}}}
		mug := map[string]any{"name": "Mug", "status": "active", "categories": []string{mugs.ID},
			"variants": []map[string]any{{"sku": "F-MUG", "prices": []any{eur(900)}, "stock": 0}}}
		var teeP, mugP fullProduct
		s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: tee}).JSON(t, &teeP)
		s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: mug}).JSON(t, &mugP)
		if !slices.Equal(teeP.Categories, []string{tees.ID}) {
			t.Fatalf("tee categories = %v", teeP.Categories)
		}
		s.must(404, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: map[string]any{"name": "Lost", "categories": []string{"cat_aaaaaaaaaaaaaaaaaaaaaaaaaa"},
			"variants": []map[string]any{{"sku": "F-LOST", "prices": []any{eur(1)}, "stock": 1}}}})

		t.Run("the product list filters by category (with its descendants), price, stock and currency", func(t *testing.T) {
			for path, want := range map[string][]string{
				"/api/v1/products?category=" + tees.ID:                       {teeP.ID},
				"/api/v1/products?category=" + clothes.ID:                    {teeP.ID},
				"/api/v1/products?category=" + mugs.ID:                       {mugP.ID},
				"/api/v1/products?min_price=1000":                            {teeP.ID},
				"/api/v1/products?max_price=1000":                            {mugP.ID},
				"/api/v1/products?min_price=1600&currency=USD":               {teeP.ID},
				"/api/v1/products?currency=USD":                              {teeP.ID},
				"/api/v1/products?in_stock=true&q=F-":                        {teeP.ID},
				"/api/v1/products?q=F-MUG":                                   {mugP.ID},
				"/api/v1/products?in_stock=true&category=" + mugs.ID:         nil,
				"/api/v1/products?category=" + clothes.ID + "&max_price=100": nil,
			} {
				got := s.listedIDs(path)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s = %v, want %v", path, got, want)
				}
			}
			for path, code := range map[string]string{
				"/api/v1/products?currency=GBP":  "currency_not_sold",
				"/api/v1/products?min_price=abc": "validation_failed",
				"/api/v1/products?in_stock=yes":  "validation_failed",
				"/api/v1/products?category=tees": "validation_failed",
				"/api/v1/products?max_price=-1":  "validation_failed",
			} {
				if res := s.do(req{method: "GET", path: path}); res.Status != 422 || res.Code(t) != code {
					t.Errorf("%s = %d %s", path, res.Status, res.Body)
				}
			}
		})
		t.Run("a page cursor walks a filtered list", func(t *testing.T) {
			var page struct {
				Items      []struct{ ID string }
				NextCursor string `json:"next_cursor"`
			}
			s.must(200, req{method: "GET", path: "/api/v1/products?q=F-&limit=1"}).JSON(t, &page)
			if len(page.Items) != 1 || page.NextCursor == "" {
				t.Fatalf("first page = %+v", page)
			}
			first, cursor := page.Items[0].ID, page.NextCursor
			page.Items, page.NextCursor = nil, ""
			s.must(200, req{method: "GET", path: "/api/v1/products?q=F-&limit=1&cursor=" + cursor}).JSON(t, &page)
			if len(page.Items) != 1 || page.Items[0].ID == first || page.NextCursor != "" {
				t.Fatalf("second page = %+v", page)
			}
		})
		t.Run("staff move products between categories and delete an empty category", func(t *testing.T) {
			var p fullProduct
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + mugP.ID, token: admin, body: map[string]any{"categories": []string{mugs.ID, clothes.ID}}}).JSON(t, &p)
			if len(p.Categories) != 2 {
				t.Fatalf("categories = %v", p.Categories)
			}
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/categories/" + mugs.ID, token: admin})
			s.must(200, req{method: "GET", path: "/api/v1/products/" + mugP.ID}).JSON(t, &p)
			if !slices.Equal(p.Categories, []string{clothes.ID}) {
				t.Fatalf("after deleting mugs: %v", p.Categories)
			}
			if n := s.countAudit("category.delete"); n != 1 {
				t.Fatalf("%d category.delete audit records", n)
			}
		})
	})
}

// TestUnreleasedCategories: the public category list shows only categories
// whose subtree holds a product customers may see, so a category made for an
// unreleased line does not announce it; staff see every category.
func TestUnreleasedCategories(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, withCurrencies("EUR,USD"))
		admin := s.createAdmin("unreleased-admin@example.com")
		category := func(name, slug, parent string) categoryJSON { return s.category(admin, name, slug, parent) }
		phones := category("Phones", "phones", "")
		pixel := category("Pixel 11", "pixel-11", phones.ID)
		category("Empty", "empty", "")
		launch := s.now().Add(time.Hour).UTC().Truncate(time.Second)
		body := map[string]any{"name": "Pixel 11", "status": "active", "publish_at": launch.Format(time.RFC3339), "categories": []string{pixel.ID},
			"variants": []map[string]any{{"sku": "PX-11", "prices": []any{eur(99900)}, "stock": 5}}}
		s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: body})
		slugs := func(path, token string) []string {
			var l struct{ Items []categoryJSON }
			s.must(200, req{method: "GET", path: path, token: token}).JSON(t, &l)
			var out []string
			for _, c := range l.Items {
				out = append(out, c.Slug)
			}
			return out
		}
		if got := slugs("/api/v1/categories", ""); len(got) != 0 {
			t.Fatalf("before the launch the public categories are %v, want none", got)
		}
		if got := slugs("/api/v1/admin/categories", admin); !slices.Equal(got, []string{"empty", "phones", "pixel-11"}) {
			t.Fatalf("staff categories = %v", got)
		}
		s.Clock.Set(launch)
		if got := slugs("/api/v1/categories", ""); !slices.Equal(got, []string{"phones", "pixel-11"}) {
			t.Fatalf("after the launch the public categories are %v, want phones and pixel-11", got)
		}
	})
}
