package store_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// searchCase is one search of TestSearch and the product names it finds.
type searchCase struct {
	name string
	q    catalog.ListQuery
	want []string
}

func public(search string) catalog.ListQuery {
	return catalog.ListQuery{Search: search, Limit: 100, VisibleAt: time.Now().UTC()}
}

// searchCases are the searches of TestSearch over its data set, with cat the
// category the shirt is in.
func searchCases(cat string) []searchCase {
	const shirt, mug, boots, widget = "Linen Shirt", "Café Crème Mug", "Straße Boots", "Widget v1.2.3"
	inStock := public("m")
	inStock.InStock = true
	cheap := public("m")
	cheap.Currency, cheap.MaxPrice = "EUR", new(int64)
	*cheap.MaxPrice = 1000
	inCat := public("s")
	inCat.Category = cat
	staff := public("zorblax")
	staff.VisibleAt = time.Time{}
	cases := []searchCase{
		{"a word's start finds it", public("shi"), []string{shirt}},
		{"case does not matter", public("LINEN sHiRt"), []string{shirt}},
		{"every word must match, across name, description and SKU", public("linen summer ls"), []string{shirt}},
		{"one word matching is not enough", public("linen mug"), nil},
		{"a SKU is found by its parts", public("ls-blu-l"), []string{shirt}},
		{"a SKU is found whole", public("MUG-01"), []string{mug}},
		{"a SKU's start", public("boot-4"), []string{boots}},
		{"a SKU that looks like a number", public("1e5"), []string{widget}},
		{"version-like names split at the dots", public("1 2 3"), []string{widget}},
		{"a description word", public("stoneware"), []string{mug}},
		{"inline markup does not split a word", public("breathable"), []string{shirt}},
		{"block markup separates words", public("leather care"), []string{boots}},
		{"accents are dropped", public("cafe creme"), []string{mug}},
		{"accents in the query too", public("CAFÉ"), []string{mug}},
		{"ß is ss", public("strasse"), []string{boots}},
		{"ß in the query", public("straße"), []string{boots}},
		{"one letter is the start of many words", public("m"), []string{shirt, mug}},
		{"with in_stock", inStock, []string{shirt}},
		{"with a price range", cheap, []string{mug}},
		{"with a category", inCat, []string{shirt}},
		{"staff find hidden products", staff, []string{"Nebula Prototype"}},
		{"no search lists every visible product", public(""), []string{shirt, mug, boots, widget}},
	}
	// Markup is not text: tag and attribute names, link addresses, entity
	// names and removed scripts are not found.
	for _, q := range []string{"strong", "script", "href", "https", "example", "nofollow", "amp", "ul", "alert", "em"} {
		cases = append(cases, searchCase{"markup is not text: " + q, public(q), nil})
	}
	// Unreleased products stay secret: no word of their name, description or
	// SKU finds them.
	for _, q := range []string{"zorblax", "nebula", "neb-secret", "prototype", "quasarfabric", "orbit", "orb-9", "retrocap", "vintage", "old-cap"} {
		cases = append(cases, searchCase{"hidden products are not found: " + q, public(q), nil})
	}
	// Query syntax of either engine is text.
	for q, want := range map[string][]string{
		`"`: nil, `*`: nil, `NEAR(`: nil, `:*`: nil, `&|!`: nil, `-`: nil, `'`: nil, `\`: nil, `()`: nil,
		`"shirt`: {shirt}, `shirt*`: {shirt}, `shi:*`: {shirt}, `shirt -linen`: {shirt}, `linen & shirt`: {shirt},
		`NEAR(linen shirt)`: nil, `shirt OR mug`: nil, `!shirt`: {shirt}, `terms:shirt`: nil, `{terms}: shirt`: nil,
		`'; DROP TABLE products; --`: nil, `^shirt`: {shirt}, `shirt + linen`: {shirt},
	} {
		cases = append(cases, searchCase{"syntax is text: " + q, public(q), want})
	}
	return cases
}

