package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

type orderJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Items  []struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	} `json:"items"`
	Total struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	} `json:"total"`
	Refunded struct {
		Amount int64 `json:"amount"`
	} `json:"refunded"`
	Payment struct{ Brand, Last4 string } `json:"payment"`
}

var address = map[string]string{"name": "Pat Payer", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}

// shopper is a signed-in customer with a saved card.
type shopper struct {
	token, method string
}

func (s *server) shopper(email, card string) shopper {
	s.t.Helper()
	s.register(email)
	tok := s.login(email, testPassword)
	var m struct{ ID string }
	s.must(201, req{method: "POST", path: "/api/v1/payment-methods", token: tok, body: map[string]any{
		"number": card, "exp_month": 12, "exp_year": 2031, "holder": "Pat Payer"}}).JSON(s.t, &m)
	return shopper{token: tok, method: m.ID}
}

// cartWith returns a new cart of sh holding qty of each product.
func (s *server) cartWith(sh shopper, qty int, productIDs ...string) string {
	s.t.Helper()
	var c struct{ ID string }
	s.must(201, req{method: "POST", path: "/api/v1/carts", token: sh.token}).JSON(s.t, &c)
	for _, p := range productIDs {
		s.must(200, req{method: "PUT", path: "/api/v1/carts/" + c.ID + "/items/" + p, token: sh.token, body: map[string]int{"quantity": qty}})
	}
	return c.ID
}

// checkoutReq is the checkout request of sh for cartID with key.
func checkoutReq(sh shopper, key, cartID, cvc string) req {
	return req{method: "POST", path: "/api/v1/checkout", token: sh.token, header: map[string]string{"Idempotency-Key": key},
		body: map[string]any{"cart_id": cartID, "payment_method": sh.method, "cvc": cvc, "shipping_address": address}}
}

func (s *server) checkout(sh shopper, key, cartID, cvc string) response {
	s.t.Helper()
	return s.do(checkoutReq(sh, key, cartID, cvc))
}

func (s *server) stock(id string) int64 {
	s.t.Helper()
	var p product
	s.must(200, req{method: "GET", path: "/api/v1/products/" + id}).JSON(s.t, &p)
	return p.Stock
}

func (s *server) countAudit(action string) int {
	s.t.Helper()
	n := 0
	if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
		if r.Action == action {
			n++
		}
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
	return n
}

