package stripe_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/payment/stripe"
)

const whsec = "whsec_bulwarkTestSecret"

func signed(t testing.TB, body string, secret string, at time.Time) string {
	t.Helper()
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: secret, Timestamp: at}).Header
}

const disputeEvent = `{"id":"evt_1","object":"event","type":"charge.dispute.created","created":1764633600,
"data":{"object":{"id":"dp_1","object":"dispute","payment_intent":"pi_123"}}}`

const canceledEvent = `{"id":"evt_2","object":"event","type":"payment_intent.canceled","created":1764633600,
"data":{"object":{"id":"pi_456","object":"payment_intent","status":"canceled"}}}`

// TestEventVerifier: an event is taken only with Stripe's signature over
// its exact body, made with the endpoint's secret, less than five minutes
// ago; it names the PaymentIntent it is about.
func TestEventVerifier(t *testing.T) {
	v, err := stripe.NewEventVerifier(whsec)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, c := range []struct{ body, auth string }{{disputeEvent, "pi_123"}, {canceledEvent, "pi_456"}} {
		ev, err := v.Verify([]byte(c.body), signed(t, c.body, whsec, now))
		if err != nil || ev.AuthorizationID != c.auth || ev.ID == "" || ev.Type == "" {
			t.Fatalf("verify = %+v, %v; want the event about %s", ev, err, c.auth)
		}
	}
	refused := []struct {
		name, body, header string
		want               error
	}{
		{"no signature", disputeEvent, "", payment.ErrEventUnverified},
		{"another secret's signature", disputeEvent, signed(t, disputeEvent, "whsec_other", now), payment.ErrEventUnverified},
		{"a changed body", strings.Replace(disputeEvent, "pi_123", "pi_999", 1), signed(t, disputeEvent, whsec, now), payment.ErrEventUnverified},
		{"a replay signed ten minutes ago", disputeEvent, signed(t, disputeEvent, whsec, now.Add(-10*time.Minute)), payment.ErrEventTooOld},
		{"a malformed header", disputeEvent, "t=abc,v1=zz", payment.ErrEventUnverified},
		{"a signed body that is no event", `{"hello":1}`, signed(t, `{"hello":1}`, whsec, now), payment.ErrEventUnverified},
	}
	for _, c := range refused {
		if _, err := v.Verify([]byte(c.body), c.header); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := stripe.NewEventVerifier(""); err == nil {
		t.Error("a verifier without a secret was made")
	}
}

// FuzzEventVerifier: whatever the body and header, Verify never panics and
// never takes an event that was not signed with the secret.
func FuzzEventVerifier(f *testing.F) {
	f.Add([]byte(disputeEvent), signed(f, disputeEvent, "whsec_other", time.Now()))
	f.Add([]byte(canceledEvent), "t=1,v1=00")
	f.Add([]byte("{}"), "")
	v, err := stripe.NewEventVerifier(whsec)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		if _, err := v.Verify(body, header); err == nil {
			t.Fatalf("an event without this secret's signature was taken: %q %q", body, header)
		}
	})
}
