package stripe_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/payment/stripe/stripetest"
)

// TestLedgerKeepsTheBooks runs the adapter against stripetest.Ledger, the
// double with a memory that the crash tests reconcile against: a retried
// capture or refund (the same Idempotency-Key) is one operation, a second
// capture of a captured intent is refused, a void after a capture falls to a
// refund, a refund past the capture is refused, and a declined card holds
// nothing.
func TestLedgerKeepsTheBooks(t *testing.T) {
	l := stripetest.Start(t)
	g, logs := newGateway(t, l.URL)
	ctx := context.Background()

	auth, err := g.Authorize(ctx, authorizeRequest("ord_ledger1"))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	again, err := g.Authorize(ctx, authorizeRequest("ord_ledger1"))
	if err != nil || again != auth {
		t.Fatalf("a retried authorization = %q, %v; want the same intent %q", again, err, auth)
	}
	for range 2 { // the retry carries the same key: one capture
		if err := g.Capture(ctx, auth, eur(1234)); err != nil {
			t.Fatalf("capture: %v", err)
		}
	}
	if err := g.Void(ctx, auth); err == nil {
		t.Fatal("a captured intent was voided")
	}
	r1, err := g.Refund(ctx, auth, eur(500), "ref_ledger1")
	if err != nil {
		t.Fatalf("refund: %v", err)
	}
	if r, err := g.Refund(ctx, auth, eur(500), "ref_ledger1"); err != nil || r != r1 {
		t.Fatalf("a retried refund = %q, %v; want %q", r, err, r1)
	}
	if _, err := g.Refund(ctx, auth, eur(800), "ref_ledger2"); err == nil {
		t.Fatal("a refund past the capture was made")
	}
	req := authorizeRequest("ord_ledger2")
	req.Card.Number = stripetest.DeclinedCard
	if _, err := g.Authorize(ctx, req); !errors.Is(err, payment.ErrDeclined) {
		t.Fatalf("declined card: %v", err)
	}

	in := l.Intents()
	if len(in) != 1 {
		t.Fatalf("%d intents, want 1: %+v", len(in), in)
	}
	if got := in[0]; got.Reference != "ord_ledger1" || got.Captures != 1 || got.Captured != 1234 || got.Refunded != 500 || len(got.Refunds) != 1 {
		t.Fatalf("intent %+v", got)
	}
	noCardData(t, logs.String())
}

// TestAuthorizeRecordsBeforeHolding: with AuthorizeRequest.Record the
// intent's id reaches the shop before anything is held, and a shop that
// cannot record it gets nothing held (the intent is cancelled).
func TestAuthorizeRecordsBeforeHolding(t *testing.T) {
	l := stripetest.Start(t)
	g, _ := newGateway(t, l.URL)
	ctx := context.Background()

	req := authorizeRequest("ord_record1")
	var recorded string
	req.Record = func(_ context.Context, id string) error {
		for _, in := range l.Intents() {
			if in.ID == id && in.Status != "requires_confirmation" {
				t.Errorf("intent %s is %s when the shop records it", id, in.Status)
			}
		}
		recorded = id
		return nil
	}
	auth, err := g.Authorize(ctx, req)
	if err != nil || auth != recorded {
		t.Fatalf("authorize = %q, %v; recorded %q", auth, err, recorded)
	}

	failing := authorizeRequest("ord_record2")
	failing.Record = func(context.Context, string) error { return errors.New("database down") }
	if _, err := g.Authorize(ctx, failing); err == nil {
		t.Fatal("authorized although the shop could not record it")
	}
	declined := authorizeRequest("ord_record3")
	declined.Card.Number = stripetest.DeclinedCard
	declined.Record = func(context.Context, string) error { return nil }
	if _, err := g.Authorize(ctx, declined); !errors.Is(err, payment.ErrDeclined) {
		t.Fatalf("declined card: %v", err)
	}
	for _, in := range l.Intents() {
		want := map[string]string{"ord_record1": "requires_capture", "ord_record2": "canceled", "ord_record3": "requires_payment_method"}[in.Reference]
		if in.Status != want {
			t.Fatalf("intent of %s is %s, want %s", in.Reference, in.Status, want)
		}
	}
}