func TestCheckout(t *testing.T) {
	forEachVault(t, func(t *testing.T, db testenv.Database, mode vaultMode) {
		s := startServerWith(t, db, mode)
		admin := s.createAdmin("checkout-admin@example.com")
		a := s.createProduct(admin, "CO-A", 10)
		b := s.createProduct(admin, "CO-B", 10)
		pat := s.shopper("pat@example.com", "4242424242424242")
		eve := s.shopper("eve@example.com", "5555555555554444")

		t.Run("a paid order from the catalog's prices", func(t *testing.T) {
			cart := s.cartWith(pat, 2, a.ID, b.ID)
			res := s.checkout(pat, "key-happy", cart, "123")
			if res.Status != 201 {
				t.Fatalf("checkout = %d %s", res.Status, res.Body)
			}
			var o orderJSON
			res.JSON(t, &o)
			if o.Status != "paid" || o.Total.Amount != 4*1999 || o.Total.Currency != "EUR" || len(o.Items) != 2 || o.Payment.Last4 != "4242" || o.Payment.Brand != "visa" {
				t.Fatalf("order = %+v", o)
			}
			if s.stock(a.ID) != 8 || s.stock(b.ID) != 8 {
				t.Fatalf("stock = %d, %d; want 8, 8", s.stock(a.ID), s.stock(b.ID))
			}
			var c cartJSON
			s.must(200, req{method: "GET", path: "/api/v1/carts/" + cart, token: pat.token}).JSON(t, &c)
			if len(c.Items) != 0 {
				t.Fatalf("the cart still holds %d lines", len(c.Items))
			}
			var list struct{ Items []orderJSON }
			s.must(200, req{method: "GET", path: "/api/v1/orders", token: pat.token}).JSON(t, &list)
			if len(list.Items) != 1 || list.Items[0].ID != o.ID {
				t.Fatalf("orders = %+v", list.Items)
			}
			s.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: pat.token})
			s.must(404, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: eve.token})
		})

		t.Run("a declined card leaves stock as it was and no order", func(t *testing.T) {
			declined := s.shopper("declined@example.com", "4000000000000002")
			for i, tc := range []struct {
				who shopper
				cvc string
			}{{declined, "123"}, {pat, "000"}} {
				before := s.stock(a.ID)
				cart := s.cartWith(tc.who, 3, a.ID)
				res := s.checkout(tc.who, fmt.Sprintf("key-declined-%d", i), cart, tc.cvc)
				if res.Status != 402 || res.Code(t) != "payment_declined" {
					t.Fatalf("declined checkout = %d %s", res.Status, res.Body)
				}
				if got := s.stock(a.ID); got != before {
					t.Fatalf("stock %d after a decline, want %d", got, before)
				}
			}
			var list struct{ Items []orderJSON }
			s.must(200, req{method: "GET", path: "/api/v1/orders", token: declined.token}).JSON(t, &list)
			if len(list.Items) != 0 {
				t.Fatalf("a declined checkout left orders: %+v", list.Items)
			}
		})

		t.Run("idempotency", func(t *testing.T) {
			cart := s.cartWith(pat, 1, a.ID)
			first := s.checkout(pat, "key-idem", cart, "123")
			if first.Status != 201 {
				t.Fatalf("first = %d %s", first.Status, first.Body)
			}
			again := s.checkout(pat, "key-idem", cart, "123")
			if again.Status != 201 || again.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(first.Body) {
				t.Fatalf("replay = %d %q\n%s\nfirst:\n%s", again.Status, again.Header.Get("Idempotent-Replayed"), again.Body, first.Body)
			}
			other := s.cartWith(pat, 1, b.ID)
			if res := s.checkout(pat, "key-idem", other, "123"); res.Status != 422 || res.Code(t) != "idempotency_key_reused" {
				t.Fatalf("same key, other body = %d %s", res.Status, res.Body)
			}
			res := s.do(req{method: "POST", path: "/api/v1/checkout", token: pat.token,
				body: map[string]any{"cart_id": other, "payment_method": pat.method, "cvc": "123", "shipping_address": address}})
			if res.Status != 400 || res.Code(t) != "idempotency_key_required" {
				t.Fatalf("no key = %d %s", res.Status, res.Body)
			}
			// Keys belong to their customer: Eve's use of Pat's key is her own request.
			eveCart := s.cartWith(eve, 1, b.ID)
			if res := s.checkout(eve, "key-idem", eveCart, "123"); res.Status != 201 || res.Header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("another customer's same key = %d %s", res.Status, res.Body)
			}
		})

		t.Run("tampering is refused and changes nothing", func(t *testing.T) {
			cart := s.cartWith(pat, 1, a.ID)
			before := s.stock(a.ID)
			for name, tc := range map[string]struct {
				body map[string]any
				want int
			}{
				"a client-sent price": {map[string]any{"cart_id": cart, "payment_method": pat.method, "cvc": "123", "shipping_address": address, "total": map[string]any{"amount": 1, "currency": "EUR"}}, 400},
				"another's cart":      {map[string]any{"cart_id": s.cartWith(eve, 1, a.ID), "payment_method": pat.method, "cvc": "123", "shipping_address": address}, 404},
				"another's card":      {map[string]any{"cart_id": cart, "payment_method": eve.method, "cvc": "123", "shipping_address": address}, 404},
				"no address":          {map[string]any{"cart_id": cart, "payment_method": pat.method, "cvc": "123"}, 422},
				"a bad cvc":           {map[string]any{"cart_id": cart, "payment_method": pat.method, "cvc": "12a", "shipping_address": address}, 422},
			} {
				t.Run(name, func(t *testing.T) {
					res := s.do(req{method: "POST", path: "/api/v1/checkout", token: pat.token, body: tc.body,
						header: map[string]string{"Idempotency-Key": "tamper-" + strings.ReplaceAll(name, " ", "-")}})
					if res.Status != tc.want {
						t.Fatalf("= %d, want %d: %s", res.Status, tc.want, res.Body)
					}
				})
			}
			if got := s.stock(a.ID); got != before {
				t.Fatalf("stock %d, want %d", got, before)
			}
			empty := s.cartWith(pat, 1)
			if res := s.checkout(pat, "key-empty", empty, "123"); res.Status != 422 || res.Code(t) != "cart_empty" {
				t.Fatalf("empty cart = %d %s", res.Status, res.Body)
			}
		})
	})
}

