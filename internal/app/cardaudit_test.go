package app_test

import (
	"fmt"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// TestCardReadsAuditedTruthfully stops the vault process under a running
// shop: the card reads that then fail are recorded as failures, so the audit
// trail counts exactly the reads that happened as successes.
func TestCardReadsAuditedTruthfully(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServerWith(t, db, remoteVault)
		admin := s.createAdmin("truth-admin@example.com")
		p := s.createProduct(admin, "TRUTH-1", 10)
		pat := s.shopper("truth-pat@example.com", "4242424242424242")
		s.must(201, checkoutReq(pat, "truth-ok", s.cartWith(pat, 1, p.ID), "123"))
		s.Vault.Stop()
		const failed = 3
		for i := range failed {
			if res := s.checkout(pat, fmt.Sprintf("truth-down-%d", i), s.cartWith(pat, 1, p.ID), "123"); res.Status < 500 {
				t.Fatalf("checkout with the vault down = %d %s", res.Status, res.Body)
			}
		}
		if n := countAuditRaw(t, s.Config, vault.ActionDetokenize, audit.Success); n != 1 {
			t.Fatalf("%d card reads recorded as successful, want the 1 that happened", n)
		}
		if n := countAuditRaw(t, s.Config, vault.ActionDetokenize, audit.Failure); n != failed {
			t.Fatalf("%d card reads recorded as failed, want %d", n, failed)
		}
	})
}
