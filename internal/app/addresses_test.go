package app_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/addressbook"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

type savedAddress struct {
	ID      string            `json:"id"`
	Address map[string]string `json:"address"`
}

// TestAddressBook is the address book over HTTP: saved, listed, used by a
// checkout, sealed at rest, bounded, in the export and gone with the erasure,
// and never visible or usable to another customer.
func TestAddressBook(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("ab-admin@example.com")
		p := s.createProduct(admin, "AB-1", 10)
		owner := s.shopper("ab-owner@example.com", "4242424242424242")
		other := s.shopper("ab-other@example.com", "4242424242424242")
		home := map[string]string{"name": "Quentin Abernathy-Voss", "line1": "77 Xylophone Terrace", "line2": "Flat 9",
			"city": "Utrechtsburg", "postal_code": "ZX-4411", "country": "NL", "phone": "+31 20 555 0199"}
		list := func(token string) []savedAddress {
			t.Helper()
			var l struct{ Items []savedAddress }
			s.must(200, req{method: "GET", path: "/api/v1/me/addresses", token: token}).JSON(t, &l)
			return l.Items
		}
		var saved savedAddress
		s.must(201, req{method: "POST", path: "/api/v1/me/addresses", token: owner.token, body: map[string]any{"address": home}}).JSON(t, &saved)
		if !strings.HasPrefix(saved.ID, "adr_") || saved.Address["line1"] != home["line1"] {
			t.Fatalf("saved = %+v", saved)
		}

		t.Run("the owner lists it", func(t *testing.T) {
			if l := list(owner.token); len(l) != 1 || l[0].ID != saved.ID || l[0].Address["name"] != home["name"] {
				t.Fatalf("list = %+v", l)
			}
		})

		t.Run("bad input is refused and changes nothing", func(t *testing.T) {
			for _, c := range []struct {
				body   any
				status int
			}{
				{map[string]any{"address": map[string]string{"name": "x", "line1": "y", "city": "z", "postal_code": "1", "country": "Germany"}}, 422},
				{map[string]any{"address": map[string]string{"name": "", "line1": "y", "city": "z", "postal_code": "1", "country": "DE"}}, 422},
				{map[string]any{"address": map[string]string{"name": "x\ny", "line1": "y", "city": "z", "postal_code": "1", "country": "DE"}}, 422},
				{map[string]any{"address": map[string]string{"name": strings.Repeat("x", 101), "line1": "y", "city": "z", "postal_code": "1", "country": "DE"}}, 422},
				{map[string]any{"address": home, "owner_id": "usr_x"}, 400},
				{map[string]any{"address": home, "id": "adr_aaaaaaaaaaaaaaaaaaaaaaaaaa"}, 400},
				{`{"address": {"name": "x"}} {}`, 400},
				{`{"address": "1 Main St"}`, 400},
				{`not json`, 400},
			} {
				if res := s.do(req{method: "POST", path: "/api/v1/me/addresses", token: owner.token, body: c.body}); res.Status != c.status {
					t.Errorf("%v = %d, want %d: %s", c.body, res.Status, c.status, res.Body)
				}
			}
			if l := list(owner.token); len(l) != 1 {
				t.Fatalf("refused requests saved addresses: %+v", l)
			}
		})

		t.Run("another customer neither sees, deletes nor ships to it", func(t *testing.T) {
			if l := list(other.token); len(l) != 0 {
				t.Fatalf("another customer lists %+v", l)
			}
			res := s.do(req{method: "DELETE", path: "/api/v1/me/addresses/" + saved.ID, token: other.token})
			unknown := s.do(req{method: "DELETE", path: "/api/v1/me/addresses/adr_aaaaaaaaaaaaaaaaaaaaaaaaaa", token: other.token})
			if res.Status != 404 || unknown.Status != 404 || res.Code(t) != unknown.Code(t) {
				t.Fatalf("deleting another's address = %d %s; an unknown one = %d %s", res.Status, res.Body, unknown.Status, unknown.Body)
			}
			cartID := s.cartWith(other, 1, p.ID)
			res = s.do(req{method: "POST", path: "/api/v1/checkout", token: other.token, header: map[string]string{"Idempotency-Key": "ab-steal"},
				body: map[string]any{"cart_id": cartID, "payment_method": other.method, "cvc": "123", "shipping_address_id": saved.ID}})
			if res.Status != 404 || bytes.Contains(res.Body, []byte(home["line1"])) {
				t.Fatalf("checkout to another's address = %d %s", res.Status, res.Body)
			}
			if s.stock(p.ID) != 10 {
				t.Fatal("a refused checkout took stock")
			}
			if l := list(owner.token); len(l) != 1 {
				t.Fatalf("the owner's book after the attack: %+v", l)
			}
		})

		t.Run("a checkout ships to the saved address by id", func(t *testing.T) {
			cartID := s.cartWith(owner, 1, p.ID)
			both := s.do(req{method: "POST", path: "/api/v1/checkout", token: owner.token, header: map[string]string{"Idempotency-Key": "ab-both"},
				body: map[string]any{"cart_id": cartID, "payment_method": owner.method, "cvc": "123", "shipping_address": address, "shipping_address_id": saved.ID}})
			if both.Status != 422 {
				t.Fatalf("an address and an id = %d %s", both.Status, both.Body)
			}
			var o struct {
				ID              string            `json:"id"`
				ShippingAddress map[string]string `json:"shipping_address"`
			}
			s.must(201, req{method: "POST", path: "/api/v1/checkout", token: owner.token, header: map[string]string{"Idempotency-Key": "ab-1"},
				body: map[string]any{"cart_id": cartID, "payment_method": owner.method, "cvc": "123", "shipping_address_id": saved.ID}}).JSON(t, &o)
			for k, v := range home {
				if o.ShippingAddress[k] != v {
					t.Errorf("order's %s = %q, want %q", k, o.ShippingAddress[k], v)
				}
			}
		})

		t.Run("it is sealed at rest under the owner's key", func(t *testing.T) {
			dump := shopDump(t, s)
			for _, k := range []string{"name", "line1", "line2", "city", "postal_code", "phone"} {
				if bytes.Contains(dump, []byte(home[k])) {
					t.Errorf("the database holds the %s %q in the clear", k, home[k])
				}
			}
			var sealed []byte
			if err := shopDB(t, s).QueryRow("SELECT sealed FROM addresses WHERE id = $1", saved.ID).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			var ownerID string
			if err := shopDB(t, s).QueryRow("SELECT owner_id FROM addresses WHERE id = $1", saved.ID).Scan(&ownerID); err != nil {
				t.Fatal(err)
			}
			cipher := piiCipher(t, s)
			plain, err := cipher.Open(ownerID, subjectKeyOf(t, s, ownerID), "addresses/"+saved.ID, sealed)
			if err != nil || !bytes.Contains(plain, []byte(home["line1"])) {
				t.Fatalf("the owner's key does not open the address: %v", err)
			}
			if _, err := cipher.Open(ownerID, subjectKeyOf(t, s, ownerID), "addresses/adr_aaaaaaaaaaaaaaaaaaaaaaaaaa", sealed); err == nil {
				t.Fatal("the ciphertext opens for another row")
			}
		})

		t.Run("the book is bounded, also under concurrent saves", func(t *testing.T) {
			sh := s.shopper("ab-many@example.com", "4242424242424242")
			const tries = addressbook.MaxPerCustomer + 6
			var wg sync.WaitGroup
			statuses := make([]int, tries)
			for i := range tries {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a := map[string]string{"name": fmt.Sprintf("N%d", i), "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}
					statuses[i] = s.do(req{method: "POST", path: "/api/v1/me/addresses", token: sh.token, body: map[string]any{"address": a}}).Status
				}()
			}
			wg.Wait()
			count := map[int]int{}
			for _, st := range statuses {
				count[st]++
			}
			if count[201] != addressbook.MaxPerCustomer || count[409] != tries-addressbook.MaxPerCustomer {
				t.Fatalf("statuses = %v, want %d × 201 and the rest 409", count, addressbook.MaxPerCustomer)
			}
			l := list(sh.token)
			if len(l) != addressbook.MaxPerCustomer {
				t.Fatalf("%d addresses kept", len(l))
			}
			res := s.do(req{method: "POST", path: "/api/v1/me/addresses", token: sh.token, body: map[string]any{"address": address}})
			if res.Status != 409 || res.Code(t) != addressbook.CodeFull {
				t.Fatalf("a full book = %d %s", res.Status, res.Body)
			}
			s.must(204, req{method: "DELETE", path: "/api/v1/me/addresses/" + l[0].ID, token: sh.token})
			s.must(201, req{method: "POST", path: "/api/v1/me/addresses", token: sh.token, body: map[string]any{"address": address}})
		})

		t.Run("the export holds it; the erasure removes it", func(t *testing.T) {
			var e struct {
				AddressBook []savedAddress `json:"address_book"`
			}
			s.must(200, req{method: "GET", path: "/api/v1/me/export", token: owner.token}).JSON(t, &e)
			if len(e.AddressBook) != 1 || e.AddressBook[0].ID != saved.ID || e.AddressBook[0].Address["phone"] != home["phone"] {
				t.Fatalf("export address book = %+v", e.AddressBook)
			}
			s.must(204, req{method: "DELETE", path: "/api/v1/me", token: owner.token, body: map[string]string{"password": testPassword}})
			var n int
			if err := shopDB(t, s).QueryRow("SELECT COUNT(*) FROM addresses WHERE id = $1", saved.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatal("the erased person's address is still stored")
			}
		})
	})
}
