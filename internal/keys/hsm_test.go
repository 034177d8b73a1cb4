//go:build cgo

package keys_test

import (
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
