package store_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestAnswersStoredBeforeTheRecordReplay writes answers the way versions
// before the stored-answer record did (the public order JSON, sealed under
// the customer's key or in the clear) and replays them; then seals the old
// rows at start, as every start does, and replays again. An answer about an
// erased customer (a staff refund's, kept without the person) must survive
// that start: deleting it freed the key, and a retried refund would refund again.
func TestAnswersStoredBeforeTheRecordReplay(t *testing.T) {
	legacy, err := os.ReadFile(filepath.Join("testdata", "answer_legacy.json"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		newUser := func(email string) identity.User {
			u := identity.User{ID: id.New(id.User), Email: email, Name: "Ada", PasswordHash: "h",
				Roles: []access.Role{access.Customer}, CreatedAt: time.Now()}
			if err := db.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
				t.Fatal(err)
			}
			return u
		}
		// answerOf is the legacy answer as an order of customer.
		answerOf := func(customer string) ([]byte, order.Order) {
			b := []byte(strings.ReplaceAll(string(legacy), "usr_golden", customer))
			var o order.Order
			if err := json.Unmarshal(b, &o); err != nil {
				t.Fatal(err)
			}
			// Orders had no discount or tax then: they read as none, in the
			// order's currency.
			cur := o.Total.Currency
			o.Discount.Currency, o.Tax.Currency, o.Taxes = cur, cur, []order.TaxLine{}
			for i := range o.Lines {
				o.Lines[i].Discount.Currency, o.Lines[i].Tax.Currency = cur, cur
			}
			return b, o
		}
		replays := func(t *testing.T, owner, scope, key string, want order.Order) {
			t.Helper()
			p, err := db.BeginIdempotent(ctx, owner, scope, key, "hash-"+key, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if p.Order == nil {
				t.Fatalf("%s: no stored answer (%+v)", key, p)
			}
			g, _ := json.Marshal(*p.Order)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("%s replays\n %s\nwant %s", key, g, w)
			}
		}

		u := newUser("legacy-answer@example.com")
		b, want := answerOf(u.ID)
		if err := store.WriteAnswerAsBefore(ctx, db, u.ID, order.ScopeCheckout, "sealed-1", "hash-sealed-1", u.ID, b, true); err != nil {
			t.Fatal(err)
		}
		if err := store.WriteAnswerAsBefore(ctx, db, u.ID, order.ScopeCheckout, "plain-1", "hash-plain-1", u.ID, b, false); err != nil {
			t.Fatal(err)
		}
		gone := newUser("erased-answer@example.com")
		staff := id.New(id.User)
		gb, gwant := answerOf(gone.ID)
		if _, err := db.Erase(ctx, gone.ID, rec("user.erase", gone.ID)); err != nil {
			t.Fatal(err)
		}
		// As the erasure of a version before the record left a staff refund's answer.
		gwant.ShippingAddress = order.Address{Country: gwant.ShippingAddress.Country}
		gwant.CustomerEmail, gwant.CustomerName = "", ""
		stripped, _ := json.Marshal(gwant)
		if err := store.WriteAnswerAsBefore(ctx, db, staff, order.ScopeRefund, "refund-1", "hash-refund-1", gone.ID, stripped, false); err != nil {
			t.Fatal(err)
		}
		// And a legacy answer in the clear about the erased person, person and all.
		if err := store.WriteAnswerAsBefore(ctx, db, staff, order.ScopeRefund, "refund-2", "hash-refund-2", gone.ID, gb, false); err != nil {
			t.Fatal(err)
		}

		t.Run("as they were written", func(t *testing.T) {
			replays(t, u.ID, order.ScopeCheckout, "sealed-1", want)
			replays(t, u.ID, order.ScopeCheckout, "plain-1", want)
			replays(t, staff, order.ScopeRefund, "refund-1", gwant)
		})
		t.Run("after the start seals the old rows", func(t *testing.T) {
			if _, _, err := db.SealLegacy(ctx, time.Now()); err != nil {
				t.Fatal(err)
			}
			replays(t, u.ID, order.ScopeCheckout, "sealed-1", want)
			replays(t, u.ID, order.ScopeCheckout, "plain-1", want)
			replays(t, staff, order.ScopeRefund, "refund-1", gwant)
			replays(t, staff, order.ScopeRefund, "refund-2", gwant)
			if plain, err := store.PlainAnswer(ctx, db, u.ID, order.ScopeCheckout, "plain-1"); err != nil || plain != "" {
				t.Errorf("the old answer is still in the clear: %q, %v", plain, err)
			}
			for _, key := range []string{"refund-1", "refund-2"} {
				plain, err := store.PlainAnswer(ctx, db, staff, order.ScopeRefund, key)
				if err != nil || !strings.HasPrefix(plain, `{"v":1,`) || strings.Contains(plain, "Lovelace") || strings.Contains(plain, "ada@example.com") {
					t.Errorf("%s is kept as %q, %v; want a record without the person", key, plain, err)
				}
			}
			if _, n, err := db.SealLegacy(ctx, time.Now()); err != nil || n != 0 {
				t.Errorf("a second start found %d to seal, %v", n, err)
			}
		})
	})
}
