package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestKeysetsServeOneDatabase replays the scenario: one data
// directory used by SQLite, then by PostgreSQL. The keysets serve the
// database they were made for: the PostgreSQL start and the key commands
// pointed at it are refused before a key is made or used (so no vault
// holds cards under keys that `keys retire` on the other would disable),
// and the SQLite shop's saved card still pays after rotating and retiring.
func TestKeysetsServeOneDatabase(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("needs PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	lite := testConfig(dbs[0])
	s := startServer(t, dbs[0])
	admin := s.createAdmin("bind-admin@example.com")
	p := s.createProduct(admin, "BIND-1", 10)
	pat := s.shopper("bind-pat@example.com", "4242424242424242")
	s.must(201, checkoutReq(pat, "bind-1", s.cartWith(pat, 1, p.ID), "123"))

	pg := testConfig(dbs[1])
	pg.DataDir = lite.DataDir // the same keysets, another database
	other, err := app.New(context.Background(), pg, logging.New(&testenv.SyncBuffer{}, 0), time.Now)
	if err == nil {
		other.Close()
	}
	if err == nil || !strings.Contains(err.Error(), keys.ErrOtherDatabase.Error()) {
		t.Fatalf("serve on PostgreSQL with the SQLite shop's data directory: %v, want a refusal", err)
	}
	for _, args := range [][]string{{"keys", "status"}, {"keys", "rotate"}, {"keys", "retire"}, {"keys", "rotate-kek"}} {
		code, out, errOut := runCLI(t, pg, "", args...)
		if code == 0 || !strings.Contains(errOut, "serve another database") {
			t.Fatalf("%s on the other database: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}

	// The SQLite shop rotates and retires as before; its saved card still pays.
	if code, out, errOut := runCLI(t, lite, "", "keys", "rotate", "--keyset", app.VaultKeyset); code != 0 {
		t.Fatalf("keys rotate: %d %s %s", code, out, errOut)
	}
	s.must(201, checkoutReq(pat, "bind-2", s.cartWith(pat, 1, p.ID), "123"))
	if code, out, errOut := runCLI(t, lite, "", "keys", "status"); code != 0 || !strings.Contains(out, "vault  2 key(s)") {
		t.Fatalf("keys status on the served database: %d %s %s", code, out, errOut)
	}
}

// TestVaultKeysetServesOneVaultDatabase: a vault process's data directory
// (its KEK and keyset) refuses a vault database other than its own.
func TestVaultKeysetServesOneVaultDatabase(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("needs PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	v := startVault(t, dbs[1], false)
	cfg := v.Config
	cfg.VaultDatabaseURL = "" // the same keyset, a SQLite vault.db beside it
	other, err := app.NewVault(context.Background(), cfg, logging.New(&testenv.SyncBuffer{}, 0), time.Now)
	if err == nil {
		other.Close()
	}
	if err == nil || !strings.Contains(err.Error(), keys.ErrOtherDatabase.Error()) {
		t.Fatalf("vault serve with another vault database: %v, want a refusal", err)
	}
}