// TestCheckoutOneKeyAtOnce is TestCheckout's race of one idempotency key,
// with the card vault embedded; TestCheckoutOneKeyAtOnceVaultProcess is the
// same race with the vault in a process of its own. Tests of their own, so
// that CI's workers run them beside TestCheckout and each other.
func TestCheckoutOneKeyAtOnce(t *testing.T) { checkoutOneKeyAtOnce(t, embeddedVault) }

func TestCheckoutOneKeyAtOnceVaultProcess(t *testing.T) { checkoutOneKeyAtOnce(t, remoteVault) }

func checkoutOneKeyAtOnce(t *testing.T, mode vaultMode) {
	forVaults(t, []vaultMode{mode}, func(t *testing.T, db testenv.Database, mode vaultMode) {
		s := startServerWith(t, db, mode)
		admin := s.createAdmin("checkout-admin@example.com")
		pat := s.shopper("pat@example.com", "4242424242424242")

		t.Run("50 concurrent requests with one key make one order and one authorization", func(t *testing.T) {
			p := s.createProduct(admin, "CO-ONCE", 100)
			cart := s.cartWith(pat, 1, p.ID)
			reads := s.countAudit(vault.ActionDetokenize)
			var wg sync.WaitGroup
			statuses := make(chan int, 50)
			for range 50 {
				wg.Go(func() { statuses <- s.checkout(pat, "key-concurrent", cart, "123").Status })
			}
			wg.Wait()
			close(statuses)
			counts := map[int]int{}
			for st := range statuses {
				counts[st]++
			}
			if counts[201]+counts[409] != 50 || counts[201] < 1 {
				t.Fatalf("statuses %v, want only 201 (first and replays) and 409 request_in_progress", counts)
			}
			if got := s.stock(p.ID); got != 99 {
				t.Fatalf("stock %d, want 99: one order", got)
			}
			if got := s.countAudit(vault.ActionDetokenize) - reads; got != 1 {
				t.Fatalf("%d card reads for authorization, want 1", got)
			}
		})
	})
}

