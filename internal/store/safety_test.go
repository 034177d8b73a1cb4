package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestCheckoutClaims: a reservation claims its cart (a second reservation of
// it, and any change to it, is refused until the first ends), carries its
// instance's lease, is listed as expired only once the lease ran out, and
// Release frees the cart. A database's identity is made once.
func TestCheckoutClaims(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC()
		u := identity.User{ID: id.New(id.User), Email: "claims@example.com", Name: "C", PasswordHash: "h",
			Roles: []access.Role{access.Customer}, CreatedAt: now}
		if err := db.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
			t.Fatal(err)
		}
		p := singleVariant("CLAIM-1", money.Money{Amount: 500, Currency: "EUR"}, 10)
		if err := db.CreateProduct(ctx, p, rec("catalog.create", p.ID)); err != nil {
			t.Fatal(err)
		}
		m := payment.Method{ID: id.New(id.PaymentMethod), OwnerID: u.ID, Token: id.New(id.CardToken), Brand: "visa", Last4: "4242",
			ExpMonth: 12, ExpYear: 2031, CreatedAt: now}
		if err := db.CreateMethod(ctx, m, 10, rec("payment.create", m.ID)); err != nil {
			t.Fatal(err)
		}
		c := cart.Cart{ID: id.New(id.Cart), OwnerID: u.ID, Currency: "EUR", CreatedAt: now}
		if err := db.CreateCart(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := db.SetLine(ctx, u.ID, c.ID, p.Variants[0].ID, 2, now); err != nil {
			t.Fatal(err)
		}
		reservation := func(key string) checkout.Reservation {
			return pricedAt(t, db, checkout.Reservation{OrderID: id.New(id.Order), Key: key, Hash: "h-" + key, CustomerID: u.ID, CartID: c.ID, Method: m,
				Address: order.Address{Name: "C", Line1: "1", City: "B", PostalCode: "1", Country: "DE"}, At: now,
				Owner: "ins_a", LeaseUntil: now.Add(30 * time.Second)}, 500)
		}

		first := reservation("k1")
		if _, prior, err := db.Reserve(ctx, first); err != nil || !prior.Fresh {
			t.Fatalf("first reservation: %+v %v", prior, err)
		}
		t.Run("a second checkout of the cart is refused and claims nothing", func(t *testing.T) {
			if _, _, err := db.Reserve(ctx, reservation("k2")); !errors.Is(err, checkout.ErrCartCheckedOut) {
				t.Fatalf("second reservation: %v", err)
			}
			if prior, err := db.BeginIdempotent(ctx, u.ID, order.ScopeCheckout, "k2", "h-k2", now); err != nil || !prior.Fresh {
				t.Fatalf("the refused checkout's key was claimed: %+v %v", prior, err)
			}
			if err := db.ForgetIdempotent(ctx, u.ID, order.ScopeCheckout, "k2"); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("the cart does not change while a checkout holds it", func(t *testing.T) {
			if err := db.SetLine(ctx, u.ID, c.ID, p.Variants[0].ID, 5, now); !errors.Is(err, cart.ErrCheckingOut) {
				t.Fatalf("change during checkout: %v", err)
			}
			if err := db.SetLine(ctx, id.New(id.User), c.ID, p.Variants[0].ID, 5, now); !errors.Is(err, cart.ErrNotFound) {
				t.Fatalf("someone else's cart: %v", err)
			}
		})
		t.Run("the lease decides what is abandoned, and renewal extends it", func(t *testing.T) {
			if left, err := db.ExpiredPending(ctx, now.Add(29*time.Second)); err != nil || len(left) != 0 {
				t.Fatalf("expired before the lease ran out: %v %v", left, err)
			}
			if err := db.RenewLeases(ctx, "ins_a", []string{first.OrderID}, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if left, err := db.ExpiredPending(ctx, now.Add(45*time.Second)); err != nil || len(left) != 0 {
				t.Fatalf("expired after renewal: %v %v", left, err)
			}
			left, err := db.ExpiredPending(ctx, now.Add(2*time.Minute))
			if err != nil || len(left) != 1 || left[0].OrderID != first.OrderID || left[0].Key != "k1" {
				t.Fatalf("expired after the renewed lease: %+v %v", left, err)
			}
		})
		t.Run("release frees the cart", func(t *testing.T) {
			if err := db.Release(ctx, first.OrderID, "k1", "", rec(order.ActionCheckout, first.OrderID)); err != nil {
				t.Fatal(err)
			}
			if err := db.SetLine(ctx, u.ID, c.ID, p.Variants[0].ID, 3, now); err != nil {
				t.Fatalf("change after release: %v", err)
			}
			if _, prior, err := db.Reserve(ctx, reservation("k3")); err != nil || !prior.Fresh {
				t.Fatalf("reservation after release: %+v %v", prior, err)
			}
		})
		t.Run("a database's identity is made once", func(t *testing.T) {
			a, err := db.Identity(ctx)
			if err != nil || !id.Valid(id.Database, a) {
				t.Fatalf("identity %q %v", a, err)
			}
			b, err := db.Identity(ctx)
			if err != nil || b != a {
				t.Fatalf("identity changed: %q then %q (%v)", a, b, err)
			}
			if known, err := db.KnownIdentity(ctx); err != nil || known != a {
				t.Fatalf("known identity %q %v", known, err)
			}
		})
	})
}

// TestPaymentMethodLimitUnderRace saves 30 cards for one account at once
// with a limit of 20: exactly 20 are kept, on both engines (on PostgreSQL
// the count and insert of each save take turns on the owner's row).
func TestPaymentMethodLimitUnderRace(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC()
		u := identity.User{ID: id.New(id.User), Email: "cards-race@example.com", Name: "C", PasswordHash: "h",
			Roles: []access.Role{access.Customer}, CreatedAt: now}
		if err := db.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 30 {
			wg.Go(func() {
				m := payment.Method{ID: id.New(id.PaymentMethod), OwnerID: u.ID, Token: id.New(id.CardToken), Brand: "visa", Last4: "4242",
					ExpMonth: 12, ExpYear: 2031, CreatedAt: now}
				_ = db.CreateMethod(ctx, m, 20, rec("payment.create", m.ID))
			})
		}
		wg.Wait()
		ms, err := db.Methods(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 20 {
			t.Fatalf("%d payment methods kept, want 20", len(ms))
		}
	})
}
