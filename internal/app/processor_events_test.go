package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/payment/stripe/stripetest"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestStripeEvents posts Stripe's events to the shop as Stripe would, and as
// an attacker would: a signed event about an order's payment is taken and
// audited against the order, once however often it is delivered; a forged,
// altered, replayed (signed long ago) or oversized one is refused with a
// problem and leaves nothing; a shop not paying through Stripe has no such
// route.
func TestStripeEvents(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		ledger := stripetest.Start(t)
		const secret = "whsec_bulwarkE2E"
		s := startServer(t, db, func(c *config.Config) {
			c.PaymentGateway, c.StripeSecretKey, c.StripeAPIBase, c.StripeWebhookSecret = config.PaymentStripe, "sk_test_bulwarkEvents", ledger.URL, secret
		})
		admin := s.createAdmin("events-admin@example.com")
		p := s.createProduct(admin, "EV-1", 5)
		pat := s.shopper("events-pat@example.com", "4242424242424242")
		var o orderJSON
		s.must(201, checkoutReq(pat, "key-events-1", s.cartWith(pat, 1, p.ID), "123")).JSON(t, &o)
		var intent string
		for _, in := range ledger.Intents() {
			if in.Reference == o.ID {
				intent = in.ID
			}
		}
		body := fmt.Sprintf(`{"id":"evt_dispute_%s","object":"event","type":"charge.dispute.created","created":%d,"api_version":"2025-01-27.acacia",
"data":{"object":{"id":"dp_1","object":"dispute","amount":1999,"currency":"eur","reason":"fraudulent","payment_intent":%q}}}`, o.ID, time.Now().Unix(), intent)
		big := strings.Replace(body, `"reason":"fraudulent"`, `"reason":"fraudulent","note":"`+strings.Repeat("<script>alert(1)</script> ", 800)+`"`, 1)
		post := func(body, header string) response {
			return s.do(req{method: "POST", path: "/api/v1/payment-events/stripe", body: body,
				header: map[string]string{"Content-Type": "application/json", "Stripe-Signature": header}})
		}
		sign := func(body, secret string, at time.Time) string {
			return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: secret, Timestamp: at}).Header
		}
		audited := func() int {
			n := 0
			if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
				if r.Action == "payment.processor_event" && r.Target == o.ID && strings.Contains(r.Detail, "type=charge.dispute.created") {
					n++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return n
		}

		for _, c := range []struct {
			name, body, header string
			status             int
			code               string
		}{
			{"no signature", body, "", 400, "processor_event_unverified"},
			{"signed with another secret", body, sign(body, "whsec_attacker", time.Now()), 400, "processor_event_unverified"},
			{"altered after signing", strings.Replace(body, "fraudulent", "duplicate", 1), sign(body, secret, time.Now()), 400, "processor_event_unverified"},
			{"a delivery recorded ten minutes ago, replayed", body, sign(body, secret, time.Now().Add(-10*time.Minute)), 400, "processor_event_too_old"},
			{"larger than any event", strings.Repeat(" ", 70<<10) + body, sign(strings.Repeat(" ", 70<<10)+body, secret, time.Now()), 413, "payload_too_large"},
			// A stranger's large body is refused on its signature before the
			// firewall spends CPU on it (the attack in it would be 403 there).
			{"a large unsigned body", big, "", 400, "processor_event_unverified"},
		} {
			res := post(c.body, c.header)
			if res.Status != c.status || res.Code(t) != c.code {
				t.Fatalf("%s: %d %s; want %d %s", c.name, res.Status, res.Body, c.status, c.code)
			}
		}
		if n := audited(); n != 0 {
			t.Fatalf("%d events recorded from refused deliveries", n)
		}

		res := post(body, sign(body, secret, time.Now()))
		if res.Status != 200 || !strings.Contains(string(res.Body), `"duplicate":false`) {
			t.Fatalf("signed event = %d %s", res.Status, res.Body)
		}
		// Stripe delivers again (each attempt signed anew): taken, not acted on twice.
		res = post(body, sign(body, secret, time.Now()))
		if res.Status != 200 || !strings.Contains(string(res.Body), `"duplicate":true`) {
			t.Fatalf("repeated event = %d %s", res.Status, res.Body)
		}
		if n := audited(); n != 1 {
			t.Fatalf("the dispute is in the trail %d times, want once", n)
		}
		// A large event Stripe signed is read (another event id).
		large := strings.Replace(strings.Replace(body, "evt_dispute_", "evt_large_", 1), `"reason":"fraudulent"`,
			`"reason":"fraudulent","evidence_details":{"note":"`+strings.Repeat("lorem ipsum ", 1500)+`"}`, 1)
		if res := post(large, sign(large, secret, time.Now())); res.Status != 200 || len(large) < 16<<10 {
			t.Fatalf("a signed %d-byte event = %d %s", len(large), res.Status, res.Body)
		}

		plain := startServer(t, db)
		res = plain.do(req{method: "POST", path: "/api/v1/payment-events/stripe", body: body,
			header: map[string]string{"Content-Type": "application/json", "Stripe-Signature": sign(body, secret, time.Now())}})
		if res.Status != 404 {
			t.Fatalf("a simulator shop took a Stripe event: %d %s", res.Status, res.Body)
		}
	})
}
