package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestCartLines: a line is added, changed and removed by SetLine, and reads
// back (in variant order, with the cart's choices) from one statement; a
// cart takes cart.MaxLines different items and refuses one more with
// ErrFull, storing nothing, while its lines can still change.
func TestCartLines(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC()
		u := identity.User{ID: id.New(id.User), Email: "lines@example.com", Name: "L", PasswordHash: "h",
			Roles: []access.Role{access.Customer}, CreatedAt: now}
		if err := db.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
			t.Fatal(err)
		}
		variants := make([]string, cart.MaxLines+1)
		for i := range variants {
			p := singleVariant(fmt.Sprintf("LINE-%d", i), money.Money{Amount: 100, Currency: "EUR"}, 5)
			if err := db.CreateProduct(ctx, p, rec("catalog.create", p.ID)); err != nil {
				t.Fatal(err)
			}
			variants[i] = p.Variants[0].ID
		}
		slices.Sort(variants)
		c := cart.Cart{ID: id.New(id.Cart), OwnerID: u.ID, Currency: "EUR", CreatedAt: now}
		if err := db.CreateCart(ctx, c); err != nil {
			t.Fatal(err)
		}
		lines := func(t *testing.T) []cart.Line {
			t.Helper()
			got, err := db.Cart(ctx, u.ID, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Currency != "EUR" || !got.CreatedAt.Equal(now.Truncate(time.Microsecond)) {
				t.Fatalf("cart read back as %+v", got)
			}
			return got.Lines
		}
		t.Run("an empty cart has no lines", func(t *testing.T) {
			if got := lines(t); len(got) != 0 {
				t.Fatalf("lines %v", got)
			}
		})
		t.Run("lines are added, changed and read back in variant order", func(t *testing.T) {
			for i := len(variants) - 2; i >= 0; i-- { // the last is kept for the full cart
				if err := db.SetLine(ctx, u.ID, c.ID, variants[i], 1+i%99, now); err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
			}
			if err := db.SetLine(ctx, u.ID, c.ID, variants[0], 7, now); err != nil {
				t.Fatal(err)
			}
			got := lines(t)
			if len(got) != cart.MaxLines {
				t.Fatalf("%d lines, want %d", len(got), cart.MaxLines)
			}
			for i, l := range got {
				want := 1 + i%99
				if i == 0 {
					want = 7
				}
				if l.VariantID != variants[i] || l.Quantity != want {
					t.Fatalf("line %d = %+v, want %s × %d", i, l, variants[i], want)
				}
			}
		})
		t.Run("a full cart refuses another item and stores nothing", func(t *testing.T) {
			if err := db.SetLine(ctx, u.ID, c.ID, variants[cart.MaxLines], 1, now); !errors.Is(err, cart.ErrFull) {
				t.Fatalf("line past the limit: %v", err)
			}
			if got := lines(t); len(got) != cart.MaxLines || slices.ContainsFunc(got, func(l cart.Line) bool { return l.VariantID == variants[cart.MaxLines] }) {
				t.Fatalf("the refused line was stored: %d lines", len(got))
			}
		})
		t.Run("a full cart's lines still change, and a removed one makes room", func(t *testing.T) {
			if err := db.SetLine(ctx, u.ID, c.ID, variants[1], 9, now); err != nil {
				t.Fatalf("change in a full cart: %v", err)
			}
			if err := db.SetLine(ctx, u.ID, c.ID, variants[2], 0, now); err != nil {
				t.Fatal(err)
			}
			if err := db.SetLine(ctx, u.ID, c.ID, variants[cart.MaxLines], 4, now); err != nil {
				t.Fatalf("line after one was removed: %v", err)
			}
			got := lines(t)
			if len(got) != cart.MaxLines || got[1].Quantity != 9 || got[2].VariantID != variants[3] ||
				got[len(got)-1] != (cart.Line{VariantID: variants[cart.MaxLines], Quantity: 4}) {
				t.Fatalf("lines after the changes: %v", got[:3])
			}
		})
	})
}
