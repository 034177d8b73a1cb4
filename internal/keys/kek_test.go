package keys_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// sealed is a message sealed under one data keyset before a rotation.
type sealed struct{ name, ct string }

// mustOpen opens the keyring and closes it at the end of the test.
func mustOpen(t *testing.T, dir string, kek keys.KEKConfig) *keys.Keyring {
	t.Helper()
	ring, err := keys.OpenKeyringWith(dir, kek)
	if err != nil {
		t.Fatalf("open keyring: %v", err)
	}
	t.Cleanup(func() { ring.Close() })
	return ring
}

// seal creates the named data keysets and seals a message under each.
func seal(t *testing.T, ring *keys.Keyring, names ...string) []sealed {
	t.Helper()
	var out []sealed
	for _, name := range names {
		a, err := ring.AEAD(name)
		if err != nil {
			t.Fatalf("keyset %s: %v", name, err)
		}
		ct, err := a.Encrypt([]byte("secret of "+name), []byte(name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sealed{name, string(ct)})
	}
	return out
}

// mustOpenAll checks that every message still opens: the data keys did not change.
func mustOpenAll(t *testing.T, ring *keys.Keyring, msgs []sealed) {
	t.Helper()
	for _, m := range msgs {
		a, err := ring.AEAD(m.name)
		if err != nil {
			t.Fatalf("keyset %s after rotation: %v", m.name, err)
		}
		if pt, err := a.Decrypt([]byte(m.ct), []byte(m.name)); err != nil || string(pt) != "secret of "+m.name {
			t.Fatalf("data under keyset %s after rotation: %q %v", m.name, pt, err)
		}
	}
}

func kekKeyIDs(t *testing.T, dir string) (primary float64, n int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, keys.KEKFile))
	if err != nil {
		t.Fatal(err)
	}
	var ks struct {
		PrimaryKeyID float64          `json:"primaryKeyId"`
		Key          []map[string]any `json:"key"`
	}
	if err := json.Unmarshal(b, &ks); err != nil {
		t.Fatal(err)
	}
	return ks.PrimaryKeyID, len(ks.Key)
}

func TestFileKEKRotation(t *testing.T) {
	dir := t.TempDir()
	ring := mustOpen(t, dir, keys.KEKConfig{})
	if !ring.KEKCreated() {
		t.Fatal("the first open did not report making the KEK")
	}
	msgs := seal(t, ring, "vault", "mfa")
	before, _ := os.ReadFile(filepath.Join(dir, "vault-keyset.json"))
	oldPrimary, _ := kekKeyIDs(t, dir)

	r, err := ring.RotateKEK()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Keysets, ",") != "mfa,vault" {
		t.Fatalf("re-wrapped %v", r.Keysets)
	}
	primary, n := kekKeyIDs(t, dir)
	if primary == oldPrimary || n != 1 {
		t.Fatalf("KEK file after rotation: primary %v (was %v), %d keys; want a new primary alone", primary, oldPrimary, n)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "vault-keyset.json"))
	if string(before) == string(after) {
		t.Fatal("the vault keyset was not re-wrapped")
	}
	mustOpenAll(t, ring, msgs)

	t.Run("a restart opens every keyset under the new KEK", func(t *testing.T) {
		again := mustOpen(t, dir, keys.KEKConfig{})
		if again.KEKCreated() {
			t.Fatal("reopening made a KEK")
		}
		mustOpenAll(t, again, msgs)
		if st := again.KEKStatus(); st.Source != "file kek-keyset.json" || st.Pending || st.Created.IsZero() {
			t.Fatalf("status %+v", st)
		}
	})
}

// TestKEKRotationCrashMidway stops a rotation after one of three keysets, as a
// crash would, then restarts: everything opens, and a second rotation finishes.
func TestKEKRotationCrashMidway(t *testing.T) {
	for _, tc := range []struct {
		name string
		kek  func(t *testing.T) keys.KEKConfig
	}{
		{"file", func(t *testing.T) keys.KEKConfig { return keys.KEKConfig{} }},
		{"pkcs11", func(t *testing.T) keys.KEKConfig {
			tok := testenv.SoftHSM(t)
			return keys.KEKConfig{PKCS11: keys.PKCS11{Module: tok.Module, Token: tok.Label, PIN: tok.PIN, Key: "bulwark-kek"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kek := tc.kek(t)
			dir := t.TempDir()
			ring := mustOpen(t, dir, kek)
			msgs := seal(t, ring, "a", "b", "c")
			ring.StopRotationAfter(1)
			if _, err := ring.RotateKEK(); err == nil {
				t.Fatal("the interrupted rotation reported success")
			}
			ring.Close()

			restarted := mustOpen(t, dir, kek)
			if !restarted.KEKStatus().Pending {
				t.Fatalf("status after the crash does not show the rotation under way: %+v", restarted.KEKStatus())
			}
			mustOpenAll(t, restarted, msgs)
			msgs = append(msgs, seal(t, restarted, "d")...) // a keyset made mid-rotation
			if _, err := restarted.RotateKEK(); err != nil {
				t.Fatalf("finishing the rotation: %v", err)
			}
			restarted.Close()
			final := mustOpen(t, dir, kek)
			mustOpenAll(t, final, msgs)
			if st := final.KEKStatus(); st.Pending {
				t.Fatalf("status after the finished rotation: %+v", st)
			}
		})
	}
}

func TestSecretKEKRotation(t *testing.T) {
	dir := t.TempDir()
	oldKEK, newKEK := newKEK(t), newKEK(t)
	ring := mustOpen(t, dir, keys.KEKConfig{Secret: oldKEK})
	msgs := seal(t, ring, "vault", "mfa")
	if _, err := ring.RotateKEK(); err == nil || !strings.Contains(err.Error(), "new-kek") {
		t.Fatalf("rotation without new-kek: %v", err)
	}
	rotating := mustOpen(t, dir, keys.KEKConfig{Secret: oldKEK, NewSecret: newKEK})
	r, err := rotating.RotateKEK()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Note, "set kek") || strings.Contains(r.Note, newKEK) {
		t.Fatalf("note %q", r.Note)
	}
	mustOpenAll(t, mustOpen(t, dir, keys.KEKConfig{Secret: newKEK}), msgs)
	old := mustOpen(t, dir, keys.KEKConfig{Secret: oldKEK})
	if _, err := old.AEAD("vault"); err == nil {
		t.Fatal("the retired KEK still opens a keyset")
	}
	if _, err := keys.OpenKeyringWith(dir, keys.KEKConfig{NewSecret: newKEK}); err == nil {
		t.Fatal("new-kek without kek was accepted")
	}
	if _, err := keys.OpenKeyringWith(dir, keys.KEKConfig{Secret: oldKEK, PKCS11: keys.PKCS11{Module: testenv.SoftHSMModule}}); err == nil {
		t.Fatal("two KEK sources were accepted")
	}
}
