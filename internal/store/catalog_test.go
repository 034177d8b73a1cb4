package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/pii"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// singleVariant is an active product with one variant, as the v1 shorthand makes.
func singleVariant(sku string, price money.Money, stock int64) catalog.Product {
	now := time.Now().UTC()
	pid := id.New(id.Product)
	return catalog.Product{ID: pid, Name: "n " + sku, Status: catalog.StatusActive, Categories: []string{}, Options: []catalog.Option{},
		Variants: []catalog.Variant{{ID: id.New(id.Variant), ProductID: pid, SKU: sku, Options: map[string]string{},
			Prices: []money.Money{price}, Stock: stock, CreatedAt: now, UpdatedAt: now}},
		CreatedAt: now, UpdatedAt: now}
}

// Migration 0017 turns every product into a single-variant product and
// moves cart and order lines to the variant, losing nothing: data written
// by the schema before it (0016) reads the same after, and still checks out.
func TestMigration0017(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		ctx := context.Background()
		db, err := store.Open(ctx, store.Options{DatabaseURL: d.DatabaseURL, DataDir: d.DataDir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.MigrateTo(ctx, 16); err != nil {
			t.Fatal(err)
		}
		ring, err := keys.OpenKeyring(d.DataDir, "")
		if err != nil {
			t.Fatal(err)
		}
		master, err := ring.AEAD("pii")
		if err != nil {
			t.Fatal(err)
		}
		index, err := ring.PRF("index")
		if err != nil {
			t.Fatal(err)
		}
		db.UsePersonalData(pii.New(master, index))
		now := time.Now().UTC().Truncate(time.Microsecond)
		u := identity.User{ID: id.New(id.User), Email: "old@example.com", Name: "Old", PasswordHash: "h",
			Roles: []access.Role{access.Customer}, CreatedAt: now}
		if err := db.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
			t.Fatal(err)
		}
		// As the code before 0017 wrote them.
		w := db.Writer()
		active, hidden := id.New(id.Product), id.New(id.Product)
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := w.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		insertProduct := `INSERT INTO products (id, sku, name, description, price_amount, currency, stock, active, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`
		exec(insertProduct, active, "OLD-1", "Old cap", "<p>wool</p>", 1500, "EUR", 7, true, now.UnixMicro())
		exec(insertProduct, hidden, "OLD-2", "Old mug", "", 900, "EUR", 3, false, now.UnixMicro())
		scripted := id.New(id.Product)
		exec(insertProduct, scripted, "OLD-3", "Old pin", "<script>x</script><p>ok</p>", 100, "EUR", 1, true, now.UnixMicro())
		cartID, orderID := id.New(id.Cart), id.New(id.Order)
		exec("INSERT INTO carts (id, owner_id, created_at, updated_at) VALUES ($1, $2, $3, $3)", cartID, u.ID, now.UnixMicro())
		exec("INSERT INTO cart_lines (cart_id, product_id, quantity) VALUES ($1, $2, $3)", cartID, active, 2)
		exec(`INSERT INTO orders (id, customer_id, status, currency, subtotal, shipping, total, captured, payment_method_id, brand, last4,
			ship_name, ship_line1, ship_line2, ship_city, ship_postal_code, ship_country, ship_phone, created_at, updated_at)
			VALUES ($1, $2, 'paid', 'EUR', 3000, 0, 3000, 3000, 'pm_x', 'visa', '4242', '', '', '', '', '', 'DE', '', $3, $3)`,
			orderID, u.ID, now.UnixMicro())
		exec(`INSERT INTO order_lines (order_id, product_id, sku, name, quantity, unit_price, line_total)
			VALUES ($1, $2, 'OLD-2', 'Old mug', 2, 1500, 3000)`, orderID, hidden)

		applied, err := db.Migrate(ctx)
		if err != nil || len(applied) == 0 || applied[0] != "0017_catalog_variants.sql" {
			t.Fatalf("migrate: %v %v", applied, err)
		}

		// The start-up pass (app.sanitizeDescriptions) sanitizes what was
		// stored before sanitizing on write, once.
		if n, err := db.SanitizeDescriptions(ctx, catalog.Sanitize); err != nil || n != 3 {
			t.Fatalf("sanitize pass = %d, %v; want the 3 old descriptions", n, err)
		}
		if n, err := db.SanitizeDescriptions(ctx, catalog.Sanitize); err != nil || n != 0 {
			t.Fatalf("second sanitize pass = %d, %v; want nothing left", n, err)
		}
		if p, err := db.Product(ctx, scripted); err != nil || p.Description != "<p>ok</p>" {
			t.Fatalf("an old description with a script is served as %q (%v)", p.Description, err)
		}
		p, err := db.Product(ctx, active)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "Old cap" || p.Description != "<p>wool</p>" || p.Status != catalog.StatusActive || len(p.Variants) != 1 || len(p.Options) != 0 {
			t.Fatalf("migrated product = %+v", p)
		}
		v := p.First()
		if v.SKU != "OLD-1" || v.Stock != 7 || len(v.Prices) != 1 || v.Prices[0] != (money.Money{Amount: 1500, Currency: "EUR"}) ||
			!id.Valid(id.Variant, v.ID) || len(v.Options) != 0 {
			t.Fatalf("migrated variant = %+v", v)
		}
		if h, err := db.Product(ctx, hidden); err != nil || h.Status != catalog.StatusArchived || h.First().Stock != 3 {
			t.Fatalf("inactive product became %+v %v", h, err)
		}
		c, err := db.Cart(ctx, u.ID, cartID)
		if err != nil || c.Currency != "EUR" || len(c.Lines) != 1 || c.Lines[0] != (cart.Line{VariantID: v.ID, Quantity: 2}) {
			t.Fatalf("migrated cart = %+v %v", c, err)
		}
		o, err := db.Order(ctx, u.ID, orderID)
		if err != nil || len(o.Lines) != 1 {
			t.Fatalf("migrated order = %+v %v", o, err)
		}
		if l := o.Lines[0]; l.ProductID != hidden || !id.Valid(id.Variant, l.VariantID) || l.SKU != "OLD-2" || l.Quantity != 2 || l.LineTotal.Amount != 3000 {
			t.Fatalf("migrated order line = %+v", l)
		}
		if _, err := db.Product(ctx, o.Lines[0].ProductID); err != nil {
			t.Fatal(err)
		}

		t.Run("the SKU stays taken by its variant", func(t *testing.T) {
			again := singleVariant("OLD-1", money.Money{Amount: 1, Currency: "EUR"}, 1)
			if err := db.CreateProduct(ctx, again, rec(audit.ActionProductCreate, again.ID)); !errors.Is(err, catalog.ErrSKUTaken) {
				t.Fatalf("a new product with a migrated SKU: %v", err)
			}
		})
		t.Run("the migrated cart checks out and takes the variant's stock", func(t *testing.T) {
			m := payment.Method{ID: id.New(id.PaymentMethod), OwnerID: u.ID, Token: id.New(id.CardToken), Brand: "visa", Last4: "4242",
				ExpMonth: 12, ExpYear: 2031, CreatedAt: now}
			if err := db.CreateMethod(ctx, m, 10, rec("payment.create", m.ID)); err != nil {
				t.Fatal(err)
			}
			pending, prior, err := db.Reserve(ctx, pricedAt(t, db, checkout.Reservation{OrderID: id.New(id.Order), Key: "k", Hash: "h", CustomerID: u.ID,
				CartID: cartID, Method: m, Address: order.Address{Name: "O", Line1: "1", City: "B", PostalCode: "1", Country: "DE"},
				At: now, Owner: "ins_a", LeaseUntil: now.Add(time.Minute)}, 1500))
			if err != nil || !prior.Fresh {
				t.Fatalf("reserve: %+v %v", prior, err)
			}
			if pending.Total != (money.Money{Amount: 3000, Currency: "EUR"}) || len(pending.Lines) != 1 || pending.Lines[0].VariantID != v.ID {
				t.Fatalf("pending order = %+v", pending)
			}
			if p, _ := db.Product(ctx, active); p.First().Stock != 5 {
				t.Fatalf("stock after reserving 2 of 7 = %d", p.First().Stock)
			}
			if err := db.Release(ctx, pending.ID, "k", "", rec(order.ActionCheckout, pending.ID)); err != nil {
				t.Fatal(err)
			}
			if p, _ := db.Product(ctx, active); p.First().Stock != 7 {
				t.Fatalf("stock after release = %d", p.First().Stock)
			}
		})
	})
}

