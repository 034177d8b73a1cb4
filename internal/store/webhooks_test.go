package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

func newWebhook(t *testing.T, db *store.DB, at time.Time, events ...string) webhook.Endpoint {
	t.Helper()
	e := webhook.Endpoint{ID: id.New(id.Webhook), URL: "https://hooks.example.com/" + events[0], Events: events, CreatedAt: at}
	if err := db.CreateWebhook(context.Background(), e, webhook.SealedSecret{ID: id.New(id.WebhookSecret), Ciphertext: []byte("sealed-1")},
		rec(webhook.ActionCreate, e.ID)); err != nil {
		t.Fatal(err)
	}
	return e
}

func renameProduct(t *testing.T, db *store.DB, productID, name string, at time.Time) {
	t.Helper()
	if _, err := db.UpdateProduct(context.Background(), productID, catalog.Patch{Name: &name}, at, rec(audit.ActionProductUpdate, productID)); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookOutbox: an event is written with the change, one delivery per
// subscriber; deliveries are leased, retried, dead-lettered and resent.
func TestWebhookOutbox(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		hook := newWebhook(t, db, now, webhook.ProductUpdated)
		other := newWebhook(t, db, now, webhook.OrderPaid)
		p := singleVariant("HOOK-1", money.Money{Amount: 100, Currency: "EUR"}, 1)
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		renameProduct(t, db, p.ID, "Renamed", now)

		t.Run("one delivery to the subscriber, leased to one instance", func(t *testing.T) {
			claims, err := db.ClaimWebhookDeliveries(ctx, "ins_a", now, now.Add(time.Minute), 10)
			if err != nil || len(claims) != 1 {
				t.Fatalf("claims = %v, %v", claims, err)
			}
			c := claims[0]
			var body struct {
				Type string
				Data webhook.ProductData
			}
			if err := json.Unmarshal(c.Event.Payload, &body); err != nil || body.Type != webhook.ProductUpdated || body.Data.Name != "Renamed" || body.Data.ID != p.ID {
				t.Fatalf("payload %s: %v", c.Event.Payload, err)
			}
			if c.URL != hook.URL || c.Delivery.EndpointID != hook.ID || len(c.Secrets) != 1 || string(c.Secrets[0].Ciphertext) != "sealed-1" {
				t.Fatalf("claim %+v", c)
			}
			if again, _ := db.ClaimWebhookDeliveries(ctx, "ins_b", now, now.Add(time.Minute), 10); len(again) != 0 {
				t.Fatalf("a leased delivery was claimed again: %v", again)
			}
			if ds, _ := db.WebhookDeliveries(ctx, other.ID, "", 10); len(ds) != 0 {
				t.Fatalf("a non-subscriber got %v", ds)
			}
			// A failed attempt: retried after the back-off, with the same event.
			if err := db.FinishWebhookAttempt(ctx, webhook.AttemptResult{DeliveryID: c.Delivery.ID, Owner: "ins_a", Status: webhook.StatusPending,
				NextAttemptAt: now.Add(5 * time.Second), Attempt: webhook.Attempt{N: 1, At: now, StatusCode: 500, Error: "HTTP 500", Duration: time.Millisecond}}); err != nil {
				t.Fatal(err)
			}
			if early, _ := db.ClaimWebhookDeliveries(ctx, "ins_b", now.Add(4*time.Second), now.Add(time.Minute), 10); len(early) != 0 {
				t.Fatalf("claimed before its next attempt: %v", early)
			}
			later, err := db.ClaimWebhookDeliveries(ctx, "ins_b", now.Add(6*time.Second), now.Add(time.Minute), 10)
			if err != nil || len(later) != 1 || later[0].Event.ID != c.Event.ID || string(later[0].Event.Payload) != string(c.Event.Payload) || later[0].Delivery.Attempts != 1 {
				t.Fatalf("retry claim %v, %v", later, err)
			}
			// The instance that lost its lease records nothing.
			if err := db.FinishWebhookAttempt(ctx, webhook.AttemptResult{DeliveryID: c.Delivery.ID, Owner: "ins_a", Status: webhook.StatusSucceeded,
				Attempt: webhook.Attempt{N: 2, At: now, StatusCode: 200}}); err != nil {
				t.Fatal(err)
			}
			if err := db.FinishWebhookAttempt(ctx, webhook.AttemptResult{DeliveryID: c.Delivery.ID, Owner: "ins_b", Status: webhook.StatusDead,
				Attempt: webhook.Attempt{N: 2, At: now.Add(6 * time.Second), Error: "connection refused"}}); err != nil {
				t.Fatal(err)
			}
			dead, err := db.WebhookDeliveries(ctx, hook.ID, webhook.StatusDead, 10)
			if err != nil || len(dead) != 1 || len(dead[0].History) != 2 || dead[0].History[0].StatusCode != 500 || dead[0].LastError != "connection refused" {
				t.Fatalf("dead letters %+v, %v", dead, err)
			}
			// Resent by hand: pending again, once.
			if _, err := db.RetryWebhookDelivery(ctx, c.Delivery.ID, now.Add(time.Minute), rec(webhook.ActionRetry, c.Delivery.ID)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.RetryWebhookDelivery(ctx, c.Delivery.ID, now.Add(time.Minute), rec(webhook.ActionRetry, c.Delivery.ID)); !errors.Is(err, webhook.ErrDeliveryPending) {
				t.Fatalf("second retry: %v", err)
			}
			if _, err := db.RetryWebhookDelivery(ctx, id.New(id.WebhookDelivery), now, rec(webhook.ActionRetry, "")); !errors.Is(err, webhook.ErrDeliveryNotFound) {
				t.Fatalf("retry of nothing: %v", err)
			}
		})

		t.Run("a lease that runs out is claimed again (the instance died)", func(t *testing.T) {
			at := now.Add(time.Hour)
			claims, err := db.ClaimWebhookDeliveries(ctx, "ins_dead", at, at.Add(time.Minute), 10)
			if err != nil || len(claims) != 1 {
				t.Fatalf("claims %v, %v", claims, err)
			}
			again, err := db.ClaimWebhookDeliveries(ctx, "ins_c", at.Add(2*time.Minute), at.Add(3*time.Minute), 10)
			if err != nil || len(again) != 1 || again[0].Event.ID != claims[0].Event.ID {
				t.Fatalf("after the lease: %v, %v", again, err)
			}
			if err := db.FinishWebhookAttempt(ctx, webhook.AttemptResult{DeliveryID: again[0].Delivery.ID, Owner: "ins_c", Status: webhook.StatusSucceeded,
				Attempt: webhook.Attempt{N: 3, At: at, StatusCode: 204}}); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("a rotated secret signs beside the new one for its grace", func(t *testing.T) {
			at := now.Add(2 * time.Hour)
			sealed := webhook.SealedSecret{ID: id.New(id.WebhookSecret), Ciphertext: []byte("sealed-2")}
			if err := db.RotateWebhookSecret(ctx, hook.ID, sealed, at, at.Add(24*time.Hour), rec(webhook.ActionRotate, hook.ID)); err != nil {
				t.Fatal(err)
			}
			renameProduct(t, db, p.ID, "Renamed again", at)
			claims, err := db.ClaimWebhookDeliveries(ctx, "ins_a", at, at.Add(time.Minute), 10)
			if err != nil || len(claims) != 1 || len(claims[0].Secrets) != 2 || string(claims[0].Secrets[0].Ciphertext) != "sealed-2" {
				t.Fatalf("claims %+v, %v", claims, err)
			}
			if err := db.FinishWebhookAttempt(ctx, webhook.AttemptResult{DeliveryID: claims[0].Delivery.ID, Owner: "ins_a", Status: webhook.StatusSucceeded,
				Attempt: webhook.Attempt{N: 1, At: at, StatusCode: 200}}); err != nil {
				t.Fatal(err)
			}
			renameProduct(t, db, p.ID, "After the grace", at)
			after := at.Add(25 * time.Hour)
			claims, err = db.ClaimWebhookDeliveries(ctx, "ins_a", after, after.Add(time.Minute), 10)
			if err != nil || len(claims) != 1 || len(claims[0].Secrets) != 1 || string(claims[0].Secrets[0].Ciphertext) != "sealed-2" {
				t.Fatalf("claims after the grace %+v, %v", claims, err)
			}
			if err := db.RotateWebhookSecret(ctx, id.New(id.Webhook), sealed, at, at, rec(webhook.ActionRotate, "")); !errors.Is(err, webhook.ErrNotFound) {
				t.Fatalf("rotate of nothing: %v", err)
			}
		})

		t.Run("deleting an endpoint cancels its deliveries and stops new ones", func(t *testing.T) {
			at := now.Add(3 * time.Hour)
			renameProduct(t, db, p.ID, "Before deletion", at)
			if err := db.DeleteWebhook(ctx, hook.ID, at, rec(webhook.ActionDelete, hook.ID)); err != nil {
				t.Fatal(err)
			}
			if err := db.DeleteWebhook(ctx, hook.ID, at, rec(webhook.ActionDelete, hook.ID)); !errors.Is(err, webhook.ErrNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			renameProduct(t, db, p.ID, "After deletion", at)
			if claims, _ := db.ClaimWebhookDeliveries(ctx, "ins_a", at.Add(100*time.Hour), at.Add(101*time.Hour), 10); len(claims) != 0 {
				t.Fatalf("a deleted endpoint's deliveries were claimed: %v", claims)
			}
			cancelled, _ := db.WebhookDeliveries(ctx, hook.ID, webhook.StatusCancelled, 10)
			if len(cancelled) == 0 {
				t.Fatal("no cancelled deliveries")
			}
			if _, err := db.RetryWebhookDelivery(ctx, cancelled[0].ID, at, rec(webhook.ActionRetry, "")); !errors.Is(err, webhook.ErrNotFound) {
				t.Fatalf("retry to a deleted endpoint: %v", err)
			}
			hooks, _ := db.Webhooks(ctx)
			if len(hooks) != 1 || hooks[0].ID != other.ID {
				t.Fatalf("webhooks %v", hooks)
			}
		})
	})
}

// TestWebhookClaimsAreExclusive: instances claiming at once never claim one
// delivery twice.
func TestWebhookClaimsAreExclusive(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		newWebhook(t, db, now, webhook.ProductUpdated)
		p := singleVariant("HOOK-RACE", money.Money{Amount: 100, Currency: "EUR"}, 1)
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		const n = 20
		for i := range n {
			renameProduct(t, db, p.ID, "Name "+string(rune('A'+i)), now)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for {
					claims, err := db.ClaimWebhookDeliveries(ctx, "ins_"+string(rune('a'+w)), now, now.Add(time.Minute), 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(claims) == 0 {
						return
					}
					mu.Lock()
					for _, c := range claims {
						seen[c.Delivery.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("%d deliveries claimed, want %d", len(seen), n)
		}
		for d, k := range seen {
			if k != 1 {
				t.Fatalf("delivery %s claimed %d times", d, k)
			}
		}
	})
}

// TestWebhookBatch: a batch of claims to several endpoints carries each
// delivery's own URL, secrets (current first) and event, read in a fixed
// number of queries; the batch's attempts are recorded in one call, and one
// whose lease was lost is left out while the others are kept.
func TestWebhookBatch(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		a := newWebhook(t, db, now, webhook.ProductUpdated)
		b := newWebhook(t, db, now, webhook.ProductUpdated, webhook.OrderPaid)
		rotated := webhook.SealedSecret{ID: id.New(id.WebhookSecret), Ciphertext: []byte("sealed-a2")}
		if err := db.RotateWebhookSecret(ctx, a.ID, rotated, now, now.Add(time.Hour), rec(webhook.ActionRotate, a.ID)); err != nil {
			t.Fatal(err)
		}
		p := singleVariant("HOOK-BATCH", money.Money{Amount: 100, Currency: "EUR"}, 1)
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		names := []string{"One", "Two", "Three"}
		for _, n := range names {
			renameProduct(t, db, p.ID, n, now)
		}
		claims, err := db.ClaimWebhookDeliveries(ctx, "ins_a", now, now.Add(time.Minute), 32)
		if err != nil || len(claims) != 2*len(names) {
			t.Fatalf("claims %d, %v", len(claims), err)
		}
		byEvent := map[string][]webhook.Claim{}
		for _, c := range claims {
			switch c.Delivery.EndpointID {
			case a.ID:
				if c.URL != a.URL || len(c.Secrets) != 2 || string(c.Secrets[0].Ciphertext) != "sealed-a2" || string(c.Secrets[1].Ciphertext) != "sealed-1" {
					t.Fatalf("claim to a: %+v", c)
				}
			case b.ID:
				if c.URL != b.URL || len(c.Secrets) != 1 || string(c.Secrets[0].Ciphertext) != "sealed-1" {
					t.Fatalf("claim to b: %+v", c)
				}
			default:
				t.Fatalf("claim to %s", c.Delivery.EndpointID)
			}
			if c.Event.ID != c.Delivery.EventID || c.Event.Type != webhook.ProductUpdated || c.Delivery.Status != webhook.StatusPending || c.Delivery.Attempts != 0 {
				t.Fatalf("claim %+v", c)
			}
			byEvent[c.Event.ID] = append(byEvent[c.Event.ID], c)
		}
		var got []string
		for _, cs := range byEvent {
			// One event, one body, to every endpoint.
			if len(cs) != 2 || cs[0].Delivery.EndpointID == cs[1].Delivery.EndpointID || string(cs[0].Event.Payload) != string(cs[1].Event.Payload) {
				t.Fatalf("event's claims %+v", cs)
			}
			var body struct{ Data webhook.ProductData }
			if err := json.Unmarshal(cs[0].Event.Payload, &body); err != nil {
				t.Fatal(err)
			}
			got = append(got, body.Data.Name)
		}
		if len(got) != len(names) {
			t.Fatalf("events %v", got)
		}

		if err := db.FinishWebhookAttempts(ctx, nil); err != nil {
			t.Fatalf("an empty batch: %v", err)
		}
		var rs []webhook.AttemptResult
		for i, c := range claims {
			owner := "ins_a"
			if i == 0 {
				owner = "ins_other" // its lease is not this instance's
			}
			rs = append(rs, webhook.AttemptResult{DeliveryID: c.Delivery.ID, Owner: owner, Status: webhook.StatusSucceeded,
				Attempt: webhook.Attempt{N: 1, At: now, StatusCode: 204, Duration: time.Millisecond}})
		}
		if err := db.FinishWebhookAttempts(ctx, rs); err != nil {
			t.Fatal(err)
		}
		all, err := db.WebhookDeliveries(ctx, "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		succeeded := 0
		for _, dl := range all {
			switch {
			case dl.ID == claims[0].Delivery.ID:
				if dl.Status != webhook.StatusPending || dl.Attempts != 0 || len(dl.History) != 0 {
					t.Fatalf("the lost lease's attempt was recorded: %+v", dl)
				}
			case dl.Status == webhook.StatusSucceeded && dl.Attempts == 1 && len(dl.History) == 1 && dl.History[0].StatusCode == 204:
				succeeded++
			default:
				t.Fatalf("delivery %+v", dl)
			}
		}
		if succeeded != len(claims)-1 {
			t.Fatalf("%d attempts recorded, want %d", succeeded, len(claims)-1)
		}

		// A batch's attempts recorded in the transaction of the next claim,
		// whether or not anything is due then.
		results := func(cs []webhook.Claim) []webhook.AttemptResult {
			var out []webhook.AttemptResult
			for _, c := range cs {
				out = append(out, webhook.AttemptResult{DeliveryID: c.Delivery.ID, Owner: "ins_a", Status: webhook.StatusSucceeded,
					Attempt: webhook.Attempt{N: 1, At: now, StatusCode: 204, Duration: time.Millisecond}})
			}
			return out
		}
		isSucceeded := func(cs []webhook.Claim) {
			t.Helper()
			all, err := db.WebhookDeliveries(ctx, "", webhook.StatusSucceeded, 100)
			if err != nil {
				t.Fatal(err)
			}
			done := map[string]bool{}
			for _, dl := range all {
				done[dl.ID] = len(dl.History) == 1
			}
			for _, c := range cs {
				if !done[c.Delivery.ID] {
					t.Fatalf("delivery %s's attempt not recorded", c.Delivery.ID)
				}
			}
		}
		renameProduct(t, db, p.ID, "Four", now)
		next, err := db.ClaimWebhookDeliveries(ctx, "ins_a", now, now.Add(time.Minute), 32)
		if err != nil || len(next) != 2 {
			t.Fatalf("claims %d, %v", len(next), err)
		}
		renameProduct(t, db, p.ID, "Five", now)
		more, err := db.FinishAndClaimWebhookDeliveries(ctx, results(next), "ins_a", now, now.Add(time.Minute), 32)
		if err != nil || len(more) != 2 || more[0].Delivery.ID == next[0].Delivery.ID || more[1].Delivery.ID == next[0].Delivery.ID {
			t.Fatalf("recorded and claimed %d, %v", len(more), err)
		}
		isSucceeded(next)
		none, err := db.FinishAndClaimWebhookDeliveries(ctx, results(more), "ins_a", now, now.Add(time.Minute), 32)
		if err != nil || len(none) != 0 {
			t.Fatalf("nothing due: claimed %d, %v", len(none), err)
		}
		isSucceeded(more)
	})
}

// TestEventOutbox: a change writes its events to the outbox and nothing
// else; dispatching moves each event once — even with dispatchers racing —
// to a delivery per endpoint subscribed, with the payload fixed at commit.
func TestEventOutbox(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		count := func(q string) int {
			t.Helper()
			var n int
			if err := db.Writer().QueryRowContext(ctx, q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		p := singleVariant("OUTBOX-1", money.Money{Amount: 100, Currency: "EUR"}, 1)
		if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
			t.Fatal(err)
		}
		// No subscriber and no mail: nothing written.
		renameProduct(t, db, p.ID, "unheard", now)
		if n := count("SELECT COUNT(*) FROM event_outbox"); n != 0 {
			t.Fatalf("%d outbox rows for an event no one wants", n)
		}
		hooks := []webhook.Endpoint{newWebhook(t, db, now, webhook.ProductUpdated), newWebhook(t, db, now, webhook.ProductUpdated)}
		const events = 40
		for i := range events {
			renameProduct(t, db, p.ID, fmt.Sprintf("name %d", i), now.Add(time.Duration(i)*time.Millisecond))
		}
		if n := count("SELECT COUNT(*) FROM event_outbox"); n != events {
			t.Fatalf("%d outbox rows, want %d", n, events)
		}
		if n := count("SELECT COUNT(*) FROM webhook_deliveries") + count("SELECT COUNT(*) FROM webhook_events"); n != 0 {
			t.Fatalf("%d deliveries and events written with the change", n)
		}
		// Four dispatchers at once, in batches of 3: each event moved once.
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n, err := db.DispatchEvents(ctx, 3)
					if err != nil {
						errs <- err
						return
					}
					if n > 0 {
						continue
					}
					if left, err := db.EventOutboxLength(ctx); err != nil || left == 0 {
						if err != nil {
							errs <- err
						}
						return
					}
					time.Sleep(time.Millisecond) // another dispatcher holds the rest
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := count("SELECT COUNT(*) FROM webhook_events"); n != events {
			t.Fatalf("%d webhook events, want %d", n, events)
		}
		if n := count("SELECT COUNT(*) FROM webhook_deliveries"); n != events*len(hooks) {
			t.Fatalf("%d deliveries, want %d", n, events*len(hooks))
		}
		if n, err := db.DispatchEvents(ctx, 100); err != nil || n != 0 {
			t.Fatalf("a second dispatch moved %d, %v", n, err)
		}
		// Each delivery carries the name its change committed, in order.
		claims, err := db.ClaimWebhookDeliveries(ctx, "ins_a", now.Add(time.Minute), now.Add(2*time.Minute), 2*events)
		if err != nil || len(claims) != 2*events {
			t.Fatalf("claims %d, %v", len(claims), err)
		}
		names := map[string]int{}
		for _, c := range claims {
			var body struct{ Data webhook.ProductData }
			if err := json.Unmarshal(c.Event.Payload, &body); err != nil {
				t.Fatal(err)
			}
			names[body.Data.Name]++
		}
		for i := range events {
			if n := names[fmt.Sprintf("name %d", i)]; n != len(hooks) {
				t.Fatalf("%q delivered %d times, want %d (all: %v)", fmt.Sprintf("name %d", i), n, len(hooks), names)
			}
		}

		// Many endpoints: a dispatch stops at about a thousand deliveries
		// (a transaction holds SQLite's one writer), inserted 500 rows a
		// statement (the engines bound a statement's parameters); the rest
		// follow in the next dispatch, none lost.
		for range 58 {
			hooks = append(hooks, newWebhook(t, db, now, webhook.ProductUpdated))
		}
		before := count("SELECT COUNT(*) FROM webhook_deliveries")
		const wide = 20
		for i := range wide {
			renameProduct(t, db, p.ID, fmt.Sprintf("wide %d", i), now)
		}
		first, err := db.DispatchEvents(ctx, 64)
		if err != nil || first != 16 {
			t.Fatalf("the first dispatch moved %d events, %v; want 16 (960 deliveries of 60 endpoints)", first, err)
		}
		if rest, err := db.DispatchEvents(ctx, 64); err != nil || rest != wide-first {
			t.Fatalf("the second dispatch moved %d, %v; want %d", rest, err, wide-first)
		}
		if n := count("SELECT COUNT(*) FROM webhook_deliveries") - before; n != wide*len(hooks) {
			t.Fatalf("%d deliveries, want %d", n, wide*len(hooks))
		}
	})
}