// TestSearch runs the same searches over the same products on every engine
// and requires the same answers from each, and the expected ones: prefixes,
// every word, SKUs and description text but not its markup, case and accents
// folded, hidden products never found, query syntax taken as text.
func TestSearch(t *testing.T) {
	found := map[string]map[string][]string{} // engine → case → names
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC()
		cat := catalog.Category{ID: id.New(id.Category), Name: "Shirts", Slug: "shirts", CreatedAt: now, UpdatedAt: now}
		if err := db.CreateCategory(ctx, cat, rec("category.create", cat.ID)); err != nil {
			t.Fatal(err)
		}
		product := func(name, description, status string, publish time.Time, price, stock int64, skus ...string) catalog.Product {
			t.Helper()
			p := catalog.Product{ID: id.New(id.Product), Name: name, Description: catalog.Sanitize(description), Status: status, PublishAt: publish,
				Categories: []string{}, Options: []catalog.Option{}, CreatedAt: now, UpdatedAt: now}
			if len(skus) > 1 {
				p.Options = []catalog.Option{{Name: "kind", Values: skus}}
			}
			for i, sku := range skus {
				v := catalog.Variant{ID: id.New(id.Variant), ProductID: p.ID, SKU: sku, Options: map[string]string{}, Position: i,
					Prices: []money.Money{{Amount: price, Currency: "EUR"}}, Stock: stock, CreatedAt: now, UpdatedAt: now}
				if len(skus) > 1 {
					v.Options, v.OptionsKey = map[string]string{"kind": sku}, "kind\x1e"+sku
				}
				p.Variants = append(p.Variants, v)
			}
			if name == "Linen Shirt" {
				p.Categories = []string{cat.ID}
			}
			if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
				t.Fatal(err)
			}
			return p
		}
		shirt := product("Linen Shirt", `<p>A <strong>breath</strong>able shirt for <em>summer</em> days.</p><script>alert(1)</script>`,
			catalog.StatusActive, time.Time{}, 2500, 3, "LS-RED-M", "LS-BLU-L")
		product("Café Crème Mug", `<p>Stoneware &amp; glaze, see <a href="https://example.com/script">the guide</a></p>`,
			catalog.StatusActive, time.Time{}, 900, 0, "MUG-01")
		product("Straße Boots", `<ul><li>Leather</li></ul><h2>Care</h2>`, catalog.StatusActive, time.Time{}, 12000, 1, "BOOT-42")
		product("Widget v1.2.3", "", catalog.StatusActive, time.Time{}, 100, 1, "W-1E5")
		draft := product("Nebula Prototype", "<p>The zorblax fabric.</p>", catalog.StatusDraft, time.Time{}, 5000, 1, "NEB-SECRET-1")
		product("Orbit Jacket", "quasarfabric", catalog.StatusActive, now.Add(time.Hour), 5000, 1, "ORB-9")
		product("Vintage Cap", "retrocap", catalog.StatusArchived, time.Time{}, 500, 1, "OLD-CAP")

		names := func(t *testing.T, q catalog.ListQuery) []string {
			t.Helper()
			ps, err := db.ListProducts(ctx, q)
			if err != nil {
				t.Fatalf("ListProducts(%+v): %v", q, err)
			}
			var out []string
			for i, p := range ps {
				if i > 0 && p.ID <= ps[i-1].ID {
					t.Fatalf("ListProducts(%+v) is not ordered by id", q)
				}
				out = append(out, p.Name)
			}
			slices.Sort(out)
			return out
		}
		got := map[string][]string{}
		for _, c := range searchCases(cat.ID) {
			t.Run(c.name, func(t *testing.T) {
				got[c.name] = names(t, c.q)
				want := slices.Clone(c.want)
				slices.Sort(want)
				if !slices.Equal(got[c.name], want) {
					t.Errorf("search %q = %q, want %q", c.q.Search, got[c.name], want)
				}
			})
		}

		t.Run("cursor pages of a search hold every match once", func(t *testing.T) {
			all := names(t, public("m"))
			var paged []string
			q := public("m")
			q.Limit = 1
			for range 10 {
				ps, err := db.ListProducts(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(ps) == 0 {
					break
				}
				paged = append(paged, ps[0].Name)
				q.After = ps[0].ID
			}
			slices.Sort(paged)
			if !slices.Equal(paged, all) {
				t.Fatalf("pages hold %q, the list %q", paged, all)
			}
		})

		// The index follows every write that changes what a product is found by.
		step := func(t *testing.T, what string, search string, want ...string) {
			t.Helper()
			found := names(t, public(search))
			if !slices.Equal(found, want) {
				t.Fatalf("after %s, %q finds %q, want %q", what, search, found, want)
			}
			got[what+": "+search] = found
		}
		t.Run("the index follows writes", func(t *testing.T) {
			at := now.Add(time.Second)
			name, description := "Hemp Shirt", "<p>For autumn.</p>"
			if _, err := db.UpdateProduct(ctx, shirt.ID, catalog.Patch{Name: &name}, at, rec(audit.ActionProductUpdate, shirt.ID)); err != nil {
				t.Fatal(err)
			}
			step(t, "a new name", "linen")
			step(t, "a new name", "hemp", "Hemp Shirt")
			step(t, "a new name", "summer", "Hemp Shirt")
			if _, err := db.UpdateProduct(ctx, shirt.ID, catalog.Patch{Description: &description}, at, rec(audit.ActionProductUpdate, shirt.ID)); err != nil {
				t.Fatal(err)
			}
			step(t, "a new description", "summer")
			step(t, "a new description", "autumn", "Hemp Shirt")
			sku := "LS-GRN-L"
			if _, err := db.UpdateVariant(ctx, shirt.Variants[1].ID, catalog.VariantPatch{SKU: &sku}, at, rec(catalog.ActionVariantUpdate, shirt.Variants[1].ID)); err != nil {
				t.Fatal(err)
			}
			step(t, "a new SKU", "blu")
			step(t, "a new SKU", "ls-grn", "Hemp Shirt")
			v := catalog.Variant{ID: id.New(id.Variant), ProductID: shirt.ID, SKU: "LS-YEL-S", Options: map[string]string{"kind": "LS-YEL-S"},
				OptionsKey: "kind\x1eLS-YEL-S", Prices: []money.Money{{Amount: 1, Currency: "EUR"}}, CreatedAt: at, UpdatedAt: at}
			if _, err := db.AddVariant(ctx, v, rec(catalog.ActionVariantAdd, shirt.ID)); err != nil {
				t.Fatal(err)
			}
			step(t, "a new variant", "yel", "Hemp Shirt")
			active, archived := catalog.StatusActive, catalog.StatusArchived
			if _, err := db.UpdateProduct(ctx, draft.ID, catalog.Patch{Status: &active}, at, rec(audit.ActionProductUpdate, draft.ID)); err != nil {
				t.Fatal(err)
			}
			step(t, "publishing", "zorblax", "Nebula Prototype")
			if _, err := db.UpdateProduct(ctx, draft.ID, catalog.Patch{Status: &archived}, at, rec(audit.ActionProductUpdate, draft.ID)); err != nil {
				t.Fatal(err)
			}
			step(t, "archiving", "zorblax")
		})
		found[d.Engine] = got
	})
	t.Run("every engine gives the same answers", func(t *testing.T) {
		if len(found) < 2 {
			t.Skip("one engine ran")
		}
		sqlite, postgres := found["sqlite"], found["postgres"]
		for _, c := range slices.Sorted(maps.Keys(sqlite)) {
			if !slices.Equal(sqlite[c], postgres[c]) {
				t.Errorf("%s: SQLite %q, PostgreSQL %q", c, sqlite[c], postgres[c])
			}
		}
		if len(sqlite) != len(postgres) {
			t.Errorf("SQLite answered %d searches, PostgreSQL %d", len(sqlite), len(postgres))
		}
	})
}