// raceForLastUnits makes 6 shoppers with 8 carts each (one unit of
// productID per cart) and races their 48 checkouts for the last units, all
// at once, each to the server pick chooses. It checks that exactly units
// succeed, every other one is a clean 409 out_of_stock, and the stock ends
// at zero.
//
// A checkout that gets no answer (on a loaded 2-core CI machine under
// -race, the whole race took longer than the server's 30 s write timeout,
// which closed the connections) is sent again with the same Idempotency-Key,
// as the API tells clients to, as is one answered 409 request_in_progress
// or 503: the claim is no oversell and one order per key, retries included.
func raceForLastUnits(t *testing.T, setup *server, productID string, units int, pick func(i int) *server) {
	t.Helper()
	type attempt struct {
		who  shopper
		cart string
	}
	var attempts []attempt
	for i := range 6 {
		sh := setup.shopper(fmt.Sprintf("racer%d-%s@example.com", i, productID[5:12]), "4242424242424242")
		for range 8 {
			attempts = append(attempts, attempt{sh, setup.cartWith(sh, 1, productID)})
		}
	}
	var wg sync.WaitGroup
	results := make(chan response, len(attempts))
	errs := make(chan error, len(attempts))
	deadline := time.Now().Add(4 * time.Minute)
	for i, at := range attempts {
		wg.Go(func() {
			s := pick(i)
			for {
				res, err := s.try(checkoutReq(at.who, fmt.Sprintf("race-%d", i), at.cart, "123"))
				final := err == nil && res.Status != 503 && !(res.Status == 409 && res.Code(t) == "request_in_progress")
				if final {
					results <- res
					return
				}
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("checkout %d: no final answer in 4 minutes: %v %d %s", i, err, res.Status, res.Body)
					return
				}
				time.Sleep(time.Second)
			}
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	counts := map[int]int{}
	for res := range results {
		counts[res.Status]++
		if res.Status == 409 && res.Code(t) != "out_of_stock" {
			t.Fatalf("409 with code %s", res.Code(t))
		}
	}
	if counts[201] != units || counts[409] != len(attempts)-units {
		t.Fatalf("statuses %v, want %d×201 and %d×409", counts, units, len(attempts)-units)
	}
	if got := setup.stock(productID); got != 0 {
		t.Fatalf("stock %d, want 0", got)
	}
}

// TestNoOversell has 48 checkouts race for the last 10 units, on SQLite;
// TestNoOversellPostgres runs the same race on PostgreSQL, in a test of its
// own so that CI's workers run the two side by side.
func TestNoOversell(t *testing.T) { noOversell(t, "sqlite") }

func TestNoOversellPostgres(t *testing.T) { noOversell(t, "postgres") }

func noOversell(t *testing.T, engine string) {
	onEngine(t, engine, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("race-admin@example.com")
		p := s.createProduct(admin, "LAST-10", 10)
		raceForLastUnits(t, s, p.ID, 10, func(int) *server { return s })
		var list struct{ Items []orderJSON }
		s.must(200, req{method: "GET", path: "/api/v1/admin/orders?limit=100", token: admin}).JSON(t, &list)
		if len(list.Items) != 10 {
			t.Fatalf("%d orders, want 10", len(list.Items))
		}
	})
}

func TestRefunds(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("refund-admin@example.com")
		finance := s.staff(admin, "finance@example.com", "finance")
		p := s.createProduct(admin, "RF-1", 10)
		pat := s.shopper("refundee@example.com", "4242424242424242")
		var o orderJSON
		s.must(201, req{method: "POST", path: "/api/v1/checkout", token: pat.token, header: map[string]string{"Idempotency-Key": "rf"},
			body: map[string]any{"cart_id": s.cartWith(pat, 2, p.ID), "payment_method": pat.method, "cvc": "123", "shipping_address": address}}).JSON(t, &o)
		refund := func(key string, body any) response {
			return s.do(req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: finance,
				header: map[string]string{"Idempotency-Key": key}, body: body})
		}

		if res := refund("r1", map[string]any{"amount": map[string]any{"amount": 1000, "currency": "EUR"}}); res.Status != 200 {
			t.Fatalf("partial refund = %d %s", res.Status, res.Body)
		} else if res.JSON(t, &o); o.Status != "partially_refunded" || o.Refunded.Amount != 1000 {
			t.Fatalf("after a partial refund: %+v", o)
		}
		if res := refund("r1", map[string]any{"amount": map[string]any{"amount": 1000, "currency": "EUR"}}); res.Status != 200 || res.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replayed refund = %d %s", res.Status, res.Body)
		}
		if res := refund("r2", map[string]any{"amount": map[string]any{"amount": 4000, "currency": "EUR"}}); res.Status != 409 || res.Code(t) != "refund_exceeds_capture" {
			t.Fatalf("refund above capture = %d %s", res.Status, res.Body)
		}
		for _, bad := range []any{map[string]any{"amount": map[string]any{"amount": -5, "currency": "EUR"}}, map[string]any{"amount": map[string]any{"amount": 1, "currency": "USD"}}} {
			if res := refund("r-bad", bad); res.Status != 422 {
				t.Fatalf("refund %v = %d %s", bad, res.Status, res.Body)
			}
		}
		if res := s.do(req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: finance, body: map[string]any{}}); res.Status != 400 {
			t.Fatalf("refund without a key = %d", res.Status)
		}
		// Concurrent full refunds: exactly one gets the rest.
		var wg sync.WaitGroup
		statuses := make(chan int, 10)
		for i := range 10 {
			wg.Go(func() { statuses <- refund(fmt.Sprintf("full-%d", i), map[string]any{}).Status })
		}
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for st := range statuses {
			counts[st]++
		}
		if counts[200] != 1 || counts[409] != 9 {
			t.Fatalf("concurrent full refunds: %v, want one 200 and nine 409", counts)
		}
		s.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: pat.token}).JSON(t, &o)
		if o.Status != "refunded" || o.Refunded.Amount != o.Total.Amount {
			t.Fatalf("after the full refund: %+v", o)
		}
		if n := s.countAudit("order.refund"); n < 2 {
			t.Fatalf("%d refund audit records", n)
		}
		if code, out, errOut := runCLI(t, s.Config, "", "audit", "verify"); code != 0 {
			t.Fatalf("audit verify: %s %s", out, errOut)
		}
	})
}