// The public list's SQL visibility condition and catalog.Visible agree, at
// the edges of publish_at too.
func TestListVisibility(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		at := time.Now().UTC().Truncate(time.Microsecond)
		var ps []catalog.Product
		for i, c := range []struct {
			status  string
			publish time.Time
		}{
			{catalog.StatusActive, time.Time{}}, {catalog.StatusActive, at}, {catalog.StatusActive, at.Add(time.Microsecond)},
			{catalog.StatusActive, at.Add(-time.Hour)}, {catalog.StatusDraft, time.Time{}}, {catalog.StatusArchived, time.Time{}},
			{catalog.StatusDraft, at.Add(-time.Hour)},
		} {
			p := singleVariant("VIS-"+string(rune('A'+i)), money.Money{Amount: 100, Currency: "EUR"}, 1)
			p.Status, p.PublishAt = c.status, c.publish
			if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		listed, err := db.ListProducts(ctx, catalog.ListQuery{Search: "VIS-", Limit: 100, VisibleAt: at})
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]bool{}
		for _, p := range listed {
			in[p.ID] = true
		}
		for _, p := range ps {
			if in[p.ID] != p.Visible(at) {
				t.Errorf("%s (status %s, publish_at %v): listed %t, Visible %t", p.First().SKU, p.Status, p.PublishAt, in[p.ID], p.Visible(at))
			}
		}
		// The public reads of one product follow the same rule, and a hidden
		// product fails with the very error value of a missing one.
		_, missing := db.VisibleProduct(ctx, id.New(id.Product), at)
		_, missingVariant := db.VisibleProductOfVariant(ctx, id.New(id.Variant), at)
		if missing != catalog.ErrNotFound || missingVariant != catalog.ErrNotFound {
			t.Fatalf("missing product: %v, missing variant: %v", missing, missingVariant)
		}
		for _, p := range ps {
			got, err := db.VisibleProduct(ctx, p.ID, at)
			byVariant, verr := db.VisibleProductOfVariant(ctx, p.First().ID, at)
			if p.Visible(at) {
				if err != nil || got.ID != p.ID || len(got.Variants) != 1 || verr != nil || byVariant.ID != p.ID {
					t.Errorf("%s is visible: read %+v %v, by variant %v", p.First().SKU, got, err, verr)
				}
			} else if err != missing || verr != missing {
				t.Errorf("%s (status %s, publish_at %v) is hidden: read %v, by variant %v; want %v as for a missing one",
					p.First().SKU, p.Status, p.PublishAt, err, verr, missing)
			}
		}
		// A cart's read of many variants at once leaves the hidden out, and
		// their variants stay out of the visible products.
		var names []string
		visible := map[string]bool{}
		for _, p := range ps {
			names = append(names, p.First().ID)
			visible[p.ID] = p.Visible(at)
		}
		many, err := db.VisibleProductsOfVariants(ctx, names, at)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range many {
			if !visible[p.ID] || len(p.Variants) != 1 || p.Variants[0].ProductID != p.ID {
				t.Errorf("VisibleProductsOfVariants gave %s (visible %t) with variants %+v", p.ID, visible[p.ID], p.Variants)
			}
			delete(visible, p.ID)
		}
		for pid, v := range visible {
			if v {
				t.Errorf("VisibleProductsOfVariants left out visible %s", pid)
			}
		}
	})
}

