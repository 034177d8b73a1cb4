package app_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// guestOn turns guest checkout on.
func guestOn(c *config.Config) { c.GuestCheckout = true }

// guestCart is POST /api/v1/guest/carts's answer.
type guestCart struct {
	ID        string `json:"id"`
	CartToken string `json:"cart_token"`
}

func (s *server) guestCart() guestCart {
	s.t.Helper()
	var c guestCart
	res := s.must(201, req{method: "POST", path: "/api/v1/guest/carts"})
	res.JSON(s.t, &c)
	if !strings.HasPrefix(c.ID, "cart_") || !strings.HasPrefix(c.CartToken, "bgc_") || res.Header.Get("Cache-Control") != "no-store" {
		s.t.Fatalf("guest cart = %+v (Cache-Control %q)", c, res.Header.Get("Cache-Control"))
	}
	return c
}

// otherChar is token with its i-th character changed.
func otherChar(token string, i int) string {
	b := []byte(token)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func asGuest(c guestCart) map[string]string { return map[string]string{"Cart-Token": c.CartToken} }

// guestCheckoutReq is a guest's checkout of c with key.
func guestCheckoutReq(c guestCart, key, email string, card any) req {
	body := map[string]any{"email": email, "cvc": "123", "shipping_address": address}
	if card != nil {
		body["card"] = card
	}
	return req{method: "POST", path: "/api/v1/guest/carts/" + c.ID + "/checkout",
		header: map[string]string{"Cart-Token": c.CartToken, "Idempotency-Key": key}, body: body}
}

var guestCard = map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "holder": "Pat Payer"}

var orderLink = regexp.MustCompile(`/guest-order#order=(ord_[a-z2-7]+)&token=(v1\.[0-9]+\.[A-Za-z0-9_-]+)`)

// takeOrderLink takes the order confirmation to email out of the outbox and
// returns the order id and token of its link: a guest's order mails link to
// the order through the signed link (one mail, not a confirmation and a
// link apart).
func (s *server) takeOrderLink(email string) (orderID, token string) {
	s.t.Helper()
	mail := s.takeMail(email, "/guest-order#order=")
	m := orderLink.FindStringSubmatch(mail)
	if m == nil || !strings.Contains(mail, "is confirmed") {
		s.t.Fatalf("the order confirmation holds no link:\n%s", mail)
	}
	return m[1], m[2]
}

func guestOrderReq(orderID, token string) req {
	return req{method: "GET", path: "/api/v1/guest/orders/" + orderID, header: map[string]string{"Order-Token": token}}
}

func TestGuestCheckoutOffByDefault(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("guest-off-admin@example.com")
		p := s.createProduct(admin, "GUEST-OFF", 5)
		for _, r := range []req{
			{method: "POST", path: "/api/v1/guest/carts"},
			{method: "POST", path: "/api/v1/guest/carts/cart_aaaaaaaaaaaaaaaaaaaaaaaaaa/checkout", header: map[string]string{"Cart-Token": "bgc_x", "Idempotency-Key": "k"},
				body: map[string]any{"email": "a@example.com"}},
			{method: "GET", path: "/api/v1/guest/orders/ord_aaaaaaaaaaaaaaaaaaaaaaaaaa", header: map[string]string{"Order-Token": "v1.1.AAAA"}},
			{method: "PUT", path: "/api/v1/carts/cart_aaaaaaaaaaaaaaaaaaaaaaaaaa/items/" + p.ID, header: map[string]string{"Cart-Token": "bgc_x"},
				body: map[string]int{"quantity": 1}},
		} {
			if res := s.do(r); res.Status != 404 {
				t.Errorf("%s %s with guest checkout off = %d %s, want 404", r.method, r.path, res.Status, res.Body)
			}
		}
		if s.stock(p.ID) != 5 {
			t.Fatal("stock changed")
		}
	})
}