// Migration 0020 adds the index; the start-up pass fills it with the
// products stored before it (and does nothing once done).
func TestMigration0020(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		ctx := context.Background()
		db, err := store.Open(ctx, store.Options{DatabaseURL: d.DatabaseURL, DataDir: d.DataDir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.MigrateTo(ctx, 19); err != nil {
			t.Fatal(err)
		}
		w := db.Writer()
		now := time.Now().UnixMicro()
		var ids []string
		for i := range 3 {
			pid, vid := id.New(id.Product), id.New(id.Variant)
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO products (id, sku, name, description, description_sanitized, status, publish_at, options_json, created_at, updated_at)
					VALUES ($1, $1, $2, $3, 1, 'active', 0, '[]', $4, $4)`, []any{pid, fmt.Sprintf("Old Kettle %d", i), "<p>Enamel</p>", now}},
				{`INSERT INTO variants (id, product_id, sku, options_json, options_key, stock, weight_grams, position, created_at, updated_at)
					VALUES ($1, $2, $3, '{}', '', 1, 0, 0, $4, $4)`, []any{vid, pid, fmt.Sprintf("KET-%d", i), now}},
			} {
				if _, err := w.ExecContext(ctx, q.sql, q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}
			ids = append(ids, pid)
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		search := func(q string) int {
			ps, err := db.ListProducts(ctx, catalog.ListQuery{Search: q, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return len(ps)
		}
		if n := search("kettle"); n != 0 {
			t.Fatalf("before the pass, %d products found", n)
		}
		if n, err := db.IndexSearch(ctx); err != nil || n != len(ids) {
			t.Fatalf("IndexSearch = %d %v, want %d", n, err, len(ids))
		}
		for q, want := range map[string]int{"kettle": 3, "enamel": 3, "ket-1": 1, "old kettle 2": 1, "p": 0} {
			if n := search(q); n != want {
				t.Errorf("%q finds %d products, want %d", q, n, want)
			}
		}
		if n, err := db.IndexSearch(ctx); err != nil || n != 0 {
			t.Fatalf("IndexSearch again = %d %v, want 0", n, err)
		}
	})
}

// TestSearchIndexUnderConcurrentWrites: writes to one product's name and to
// its variants' SKUs, concurrent (PostgreSQL only lets writers overlap), leave its index made from
// what was committed last — each write reads what it indexes after taking
// the product's row, so none indexes a name or SKU another has replaced.
func TestSearchIndexUnderConcurrentWrites(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		if d.Engine != "postgres" {
			t.Skip("SQLite serializes writers")
		}
		db := mustOpen(t, d)
		ctx := context.Background()
		p := singleVariant("RACE-A0", money.Money{Amount: 100, Currency: "EUR"}, 1)
		p.Options = []catalog.Option{{Name: "k", Values: []string{"a", "b"}}}
		p.Variants[0].Options, p.Variants[0].OptionsKey = map[string]string{"k": "a"}, "k\x1ea"
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		b := catalog.Variant{ID: id.New(id.Variant), ProductID: p.ID, SKU: "RACE-B0", Options: map[string]string{"k": "b"}, OptionsKey: "k\x1eb",
			Prices: []money.Money{{Amount: 1, Currency: "EUR"}}, CreatedAt: now, UpdatedAt: now}
		if _, err := db.AddVariant(ctx, b, rec(catalog.ActionVariantAdd, p.ID)); err != nil {
			t.Fatal(err)
		}
		for round := range 15 {
			name, skuA, skuB := fmt.Sprintf("Name%d", round), fmt.Sprintf("RACE-A%d", round+1), fmt.Sprintf("RACE-B%d", round+1)
			errs := make(chan error, 3)
			go func() {
				_, err := db.UpdateProduct(ctx, p.ID, catalog.Patch{Name: &name}, now, rec(audit.ActionProductUpdate, p.ID))
				errs <- err
			}()
			go func() {
				_, err := db.UpdateVariant(ctx, p.Variants[0].ID, catalog.VariantPatch{SKU: &skuA}, now, rec(catalog.ActionVariantUpdate, p.ID))
				errs <- err
			}()
			go func() {
				_, err := db.UpdateVariant(ctx, b.ID, catalog.VariantPatch{SKU: &skuB}, now, rec(catalog.ActionVariantUpdate, p.ID))
				errs <- err
			}()
			for range 3 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range []string{name, skuA, skuB} {
				ps, err := db.ListProducts(ctx, catalog.ListQuery{Search: q, Limit: 10})
				if err != nil || len(ps) != 1 {
					t.Fatalf("round %d: %q finds %d products (%v): the index missed a concurrent write", round, q, len(ps), err)
				}
			}
		}
	})
}