func TestVariants(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		p := singleVariant("VAR-S", money.Money{Amount: 100, Currency: "EUR"}, 1)
		p.Options = []catalog.Option{{Name: "size", Values: []string{"S", "M"}}}
		p.Variants[0].Options, p.Variants[0].OptionsKey = map[string]string{"size": "S"}, "size\x1eS"
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		m := catalog.Variant{ID: id.New(id.Variant), ProductID: p.ID, SKU: "VAR-M", Options: map[string]string{"size": "M"}, OptionsKey: "size\x1eM",
			Prices: []money.Money{{Amount: 200, Currency: "EUR"}, {Amount: 250, Currency: "USD"}}, Stock: 4, CreatedAt: now, UpdatedAt: now}
		got, err := db.AddVariant(ctx, m, rec(catalog.ActionVariantAdd, p.ID))
		if err != nil || len(got.Variants) != 2 || got.Variants[1].SKU != "VAR-M" || len(got.Variants[1].Prices) != 2 {
			t.Fatalf("AddVariant = %+v %v", got, err)
		}
		dup := m
		dup.ID, dup.SKU = id.New(id.Variant), "VAR-M2"
		if _, err := db.AddVariant(ctx, dup, rec(catalog.ActionVariantAdd, p.ID)); !errors.Is(err, catalog.ErrOptionsTaken) {
			t.Fatalf("same options again: %v", err)
		}
		dup.OptionsKey, dup.SKU = "size\x1eL", "VAR-S"
		if _, err := db.AddVariant(ctx, dup, rec(catalog.ActionVariantAdd, p.ID)); !errors.Is(err, catalog.ErrSKUTaken) {
			t.Fatalf("taken SKU: %v", err)
		}
		dup.ProductID, dup.SKU = id.New(id.Product), "VAR-X"
		if _, err := db.AddVariant(ctx, dup, rec(catalog.ActionVariantAdd, p.ID)); !errors.Is(err, catalog.ErrNotFound) {
			t.Fatalf("unknown product: %v", err)
		}
		prices := []money.Money{{Amount: 300, Currency: "USD"}}
		got, err = db.UpdateVariant(ctx, m.ID, catalog.VariantPatch{Prices: &prices}, now, rec(catalog.ActionVariantUpdate, m.ID))
		if v, _ := got.Variant(m.ID); err != nil || len(v.Prices) != 1 || v.Prices[0] != prices[0] {
			t.Fatalf("UpdateVariant = %+v %v", v, err)
		}
		taken := "VAR-S"
		if _, err := db.UpdateVariant(ctx, m.ID, catalog.VariantPatch{SKU: &taken}, now, rec(catalog.ActionVariantUpdate, m.ID)); !errors.Is(err, catalog.ErrSKUTaken) {
			t.Fatalf("renaming to a taken SKU: %v", err)
		}
		if _, err := db.UpdateVariant(ctx, id.New(id.Variant), catalog.VariantPatch{SKU: &taken}, now, rec(catalog.ActionVariantUpdate, "")); !errors.Is(err, catalog.ErrVariantNotFound) {
			t.Fatalf("unknown variant: %v", err)
		}
		if got, err := db.VisibleProductOfVariant(ctx, m.ID, now); err != nil || got.ID != p.ID {
			t.Fatalf("VisibleProductOfVariant = %+v %v", got, err)
		}
		t.Run("a cart's read holds only the variants it names", func(t *testing.T) {
			for _, names := range [][]string{{m.ID}, {p.Variants[0].ID, m.ID}, {m.ID, id.New(id.Variant)}} {
				ps, err := db.VisibleProductsOfVariants(ctx, names, now)
				if err != nil || len(ps) != 1 || ps[0].ID != p.ID {
					t.Fatalf("VisibleProductsOfVariants(%v) = %+v %v", names, ps, err)
				}
				var got []string
				for _, v := range ps[0].Variants {
					got = append(got, v.ID)
				}
				want := []string{m.ID}
				if len(names) == 2 && names[0] == p.Variants[0].ID {
					want = []string{p.Variants[0].ID, m.ID} // by position
				}
				if !slices.Equal(got, want) {
					t.Fatalf("VisibleProductsOfVariants(%v) holds %v, want %v", names, got, want)
				}
				if v, _ := ps[0].Variant(m.ID); len(v.Prices) != 1 || v.Prices[0] != prices[0] || v.SKU != "VAR-M" {
					t.Fatalf("variant read as %+v", v)
				}
			}
		})
	})
}

