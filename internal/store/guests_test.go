package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// A guest is never an account: no lookup of an account finds it, and none
// of the passes over accounts (legacy sealing, index recomputation and
// backfill) makes it findable by its email.
func TestGuestsAreNeverAccounts(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		ctx := context.Background()
		db := mustOpen(t, d)
		now := time.Now().UTC().Truncate(time.Microsecond)
		guestID := id.New(id.User)
		c := cart.Cart{ID: id.New(id.Cart), OwnerID: guestID, Currency: "EUR", CreatedAt: now}
		if err := db.CreateGuestCart(ctx, c, "hash-of-token"); err != nil {
			t.Fatal(err)
		}
		if err := db.SetGuestEmail(ctx, guestID, "guest@example.com", "Gus", now); err != nil {
			t.Fatal(err)
		}

		owner, hash, err := db.GuestCart(ctx, c.ID)
		if err != nil || owner != guestID || hash != "hash-of-token" {
			t.Fatalf("GuestCart = %q, %q, %v", owner, hash, err)
		}
		if _, err := db.Cart(ctx, guestID, c.ID); err != nil {
			t.Fatalf("the guest's cart by owner: %v", err)
		}

		// The passes over accounts run, as at every start and rotation.
		if _, _, err := db.SealLegacy(ctx, now); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.RecomputeEmailIndexes(ctx, "", 100); err != nil {
			t.Fatal(err)
		}
		if _, err := db.BackfillSkeletonIndexes(ctx); err != nil {
			t.Fatal(err)
		}

		if _, err := db.UserByEmail(ctx, "guest@example.com"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("UserByEmail finds the guest: %v", err)
		}
		if _, err := db.UserByID(ctx, guestID); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("UserByID finds the guest: %v", err)
		}
		g, err := db.GuestByID(ctx, guestID)
		if err != nil || g.Email != "guest@example.com" || len(g.Roles) != 0 || g.PasswordHash != "" {
			t.Fatalf("GuestByID = %+v, %v", g, err)
		}
		// The address is free for an account, which is not the guest.
		u := identity.User{ID: id.New(id.User), Email: "guest@example.com", Name: "Acc", PasswordHash: "h",
			Roles: []access.Role{access.Customer}, CreatedAt: now}
		if err := db.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
			t.Fatalf("an account with the guest's email: %v", err)
		}
		if found, err := db.UserByEmail(ctx, "guest@example.com"); err != nil || found.ID != u.ID {
			t.Fatalf("UserByEmail = %s, %v; want the account %s", found.ID, err, u.ID)
		}
		if _, err := db.GuestByID(ctx, u.ID); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("GuestByID finds an account: %v", err)
		}
		if _, _, err := db.GuestCart(ctx, id.New(id.Cart)); !errors.Is(err, cart.ErrNotFound) {
			t.Fatalf("GuestCart of no cart: %v", err)
		}

		t.Run("erased, the guest's cart is no longer reached", func(t *testing.T) {
			if _, err := db.Erase(ctx, guestID, rec("user.erase", guestID)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.GuestCart(ctx, c.ID); !errors.Is(err, cart.ErrNotFound) {
				t.Fatalf("GuestCart after erasure: %v", err)
			}
			if err := db.SetGuestEmail(ctx, guestID, "again@example.com", "", now); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("SetGuestEmail after erasure: %v", err)
			}
		})

		t.Run("guest card tokens are held until dropped, and listed once stale", func(t *testing.T) {
			if err := db.HoldGuestCard(ctx, "tok_a", now.Add(-2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := db.HoldGuestCard(ctx, "tok_b", now); err != nil {
				t.Fatal(err)
			}
			stale, err := db.StaleGuestCards(ctx, now.Add(-time.Hour), 10)
			if err != nil || len(stale) != 1 || stale[0] != "tok_a" {
				t.Fatalf("stale = %v, %v", stale, err)
			}
			if err := db.DropGuestCard(ctx, "tok_a"); err != nil {
				t.Fatal(err)
			}
			if stale, _ := db.StaleGuestCards(ctx, now.Add(time.Hour), 10); len(stale) != 1 || stale[0] != "tok_b" {
				t.Fatalf("after dropping tok_a: %v", stale)
			}
		})
	})
}
