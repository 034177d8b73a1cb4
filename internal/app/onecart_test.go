package app_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// payOneCartManyTimes sends 8 checkouts of one cart at once, each with its
// own Idempotency-Key, each to the server pick chooses, and checks that
// exactly one made an order and every other got a clear problem: 409
// checkout_in_progress while the winner ran, or 422 cart_empty once it had
// emptied the cart.
func payOneCartManyTimes(t *testing.T, setup *server, sh shopper, cart string, pick func(i int) *server) {
	t.Helper()
	const n = 8
	var wg sync.WaitGroup
	results := make(chan response, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results <- pick(i).checkout(sh, fmt.Sprintf("one-cart-%d", i), cart, "123")
		})
	}
	close(start)
	wg.Wait()
	close(results)
	counts := map[string]int{}
	for res := range results {
		code := ""
		if res.Status != 201 {
			code = res.Code(t)
		}
		counts[fmt.Sprintf("%d %s", res.Status, code)]++
		switch {
		case res.Status == 201:
		case res.Status == 409 && code == "checkout_in_progress":
		case res.Status == 422 && code == "cart_empty":
		default:
			t.Fatalf("checkout answered %d %s", res.Status, res.Body)
		}
	}
	if counts["201 "] != 1 {
		t.Fatalf("answers %v: want exactly one order from one cart", counts)
	}
	t.Logf("answers: %v", counts)
}

// TestOneCartOneOrder: one cart makes one order and one charge, whatever the
// Idempotency-Keys of concurrent checkouts; the others read no card and
// reserve nothing. A declined payment frees the cart for another try.
func TestOneCartOneOrder(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("onecart-admin@example.com")
		p := s.createProduct(admin, "ONECART-1", 100)
		sh := s.shopper("onecart@example.com", "4242424242424242")

		t.Run("eight checkouts of one cart with different keys make one order", func(t *testing.T) {
			cart := s.cartWith(sh, 2, p.ID)
			payOneCartManyTimes(t, s, sh, cart, func(int) *server { return s })
			var list struct{ Items []orderJSON }
			s.must(200, req{method: "GET", path: "/api/v1/orders", token: sh.token}).JSON(t, &list)
			if len(list.Items) != 1 {
				t.Fatalf("%d orders from one cart, want 1", len(list.Items))
			}
			if got := s.stock(p.ID); got != 98 {
				t.Fatalf("stock %d, want 98: only the one order takes stock", got)
			}
			// No charge for the others: one successful checkout, one card read.
			if n := countAuditRaw(t, s.Config, "order.checkout", audit.Success); n != 1 {
				t.Fatalf("%d successful checkouts recorded, want 1", n)
			}
			if n := s.countAudit(vault.ActionDetokenize); n != 1 {
				t.Fatalf("the card was read %d times, want once: the refused checkouts must not reach the card", n)
			}
		})

		t.Run("a declined payment frees the cart for another card", func(t *testing.T) {
			cart := s.cartWith(sh, 1, p.ID)
			if res := s.checkout(sh, "declined-first", cart, "000"); res.Status != 402 {
				t.Fatalf("declined checkout = %d %s", res.Status, res.Body)
			}
			s.must(201, checkoutReq(sh, "declined-then-paid", cart, "123"))
			if res := s.checkout(sh, "after-paid", cart, "123"); res.Status != 422 || res.Code(t) != "cart_empty" {
				t.Fatalf("checkout of a paid cart = %d %s, want 422 cart_empty", res.Status, res.Body)
			}
			if got := s.stock(p.ID); got != 97 {
				t.Fatalf("stock %d, want 97", got)
			}
		})
	})
}

// TestOneCartOneOrderAcrossInstances: two server processes on one PostgreSQL
// database share the cart's claim: 8 checkouts of one cart with different
// keys, alternating between them, make one order.
func TestOneCartOneOrderAcrossInstances(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("needs PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	cfg := testConfig(dbs[1])
	a := startProcess(t, cfg)
	b := startProcess(t, cfg)
	admin := a.createAdmin("onecart-multi@example.com")
	p := a.createProduct(admin, "ONECART-2", 10)
	sh := a.shopper("onecart-multi-buyer@example.com", "4242424242424242")
	cart := a.cartWith(sh, 3, p.ID)
	payOneCartManyTimes(t, a.server, sh, cart, func(i int) *server {
		if i%2 == 1 {
			return b.server
		}
		return a.server
	})
	if got := b.stock(p.ID); got != 7 {
		t.Fatalf("stock %d, want 7: one order of 3", got)
	}
	if n := countAuditRaw(t, cfg, "order.checkout", audit.Success); n != 1 {
		t.Fatalf("%d successful checkouts recorded, want 1", n)
	}
	if n := countAuditRaw(t, cfg, vault.ActionDetokenize, audit.Success); n != 1 {
		t.Fatalf("the card was read %d times, want once", n)
	}
}
