package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

type cartJSON struct {
	ID    string `json:"id"`
	Items []struct {
		ProductID string `json:"product_id"`
		SKU       string `json:"sku"`
		Quantity  int    `json:"quantity"`
		UnitPrice struct {
			Amount int64 `json:"amount"`
		} `json:"unit_price"`
		LineTotal struct {
			Amount int64 `json:"amount"`
		} `json:"line_total"`
	} `json:"items"`
	Subtotal struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	} `json:"subtotal"`
}

func TestCarts(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("cart-admin@example.com")
		p := s.createProduct(admin, "CART-1", 50)
		s.register("shopper@example.com")
		shopper := s.login("shopper@example.com", testPassword)
		s.register("other@example.com")
		other := s.login("other@example.com", testPassword)

		var c cartJSON
		s.must(201, req{method: "POST", path: "/api/v1/carts", token: shopper}).JSON(t, &c)
		if !strings.HasPrefix(c.ID, "cart_") || len(c.Items) != 0 || c.Subtotal.Amount != 0 || c.Subtotal.Currency != "EUR" {
			t.Fatalf("new cart = %+v", c)
		}
		item := "/api/v1/carts/" + c.ID + "/items/" + p.ID

		t.Run("prices come from the catalog", func(t *testing.T) {
			s.must(200, req{method: "PUT", path: item, token: shopper, body: map[string]int{"quantity": 3}}).JSON(t, &c)
			if len(c.Items) != 1 || c.Items[0].Quantity != 3 || c.Items[0].UnitPrice.Amount != 1999 || c.Subtotal.Amount != 3*1999 {
				t.Fatalf("cart = %+v", c)
			}
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: admin, body: map[string]any{"price": map[string]any{"amount": 1000, "currency": "EUR"}}})
			s.must(200, req{method: "GET", path: "/api/v1/carts/" + c.ID, token: shopper}).JSON(t, &c)
			if c.Subtotal.Amount != 3000 || c.Items[0].LineTotal.Amount != 3000 {
				t.Fatalf("after a price change the cart says %+v", c)
			}
		})

		t.Run("a client-sent price is refused", func(t *testing.T) {
			res := s.do(req{method: "PUT", path: item, token: shopper, body: map[string]any{"quantity": 1, "unit_price": map[string]any{"amount": 1, "currency": "EUR"}}})
			if res.Status != 400 {
				t.Fatalf("= %d %s", res.Status, res.Body)
			}
		})

		t.Run("out-of-range quantities are refused and change nothing", func(t *testing.T) {
			for _, q := range []string{`{"quantity": 100}`, `{"quantity": -1}`, `{"quantity": 1e9}`, `{"quantity": 99999999999999999999}`, `{"quantity": "2"}`} {
				res := s.do(req{method: "PUT", path: item, token: shopper, body: q})
				if res.Status != 400 && res.Status != 422 {
					t.Fatalf("%s = %d", q, res.Status)
				}
			}
			s.must(200, req{method: "GET", path: "/api/v1/carts/" + c.ID, token: shopper}).JSON(t, &c)
			if c.Items[0].Quantity != 3 {
				t.Fatalf("quantity became %d", c.Items[0].Quantity)
			}
		})

		t.Run("unknown and inactive products are 404", func(t *testing.T) {
			s.must(404, req{method: "PUT", path: "/api/v1/carts/" + c.ID + "/items/prod_aaaaaaaaaaaaaaaaaaaaaaaaaa", token: shopper, body: map[string]int{"quantity": 1}})
			s.must(404, req{method: "PUT", path: "/api/v1/carts/" + c.ID + "/items/nope", token: shopper, body: map[string]int{"quantity": 1}})
			hidden := s.createProduct(admin, "CART-HIDDEN", 5)
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + hidden.ID, token: admin, body: map[string]any{"active": false}})
			s.must(404, req{method: "PUT", path: "/api/v1/carts/" + c.ID + "/items/" + hidden.ID, token: shopper, body: map[string]int{"quantity": 1}})
		})

		t.Run("another customer's cart is 404, and stays unchanged", func(t *testing.T) {
			s.must(404, req{method: "GET", path: "/api/v1/carts/" + c.ID, token: other})
			s.must(404, req{method: "PUT", path: item, token: other, body: map[string]int{"quantity": 50}})
			s.must(404, req{method: "GET", path: "/api/v1/carts/cart_aaaaaaaaaaaaaaaaaaaaaaaaaa", token: other})
			s.must(200, req{method: "GET", path: "/api/v1/carts/" + c.ID, token: shopper}).JSON(t, &c)
			if c.Items[0].Quantity != 3 {
				t.Fatalf("the other customer changed the cart: %+v", c)
			}
			s.must(401, req{method: "GET", path: "/api/v1/carts/" + c.ID})
		})

		t.Run("quantity 0 removes the line", func(t *testing.T) {
			s.must(200, req{method: "PUT", path: item, token: shopper, body: map[string]int{"quantity": 0}}).JSON(t, &c)
			if len(c.Items) != 0 || c.Subtotal.Amount != 0 {
				t.Fatalf("cart = %+v", c)
			}
		})
	})
}

