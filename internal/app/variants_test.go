package app_test

import (
	"fmt"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

type money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// fullProduct is the API's Product with its variants.
type fullProduct struct {
	product
	Status     string   `json:"status"`
	PublishAt  string   `json:"publish_at"`
	Categories []string `json:"categories"`
	Options    []struct {
		Name   string   `json:"name"`
		Values []string `json:"values"`
	} `json:"options"`
	Variants []struct {
		ID          string            `json:"id"`
		SKU         string            `json:"sku"`
		Options     map[string]string `json:"options"`
		Prices      []money           `json:"prices"`
		Stock       int64             `json:"stock"`
		WeightGrams int64             `json:"weight_grams"`
	} `json:"variants"`
}

type cartView struct {
	ID       string `json:"id"`
	Currency string `json:"currency"`
	Items    []struct {
		VariantID string            `json:"variant_id"`
		ProductID string            `json:"product_id"`
		SKU       string            `json:"sku"`
		Name      string            `json:"name"`
		Options   map[string]string `json:"options"`
		Quantity  int               `json:"quantity"`
		UnitPrice money             `json:"unit_price"`
		LineTotal money             `json:"line_total"`
	} `json:"items"`
	Subtotal money `json:"subtotal"`
}

func eur(a int64) map[string]any { return map[string]any{"amount": a, "currency": "EUR"} }
func usd(a int64) map[string]any { return map[string]any{"amount": a, "currency": "USD"} }

// twoSizes is a product with a size option and a variant per size.
func twoSizes(sku, status string) map[string]any {
	return map[string]any{"name": "Tee " + sku, "description": "<p>Soft</p>", "status": status,
		"options": []map[string]any{{"name": "size", "values": []string{"S", "M", "L"}}},
		"variants": []map[string]any{
			{"sku": sku + "-S", "options": map[string]string{"size": "S"}, "prices": []any{eur(1000), usd(1100)}, "stock": 5, "weight_grams": 150},
			{"sku": sku + "-M", "options": map[string]string{"size": "M"}, "prices": []any{eur(1200)}, "stock": 3, "weight_grams": 170},
		}}
}

func withCurrencies(list string) func(*config.Config) {
	return func(c *config.Config) { c.Currencies = list }
}

func TestVariantsAndCurrencies(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, withCurrencies("EUR,USD"))
		admin := s.createAdmin("variants-admin@example.com")
		var p fullProduct
		s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: twoSizes("TEE", "active")}).JSON(t, &p)
		if len(p.Variants) != 2 || p.Status != "active" || p.SKU != "TEE-S" || p.Price.Amount != 1000 || p.Stock != 5 ||
			p.Variants[1].Options["size"] != "M" || len(p.Variants[0].Prices) != 2 || p.Variants[1].WeightGrams != 170 {
			t.Fatalf("created = %+v", p)
		}
		small, medium := p.Variants[0].ID, p.Variants[1].ID

		t.Run("bad variants change nothing", func(t *testing.T) {
			bad := map[string]map[string]any{
				"an option value not in the product's options": {"sku": "TEE-XL", "options": map[string]string{"size": "XL"}, "prices": []any{eur(1)}, "stock": 1},
				"an unknown option":                            {"sku": "TEE-C", "options": map[string]string{"size": "L", "colour": "red"}, "prices": []any{eur(1)}, "stock": 1},
				"two prices in one currency":                   {"sku": "TEE-L", "options": map[string]string{"size": "L"}, "prices": []any{eur(1), eur(2)}, "stock": 1},
				"a negative price":                             {"sku": "TEE-L", "options": map[string]string{"size": "L"}, "prices": []any{eur(-1)}, "stock": 1},
				"a price past the maximum":                     {"sku": "TEE-L", "options": map[string]string{"size": "L"}, "prices": []any{eur(1_000_000_000_001)}, "stock": 1},
				"a currency the shop does not sell":            {"sku": "TEE-L", "options": map[string]string{"size": "L"}, "prices": []any{map[string]any{"amount": 1, "currency": "GBP"}}, "stock": 1},
				"no price":                                     {"sku": "TEE-L", "options": map[string]string{"size": "L"}, "prices": []any{}, "stock": 1},
				"negative stock":                               {"sku": "TEE-L", "options": map[string]string{"size": "L"}, "prices": []any{eur(1)}, "stock": -1},
			}
			for name, body := range bad {
				res := s.do(req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/variants", token: admin, body: body})
				if res.Status != 422 {
					t.Errorf("%s: %d %s", name, res.Status, res.Body)
				}
			}
			dup := s.do(req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/variants", token: admin,
				body: map[string]any{"sku": "TEE-S2", "options": map[string]string{"size": "S"}, "prices": []any{eur(1)}, "stock": 1}})
			if dup.Status != 409 || dup.Code(t) != "variant_options_taken" {
				t.Errorf("a second variant with size S: %d %s", dup.Status, dup.Body)
			}
			taken := s.do(req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/variants", token: admin,
				body: map[string]any{"sku": "TEE-M", "options": map[string]string{"size": "L"}, "prices": []any{eur(1)}, "stock": 1}})
			if taken.Status != 409 || taken.Code(t) != "sku_taken" {
				t.Errorf("a taken SKU: %d %s", taken.Status, taken.Body)
			}
			sameInOne := twoSizes("DUP", "active")
			sameInOne["variants"].([]map[string]any)[1]["options"] = map[string]string{"size": "S"}
			s.must(422, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: sameInOne})
			s.must(404, req{method: "POST", path: "/api/v1/admin/products/prod_aaaaaaaaaaaaaaaaaaaaaaaaaa/variants", token: admin,
				body: map[string]any{"sku": "TEE-L", "options": map[string]string{"size": "L"}, "prices": []any{eur(1)}, "stock": 1}})
			s.must(404, req{method: "PATCH", path: "/api/v1/admin/variants/var_aaaaaaaaaaaaaaaaaaaaaaaaaa", token: admin, body: map[string]any{"weight_grams": 1}})
			s.must(422, req{method: "PATCH", path: "/api/v1/admin/variants/" + small, token: admin, body: map[string]any{"prices": []any{eur(1), eur(2)}}})
			var after fullProduct
			s.must(200, req{method: "GET", path: "/api/v1/products/" + p.ID}).JSON(t, &after)
			if len(after.Variants) != 2 || len(after.Variants[0].Prices) != 2 {
				t.Fatalf("refused changes changed the product: %+v", after)
			}
		})

		t.Run("staff add a variant, change its prices, and adjust its stock with a reason", func(t *testing.T) {
			before := s.countAudit("product.variant_add")
			var got fullProduct
			s.must(201, req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/variants", token: admin,
				body: map[string]any{"sku": "TEE-L", "options": map[string]string{"size": "L"}, "prices": []any{eur(1400)}, "stock": 2}}).JSON(t, &got)
			if len(got.Variants) != 3 || got.Variants[2].SKU != "TEE-L" || s.countAudit("product.variant_add") != before+1 {
				t.Fatalf("after adding L: %+v", got)
			}
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/variants/" + medium, token: admin,
				body: map[string]any{"prices": []any{eur(1250), usd(1350)}, "weight_grams": 175}}).JSON(t, &got)
			if v := got.Variants[1]; len(v.Prices) != 2 || v.Prices[0].Amount != 1250 || v.Prices[1].Amount != 1350 || v.WeightGrams != 175 {
				t.Fatalf("patched variant = %+v", v)
			}
			s.must(200, req{method: "POST", path: "/api/v1/admin/variants/" + medium + "/stock", token: admin,
				body: map[string]any{"delta": 4, "reason": "delivery"}}).JSON(t, &got)
			if got.Variants[1].Stock != 7 {
				t.Fatalf("stock of M = %d, want 7", got.Variants[1].Stock)
			}
			res := s.do(req{method: "POST", path: "/api/v1/admin/variants/" + medium + "/stock", token: admin, body: map[string]any{"delta": -8, "reason": "loss"}})
			if res.Status != 409 || res.Code(t) != "insufficient_stock" {
				t.Fatalf("below zero: %d %s", res.Status, res.Body)
			}
			res = s.do(req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/stock", token: admin, body: map[string]any{"delta": 1, "reason": "x"}})
			if res.Status != 422 || res.Code(t) != "not_single_variant" {
				t.Fatalf("product stock route on a product with several variants: %d %s", res.Status, res.Body)
			}
		})

		t.Run("a cart in USD prices variants in USD and refuses one without a USD price", func(t *testing.T) {
			sh := s.shopper("dollar@example.com", "4242424242424242")
			var c cartView
			s.must(201, req{method: "POST", path: "/api/v1/carts", token: sh.token, body: map[string]string{"currency": "USD"}}).JSON(t, &c)
			if c.Currency != "USD" || c.Subtotal.Currency != "USD" {
				t.Fatalf("new cart = %+v", c)
			}
			res := s.do(req{method: "POST", path: "/api/v1/carts", token: sh.token, body: map[string]string{"currency": "GBP"}})
			if res.Status != 422 || res.Code(t) != "currency_not_sold" {
				t.Fatalf("a cart in GBP: %d %s", res.Status, res.Body)
			}
			s.must(200, req{method: "PUT", path: "/api/v1/carts/" + c.ID + "/items/" + small, token: sh.token, body: map[string]int{"quantity": 2}}).JSON(t, &c)
			if len(c.Items) != 1 || c.Items[0].VariantID != small || c.Items[0].ProductID != p.ID || c.Items[0].SKU != "TEE-S" ||
				c.Items[0].Options["size"] != "S" || c.Items[0].UnitPrice != (money{1100, "USD"}) || c.Subtotal != (money{2200, "USD"}) {
				t.Fatalf("cart = %+v", c)
			}
			var got fullProduct
			s.must(200, req{method: "GET", path: "/api/v1/admin/products/" + p.ID, token: admin}).JSON(t, &got)
			large := got.Variants[2].ID // priced in EUR only
			res = s.do(req{method: "PUT", path: "/api/v1/carts/" + c.ID + "/items/" + large, token: sh.token, body: map[string]int{"quantity": 1}})
			if res.Status != 422 || res.Code(t) != "not_priced_in_currency" {
				t.Fatalf("a variant without a USD price: %d %s", res.Status, res.Body)
			}
			res = s.do(req{method: "PUT", path: "/api/v1/carts/" + c.ID + "/items/" + p.ID, token: sh.token, body: map[string]int{"quantity": 1}})
			if res.Status != 422 || res.Code(t) != "variant_required" {
				t.Fatalf("a product id of a product with several variants: %d %s", res.Status, res.Body)
			}
			// Staff take the USD price away: the line is left out, like an inactive one.
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/variants/" + medium, token: admin, body: map[string]any{"prices": []any{eur(1250)}}})
			s.must(200, req{method: "PUT", path: "/api/v1/carts/" + c.ID + "/items/" + small, token: sh.token, body: map[string]int{"quantity": 1}})
			var o orderJSON
			s.must(201, checkoutReq(sh, "usd-1", c.ID, "123")).JSON(t, &o)
			if o.Total.Amount != 1100 || o.Total.Currency != "USD" || len(o.Items) != 1 {
				t.Fatalf("order = %+v", o)
			}
			var after fullProduct
			s.must(200, req{method: "GET", path: "/api/v1/products/" + p.ID}).JSON(t, &after)
			if after.Variants[0].Stock != 4 || after.Variants[1].Stock != 7 {
				t.Fatalf("stock after selling one S: %+v", after.Variants)
			}
		})

		t.Run("the v1 shorthand still makes an active single-variant product, and its product id is a cart item", func(t *testing.T) {
			one := s.createProduct(admin, "ONE-1", 4)
			if !one.Active {
				t.Fatalf("shorthand product = %+v", one)
			}
			sh := s.shopper("shorthand@example.com", "4242424242424242")
			c := s.cartWith(sh, 2, one.ID)
			var v cartView
			s.must(200, req{method: "GET", path: "/api/v1/carts/" + c, token: sh.token}).JSON(t, &v)
			if len(v.Items) != 1 || v.Items[0].ProductID != one.ID || v.Items[0].Quantity != 2 || v.Currency != "EUR" {
				t.Fatalf("cart = %+v", v)
			}
			s.must(200, req{method: "PUT", path: "/api/v1/carts/" + c + "/items/" + one.ID, token: sh.token, body: map[string]int{"quantity": 0}}).JSON(t, &v)
			if len(v.Items) != 0 {
				t.Fatalf("removing by product id left %+v", v.Items)
			}
		})

		t.Run("too many variants are refused", func(t *testing.T) {
			var many fullProduct
			vals := make([]string, 0, 101)
			for i := range 101 {
				vals = append(vals, fmt.Sprintf("v%d", i))
			}
			variant := func(i int) map[string]any {
				return map[string]any{"sku": fmt.Sprintf("MANY-%d", i), "options": map[string]string{"n": vals[i%50], "m": []string{"a", "b", "c"}[i/50]}, "prices": []any{eur(1)}, "stock": 1}
			}
			// The product is made with 99 variants and given the 100th and
			// the 101st one at a time: the limit is checked where a variant
			// is added. (Adding all 100 one at a time, each answer holding
			// every variant so far, made this one of CI's slowest subtests.)
			var first []map[string]any
			for i := range 99 {
				first = append(first, variant(i))
			}
			body := map[string]any{"name": "Many", "options": []map[string]any{{"name": "n", "values": vals[:50]}, {"name": "m", "values": []string{"a", "b", "c"}}},
				"variants": first}
			s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: body}).JSON(t, &many)
			if many.Status != "draft" || len(many.Variants) != 99 {
				t.Fatalf("a product made without status is %q with %d variants, want draft with 99", many.Status, len(many.Variants))
			}
			var last response
			for i := 99; i <= 100; i++ {
				last = s.do(req{method: "POST", path: "/api/v1/admin/products/" + many.ID + "/variants", token: admin, body: variant(i)})
				if i < 100 && last.Status != 201 {
					t.Fatalf("variant %d: %d %s", i, last.Status, last.Body)
				}
			}
			if last.Status != 422 || last.Code(t) != "too_many_variants" {
				t.Fatalf("the 101st variant: %d %s", last.Status, last.Body)
			}
		})
	})
}
