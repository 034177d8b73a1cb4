package checkout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/payment/paymenttest"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

func failingService(st *fakeStore, now time.Time) (*checkout.Service, *paymenttest.FailingGateway) {
	gw := paymenttest.NewFailingGateway()
	return checkout.NewService(checkout.Deps{Store: st, Carts: pricedCarts{oneLine()}, Methods: fakeMethods{}, Cards: &countingCards{},
		Gateway: gw, Now: func() time.Time { return now }, Instance: "ins_test", Lease: 30 * time.Second}), gw
}

func fresh() *fakeStore {
	return &fakeStore{reserve: []reserveReply{{prior: order.Prior{Fresh: true}}}}
}

// TestCheckoutCompensations makes the processor fail at each step of the
// money path and checks what the checkout gives back: the processor's
// ledger (paymenttest.FailingGateway), the released reservation, and that no
// order is completed.
func TestCheckoutCompensations(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	t.Run("a failed capture voids the authorization and releases the reservation; the answer is an outage", func(t *testing.T) {
		st := fresh()
		svc, gw := failingService(st, now)
		gw.FailNext(paymenttest.Capture, 1)
		_, _, err := svc.Checkout(customer(), "key-capture-fails-0001", request())
		if name, outage := dependency.Classify(err); !outage || name != dependency.Payment {
			t.Fatalf("err %v: want an outage of the payment processor (503)", err)
		}
		if gw.Succeeded(paymenttest.Void) != 1 || gw.Calls(paymenttest.Refund) != 0 {
			t.Errorf("voids %d, refunds tried %d: want one void, no refund", gw.Succeeded(paymenttest.Void), gw.Calls(paymenttest.Refund))
		}
		if l := gw.Ledger(); l != (paymenttest.Ledger{}) {
			t.Errorf("ledger %+v: want nothing held or taken", l)
		}
		if len(st.released) != 1 || len(st.completed) != 0 {
			t.Errorf("released %v, completed %v", st.released, st.completed)
		}
	})

	t.Run("an authorization the shop cannot record holds nothing, and the reservation is released", func(t *testing.T) {
		st := fresh()
		st.setAuthErr = errors.New("database gone")
		svc, gw := failingService(st, now)
		if _, _, err := svc.Checkout(customer(), "key-record-fails-0001", request()); err == nil {
			t.Fatal("the checkout succeeded without recording its authorization")
		}
		if l := gw.Ledger(); l != (paymenttest.Ledger{}) {
			t.Errorf("ledger %+v: want nothing held or taken", l)
		}
		if len(st.released) != 1 || len(st.completed) != 0 {
			t.Errorf("released %v, completed %v", st.released, st.completed)
		}
	})

	t.Run("an authorization whose answer was lost after it was recorded is voided before the reservation is released", func(t *testing.T) {
		st := fresh()
		svc, gw := failingService(st, now)
		gw.LoseNextAuthorizeAnswer()
		if _, _, err := svc.Checkout(customer(), "key-answer-lost-0001", request()); err == nil {
			t.Fatal("the checkout succeeded without an authorization")
		}
		if gw.Succeeded(paymenttest.Void) != 1 || gw.Ledger() != (paymenttest.Ledger{}) {
			t.Errorf("voids %d, ledger %+v: want the hold voided", gw.Succeeded(paymenttest.Void), gw.Ledger())
		}
		if len(st.released) != 1 || len(st.completed) != 0 {
			t.Errorf("released %v, completed %v", st.released, st.completed)
		}
	})

	t.Run("a failed void after a failed capture tries a refund, and still releases the reservation", func(t *testing.T) {
		st := fresh()
		svc, gw := failingService(st, now)
		gw.FailNext(paymenttest.Capture, 1)
		gw.FailNext(paymenttest.Void, 1)
		_, _, err := svc.Checkout(customer(), "key-void-fails-000001", request())
		if _, outage := dependency.Classify(err); !outage {
			t.Fatalf("err %v: want an outage", err)
		}
		if gw.Calls(paymenttest.Void) != 1 || gw.Calls(paymenttest.Refund) != 1 {
			t.Errorf("voids tried %d, refunds tried %d: want one of each", gw.Calls(paymenttest.Void), gw.Calls(paymenttest.Refund))
		}
		// Nothing was captured, so the refund finds nothing to give back: the
		// hold stays at the processor until it lapses there; no money moved.
		if l := gw.Ledger(); l.Captured != 0 || l.Refunded != 0 || l.Held != 1 {
			t.Errorf("ledger %+v", l)
		}
		if len(st.released) != 1 || len(st.completed) != 0 {
			t.Errorf("released %v, completed %v", st.released, st.completed)
		}
	})

	t.Run("a completion refused because the order is no longer pending refunds the capture", func(t *testing.T) {
		st := fresh()
		st.completeErr = order.ErrNotFound // recovery released it under a very slow request
		svc, gw := failingService(st, now)
		_, _, err := svc.Checkout(customer(), "key-complete-fails-01", request())
		if err == nil {
			t.Fatal("checkout succeeded")
		}
		if l := gw.Ledger(); l.Captured != 1000 || l.Refunded != 1000 || l.Held != 0 {
			t.Errorf("ledger %+v: want 1000 captured and 1000 refunded", l)
		}
		if len(st.released) != 1 {
			t.Errorf("released %v", st.released)
		}
	})

	t.Run("a completion of unknown outcome is left to recovery, not refunded at once", func(t *testing.T) {
		st := fresh()
		st.completeErr = errors.New("the database went away") // at COMMIT: it may have committed
		svc, gw := failingService(st, now)
		if _, _, err := svc.Checkout(customer(), "key-complete-fails-02", request()); err == nil {
			t.Fatal("checkout succeeded")
		}
		if l := gw.Ledger(); l.Captured != 1000 || l.Refunded != 0 {
			t.Errorf("ledger %+v: a paid order may stand; want the capture kept", l)
		}
		if len(st.released) != 0 {
			t.Errorf("released %v: recovery decides once the lease runs out", st.released)
		}
	})

	t.Run("an abandoned checkout whose void fails is refunded, once, under the order's reference", func(t *testing.T) {
		st := &fakeStore{}
		svc, gw := failingService(st, now)
		// The stopped server had authorized and captured before it stopped.
		total := money.Money{Amount: 1000, Currency: "EUR"}
		authID, err := gw.Authorize(context.Background(), payment.AuthorizeRequest{Card: vault.Card{Number: "4242424242424242"}, CVC: "123", Amount: total})
		if err != nil {
			t.Fatal(err)
		}
		if err := gw.Capture(context.Background(), authID, total); err != nil {
			t.Fatal(err)
		}
		orderID := id.New(id.Order)
		st.expired = []checkout.Abandoned{{OrderID: orderID, AuthorizationID: authID, Key: "key-abandoned-000001", Total: total}}
		gw.FailNext(paymenttest.Void, 1)
		n, err := svc.RecoverAbandoned(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("recovered %d: %v", n, err)
		}
		if l := gw.Ledger(); l.Captured != 1000 || l.Refunded != 1000 {
			t.Errorf("ledger %+v: want the capture refunded", l)
		}
		if len(st.released) != 1 || st.released[0] != orderID {
			t.Errorf("released %v", st.released)
		}
	})

	t.Run("an abandoned checkout whose payment cannot be given back stays for the next sweep", func(t *testing.T) {
		st := &fakeStore{}
		svc, gw := failingService(st, now)
		st.expired = []checkout.Abandoned{{OrderID: id.New(id.Order), AuthorizationID: "sim_auth_00", Key: "key-abandoned-000002",
			Total: money.Money{Amount: 1000, Currency: "EUR"}}}
		gw.FailNext(paymenttest.Void, 1)
		gw.FailNext(paymenttest.Refund, 1)
		if n, err := svc.RecoverAbandoned(context.Background()); err == nil || n != 0 {
			t.Fatalf("recovered %d, err %v: want an error and nothing recovered", n, err)
		}
		if len(st.released) != 0 {
			t.Errorf("released %v: the stock must stay reserved while the payment is not given back", st.released)
		}
	})
}
