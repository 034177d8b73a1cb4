package keys_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/keys"
)

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	server, _ := keys.OpenKeyring(dir, "") // a running server's keyring
	live, err := server.AEAD("vault")
	if err != nil {
		t.Fatal(err)
	}
	second, _ := keys.OpenKeyring(dir, "") // another instance on the same data directory
	live2, _ := second.AEAD("vault")
	old := live.Primary()
	before, _ := live.Encrypt([]byte("card"), []byte("tok"))

	admin, _ := keys.OpenKeyring(dir, "") // `bulwark keys rotate`, another process
	r, err := admin.Rotate("vault")
	if err != nil {
		t.Fatal(err)
	}
	if r.OldPrimary != old || r.NewPrimary == old {
		t.Fatalf("rotation = %+v, primary before %d", r, old)
	}
	if info, _ := os.Stat(filepath.Join(dir, "vault-keyset.json")); info.Mode().Perm() != 0o600 {
		t.Fatalf("rotated keyset mode %v", info.Mode().Perm())
	}

	t.Run("a ciphertext under the new key opens at once on a running server", func(t *testing.T) {
		other, _ := keys.OpenKeyring(dir, "")
		a, _ := other.AEAD("vault")
		ct, _ := a.Encrypt([]byte("new"), []byte("t2"))
		if id, _ := keys.KeyID(ct); id != r.NewPrimary {
			t.Fatalf("a fresh keyring encrypts under %d, want %d", id, r.NewPrimary)
		}
		if live2.Primary() != old {
			t.Fatal("the other instance switched already: nothing is tested")
		}
		if pt, err := live2.Decrypt(ct, []byte("t2")); err != nil || string(pt) != "new" {
			t.Fatalf("the running keyset did not pick up the new key on an unknown key id: %v", err)
		}
	})

	t.Run("the running server encrypts under the new primary without a restart", func(t *testing.T) {
		deadline := time.Now().Add(3 * keys.CheckInterval)
		for live.Primary() != r.NewPrimary {
			if time.Now().After(deadline) {
				t.Fatalf("still primary %d after %s", live.Primary(), 3*keys.CheckInterval)
			}
			live.Encrypt([]byte("x"), nil) //nolint:errcheck // each use may look at the file
			time.Sleep(100 * time.Millisecond)
		}
		ct, _ := live.Encrypt([]byte("y"), nil)
		if id, _ := keys.KeyID(ct); id != r.NewPrimary {
			t.Fatalf("encrypted under %d, want %d", id, r.NewPrimary)
		}
	})

	t.Run("old data stays readable", func(t *testing.T) {
		if pt, err := live.Decrypt(before, []byte("tok")); err != nil || string(pt) != "card" {
			t.Fatalf("old ciphertext after rotation: %v", err)
		}
	})

	t.Run("status lists every key with its age and the primary", func(t *testing.T) {
		_, sts, err := admin.Status("vault")
		if err != nil || len(sts) != 1 || len(sts[0].KeyList) != 2 {
			t.Fatalf("status = %+v, %v", sts, err)
		}
		newest := sts[0].KeyList[0]
		if newest.ID != r.NewPrimary || !newest.Primary || newest.Created.IsZero() || sts[0].KeyList[1].Primary {
			t.Fatalf("keys = %+v", sts[0].KeyList)
		}
	})

	t.Run("a keyset never made is not rotated", func(t *testing.T) {
		if _, err := admin.Rotate("pii"); !errors.Is(err, keys.ErrNoKeyset) {
			t.Fatalf("rotate missing keyset: %v", err)
		}
	})

	t.Run("a keyset file that disappears leaves the keys in use as they are", func(t *testing.T) {
		path := filepath.Join(dir, "vault-keyset.json")
		if err := os.Rename(path, path+".away"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(path+".away", path) //nolint:errcheck // best effort
		if err := live.Refresh(); err == nil {
			t.Fatal("no error for a missing keyset file")
		}
		if _, err := os.Stat(path); err == nil {
			t.Fatal("a re-read made a new keyset in place of the missing one")
		}
		if pt, err := live.Decrypt(before, []byte("tok")); err != nil || string(pt) != "card" {
			t.Fatalf("old ciphertext with the file gone: %v", err)
		}
		if live.Primary() != r.NewPrimary {
			t.Fatalf("primary %d, want %d", live.Primary(), r.NewPrimary)
		}
	})
}

