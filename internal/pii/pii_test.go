package pii_test

import (
	"errors"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/bulwark-shop/bulwark/internal/pii"
)

func mustCipher(t *testing.T) (*pii.Cipher, *keyset.Manager) {
	c, m, _ := mustCipherIndex(t)
	return c, m
}

// mustCipherIndex is mustCipher that also returns the index keyset's manager,
// so a test can rotate it.
func mustCipherIndex(t *testing.T) (*pii.Cipher, *keyset.Manager, *keyset.Manager) {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	m := keyset.NewManagerFromHandle(h)
	ph, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	im := keyset.NewManagerFromHandle(ph)
	return pii.New(&managed{m: m}, &managedIndex{m: im}), m, im
}

// managedIndex is an index keyset over a keyset manager's current handle.
type managedIndex struct{ m *keyset.Manager }

func (x *managedIndex) Set() *prf.Set {
	h, err := x.m.Handle()
	if err != nil {
		panic(err)
	}
	s, err := prf.NewPRFSet(h)
	if err != nil {
		panic(err)
	}
	return s
}
func (x *managedIndex) Refresh() error { return nil }

// managed is an AEAD over a keyset manager's current handle, so a test can
// rotate the wrapping keyset under a Cipher.
type managed struct{ m *keyset.Manager }

func (a *managed) primitive() tink.AEAD {
	h, err := a.m.Handle()
	if err != nil {
		panic(err)
	}
	p, err := aead.New(h)
	if err != nil {
		panic(err)
	}
	return p
}
func (a *managed) Encrypt(pt, ad []byte) ([]byte, error) { return a.primitive().Encrypt(pt, ad) }
func (a *managed) Decrypt(ct, ad []byte) ([]byte, error) { return a.primitive().Decrypt(ct, ad) }

func TestSealAndOpen(t *testing.T) {
	c, _ := mustCipher(t)
	alice, err := c.NewSubjectKey("usr_alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := c.NewSubjectKey("usr_bob")
	if err != nil {
		t.Fatal(err)
	}
	ct, err := c.Seal("usr_alice", alice, "users/usr_alice/contact", []byte("Alice"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("opens where it was sealed", func(t *testing.T) {
		pt, err := c.Open("usr_alice", alice, "users/usr_alice/contact", ct)
		if err != nil || string(pt) != "Alice" {
			t.Fatalf("open = %q, %v", pt, err)
		}
	})
	t.Run("not at another row or column", func(t *testing.T) {
		if _, err := c.Open("usr_alice", alice, "users/usr_bob/contact", ct); err == nil {
			t.Fatal("a value moved to another row opened")
		}
	})
	t.Run("not under another person's key", func(t *testing.T) {
		if _, err := c.Open("usr_bob", bob, "users/usr_alice/contact", ct); err == nil {
			t.Fatal("bob's key opened alice's value")
		}
	})
	t.Run("a wrapped key is bound to its subject", func(t *testing.T) {
		if _, err := c.Open("usr_bob", alice, "users/usr_alice/contact", ct); err == nil {
			t.Fatal("alice's wrapped key opened as bob's")
		}
	})
	t.Run("without the key nothing opens", func(t *testing.T) {
		if _, err := c.Open("usr_alice", nil, "users/usr_alice/contact", ct); !errors.Is(err, pii.ErrShredded) {
			t.Fatalf("open without a key = %v, want ErrShredded", err)
		}
	})
}

func TestRewrapAfterRotation(t *testing.T) {
	c, m := mustCipher(t)
	old, err := c.NewSubjectKey("usr_carol")
	if err != nil {
		t.Fatal(err)
	}
	ct, err := c.Seal("usr_carol", old, "where", []byte("Carol"))
	if err != nil {
		t.Fatal(err)
	}
	oldID := primaryID(t, m)
	if _, err := m.Add(aead.AES256GCMKeyTemplate()); err != nil {
		t.Fatal(err)
	}
	h, _ := m.Handle()
	newID := h.KeysetInfo().GetKeyInfo()[1].GetKeyId()
	if err := m.SetPrimary(newID); err != nil {
		t.Fatal(err)
	}
	rewrapped, err := c.Rewrap("usr_carol", old)
	if err != nil {
		t.Fatal(err)
	}
	// Retire the old wrapping key: only the rewrapped key still opens.
	if err := m.Disable(oldID); err != nil {
		t.Fatal(err)
	}
	if pt, err := c.Open("usr_carol", rewrapped, "where", ct); err != nil || string(pt) != "Carol" {
		t.Fatalf("after rewrap, open = %q, %v", pt, err)
	}
	// What someone holding the keysets later would try, without this
	// process's cache of keys it unwrapped before.
	fresh := pii.New(&managed{m: m}, nil)
	if _, err := fresh.Open("usr_carol", old, "where", ct); err == nil {
		t.Fatal("a key wrapped under a retired wrapping key still opened")
	}
	if pt, err := fresh.Open("usr_carol", rewrapped, "where", ct); err != nil || string(pt) != "Carol" {
		t.Fatalf("a fresh cipher opens the rewrapped key = %q, %v", pt, err)
	}
}

func primaryID(t *testing.T, m *keyset.Manager) uint32 {
	t.Helper()
	h, err := m.Handle()
	if err != nil {
		t.Fatal(err)
	}
	return h.KeysetInfo().GetPrimaryKeyId()
}

func TestEmailIndex(t *testing.T) {
	c, _ := mustCipher(t)
	other, _ := mustCipher(t)
	a, err := c.EmailIndex("a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.EmailIndex("a@example.com"); again != a {
		t.Fatal("the index is not stable")
	}
	if b, _ := c.EmailIndex("b@example.com"); b == a {
		t.Fatal("two emails share an index")
	}
	if o, _ := other.EmailIndex("a@example.com"); o == a {
		t.Fatal("the index does not depend on the key: it is a plain hash")
	}
	if len(a) != 64 {
		t.Fatalf("index %q is not 256 bits in hex", a)
	}
}

func TestEmailIndexesDuringRotation(t *testing.T) {
	c, _, im := mustCipherIndex(t)
	before, err := c.EmailIndex("dora@example.test")
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.EmailIndexes("dora@example.test", false)
	if err != nil || len(all) != 1 || all[0].Value != before {
		t.Fatalf("before rotation, indexes = %v, %v; want [%s]", all, err, before)
	}
	newID, err := im.Add(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	if err := im.SetPrimary(newID); err != nil {
		t.Fatal(err)
	}
	after, err := c.EmailIndex("dora@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatal("a new primary key computed the same index")
	}
	all, err = c.EmailIndexes("dora@example.test", true)
	if err != nil || len(all) != 2 || all[0].Value != after || all[1].Value != before || all[0].Key != newID {
		t.Fatalf("during rotation, indexes = %v, %v; want [%s %s] (the primary's first)", all, err, after, before)
	}
	other, err := c.EmailIndexes("eve@example.test", false)
	if err != nil || other[0].Value == after || other[1].Value == before {
		t.Fatalf("another email's indexes = %v, %v: they must differ", other, err)
	}
}
