package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// TestWebhookRetention: the purge deletes finished deliveries (succeeded,
// dead, cancelled) older than the retention with their attempts, then events
// left with no delivery, then deleted endpoints left with none, in batches;
// it keeps pending deliveries and their events however old, and everything
// younger than the retention.
func TestWebhookRetention(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		old := time.Now().UTC().Add(-40 * 24 * time.Hour).Truncate(time.Microsecond)
		hook := newWebhook(t, db, old, webhook.ProductUpdated)
		p := singleVariant("KEEP-1", money.Money{Amount: 100, Currency: "EUR"}, 1)
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		// Seven old events, one delivery each: five succeed, one dies, one stays pending.
		for i := range 7 {
			renameProduct(t, db, p.ID, fmt.Sprintf("old %d", i), old)
		}
		claims, err := db.ClaimWebhookDeliveries(ctx, "ins_a", old, old.Add(time.Minute), 10)
		if err != nil || len(claims) != 7 {
			t.Fatalf("claims %d, %v", len(claims), err)
		}
		pendingEvent := claims[6].Event.ID
		for i, c := range claims {
			r := webhook.AttemptResult{DeliveryID: c.Delivery.ID, Owner: "ins_a", Status: webhook.StatusSucceeded,
				Attempt: webhook.Attempt{N: 1, At: old, StatusCode: 200}}
			switch i {
			case 5:
				r.Status, r.Attempt.StatusCode, r.Attempt.Error = webhook.StatusDead, 500, "HTTP 500"
			case 6:
				r.Status, r.NextAttemptAt, r.Attempt.StatusCode = webhook.StatusPending, old.Add(time.Hour), 503
			}
			if err := db.FinishWebhookAttempt(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		// A deleted endpoint, with its one delivery cancelled long ago.
		gone := newWebhook(t, db, old, webhook.ProductUpdated)
		renameProduct(t, db, p.ID, "for the deleted one", old)
		// Dispatched before the endpoint is deleted, so it has a delivery
		// to cancel (an event dispatched after goes to live endpoints only).
		if _, err := db.DispatchEvents(ctx, 100); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteWebhook(ctx, gone.ID, old, rec(webhook.ActionDelete, gone.ID)); err != nil {
			t.Fatal(err)
		}
		// A recent event: its delivery succeeds yesterday.
		recent := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Microsecond)
		renameProduct(t, db, p.ID, "recent", recent)
		// By then the old pending delivery is due again (it is claimed and
		// stays pending, its lease held), and so is the live endpoint's
		// delivery of the event the deleted one also had: it dies (long ago).
		fresh, err := db.ClaimWebhookDeliveries(ctx, "ins_a", recent, recent.Add(time.Minute), 10)
		if err != nil || len(fresh) != 3 {
			t.Fatalf("fresh claims %d, %v", len(fresh), err)
		}
		for _, c := range fresh {
			r := webhook.AttemptResult{DeliveryID: c.Delivery.ID, Owner: "ins_a", Status: webhook.StatusSucceeded,
				Attempt: webhook.Attempt{N: 1, At: recent, StatusCode: 200}}
			switch {
			case c.Event.ID == pendingEvent:
				continue
			case c.Delivery.CreatedAt.Before(recent):
				r.Status, r.Attempt.At, r.Attempt.StatusCode = webhook.StatusDead, old, 410
			}
			if err := db.FinishWebhookAttempt(ctx, r); err != nil {
				t.Fatal(err)
			}
		}

		count := func(q string, args ...any) int {
			t.Helper()
			var n int
			if err := db.Writer().QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count("SELECT COUNT(*) FROM webhook_deliveries"); n != 10 {
			t.Fatalf("%d deliveries before the purge", n)
		}

		cutoff := time.Now().UTC().Add(-30 * 24 * time.Hour)
		deliveries, events, err := db.PurgeWebhooks(ctx, cutoff, 2) // batches of two: four rounds
		if err != nil {
			t.Fatal(err)
		}
		if deliveries != 8 || events != 7 {
			t.Fatalf("purged %d deliveries and %d events, want 8 (5 succeeded, 2 dead, 1 cancelled) and 7", deliveries, events)
		}
		t.Run("the pending delivery stays with its event and attempts", func(t *testing.T) {
			if n := count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = $1", webhook.StatusPending); n != 1 {
				t.Fatalf("%d pending deliveries", n)
			}
			if n := count("SELECT COUNT(*) FROM webhook_events WHERE id = $1", pendingEvent); n != 1 {
				t.Fatal("the pending delivery's event was deleted")
			}
			if n := count("SELECT COUNT(*) FROM webhook_attempts"); n != 2 {
				t.Fatalf("%d attempts left, want the pending one's and the recent one's", n)
			}
		})
		t.Run("the recent delivery stays", func(t *testing.T) {
			ds, err := db.WebhookDeliveries(ctx, hook.ID, webhook.StatusSucceeded, 10)
			if err != nil || len(ds) != 1 || len(ds[0].History) != 1 {
				t.Fatalf("succeeded deliveries left %+v, %v", ds, err)
			}
		})
		t.Run("the deleted endpoint is gone once it has no delivery; the live one stays", func(t *testing.T) {
			if n := count("SELECT COUNT(*) FROM webhook_endpoints WHERE id = $1", gone.ID); n != 0 {
				t.Fatal("the deleted endpoint is still stored")
			}
			if n := count("SELECT COUNT(*) FROM webhook_endpoints WHERE id = $1", hook.ID); n != 1 {
				t.Fatal("the live endpoint was deleted")
			}
		})
		t.Run("a second purge finds nothing; the retention job runs it", func(t *testing.T) {
			if d, e, err := db.PurgeWebhooks(ctx, cutoff, 2); err != nil || d != 0 || e != 0 {
				t.Fatalf("second purge %d %d %v", d, e, err)
			}
			p, err := db.Purge(ctx, time.Now().UTC(), store.Retention{IdempotencyKeys: 48 * time.Hour, AbandonedCarts: 720 * time.Hour,
				Webhooks: 12 * time.Hour})
			if err != nil || p.WebhookDeliveries != 1 || p.WebhookEvents != 1 {
				t.Fatalf("Purge with a 12h retention: %+v, %v (the recent delivery and its event)", p, err)
			}
		})
	})
}
