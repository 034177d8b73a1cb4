package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// reviewGW is a processor that records each refund by its reference (the
// same reference is one refund, as Stripe's idempotency makes it) and can
// lose its answers: an outage after the refund was made.
type reviewGW struct {
	mu        sync.Mutex
	refunds   map[string]int64 // reference -> amount refunded at the processor
	outageRef map[string]bool  // refunded, but the answer is lost
	outageAll bool
}

func (g *reviewGW) Authorize(context.Context, payment.AuthorizeRequest) (string, error) {
	return "auth", nil
}
func (g *reviewGW) Capture(context.Context, string, money.Money) error { return nil }
func (g *reviewGW) Void(context.Context, string) error                 { return nil }
func (g *reviewGW) Refund(ctx context.Context, auth string, amt money.Money, ref string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refunds[ref] = amt.Amount
	if g.outageAll || g.outageRef[ref] {
		return "", dependency.Wrap(dependency.Payment, errors.New("timeout awaiting response headers"))
	}
	return "re_" + ref, nil
}
func (g *reviewGW) total() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var n int64
	for _, a := range g.refunds {
		n += a
	}
	return n
}

func staffCtx(now time.Time) context.Context {
	return access.WithPrincipal(context.Background(), &access.Principal{UserID: id.New(id.User), Roles: []access.Role{access.Admin},
		MFAEnabled: true, AuthenticatedAt: now})
}

