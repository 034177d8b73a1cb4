package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// TestWebhookCommands: an operator lists the endpoints and the dead letters
// with `bulwark webhooks`, sends a dead delivery again (same id and body,
// audited with the system as actor), is refused what the API refuses, and
// the retention job deletes finished deliveries after webhook-retention.
func TestWebhookCommands(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, allowLoopback)
		recv := newHookReceiver(t, 500, 500, 500) // three failures: dead after the schedule's two retries
		admin := s.createAdmin("cli-hooks-admin@example.com")
		var hook webhookJSON
		s.must(201, req{method: "POST", path: "/api/v1/admin/webhooks", token: admin,
			body: map[string]any{"url": hookURL(recv.Server), "events": []string{"order.paid"}}}).JSON(t, &hook)
		p := s.createProduct(admin, "CLI-HOOK-1", 10)
		sh := s.shopper("cli-hooks-shopper@example.com", "4242424242424242")
		s.must(201, checkoutReq(sh, "cli-hook-1", s.cartWith(sh, 1, p.ID), "123"))
		first := recv.next(t)
		for range 2 {
			s.Clock.Advance(3 * time.Second)
			recv.next(t)
		}
		cli := func(want int, args ...string) string {
			t.Helper()
			code, stdout, stderr := runCLI(t, s.Config, "", args...)
			if code != want {
				t.Fatalf("bulwark %s = %d, want %d\n%s%s", strings.Join(args, " "), code, want, stdout, stderr)
			}
			return stdout + stderr
		}
		var deliveryID string
		deadline := time.Now().Add(10 * time.Second)
		for deliveryID == "" {
			out := cli(0, "webhooks", "deliveries", "--status", "dead")
			if f := strings.Fields(out); len(f) > 0 && strings.HasPrefix(f[0], "whd_") {
				deliveryID = f[0]
				if !strings.Contains(out, hook.ID) || !strings.Contains(out, "order.paid") || !strings.Contains(out, "attempts=3") {
					t.Fatalf("dead letters: %s", out)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no dead letter listed: %s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}

		t.Run("list shows the endpoint, never its secret", func(t *testing.T) {
			out := cli(0, "webhooks", "list")
			if !strings.Contains(out, hook.ID) || !strings.Contains(out, hook.URL) || strings.Contains(out, "whsec_") {
				t.Fatalf("list: %s", out)
			}
			if out := cli(0, "webhooks", "deliveries", "--webhook", hook.ID, "--status", "succeeded"); !strings.Contains(out, "no deliveries") {
				t.Fatalf("succeeded deliveries before the retry: %s", out)
			}
		})

		t.Run("bad input is refused and changes nothing", func(t *testing.T) {
			cli(2, "webhooks", "retry")
			cli(2, "webhooks", "deliveries", "--status", "bogus")
			cli(2, "webhooks", "deliveries", "--limit", "100000")
			if out := cli(1, "webhooks", "retry", "whd_aaaaaaaaaaaaaaaaaaaaaaaaaa"); !strings.Contains(out, "no such webhook delivery") {
				t.Fatalf("retry of nothing: %s", out)
			}
			if out := cli(1, "webhooks", "retry", "'; DROP TABLE webhook_deliveries; --"); !strings.Contains(out, "no such webhook delivery") {
				t.Fatalf("retry of a hostile id: %s", out)
			}
			if n := s.countAudit(webhook.ActionRetry); n != 0 {
				t.Fatalf("%d retries audited", n)
			}
		})

		t.Run("a retry sends the same event again, audited with the system as actor", func(t *testing.T) {
			if out := cli(0, "webhooks", "retry", deliveryID); !strings.Contains(out, deliveryID) {
				t.Fatalf("retry: %s", out)
			}
			// The command makes the delivery due at the wall clock's now; the
			// shop's clock stands still where the test left it, maybe behind.
			if wall := time.Now().UTC(); wall.After(s.Clock.Now()) {
				s.Clock.Set(wall.Add(time.Second))
			}
			again := recv.next(t)
			if again.ID != first.ID || string(again.Body) != string(first.Body) {
				t.Fatalf("redelivery %s %s, first %s %s", again.ID, again.Body, first.ID, first.Body)
			}
			var recs []audit.Record
			if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
				if r.Action == webhook.ActionRetry {
					recs = append(recs, r)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].Actor != audit.ActorSystem || recs[0].Target != deliveryID || recs[0].Detail != "from the command line" {
				t.Fatalf("audit %+v", recs)
			}
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(cli(0, "webhooks", "deliveries", "--status", "succeeded"), deliveryID) {
				if time.Now().After(deadline) {
					t.Fatal("the retried delivery is not listed as succeeded")
				}
				time.Sleep(100 * time.Millisecond)
			}
		})

		t.Run("the retention job deletes finished deliveries after webhook-retention", func(t *testing.T) {
			if err := s.App.Purge(context.Background()); err != nil {
				t.Fatal(err)
			}
			if out := cli(0, "webhooks", "deliveries"); !strings.Contains(out, deliveryID) {
				t.Fatalf("a fresh delivery was purged: %s", out)
			}
			s.Clock.Advance(s.Config.WebhookRetention + time.Hour)
			if err := s.App.Purge(context.Background()); err != nil {
				t.Fatal(err)
			}
			if out := cli(0, "webhooks", "deliveries"); !strings.Contains(out, "no deliveries") {
				t.Fatalf("after the retention: %s", out)
			}
		})
	})
}
