package keys_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/bulwark-shop/bulwark/internal/keys"
)

func TestKeyringWrapsDataKeysets(t *testing.T) {
	dir := t.TempDir()
	ring, err := keys.OpenKeyring(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := ring.AEAD("vault")
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := a.Encrypt([]byte("card"), []byte("tok"))
	b, err := os.ReadFile(filepath.Join(dir, "vault-keyset.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "encryptedKeyset") || strings.Contains(string(b), "keyData") {
		t.Fatalf("the data keyset is not encrypted under the KEK:\n%s", b)
	}
	if info, _ := os.Stat(filepath.Join(dir, keys.KEKFile)); info == nil || info.Mode().Perm() != 0o600 {
		t.Fatal("no private KEK file")
	}

	t.Run("the same KEK opens it again", func(t *testing.T) {
		again, _ := keys.OpenKeyring(dir, "")
		a2, err := again.AEAD("vault")
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := a2.Decrypt(ct, []byte("tok")); err != nil || string(pt) != "card" {
			t.Fatalf("decrypt after reopening: %q %v", pt, err)
		}
	})

	t.Run("another KEK does not", func(t *testing.T) {
		other := newKEK(t)
		ring, err := keys.OpenKeyring(dir, other)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ring.AEAD("vault"); err == nil {
			t.Fatal("a keyset opened under the wrong KEK")
		}
	})

	t.Run("a KEK given as a secret", func(t *testing.T) {
		kek := newKEK(t)
		d := t.TempDir()
		ring, err := keys.OpenKeyring(d, kek)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ring.AEAD("mfa"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(d, keys.KEKFile)); err == nil {
			t.Fatal("a KEK file was written although the KEK came as a secret")
		}
		if _, err := keys.OpenKeyring(d, "not a keyset"); err == nil || strings.Contains(err.Error(), "not a keyset") {
			t.Fatalf("a malformed KEK: %v", err)
		}
	})

	t.Run("a keyset kept in the clear is wrapped when opened", func(t *testing.T) {
		d := t.TempDir()
		h, _ := keyset.NewHandle(aead.AES256GCMKeyTemplate())
		var buf bytes.Buffer
		if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "old-keyset.json"), buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		old, _ := aead.New(h)
		ct, _ := old.Encrypt([]byte("x"), nil)
		ring, _ := keys.OpenKeyring(d, "")
		a, err := ring.AEAD("old")
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := a.Decrypt(ct, nil); err != nil || string(pt) != "x" {
			t.Fatalf("old data after wrapping: %v", err)
		}
		_, st, _ := ring.Status("old")
		if len(st) != 1 || !st[0].Wrapped {
			t.Fatalf("status = %+v, want wrapped", st)
		}
	})
}

func newKEK(t *testing.T) string {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
