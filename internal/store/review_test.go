package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestReviewQueue: an order checked out for review is kept with its risk,
// listed in the queue, approved or rejected once (each with its label, in
// the transaction of its transition), and labelled by staff; on both engines.
func TestReviewQueue(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		p := singleVariant("REVIEW-1", money.Money{Amount: 1000, Currency: "EUR"}, 100)
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		risk := &order.Risk{Score: 70, Decision: order.DecisionReview, Reasons: []string{"rule new_account_big_order"},
			RulesVersion: "r1", Features: map[string]float64{"amount": 10, "account_age_days": 0.5}}
		checkoutFor := func(email string, a order.Action, r *order.Risk) order.Order {
			t.Helper()
			s := newShopper(t, db, email, p.Variants[0].ID, 1)
			pending, _, err := db.Reserve(ctx, pricedAt(t, db, s.reservation("k-"+email), 1000))
			if err != nil {
				t.Fatal(err)
			}
			captured := pending.Total
			if a != order.ActPay {
				captured.Amount = 0
			}
			o, err := db.Complete(ctx, checkout.Completion{OrderID: pending.ID, CustomerID: s.user.ID, CartID: s.cart.ID, Key: "k-" + email,
				AuthorizationID: "auth", Captured: captured, Action: a, At: time.Now(), Risk: r}, rec(order.ActionCheckout, pending.ID))
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		held := checkoutFor("held1@example.com", order.ActHold, risk)
		held2 := checkoutFor("held2@example.com", order.ActHold, risk)
		paid := checkoutFor("paid@example.com", order.ActPay, &order.Risk{Score: 3, Decision: order.DecisionAllow, Reasons: []string{}})
		if held.Status != order.StatusPendingReview || held.Captured.Amount != 0 {
			t.Fatalf("held order %s captured %d", held.Status, held.Captured.Amount)
		}
		got, err := db.Order(ctx, "", held.ID)
		if err != nil || got.Risk == nil || got.Risk.Score != 70 || got.Risk.Features["account_age_days"] != 0.5 || got.Risk.RulesVersion != "r1" {
			t.Fatalf("the risk read back: %+v (%v)", got.Risk, err)
		}

		// The account history fraud scoring reads: the customer's orders in
		// the currency, their average total, the order being scored left out.
		h, err := db.CheckoutHistory(ctx, paid.CustomerID, "EUR", "")
		if err != nil || h.Orders != 1 || h.Average != paid.Total.Amount || h.Since.IsZero() {
			t.Fatalf("history %+v (%v)", h, err)
		}
		if h, _ := db.CheckoutHistory(ctx, paid.CustomerID, "EUR", paid.ID); h.Orders != 0 || h.Average != 0 {
			t.Fatalf("history leaving the order out %+v", h)
		}
		if h, _ := db.CheckoutHistory(ctx, paid.CustomerID, "USD", ""); h.Orders != 0 {
			t.Fatalf("history in another currency %+v", h)
		}
		if h, err := db.CheckoutHistory(ctx, "usr_nobody", "EUR", ""); err != nil || h.Orders != 0 || !h.Since.IsZero() {
			t.Fatalf("an unknown customer's history %+v (%v)", h, err)
		}
		// The email's blind index comes with the history, as the account keeps
		// it (never the address); read alone it is the same.
		ix, err := db.AccountEmailIndex(ctx, paid.CustomerID)
		if err != nil || ix == "" || strings.Contains(ix, "@") || h.EmailIndex != ix {
			t.Fatalf("email index %q alone, %q with the history (%v)", ix, h.EmailIndex, err)
		}
		if ix, err := db.AccountEmailIndex(ctx, "usr_nobody"); err != nil || ix != "" {
			t.Fatalf("an unknown account's email index %q (%v)", ix, err)
		}

		now := time.Now()
		svc := order.NewService(db, &reviewGW{refunds: map[string]int64{}}, func() time.Time { return now }, time.Minute)
		staff := staffCtx(now)
		queue, _, err := svc.Reviews(staff, 100, "")
		if err != nil || len(queue) != 2 || queue[0].ID > queue[1].ID {
			t.Fatalf("the queue: %d orders (%v)", len(queue), err)
		}
		for _, o := range queue {
			if o.Status != order.StatusPendingReview {
				t.Fatalf("the queue lists a %s order", o.Status)
			}
		}

		t.Run("approve and reject race: exactly one decides", func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, decide := range []func(context.Context, string) (order.Order, bool, error){svc.Approve, svc.Reject} {
				wg.Go(func() { _, _, errs[i] = decide(staff, held.ID) })
			}
			wg.Wait()
			o, err := db.Order(ctx, "", held.ID)
			if err != nil {
				t.Fatal(err)
			}
			wins := 0
			for _, err := range errs {
				if err == nil {
					wins++
				}
			}
			if wins != 1 {
				t.Fatalf("%d decisions succeeded (%v); the order is %s", wins, errs, o.Status)
			}
			switch {
			case o.Status == order.StatusPaid && o.Label == order.LabelLegitimate && o.Captured.Amount == o.Total.Amount:
			case o.Status == order.StatusCancelled && o.Label == order.LabelFraud && o.Captured.Amount == 0:
			default:
				t.Fatalf("after the race: %s, label %q, captured %d", o.Status, o.Label, o.Captured.Amount)
			}
		})

		t.Run("a decision taken is answered again; the other one is refused", func(t *testing.T) {
			stock := func() int64 {
				pr, err := db.Product(ctx, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				return pr.First().Stock
			}
			before := stock()
			o, done, err := svc.Reject(staff, held2.ID)
			if err != nil || done || o.Status != order.StatusCancelled || o.Label != order.LabelFraud {
				t.Fatalf("reject: %s %q done %v (%v)", o.Status, o.Label, done, err)
			}
			if o, done, err = svc.Reject(staff, held2.ID); err != nil || !done || o.Status != order.StatusCancelled {
				t.Fatalf("reject again: %s done %v (%v)", o.Status, done, err)
			}
			var e *apperr.Error
			if _, _, err := svc.Approve(staff, held2.ID); !errors.As(err, &e) || e.Code != order.CodeIllegalTransition {
				t.Fatalf("approving a rejected order: %v", err)
			}
			if _, _, err := svc.Approve(staff, paid.ID); !errors.As(err, &e) || e.Code != order.CodeIllegalTransition {
				t.Fatalf("approving an order never held: %v", err)
			}
			// The rejected order's unit is back on the shelf, once.
			if after := stock(); after != before+1 {
				t.Fatalf("stock %d after the rejection, %d before", after, before)
			}
		})

		t.Run("staff label any order, again and again; bad labels and unknown orders change nothing", func(t *testing.T) {
			o, err := svc.Label(staff, paid.ID, order.LabelFraud)
			if err != nil || o.Label != order.LabelFraud {
				t.Fatalf("label: %q (%v)", o.Label, err)
			}
			if o, err = svc.Label(staff, paid.ID, order.LabelLegitimate); err != nil || o.Label != order.LabelLegitimate {
				t.Fatalf("label again: %q (%v)", o.Label, err)
			}
			if _, err := svc.Label(staff, paid.ID, "chargeback"); apperr.Code(err) != apperr.CodeValidation {
				t.Fatalf("a bad label: %v", err)
			}
			if _, err := svc.Label(staff, "ord_doesnotexistdoesnotexist00", order.LabelFraud); !errors.Is(err, order.ErrNotFound) {
				t.Fatalf("an unknown order: %v", err)
			}
			if o, _ := db.Order(ctx, "", paid.ID); o.Label != order.LabelLegitimate {
				t.Fatalf("after refusals the label is %q", o.Label)
			}
		})
	})
}
