package vault_test

import (
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"

	"github.com/bulwark-shop/bulwark/internal/vault"
)

type prfKeys struct{ set *prf.Set }

func (k prfKeys) Set() *prf.Set { return k.set }

func newPRF(t *testing.T) prfKeys {
	t.Helper()
	h, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	set, err := prf.NewPRFSet(h)
	if err != nil {
		t.Fatal(err)
	}
	return prfKeys{set}
}

func TestFingerprint(t *testing.T) {
	f := vault.Fingerprints{Keys: newPRF(t)}
	a, err := f.Fingerprint("4242 4242 4242 4242")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Fingerprint("4242-4242-4242-4242")
	if a != b || !strings.HasPrefix(a, vault.FingerprintPrefix) || len(a) != len(vault.FingerprintPrefix)+22 {
		t.Fatalf("fingerprints %q and %q of one card", a, b)
	}
	if strings.Contains(a, "4242") {
		t.Fatalf("the fingerprint %q shows digits of the number", a)
	}
	c, _ := f.Fingerprint("4000056655665556")
	if c == a {
		t.Fatal("two cards, one fingerprint")
	}
	// Under another shop's key, the same card has another fingerprint: a
	// fingerprint cannot be recomputed from candidate numbers without the key.
	other, _ := vault.Fingerprints{Keys: newPRF(t)}.Fingerprint("4242424242424242")
	if other == a {
		t.Fatal("the fingerprint does not depend on the key")
	}
	if _, err := f.Fingerprint(" - "); err == nil {
		t.Fatal("an empty number was fingerprinted")
	}
}