func TestGuestCheckout(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, guestOn)
		admin := s.createAdmin("guest-admin@example.com")
		p := s.createProduct(admin, "GUEST-1", 10)
		pat := s.shopper("guest-pat@example.com", "5555555555554444")
		vaultBefore := vaultCount(t, s)

		c := s.guestCart()
		item := "/api/v1/carts/" + c.ID + "/items/" + p.ID

		t.Run("the token reaches the cart through the ordinary cart routes", func(t *testing.T) {
			var got cartJSON
			s.must(200, req{method: "PUT", path: item, header: asGuest(c), body: map[string]int{"quantity": 2}}).JSON(t, &got)
			if len(got.Items) != 1 || got.Items[0].Quantity != 2 || got.Subtotal.Amount != 2*1999 {
				t.Fatalf("cart = %+v", got)
			}
			s.must(200, req{method: "GET", path: "/api/v1/carts/" + c.ID, header: asGuest(c)})
		})

		t.Run("a guest cart is reached with its own token only", func(t *testing.T) {
			other := s.guestCart()
			for name, r := range map[string]req{
				"another cart's token":  {method: "GET", path: "/api/v1/carts/" + c.ID, header: asGuest(other)},
				"a made-up token":       {method: "GET", path: "/api/v1/carts/" + c.ID, header: map[string]string{"Cart-Token": otherChar(c.CartToken, 10)}},
				"an account's session":  {method: "GET", path: "/api/v1/carts/" + c.ID, token: pat.token},
				"a change with another": {method: "PUT", path: item, header: asGuest(other), body: map[string]int{"quantity": 9}},
				"checkout with another": guestCheckoutReq(guestCart{ID: c.ID, CartToken: other.CartToken}, "k-other", "x@example.com", guestCard),
			} {
				if res := s.do(r); res.Status != 404 {
					t.Errorf("%s = %d %s, want 404", name, res.Status, res.Body)
				}
			}
			if res := s.do(req{method: "GET", path: "/api/v1/carts/" + c.ID + "?cart_token=" + c.CartToken}); res.Status != 401 {
				t.Errorf("a token in the URL = %d, want 401 (ignored)", res.Status)
			}
			// A guest token opens nothing of an account's.
			for _, path := range []string{"/api/v1/me", "/api/v1/orders", "/api/v1/payment-methods"} {
				if res := s.do(req{method: "GET", path: path, header: asGuest(c)}); res.Status != 401 {
					t.Errorf("GET %s with a cart token = %d, want 401", path, res.Status)
				}
			}
			// Nor is an account's cart reached with a guest token.
			own := s.cartWith(pat, 1, p.ID)
			if res := s.do(req{method: "GET", path: "/api/v1/carts/" + own, header: asGuest(c)}); res.Status != 404 {
				t.Errorf("an account's cart with a guest token = %d, want 404", res.Status)
			}
		})

		t.Run("bad input is refused and reserves nothing", func(t *testing.T) {
			huge := map[string]any{"email": "a@example.com", "card": guestCard, "cvc": "123", "shipping_address": address,
				"padding": strings.Repeat("x", 2<<20)}
			for name, tc := range map[string]struct {
				r    req
				want int
			}{
				"bad email":     {guestCheckoutReq(c, "k-bad-1", "not-an-email", guestCard), 422},
				"missing card":  {guestCheckoutReq(c, "k-bad-2", "guest@example.com", nil), 422},
				"invalid card":  {guestCheckoutReq(c, "k-bad-3", "guest@example.com", map[string]any{"number": "4242424242424241", "exp_month": 12, "exp_year": 2031, "holder": "X"}), 422},
				"no holder":     {guestCheckoutReq(c, "k-bad-6", "guest@example.com", map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": 2031}), 422},
				"unknown field": {guestCheckoutReq(c, "k-bad-4", "guest@example.com", map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvv": "1"}), 400},
				"huge body":     {req{method: "POST", path: "/api/v1/guest/carts/" + c.ID + "/checkout", header: map[string]string{"Cart-Token": c.CartToken, "Idempotency-Key": "k-bad-5"}, body: huge}, 413},
				"no key":        {req{method: "POST", path: "/api/v1/guest/carts/" + c.ID + "/checkout", header: asGuest(c), body: map[string]any{"email": "guest@example.com", "card": guestCard}}, 400},
			} {
				if res := s.do(tc.r); res.Status != tc.want {
					t.Errorf("%s = %d %s, want %d", name, res.Status, res.Body, tc.want)
				}
			}
			if s.stock(p.ID) != 10 || vaultCount(t, s) != vaultBefore {
				t.Fatalf("stock %d, vault %d cards (was %d): something was reserved or kept", s.stock(p.ID), vaultCount(t, s), vaultBefore)
			}
			var list struct{ Items []orderJSON }
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: admin}).JSON(t, &list)
			if len(list.Items) != 0 {
				t.Fatalf("orders after refused checkouts: %+v", list.Items)
			}
		})

		t.Run("a declined card is the account checkout's decline: stock back, audited, card gone", func(t *testing.T) {
			failures := func() int {
				n := 0
				if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
					if r.Action == "order.checkout" && r.Outcome == audit.Failure {
						n++
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := failures()
			declined := map[string]any{"number": "4000000000000002", "exp_month": 12, "exp_year": 2031, "holder": "Dee Clined"}
			res := s.do(guestCheckoutReq(c, "k-declined", "declined@example.com", declined))
			if res.Status != 402 || res.Code(t) != "payment_declined" {
				t.Fatalf("declined guest card = %d %s", res.Status, res.Body)
			}
			if failures() != before+1 {
				t.Fatalf("declines audited: %d, want %d (the fraud signal an account's decline gives)", failures(), before+1)
			}
			if s.stock(p.ID) != 10 || vaultCount(t, s) != vaultBefore {
				t.Fatalf("after a decline: stock %d, vault %d (was %d)", s.stock(p.ID), vaultCount(t, s), vaultBefore)
			}
		})

		const email = "Guest.Buyer@example.com"
		var o orderJSON
		t.Run("a guest buys with an email and a card, through the account checkout", func(t *testing.T) {
			res := s.do(guestCheckoutReq(c, "k-guest-1", email, guestCard))
			if res.Status != 201 {
				t.Fatalf("guest checkout = %d %s", res.Status, res.Body)
			}
			res.JSON(t, &o)
			if o.Status != "paid" || o.Total.Amount != 2*1999 || o.Payment.Last4 != "4242" || o.Payment.Brand != "visa" {
				t.Fatalf("order = %+v", o)
			}
			if s.stock(p.ID) != 8 {
				t.Fatalf("stock = %d, want 8", s.stock(p.ID))
			}
			again := s.do(guestCheckoutReq(c, "k-guest-1", email, guestCard))
			if again.Status != 201 || again.Header.Get("Idempotent-Replayed") != "true" || s.stock(p.ID) != 8 {
				t.Fatalf("the same key again = %d %s (stock %d)", again.Status, again.Body, s.stock(p.ID))
			}
		})

		t.Run("the card is used once and never stored", func(t *testing.T) {
			if n := vaultCount(t, s); n != vaultBefore {
				t.Fatalf("the vault holds %d cards, %d before the guest's checkout", n, vaultBefore)
			}
			var held int
			if err := rawDB(t, s.Config).QueryRow("SELECT COUNT(*) FROM guest_cards").Scan(&held); err != nil || held != 0 {
				t.Fatalf("%d guest card tokens still held (%v)", held, err)
			}
			dump := shopDump(t, s)
			for _, secret := range []string{"4242424242424242", c.CartToken, strings.ToLower(email)} {
				if bytes.Contains(dump, []byte(secret)) {
					t.Errorf("the shop database holds %q in the clear", secret)
				}
			}
			if strings.Contains(s.Logs.String(), "4242424242424242") || strings.Contains(s.Logs.String(), c.CartToken) {
				t.Error("the log holds the card number or the cart token")
			}
		})

		orderID, token := s.takeOrderLink(email)
		t.Run("the mailed link opens the order, and nothing else does", func(t *testing.T) {
			if orderID != o.ID {
				t.Fatalf("the link is to %s, the order is %s", orderID, o.ID)
			}
			var got orderJSON
			res := s.must(200, guestOrderReq(orderID, token))
			res.JSON(t, &got)
			if got.ID != o.ID || got.Total.Amount != o.Total.Amount || res.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("order by link = %+v", got)
			}
			// The order is the guest's only: no account's list shows it.
			if res := s.do(req{method: "GET", path: "/api/v1/orders/" + o.ID, token: pat.token}); res.Status != 404 {
				t.Fatalf("another customer reads the guest order: %d", res.Status)
			}
		})

		t.Run("a tampered, foreign or missing link is not_found, alike", func(t *testing.T) {
			c2 := s.guestCart()
			s.must(200, req{method: "PUT", path: "/api/v1/carts/" + c2.ID + "/items/" + p.ID, header: asGuest(c2), body: map[string]int{"quantity": 1}})
			s.must(201, guestCheckoutReq(c2, "k-guest-2", "second@example.com", guestCard))
			order2, token2 := s.takeOrderLink("second@example.com")
			parts := strings.Split(token, ".")
			flipped := otherChar(parts[2], len(parts[2])/2)
			for name, r := range map[string]req{
				"no token":                  {method: "GET", path: "/api/v1/guest/orders/" + orderID},
				"a changed tag":             guestOrderReq(orderID, parts[0]+"."+parts[1]+"."+flipped),
				"a later expiry":            guestOrderReq(orderID, parts[0]+".9"+parts[1]+"."+parts[2]),
				"another order's token":     guestOrderReq(orderID, token2),
				"a token on another order":  guestOrderReq(order2, token),
				"a missing order":           guestOrderReq("ord_aaaaaaaaaaaaaaaaaaaaaaaaaa", token),
				"garbage":                   guestOrderReq(orderID, "v1.."+strings.Repeat("A", 300)),
				"the token in the query":    {method: "GET", path: "/api/v1/guest/orders/" + orderID + "?token=" + token},
				"an account's session only": {method: "GET", path: "/api/v1/guest/orders/" + orderID, token: pat.token},
			} {
				res := s.do(r)
				if res.Status != 404 || res.Code(t) != "not_found" {
					t.Errorf("%s = %d %s, want 404 not_found", name, res.Status, res.Body)
				}
			}
			s.must(200, guestOrderReq(order2, token2))
		})

		t.Run("concurrent guest checkouts of one cart make one order", func(t *testing.T) {
			c3 := s.guestCart()
			s.must(200, req{method: "PUT", path: "/api/v1/carts/" + c3.ID + "/items/" + p.ID, header: asGuest(c3), body: map[string]int{"quantity": 1}})
			before := s.stock(p.ID)
			var wg sync.WaitGroup
			statuses := make([]int, 6)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i] = s.do(guestCheckoutReq(c3, fmt.Sprintf("k-race-%d", i), "racer@example.com", guestCard)).Status
				}()
			}
			wg.Wait()
			paid := 0
			for _, st := range statuses {
				switch {
				case st == 201:
					paid++
				case st < 400 || st >= 500:
					t.Fatalf("a concurrent guest checkout answered %d (all: %v)", st, statuses)
				}
			}
			if paid != 1 || s.stock(p.ID) != before-1 || vaultCount(t, s) != vaultBefore {
				t.Fatalf("%d paid of %v; stock %d (was %d); vault %d (was %d)", paid, statuses, s.stock(p.ID), before, vaultCount(t, s), vaultBefore)
			}
			s.takeOrderLink("racer@example.com")
		})

		t.Run("a code limited per customer is refused to guests, who could use it once per new cart", func(t *testing.T) {
			s.must(201, req{method: "POST", path: "/api/v1/admin/discounts", token: admin, body: map[string]any{
				"code": "WELCOMEONCE", "kind": "percent", "basis_points": 5000, "max_uses_per_customer": 1}})
			s.must(201, req{method: "POST", path: "/api/v1/admin/discounts", token: admin, body: map[string]any{
				"code": "EVERYONE", "kind": "percent", "basis_points": 500}})
			g := s.guestCart()
			s.must(200, req{method: "PUT", path: "/api/v1/carts/" + g.ID + "/items/" + p.ID, header: asGuest(g), body: map[string]any{"quantity": 1}})
			res := s.do(req{method: "PUT", path: "/api/v1/carts/" + g.ID + "/discount", header: asGuest(g), body: map[string]string{"code": "WELCOMEONCE"}})
			if res.Status != 422 || res.Code(t) != "discount_invalid" {
				t.Fatalf("a per-customer code on a guest cart = %d %s", res.Status, res.Body)
			}
			s.must(200, req{method: "PUT", path: "/api/v1/carts/" + g.ID + "/discount", header: asGuest(g), body: map[string]string{"code": "EVERYONE"}})
		})

		t.Run("a later checkout of the cart cannot re-point the placed order's email", func(t *testing.T) {
			// The cart is empty now: refused, and the order keeps its email
			// (the staff list below checks it is still the first one).
			res := s.do(guestCheckoutReq(c, "k-guest-repoint", "attacker@example.net", guestCard))
			if res.Status < 400 || res.Status >= 500 {
				t.Fatalf("checkout of the emptied cart = %d %s", res.Status, res.Body)
			}
		})

		t.Run("staff lists show guest orders; the email only to roles that see contact data", func(t *testing.T) {
			var list struct {
				Items []struct {
					ID       string `json:"id"`
					Customer *struct {
						ID, Email string
						Guest     bool
					} `json:"customer"`
				}
			}
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: admin}).JSON(t, &list)
			found := false
			for _, it := range list.Items {
				if it.ID == o.ID {
					found = true
					if it.Customer == nil || it.Customer.Email != strings.ToLower(email) || !it.Customer.Guest {
						t.Fatalf("admin sees the guest order as %+v", it)
					}
				}
			}
			if !found {
				t.Fatal("the guest order is not in the staff list")
			}
			fulfilment := s.staff(admin, "guest-fulfilment@example.com", "fulfillment")
			list.Items = nil
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: fulfilment}).JSON(t, &list)
			for _, it := range list.Items {
				if it.ID == o.ID && it.Customer != nil {
					t.Fatalf("fulfilment sees the guest's contact data: %+v", it.Customer)
				}
			}
		})

		t.Run("a guest is no account: its email registers, and the account does not get the guest's orders", func(t *testing.T) {
			u := s.register(strings.ToLower(email))
			tok := s.login(strings.ToLower(email), testPassword)
			var list struct{ Items []orderJSON }
			s.must(200, req{method: "GET", path: "/api/v1/orders", token: tok}).JSON(t, &list)
			if len(list.Items) != 0 || u.ID == "" {
				t.Fatalf("the new account %s sees %d orders", u.ID, len(list.Items))
			}
			if res := s.do(req{method: "GET", path: "/api/v1/orders/" + o.ID, token: tok}); res.Status != 404 {
				t.Fatalf("the account reads the guest order: %d", res.Status)
			}
		})

		t.Run("erasing the guest shreds the email and address; the order stays", func(t *testing.T) {
			var list struct {
				Items []struct {
					ID       string `json:"id"`
					Customer struct{ ID string }
				}
			}
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: admin}).JSON(t, &list)
			var guestID string
			for _, it := range list.Items {
				if it.ID == o.ID {
					guestID = it.Customer.ID
				}
			}
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/users/" + guestID, token: admin})
			var got struct {
				ID              string
				ShippingAddress struct{ Name, Country string } `json:"shipping_address"`
			}
			s.must(200, guestOrderReq(orderID, token)).JSON(t, &got)
			if got.ShippingAddress.Name != "" || got.ShippingAddress.Country != "DE" {
				t.Fatalf("after erasure the order reads %+v", got)
			}
			if res := s.do(req{method: "GET", path: "/api/v1/carts/" + c.ID, header: asGuest(c)}); res.Status != 404 {
				t.Fatalf("the erased guest's cart token still works: %d", res.Status)
			}
		})

		t.Run("an expired link is not_found", func(t *testing.T) {
			s.Clock.Advance(31 * 24 * time.Hour)
			if res := s.do(guestOrderReq(orderID, token)); res.Status != 404 {
				t.Fatalf("an expired link = %d %s", res.Status, res.Body)
			}
		})

		t.Run("guests whose carts expired unpaid are deleted; guests with orders stay", func(t *testing.T) {
			raw := rawDB(t, s.Config)
			count := func(withOrders bool) int {
				cond := "NOT EXISTS"
				if withOrders {
					cond = "EXISTS"
				}
				var n int
				if err := raw.QueryRow("SELECT COUNT(*) FROM users u WHERE u.guest = TRUE AND " + cond +
					" (SELECT 1 FROM orders o WHERE o.customer_id = u.id)").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			idle, buyers := count(false), count(true)
			if idle == 0 || buyers != 3 {
				t.Fatalf("before the purge: %d idle guests, %d with orders", idle, buyers)
			}
			if err := s.App.Purge(context.Background()); err != nil {
				t.Fatal(err)
			}
			if count(false) != 0 || count(true) != buyers {
				t.Fatalf("after the purge: %d idle guests (want 0), %d with orders (want %d)", count(false), count(true), buyers)
			}
		})
	})
}

func TestGuestCheckoutRateLimits(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, guestOn, func(c *config.Config) {
			c.RateLimit.Checkout = edge.Limit{Count: 1, Period: time.Hour, Burst: 3}
		})
		limited := 0
		for range 6 {
			res := s.do(req{method: "POST", path: "/api/v1/guest/carts"})
			switch res.Status {
			case 201:
			case 429:
				limited++
				if res.Code(t) != "rate_limited" || res.Header.Get("Retry-After") == "" {
					t.Fatalf("429 = %s", res.Body)
				}
			default:
				t.Fatalf("guest cart = %d %s", res.Status, res.Body)
			}
		}
		if limited == 0 {
			t.Fatal("guest cart creation is not rate limited per client address")
		}
		// Guest checkout takes the same budget.
		if res := s.do(req{method: "POST", path: "/api/v1/guest/carts/cart_aaaaaaaaaaaaaaaaaaaaaaaaaa/checkout",
			header: map[string]string{"Idempotency-Key": "k"}, body: map[string]any{}}); res.Status != 429 {
			t.Fatalf("guest checkout past the checkout budget = %d %s", res.Status, res.Body)
		}
	})
}
