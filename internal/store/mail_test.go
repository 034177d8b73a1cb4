package store_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/ordermail"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// paidOrder checks out one unit of variant for a new shopper and returns the order.
func paidOrder(t *testing.T, db *store.DB, email, variant string) (order.Order, shopper) {
	t.Helper()
	ctx := context.Background()
	s := newShopper(t, db, email, variant, 1)
	r := pricedAt(t, db, s.reservation("k-"+email), 1000)
	pending, _, err := db.Reserve(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	paid, err := db.Complete(ctx, checkout.Completion{OrderID: pending.ID, CustomerID: s.user.ID, CartID: s.cart.ID, Key: "k-" + email,
		AuthorizationID: "auth", Captured: pending.Total, At: time.Now()}, rec(order.ActionCheckout, pending.ID))
	if err != nil {
		t.Fatal(err)
	}
	return paid, s
}

// TestMailQueue: a checkout queues its confirmation with no webhook
// subscribed, holding ids only; jobs are leased to one claimer at a time,
// retried after their back-off, not recorded by a claimer that lost its
// lease; the content is read at sending, and holds no recipient once the
// customer is erased.
func TestMailQueue(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		p := singleVariant("MAILQ-1", money.Money{Amount: 1000, Currency: "EUR"}, 100)
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		o, s := paidOrder(t, db, "mailq@example.com", p.Variants[0].ID)
		now := time.Now().UTC().Add(time.Second)

		jobs, err := db.ClaimMailJobs(ctx, "ins_a", now, now.Add(time.Minute), 10)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("jobs = %+v, %v", jobs, err)
		}
		j := jobs[0]
		if j.Kind != ordermail.Confirmation || j.OrderID != o.ID || j.RefID != "" || j.Attempts != 0 || j.EventID == "" {
			t.Fatalf("job %+v", j)
		}
		var stored string
		if err := db.Writer().QueryRow("SELECT kind || order_id || ref_id || event_id || last_error FROM mail_jobs WHERE id = $1", j.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != j.Kind+j.OrderID+j.EventID {
			t.Fatalf("the job row holds %q", stored)
		}
		if again, _ := db.ClaimMailJobs(ctx, "ins_b", now, now.Add(time.Minute), 10); len(again) != 0 {
			t.Fatalf("a leased job was claimed again: %+v", again)
		}
		c, err := db.MailContent(ctx, j)
		if err != nil || c.Order.CustomerEmail != "mailq@example.com" || c.Order.Total != o.Total || len(c.Order.Lines) != 1 {
			t.Fatalf("content %+v, %v", c, err)
		}

		// A failed send: due again after the back-off only.
		if err := db.FinishMailJob(ctx, ordermail.Result{JobID: j.ID, Owner: "ins_a", Status: ordermail.StatusPending, Attempts: 1, At: now,
			NextAttemptAt: now.Add(30 * time.Second), Error: "connection refused"}); err != nil {
			t.Fatal(err)
		}
		if early, _ := db.ClaimMailJobs(ctx, "ins_b", now.Add(29*time.Second), now.Add(time.Minute), 10); len(early) != 0 {
			t.Fatalf("claimed before its next attempt: %+v", early)
		}
		retry, err := db.ClaimMailJobs(ctx, "ins_b", now.Add(31*time.Second), now.Add(2*time.Minute), 10)
		if err != nil || len(retry) != 1 || retry[0].ID != j.ID || retry[0].Attempts != 1 {
			t.Fatalf("retry = %+v, %v", retry, err)
		}
		// ins_a's late result is not recorded: ins_b holds the lease.
		if err := db.FinishMailJob(ctx, ordermail.Result{JobID: j.ID, Owner: "ins_a", Status: ordermail.StatusSent, Attempts: 2, At: now}); err != nil {
			t.Fatal(err)
		}
		if pending, _, _ := db.MailBacklog(ctx); pending != 1 {
			t.Fatalf("%d pending after a lost lease's result, want 1", pending)
		}
		if err := db.FinishMailJob(ctx, ordermail.Result{JobID: j.ID, Owner: "ins_b", Status: ordermail.StatusSent, Attempts: 2, At: now}); err != nil {
			t.Fatal(err)
		}
		if pending, failed, err := db.MailBacklog(ctx); pending != 0 || failed != 0 || err != nil {
			t.Fatalf("backlog %d %d %v", pending, failed, err)
		}
		if late, _ := db.ClaimMailJobs(ctx, "ins_c", now.Add(time.Hour), now.Add(2*time.Hour), 10); len(late) != 0 {
			t.Fatalf("a sent job was claimed: %+v", late)
		}

		// Erased: the order stays, its recipient is gone.
		if _, err := db.Erase(ctx, s.user.ID, rec("user.erase", s.user.ID)); err != nil {
			t.Fatal(err)
		}
		if c, err := db.MailContent(ctx, j); err != nil || c.Order.CustomerEmail != "" || c.Order.CustomerName != "" || c.Order.ID != o.ID {
			t.Fatalf("content after erasure %+v, %v", c, err)
		}

		// Sent jobs go with the retention purge.
		if _, err := db.Purge(ctx, now.Add(time.Hour), store.Retention{IdempotencyKeys: 24 * time.Hour, AbandonedCarts: 24 * time.Hour, SentMail: time.Minute}); err != nil {
			t.Fatal(err)
		}
		var left int
		if err := db.Writer().QueryRow("SELECT COUNT(*) FROM mail_jobs WHERE id = $1", j.ID).Scan(&left); err != nil || left != 0 {
			t.Fatalf("%d sent jobs outlived retention (%v)", left, err)
		}
	})
}

// TestMailClaimsAreExclusive: four claimers at once take each of 12 jobs once.
func TestMailClaimsAreExclusive(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		p := singleVariant("MAILQ-RACE", money.Money{Amount: 1000, Currency: "EUR"}, 100)
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		const n = 12
		for i := range n {
			paidOrder(t, db, "race"+strconv.Itoa(i)+"@example.com", p.Variants[0].ID)
		}
		now := time.Now().UTC().Add(time.Second)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for {
					jobs, err := db.ClaimMailJobs(ctx, "ins_"+strconv.Itoa(w), now, now.Add(time.Minute), 2)
					if err != nil {
						t.Error(err)
						return
					}
					if len(jobs) == 0 {
						return
					}
					mu.Lock()
					for _, j := range jobs {
						seen[j.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("%d jobs claimed, want %d", len(seen), n)
		}
		for j, k := range seen {
			if k != 1 {
				t.Fatalf("job %s claimed %d times", j, k)
			}
		}
	})
}
