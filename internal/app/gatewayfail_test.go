package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/payment/paymenttest"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// auditHas reports whether the trail holds a record of action whose detail contains detail.
func (s *server) auditHas(action, outcome, detail string) bool {
	s.t.Helper()
	found := false
	if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
		if r.Action == action && r.Outcome == outcome && strings.Contains(r.Detail, detail) {
			found = true
		}
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
	return found
}

// TestPaymentProcessorFailures runs the real server with a processor that
// fails on command (paymenttest.FailingGateway) and checks the compensations
// end to end: what the customer is answered, the stock, the orders, the
// audit trail and the processor's ledger. (A completion that fails after the
// capture, and abandoned checkouts whose void fails, are covered by
// checkout.TestCheckoutCompensations: the database cannot be made to fail at
// that one statement from here.)
func TestPaymentProcessorFailures(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		gw := paymenttest.NewFailingGateway()
		s := startServerOpts(t, db, []app.Option{app.WithGateway(gw)})
		admin := s.createAdmin("gw-admin@example.com")
		p := s.createProduct(admin, "GW-1", 10)
		pat := s.shopper("gw-pat@example.com", "4242424242424242")
		orders := func() int {
			var list struct{ Items []orderJSON }
			s.must(200, req{method: "GET", path: "/api/v1/orders", token: pat.token}).JSON(t, &list)
			return len(list.Items)
		}

		t.Run("a failed capture is voided and its stock given back; 503 with Retry-After, and the retry runs again", func(t *testing.T) {
			cart := s.cartWith(pat, 2, p.ID)
			gw.FailNext(paymenttest.Capture, 1)
			res := s.checkout(pat, "key-capture-fails", cart, "123")
			if res.Status != 503 || res.Code(t) != "unavailable" || res.Header.Get("Retry-After") == "" {
				t.Fatalf("checkout = %d %s (Retry-After %q), want 503 unavailable", res.Status, res.Body, res.Header.Get("Retry-After"))
			}
			if st := s.stock(p.ID); st != 10 {
				t.Errorf("stock %d, want 10", st)
			}
			if n := orders(); n != 0 {
				t.Errorf("%d orders, want none", n)
			}
			if l := gw.Ledger(); l != (paymenttest.Ledger{}) || gw.Succeeded(paymenttest.Void) != 1 {
				t.Errorf("ledger %+v, %d voids: want the authorization voided", l, gw.Succeeded(paymenttest.Void))
			}
			if !s.auditHas("order.checkout", audit.Failure, "capture failed") {
				t.Error("no audit record of the failed capture")
			}
			res = s.checkout(pat, "key-capture-fails", cart, "123")
			if res.Status != 201 {
				t.Fatalf("retry = %d %s, want 201", res.Status, res.Body)
			}
			if st, l := s.stock(p.ID), gw.Ledger(); st != 8 || l.Captured != 2*1999 || l.Held != 0 {
				t.Errorf("after the retry: stock %d, ledger %+v", st, l)
			}
		})

		t.Run("a declined authorization is 402 and reserves nothing", func(t *testing.T) {
			cart := s.cartWith(pat, 1, p.ID)
			gw.DeclineNextAuthorize()
			if res := s.checkout(pat, "key-declined-once", cart, "123"); res.Status != 402 || res.Code(t) != "payment_declined" {
				t.Fatalf("checkout = %d %s", res.Status, res.Body)
			}
			if st := s.stock(p.ID); st != 8 {
				t.Errorf("stock %d, want 8", st)
			}
		})

		t.Run("a refund the processor does not answer stays reserved and is made once; 503, then the retry gets it once recovery asked again", func(t *testing.T) {
			var list struct{ Items []orderJSON }
			s.must(200, req{method: "GET", path: "/api/v1/orders", token: pat.token}).JSON(t, &list)
			if len(list.Items) != 1 {
				t.Fatalf("%d orders", len(list.Items))
			}
			o := list.Items[0]
			refund := func() response {
				return s.do(req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: admin,
					header: map[string]string{"Idempotency-Key": "refund-fails-once"},
					body:   map[string]any{"amount": map[string]any{"amount": 1000, "currency": "EUR"}}})
			}
			gw.FailNext(paymenttest.Refund, 1)
			res := refund()
			if res.Status != 503 || res.Code(t) != "unavailable" || res.Header.Get("Retry-After") == "" {
				t.Fatalf("refund = %d %s, want 503 unavailable", res.Status, res.Body)
			}
			// The refund may have been made (a 503 is no answer): it stays
			// reserved under its key, and a retry now is told it runs.
			var after orderJSON
			s.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: pat.token}).JSON(t, &after)
			if after.Refunded.Amount != 1000 || after.Status != "paid" {
				t.Errorf("after the unanswered refund: %+v, want 1000 reserved", after)
			}
			if l := gw.Ledger(); l.Refunded != 0 {
				t.Errorf("ledger %+v", l)
			}
			if res := refund(); res.Status != 409 || res.Code(t) != "request_in_progress" {
				t.Fatalf("retry within the lease = %d %s", res.Status, res.Body)
			}
			// Once the lease has run out, the retry has recovery ask the
			// processor again under the same refund id, and answers.
			s.Clock.Advance(s.Config.PendingOrderTimeout + time.Second)
			if res := refund(); res.Status != 200 {
				t.Fatalf("retry = %d %s", res.Status, res.Body)
			} else if res.JSON(t, &after); after.Refunded.Amount != 1000 || after.Status != "partially_refunded" {
				t.Errorf("after the retry: %+v", after)
			}
			if l := gw.Ledger(); l.Refunded != 1000 {
				t.Errorf("ledger %+v, want 1000 refunded", l)
			}
			if !s.auditHas("order.refund", audit.Success, "amount=1000") {
				t.Error("no audit record of the refund")
			}
		})
	})
}

// TestCheckoutOnStripeMock pays and refunds through the real server with
// payment-gateway=stripe, against stripe-mock (Stripe's mock of its API,
// which checks each request against Stripe's OpenAPI document). The card
// number goes from the vault to Stripe only: it is not in the server's log.
func TestCheckoutOnStripeMock(t *testing.T) {
	base := testenv.StartStripeMock(t)
	db := testenv.Databases(t)[0]
	s := startServer(t, db, func(c *config.Config) {
		c.PaymentGateway, c.StripeSecretKey, c.StripeAPIBase = config.PaymentStripe, "sk_test_bulwarkE2E", base
	})
	admin := s.createAdmin("stripe-admin@example.com")
	p := s.createProduct(admin, "ST-1", 5)
	pat := s.shopper("stripe-pat@example.com", "4242424242424242")
	res := s.checkout(pat, "key-stripe-mock", s.cartWith(pat, 1, p.ID), "123")
	if res.Status != 201 {
		t.Fatalf("checkout = %d %s", res.Status, res.Body)
	}
	var o orderJSON
	res.JSON(t, &o)
	if s.stock(p.ID) != 4 || o.Status != "paid" {
		t.Fatalf("order %+v, stock %d", o, s.stock(p.ID))
	}
	res = s.do(req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: admin,
		header: map[string]string{"Idempotency-Key": "refund-stripe-mock"}, body: map[string]any{}})
	if res.Status != 200 {
		t.Fatalf("refund = %d %s", res.Status, res.Body)
	}
	if strings.Contains(s.Logs.String(), "4242424242424242") || strings.Contains(s.Logs.String(), "sk_test_bulwarkE2E") {
		t.Fatal("the card number or the Stripe key is in the log")
	}
}