// TestPriceShorthandCountsInTheTransaction: the v1 price shorthand refuses a
// product with several variants by counting them in its own transaction, so a
// variant added after the service looked cannot have its price overwritten.
func TestPriceShorthandCountsInTheTransaction(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		p := singleVariant("RACE-S", money.Money{Amount: 100, Currency: "EUR"}, 1)
		p.Options = []catalog.Option{{Name: "size", Values: []string{"S", "M"}}}
		p.Variants[0].Options, p.Variants[0].OptionsKey = map[string]string{"size": "S"}, "size\x1eS"
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		// The service saw one variant; then this one was added.
		m := catalog.Variant{ID: id.New(id.Variant), ProductID: p.ID, SKU: "RACE-M", Options: map[string]string{"size": "M"}, OptionsKey: "size\x1eM",
			Prices: []money.Money{{Amount: 200, Currency: "EUR"}}, Stock: 1, CreatedAt: now, UpdatedAt: now}
		if _, err := db.AddVariant(ctx, m, rec(catalog.ActionVariantAdd, p.ID)); err != nil {
			t.Fatal(err)
		}
		price := money.Money{Amount: 999, Currency: "EUR"}
		if _, err := db.UpdateProduct(ctx, p.ID, catalog.Patch{Price: &price}, now, rec(audit.ActionProductUpdate, p.ID)); !errors.Is(err, catalog.ErrNotSingle) {
			t.Fatalf("price shorthand on two variants: %v, want ErrNotSingle", err)
		}
		got, err := db.Product(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range got.Variants {
			if v.Prices[0].Amount == 999 {
				t.Fatalf("variant %s got the shorthand's price: %+v", v.SKU, v.Prices)
			}
		}
	})
}