// TestCancelDuringStaffRefund: staff A's refund is reserved (its processor
// call in flight) when staff B cancels the order. A's refund completes (the
// cancellation refunded only the rest), and a stale refund of another order
// is still recovered: one refund that cannot finish never holds back the
// others (found by review: both stuck before).
func TestCancelDuringStaffRefund(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		p := singleVariant("REV-1", money.Money{Amount: 1000, Currency: "EUR"}, 100)
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		o, s1 := paidOrder(t, db, "rev1@example.com", p.Variants[0].ID)
		o2, s2 := paidOrder(t, db, "rev2@example.com", p.Variants[0].ID)
		now := time.Now()
		gw := &reviewGW{refunds: map[string]int64{}}
		svc := order.NewService(db, gw, func() time.Time { return now }, time.Second)
		cur := o.Total.Currency

		// 1. staff A: reserve 300 (what Refund does before calling the processor).
		r1 := id.New(id.Refund)
		if _, pr, err := db.ReserveRefund(ctx, order.RefundReservation{OrderID: o.ID, RefundID: r1, Amount: money.Money{Amount: 300, Currency: cur},
			ActorID: s1.user.ID, Key: "rk-a", Hash: "h", At: now, LeaseUntil: now.Add(time.Second)}); err != nil || !pr.Fresh {
			t.Fatalf("reserve: %v %+v", err, pr)
		}
		// 2. staff B cancels meanwhile.
		c, _, err := svc.Cancel(staffCtx(now), o.ID)
		t.Logf("cancel: status=%s refunded=%d err=%v", c.Status, c.Refunded.Amount, err)
		// 3. staff A's processor call returns; completion.
		gw.Refund(ctx, o.AuthorizationID, money.Money{Amount: 300, Currency: cur}, r1)
		_, err = db.CompleteRefund(ctx, order.RefundCompletion{OrderID: o.ID, RefundID: r1, GatewayRefundID: "re_" + r1, ActorID: s1.user.ID, Key: "rk-a", At: now,
			Actor: order.Actor{Kind: order.ActorStaff}}, rec(order.ActionRefund, o.ID))
		if err != nil {
			t.Fatalf("completing the refund that ran during the cancellation: %v", err)
		}

		// 4. an unrelated staff refund on o2 left stale by a stopped server.
		r3 := id.New(id.Refund)
		if _, _, err := db.ReserveRefund(ctx, order.RefundReservation{OrderID: o2.ID, RefundID: r3, Amount: money.Money{Amount: 100, Currency: cur},
			ActorID: s2.user.ID, Key: "rk-b", Hash: "h", At: now.Add(2 * time.Second), LeaseUntil: now.Add(3 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		later := now.Add(time.Minute)
		svc2 := order.NewService(db, gw, func() time.Time { return later }, time.Second)
		for pass := 0; pass < 3; pass++ {
			n, err := svc2.RecoverRefunds(ctx)
			t.Logf("recovery pass %d: n=%d err=%v", pass, n, err)
		}
		var st string
		db.Writer().QueryRow("SELECT status FROM refunds WHERE id = $1", r3).Scan(&st)
		var st1 string
		db.Writer().QueryRow("SELECT status FROM refunds WHERE id = $1", r1).Scan(&st1)
		fin, _ := db.Order(ctx, "", o.ID)
		t.Logf("o: status=%s captured=%d refunded=%d; processor refunded %d; r1=%s; unrelated r3=%s", fin.Status, fin.Captured.Amount, fin.Refunded.Amount, gw.total()-100, st1, st)
		if st != "succeeded" {
			t.Errorf("the stale refund of another order was never recovered (status %q)", st)
		}
		if st1 != "succeeded" {
			t.Errorf("the refund that ran during the cancellation is %q", st1)
		}
		if fin.Status != order.StatusCancelled || fin.Refunded.Amount != fin.Captured.Amount || gw.total()-100 != fin.Captured.Amount {
			t.Errorf("order %s refunded %d of %d; the processor refunded %d", fin.Status, fin.Refunded.Amount, fin.Captured.Amount, gw.total()-100)
		}
	})
}

// TestRefundWithLostAnswerIsNotMadeTwice: the processor makes a refund but
// its answer is lost (a timeout). The refund stays pending with its key in
// progress (given back and retried under a new id before, it was refunded
// twice: found by review); recovery then finishes it under the same id,
// and the retry of the key gets the order.
func TestRefundWithLostAnswerIsNotMadeTwice(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		p := singleVariant("REV-2", money.Money{Amount: 1000, Currency: "EUR"}, 100)
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		o, _ := paidOrder(t, db, "rev3@example.com", p.Variants[0].ID)
		now := time.Now()
		gw := &reviewGW{refunds: map[string]int64{}, outageAll: true}
		svc := order.NewService(db, gw, func() time.Time { return now }, time.Minute)
		amt := money.Money{Amount: 400, Currency: o.Total.Currency}
		staff := staffCtx(now) // one staff member, one key
		_, _, err := svc.Refund(staff, "key-1", o.ID, &amt)
		t.Logf("first refund: %v", err)
		gw.mu.Lock()
		gw.outageAll = false
		gw.mu.Unlock()
		o1, _ := db.Order(ctx, "", o.ID)
		t.Logf("after outage: shop refunded=%d, processor refunded=%d", o1.Refunded.Amount, gw.total())
		_, replayed, err := svc.Refund(staff, "key-1", o.ID, &amt)
		o2, _ := db.Order(ctx, "", o.ID)
		t.Logf("retry same key: replayed=%v err=%v shop refunded=%d processor refunded=%d", replayed, err, o2.Refunded.Amount, gw.total())
		if gw.total() > o2.Refunded.Amount {
			t.Fatalf("the processor refunded %d, the shop records %d", gw.total(), o2.Refunded.Amount)
		}
		later := now.Add(2 * time.Minute)
		svc2 := order.NewService(db, gw, func() time.Time { return later }, time.Minute)
		if n, err := svc2.RecoverRefunds(ctx); err != nil || n != 1 {
			t.Fatalf("recovery: %d, %v", n, err)
		}
		done, replayed, err := svc2.Refund(staff, "key-1", o.ID, &amt)
		if err != nil || !replayed || done.Refunded.Amount != 400 || gw.total() != 400 {
			t.Fatalf("after recovery the retry = %v replayed=%v refunded %d; the processor refunded %d", err, replayed, done.Refunded.Amount, gw.total())
		}
	})
}
