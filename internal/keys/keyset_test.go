package keys_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/keys"
)

func TestKeysetFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyset.json")
	if _, err := keys.LoadOrCreateAEAD(path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("keyset mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	// The same file gives the same key: a card sealed before a restart opens after it.
	a1, _ := keys.LoadOrCreateAEAD(path)
	ct, _ := a1.Encrypt([]byte("x"), nil)
	a2, err := keys.LoadOrCreateAEAD(path)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := a2.Decrypt(ct, nil); err != nil || string(pt) != "x" {
		t.Fatalf("reloaded keyset: %q %v", pt, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LoadOrCreateAEAD(path); err == nil {
		t.Fatal("a world-readable keyset was accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{not a keyset"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LoadOrCreateAEAD(filepath.Join(dir, "bad.json")); err == nil {
		t.Fatal("a corrupt keyset was accepted")
	}
}