// TestCatalogRaceCodes: a write that loses a race to a concurrent one gets
// the code of what it collided with, never a 500. Only PostgreSQL lets two
// writers overlap (SQLite has one writer, so the checks before each write
// are never outrun).
func TestCatalogRaceCodes(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		if d.Engine != "postgres" {
			t.Skip("SQLite serializes writers")
		}
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC()
		// race runs write in a transaction of its own, holds it open while
		// the store method starts (and blocks on it), then commits.
		race := func(t *testing.T, write string, args []any, method func() error) error {
			t.Helper()
			tx, err := db.Writer().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, write, args...); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- method() }()
			time.Sleep(300 * time.Millisecond)
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			return <-done
		}

		t.Run("a concurrent variant with the same option values is variant_options_taken", func(t *testing.T) {
			p := singleVariant("RC-S", money.Money{Amount: 100, Currency: "EUR"}, 1)
			p.Options = []catalog.Option{{Name: "size", Values: []string{"S", "M"}}}
			p.Variants[0].Options, p.Variants[0].OptionsKey = map[string]string{"size": "S"}, "size\x1eS"
			if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
				t.Fatal(err)
			}
			m := catalog.Variant{ID: id.New(id.Variant), ProductID: p.ID, SKU: "RC-M", Options: map[string]string{"size": "M"}, OptionsKey: "size\x1eM",
				Prices: []money.Money{{Amount: 200, Currency: "EUR"}}, Stock: 1, CreatedAt: now, UpdatedAt: now}
			err := race(t, `INSERT INTO variants (id, product_id, sku, options_json, options_key, stock, weight_grams, position, created_at, updated_at)
				VALUES ($1, $2, 'RC-OTHER', '{"size":"M"}', $3, 0, 0, 5, 0, 0)`, []any{id.New(id.Variant), p.ID, m.OptionsKey}, func() error {
				_, err := db.AddVariant(ctx, m, rec(catalog.ActionVariantAdd, p.ID))
				return err
			})
			if !errors.Is(err, catalog.ErrOptionsTaken) {
				t.Fatalf("AddVariant racing the same option values: %v, want ErrOptionsTaken", err)
			}
		})
		t.Run("a product put in a category deleted meanwhile is not_found for the category", func(t *testing.T) {
			c := catalog.Category{ID: id.New(id.Category), Name: "Gone", Slug: "gone-" + strings.ToLower(id.New(id.Category)[4:10]), CreatedAt: now, UpdatedAt: now}
			if err := db.CreateCategory(ctx, c, rec("category.create", c.ID)); err != nil {
				t.Fatal(err)
			}
			p := singleVariant("RC-CAT", money.Money{Amount: 100, Currency: "EUR"}, 1)
			p.Categories = []string{c.ID}
			err := race(t, "DELETE FROM categories WHERE id = $1", []any{c.ID}, func() error {
				return db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID))
			})
			if !errors.Is(err, catalog.ErrCategoryNotFound) {
				t.Fatalf("CreateProduct racing DeleteCategory: %v, want ErrCategoryNotFound", err)
			}
		})
	})
}