// TestLiveFollowsAKEKRotation: a running server's keyset keeps following
// its file after another process rotated the file KEK and then the keyset.
func TestLiveFollowsAKEKRotation(t *testing.T) {
	dir := t.TempDir()
	server, _ := keys.OpenKeyring(dir, "")
	live, err := server.AEAD("mfa")
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := keys.OpenKeyring(dir, "")
	if _, err := admin.RotateKEK(); err != nil {
		t.Fatal(err)
	}
	r, err := admin.Rotate("mfa")
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Refresh(); err != nil {
		t.Fatalf("after a KEK rotation the running keyset cannot re-read its file: %v", err)
	}
	if live.Primary() != r.NewPrimary {
		t.Fatalf("the running keyset encrypts under %d, want the new primary %d", live.Primary(), r.NewPrimary)
	}
}

// TestLiveRefusesAKeysetInTheClear: someone who can write the data directory
// puts a keyset they know in the clear; a running server does not adopt it.
func TestLiveRefusesAKeysetInTheClear(t *testing.T) {
	dir := t.TempDir()
	ring, _ := keys.OpenKeyring(dir, "")
	live, err := ring.AEAD("vault")
	if err != nil {
		t.Fatal(err)
	}
	primary := live.Primary()
	planted := filepath.Join(t.TempDir(), "vault-keyset.json")
	if err := keys.WriteCleartextKeysetForTest(planted); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(planted)
	path := filepath.Join(dir, "vault-keyset.json")
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	if err := live.Refresh(); err == nil {
		t.Fatal("a running keyset adopted a keyset planted in the clear")
	}
	if live.Primary() != primary {
		t.Fatal("the running keyset switched to the planted key")
	}
	ct, err := live.Encrypt([]byte("card"), []byte("tok"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := keys.KeyID(ct); id != primary {
		t.Fatalf("encrypts under %d, want the old primary %d", id, primary)
	}
}

func TestRotateBlindIndexKeyset(t *testing.T) {
	dir := t.TempDir()
	server, _ := keys.OpenKeyring(dir, "")
	live, err := server.PRF("index")
	if err != nil {
		t.Fatal(err)
	}
	old := live.Primary()
	before, err := live.Set().ComputePrimaryPRF([]byte("x"), 32)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := keys.OpenKeyring(dir, "")
	r, err := admin.Rotate("index")
	if err != nil {
		t.Fatal(err)
	}
	if r.OldPrimary != old || r.NewPrimary == old {
		t.Fatalf("rotation = %+v, primary before %d", r, old)
	}
	if live.Primary() != old {
		t.Fatal("the running keyset switched before looking at the file: nothing is tested")
	}
	// A uniqueness check refreshes at once rather than waiting for the next look.
	if err := live.Refresh(); err != nil {
		t.Fatal(err)
	}
	set := live.Set()
	if set.PrimaryID != r.NewPrimary || len(set.PRFs) != 2 {
		t.Fatalf("after refresh: primary %d with %d keys, want %d with 2", set.PrimaryID, len(set.PRFs), r.NewPrimary)
	}
	// The new key is an HMAC key like the old: the old index is still computed
	// under the old key, and the new one differs.
	if again, err := set.PRFs[old].ComputePRF([]byte("x"), 32); err != nil || string(again) != string(before) {
		t.Fatalf("the old key's index changed: %v", err)
	}
	if now, err := set.ComputePrimaryPRF([]byte("x"), 32); err != nil || string(now) == string(before) {
		t.Fatalf("the new primary's index = same as the old, %v", err)
	}
	// Retiring the old key leaves it out of lookups.
	ids, err := admin.Retire("index", time.Now().Add(time.Hour), 0, false, func(uint32) error { return nil })
	if err != nil || len(ids) != 1 || ids[0] != old {
		t.Fatalf("retire = %v, %v", ids, err)
	}
	if err := live.Refresh(); err != nil {
		t.Fatal(err)
	}
	if _, ok := live.Set().PRFs[old]; ok || len(live.Set().PRFs) != 1 {
		t.Fatalf("a retired index key is still used: %v", live.Set().PRFs)
	}
}
