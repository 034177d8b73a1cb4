package app_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestRetention(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("retention-admin@example.com")
		p := s.createProduct(admin, "RET-1", 10)
		sh := s.shopper("retained@example.com", "4242424242424242")
		var o orderJSON
		s.must(201, checkoutReq(sh, "ret-key", s.cartWith(sh, 1, p.ID), "123")).JSON(t, &o)
		s.waitMail("retained@example.com", "Your order "+o.ID+" is confirmed") // queued mail is written before the purge
		idle := s.cartWith(sh, 1, p.ID)
		s.must(202, req{method: "POST", path: "/api/v1/auth/password-reset", body: map[string]string{"email": "retained@example.com"}})
		s.waitMail("retained@example.com", "#token=bwr_")
		sessions := func() int {
			var n int
			if err := rawDB(t, s.Config).QueryRow("SELECT COUNT(*) FROM sessions").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := sessions()

		s.Clock.Advance(31 * 24 * time.Hour)
		if err := s.App.Purge(context.Background()); err != nil {
			t.Fatal(err)
		}
		if files, _ := filepath.Glob(filepath.Join(s.Config.DataDir, app.OutboxDir, "*.eml")); len(files) != 0 {
			t.Fatalf("%d mail files outlived the outbox retention", len(files))
		}
		if n := sessions(); n != 0 || before == 0 {
			t.Fatalf("sessions before %d, after %d; want all expired ones gone", before, n)
		}
		sh.token = s.login("retained@example.com", testPassword)
		s.must(404, req{method: "GET", path: "/api/v1/carts/" + idle, token: sh.token})
		// The key's answer is gone, so the key is fresh again: another body is no longer "reused".
		if res := s.do(checkoutReq(sh, "ret-key", s.cartWith(sh, 1, p.ID), "123")); res.Status != 201 || res.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("key after retention = %d %s", res.Status, res.Body)
		}
		if code, out, errOut := runCLI(t, s.Config, "", "audit", "verify"); code != 0 {
			t.Fatalf("the audit trail after a purge: %s %s", out, errOut)
		}
	})
}
