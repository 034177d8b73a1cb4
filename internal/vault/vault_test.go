package vault_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

func newVault(t *testing.T) (*vault.Vault, *store.DB, string) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	shop, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shop.Close() })
	if _, err := shop.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	vdb, err := store.OpenVault(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vdb.Close() })
	aead, err := keys.LoadOrCreateAEAD(filepath.Join(dir, "keyset.json"))
	if err != nil {
		t.Fatal(err)
	}
	return vault.New(vdb, aead, audit.NewTrail(shop, time.Now), func() time.Time { return now }), shop, dir
}

func TestTokenizeAndDetokenize(t *testing.T) {
	v, shop, dir := newVault(t)
	ctx := context.Background()
	tok, err := v.Tokenize(ctx, vault.Card{Number: "4242 4242 4242 4242", ExpMonth: 12, ExpYear: 2030, Holder: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Brand != vault.Visa || tok.Last4 != "4242" {
		t.Fatalf("token = %+v", tok)
	}
	c, err := v.Detokenize(ctx, tok.ID, "test")
	if err != nil || c.Number != "4242424242424242" || c.Holder != "Ada" {
		t.Fatalf("Detokenize = %+v, %v", c, err)
	}
	var actions []string
	if _, err := shop.ScanAudit(ctx, func(r audit.Record) error { actions = append(actions, r.Action+" "+r.Target); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(actions) != 1 || actions[0] != vault.ActionDetokenize+" "+tok.ID {
		t.Fatalf("audit = %v, want one detokenize record", actions)
	}
	if _, err := v.Detokenize(ctx, "tok_aaaaaaaaaaaaaaaaaaaaaaaaaa", "test"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	if err := v.Delete(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Detokenize(ctx, tok.ID, "test"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("deleted token: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, store.VaultSQLiteFile))
	if bytes.Contains(b, []byte("4242424242424242")) {
		t.Fatal("the vault file holds the number in plaintext")
	}
}

// TestCiphertextBoundToToken moves one card's ciphertext under another token,
// as someone with write access to the vault database might, and checks it no
// longer decrypts.
func TestCiphertextBoundToToken(t *testing.T) {
	v, _, dir := newVault(t)
	ctx := context.Background()
	a, _ := v.Tokenize(ctx, vault.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2030, Holder: "A"})
	b, _ := v.Tokenize(ctx, vault.Card{Number: "5555555555554444", ExpMonth: 12, ExpYear: 2030, Holder: "B"})
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.VaultSQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("UPDATE vault_cards SET ciphertext = (SELECT ciphertext FROM vault_cards WHERE token = $1) WHERE token = $2", a.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if c, err := v.Detokenize(ctx, b.ID, "test"); err == nil {
		t.Fatalf("a moved ciphertext decrypted to %s", c.Number)
	}
}

// TestDetokenizeAuditsTheTrueOutcome: a read that fails (unknown token, a
// deleted card) is recorded as a failure, and only a read that returned the
// card as a success.
func TestDetokenizeAuditsTheTrueOutcome(t *testing.T) {
	v, shop, _ := newVault(t)
	ctx := context.Background()
	tok, err := v.Tokenize(ctx, vault.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2030, Holder: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Detokenize(ctx, tok.ID, "authorize ord_1"); err != nil {
		t.Fatal(err)
	}
	if err := v.Delete(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Detokenize(ctx, tok.ID, "authorize ord_2"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("deleted card: %v", err)
	}
	var got []string
	if _, err := shop.ScanAudit(ctx, func(r audit.Record) error {
		got = append(got, r.Outcome+" "+r.Detail)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{audit.Success + " authorize ord_1", audit.Failure + " authorize ord_2; failed: not found"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("audit = %q, want %q", got, want)
	}
}