// cards used by the payment-method tests; none may be found at rest outside the vault.
var testCards = []string{"4242424242424242", "5555555555554444", "378282246310005", "4000000000000002"}

func TestPaymentMethods(t *testing.T) {
	forEachVault(t, func(t *testing.T, db testenv.Database, mode vaultMode) {
		s := startServerWith(t, db, mode)
		s.register("payer@example.com")
		payer := s.login("payer@example.com", testPassword)
		s.register("thief@example.com")
		thief := s.login("thief@example.com", testPassword)
		var bodies bytes.Buffer // every response, searched for card numbers at the end
		do := func(r req) response {
			res := s.do(r)
			bodies.Write(res.Body)
			return res
		}

		var ids []string
		for i, number := range testCards {
			res := do(req{method: "POST", path: "/api/v1/payment-methods", token: payer, body: map[string]any{
				"number": number, "exp_month": 12, "exp_year": 2031, "holder": "Pat Payer"}})
			if res.Status != 201 {
				t.Fatalf("card %d = %d %s", i, res.Status, res.Body)
			}
			var m struct{ ID, Brand, Last4 string }
			res.JSON(t, &m)
			if !strings.HasPrefix(m.ID, "pm_") || m.Last4 != number[len(number)-4:] || m.Brand == "" {
				t.Fatalf("payment method = %+v", m)
			}
			ids = append(ids, m.ID)
		}

		t.Run("invalid cards are refused without echoing the number", func(t *testing.T) {
			for _, c := range []map[string]any{
				{"number": "4242424242424241", "exp_month": 12, "exp_year": 2031, "holder": "X"},
				{"number": "4242424242424242", "exp_month": 1, "exp_year": 2020, "holder": "X"},
				{"number": "9999999999999995", "exp_month": 1, "exp_year": 2031, "holder": "X"},
				{"number": "4242424242424242", "exp_month": 1, "exp_year": 2031, "holder": ""},
			} {
				res := do(req{method: "POST", path: "/api/v1/payment-methods", token: payer, body: c})
				if res.Status != 422 || bytes.Contains(res.Body, []byte(c["number"].(string))) {
					t.Fatalf("%v = %d %s", c, res.Status, res.Body)
				}
			}
			res := do(req{method: "POST", path: "/api/v1/payment-methods", token: payer, body: map[string]any{
				"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "holder": "X", "cvc": "123"}})
			if res.Status != 400 {
				t.Fatalf("a CVC sent to be stored = %d", res.Status)
			}
		})

		t.Run("each customer sees only their own", func(t *testing.T) {
			var list struct{ Items []struct{ ID string } }
			do(req{method: "GET", path: "/api/v1/payment-methods", token: payer}).JSON(t, &list)
			if len(list.Items) != len(testCards) {
				t.Fatalf("payer has %d methods, want %d", len(list.Items), len(testCards))
			}
			do(req{method: "GET", path: "/api/v1/payment-methods", token: thief}).JSON(t, &list)
			if len(list.Items) != 0 {
				t.Fatalf("thief sees %d methods", len(list.Items))
			}
			if res := do(req{method: "DELETE", path: "/api/v1/payment-methods/" + ids[0], token: thief}); res.Status != 404 {
				t.Fatalf("thief deleting = %d", res.Status)
			}
		})

		t.Run("delete removes it and the card in the vault", func(t *testing.T) {
			before := vaultCount(t, s)
			if res := do(req{method: "DELETE", path: "/api/v1/payment-methods/" + ids[len(ids)-1], token: payer}); res.Status != 204 {
				t.Fatalf("delete = %d", res.Status)
			}
			if after := vaultCount(t, s); after != before-1 {
				t.Fatalf("vault holds %d cards after delete, want %d", after, before-1)
			}
			if res := do(req{method: "DELETE", path: "/api/v1/payment-methods/" + ids[len(ids)-1], token: payer}); res.Status != 404 {
				t.Fatalf("second delete = %d", res.Status)
			}
		})

		t.Run("checkout with a saved card", func(t *testing.T) {
			admin := s.createAdmin("pm-admin@example.com")
			p := s.createProduct(admin, "PM-1", 5)
			sh := shopper{token: payer, method: ids[0]}
			res := s.checkout(sh, "pm-checkout", s.cartWith(sh, 1, p.ID), "123")
			bodies.Write(res.Body)
			if res.Status != 201 {
				t.Fatalf("checkout = %d %s", res.Status, res.Body)
			}
		})

		t.Run("no card number at rest outside the vault, nor in logs or responses", func(t *testing.T) {
			if code, out, errOut := runCLI(t, s.Config, "", "audit", "verify"); code != 0 {
				t.Fatalf("audit verify: %s %s", out, errOut)
			}
			s.closeStores() // flush everything to the files
			places := map[string][]byte{"responses": bodies.Bytes(), "logs": []byte(s.Logs.String()), "shop database": shopDump(t, s)}
			if db.Engine == "sqlite" {
				places["vault database file"] = readAll(t, s.vaultConfig().DataDir, store.VaultSQLiteFile)
			} else {
				places["vault database"] = pgDump(t, s.vaultConfig().VaultDatabaseURL)
			}
			if s.Vault != nil {
				places["vault logs"] = []byte(s.Vault.Logs.String())
			}
			for place, content := range places {
				if len(content) == 0 {
					t.Fatalf("%s is empty: the search proves nothing", place)
				}
				for _, number := range testCards {
					if bytes.Contains(content, []byte(number)) {
						t.Errorf("%s holds card number %s", place, number)
					}
				}
			}
		})
	})
}

// vaultCount counts the ciphertexts in the vault's own database.
func vaultCount(t *testing.T, s *server) int {
	t.Helper()
	driver, dsn := "pgx", s.vaultConfig().VaultDatabaseURL
	if dsn == "" {
		driver, dsn = "sqlite", "file:"+filepath.Join(s.vaultConfig().DataDir, store.VaultSQLiteFile)+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM vault_cards").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// shopDump returns everything the shop database holds: its files (with the
// write-ahead log) on SQLite, every row of every table on PostgreSQL.
func shopDump(t *testing.T, s *server) []byte {
	t.Helper()
	if s.Config.DatabaseURL == "" {
		return append(readAll(t, s.Config.DataDir, store.SQLiteFile), readAll(t, s.Config.DataDir, store.SQLiteFile+"-wal")...)
	}
	return pgDump(t, s.Config.DatabaseURL)
}

func readAll(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b
}

// pgDump renders every row of every table in the URL's schema as text.
func pgDump(t *testing.T, url string) []byte {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	var out bytes.Buffer
	for _, table := range tables {
		// Table names come from the catalog above, not from input.
		r, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT t::text FROM %q t`, table))
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var line string
			if err := r.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out.WriteString(line + "\n")
		}
		r.Close()
	}
	return out.Bytes()
}
