package keys_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/tink-crypto/tink-go/v2/tink"

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

func TestHSMKEK(t *testing.T) {
	tok := testenv.SoftHSM(t)
	kek := keys.KEKConfig{PKCS11: keys.PKCS11{Module: tok.Module, Token: tok.Label, PIN: tok.PIN, Key: "shop-kek"}}
	dir := t.TempDir()
	ring := mustOpen(t, dir, kek)
	if !ring.KEKCreated() {
		t.Fatal("the first start did not generate the HSM key")
	}
	msgs := seal(t, ring, "vault", "mfa")
	if _, err := os.Stat(filepath.Join(dir, keys.KEKFile)); err == nil {
		t.Fatal("a KEK file was written although the KEK is in the HSM")
	}

	t.Run("the key never leaves the token", func(t *testing.T) {
		ctx := pkcs11.New(tok.Module)
		defer ctx.Destroy() // not Finalize: the keyring shares the module
		if err := ctx.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
			t.Fatal(err)
		}
		session := openTokenSession(t, ctx, tok)
		defer ctx.CloseSession(session)
		if err := ctx.FindObjectsInit(session, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "shop-kek")}); err != nil {
			t.Fatal(err)
		}
		objs, _, err := ctx.FindObjects(session, 2)
		ctx.FindObjectsFinal(session)
		if err != nil || len(objs) != 1 {
			t.Fatalf("find the key: %v %d", err, len(objs))
		}
		if _, err := ctx.GetAttributeValue(session, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); err == nil {
			t.Fatal("the HSM key's value could be read")
		}
		attrs, err := ctx.GetAttributeValue(session, objs[0], []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil)})
		if err != nil || len(attrs) != 2 || attrs[0].Value[0] != 1 || attrs[1].Value[0] != 0 {
			t.Fatalf("attributes: %v %v; want sensitive and not extractable", attrs, err)
		}
	})

	t.Run("associated data is bound", func(t *testing.T) {
		a := kekAEAD(t, ring)
		ct, err := a.Encrypt([]byte("x"), []byte("vault"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Decrypt(ct, []byte("mfa")); err == nil {
			t.Fatal("a ciphertext opened with other associated data")
		}
		if pt, err := a.Decrypt(ct, []byte("vault")); err != nil || string(pt) != "x" {
			t.Fatalf("decrypt: %q %v", pt, err)
		}
	})

	t.Run("rotation makes a new key and a restart uses it", func(t *testing.T) {
		r, err := ring.RotateKEK()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Keysets) != 2 || !strings.Contains(r.Note, `"shop-kek-v2"`) {
			t.Fatalf("rotation %+v", r)
		}
		ring.Close()
		again := mustOpen(t, dir, kek)
		if st := again.KEKStatus(); !strings.Contains(st.Source, `key "shop-kek-v2"`) || st.Versions != 2 || again.KEKCreated() {
			t.Fatalf("status after restart %+v", st)
		}
		mustOpenAll(t, again, msgs)
		again.Close()
	})

	t.Run("a wrong PIN fails with a clear error without the PIN", func(t *testing.T) {
		bad := kek
		bad.PKCS11.PIN = "wrong-" + tok.PIN
		_, err := keys.OpenKeyringWith(dir, bad)
		if err == nil || !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") || strings.Contains(err.Error(), tok.PIN) {
			t.Fatalf("wrong PIN: %v", err)
		}
	})

	t.Run("a recorded key that is gone is not silently replaced", func(t *testing.T) {
		other := testenv.SoftHSM(t) // an empty token
		moved := kek
		moved.PKCS11.Token, moved.PKCS11.PIN = other.Label, other.PIN
		if _, err := keys.OpenKeyringWith(dir, moved); err == nil || !strings.Contains(err.Error(), "shop-kek-v2") {
			t.Fatalf("open with the recorded key missing: %v", err)
		}
	})
}

func openTokenSession(t *testing.T, ctx *pkcs11.Ctx, tok testenv.HSMToken) pkcs11.SessionHandle {
	t.Helper()
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if info, err := ctx.GetTokenInfo(s); err == nil && strings.TrimRight(info.Label, " ") == tok.Label {
			session, err := ctx.OpenSession(s, pkcs11.CKF_SERIAL_SESSION)
			if err != nil {
				t.Fatal(err)
			}
			if err := ctx.Login(session, pkcs11.CKU_USER, tok.PIN); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
				t.Fatal(err)
			}
			return session
		}
	}
	t.Fatalf("no token %s", tok.Label)
	return 0
}

// kekAEAD reaches the keyring's KEK through a test-only accessor.
func kekAEAD(t *testing.T, ring *keys.Keyring) tink.AEAD {
	t.Helper()
	return ring.KEKForTest()
}
