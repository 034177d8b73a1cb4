package cart_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// fakeCatalog sells what it holds; hidden items are catalog.ErrNotFound, as
// the real catalog answers.
type fakeCatalog struct {
	items map[string]catalog.Variant
}

func (f fakeCatalog) Purchasable(_ context.Context, itemID string) (catalog.Product, catalog.Variant, error) {
	v, ok := f.items[itemID]
	if !ok {
		return catalog.Product{}, catalog.Variant{}, catalog.ErrNotFound
	}
	return catalog.Product{ID: v.ProductID, Name: "P"}, v, nil
}
func (fakeCatalog) Sells(c string) bool { return c == "EUR" || c == "USD" }
func (fakeCatalog) Currency() string    { return "EUR" }

type memCarts struct{ carts map[string]*cart.Cart }

func (m *memCarts) CreateCart(_ context.Context, c cart.Cart) error { m.carts[c.ID] = &c; return nil }
func (m *memCarts) Cart(_ context.Context, owner, cartID string) (cart.Cart, error) {
	c, ok := m.carts[cartID]
	if !ok || c.OwnerID != owner {
		return cart.Cart{}, cart.ErrNotFound
	}
	return *c, nil
}
func (m *memCarts) SetLine(_ context.Context, _, cartID, itemID string, q int, _ time.Time) error {
	c := m.carts[cartID]
	for i, l := range c.Lines {
		if l.VariantID == itemID {
			c.Lines = append(c.Lines[:i], c.Lines[i+1:]...)
			break
		}
	}
	if q > 0 {
		c.Lines = append(c.Lines, cart.Line{VariantID: itemID, Quantity: q})
	}
	return nil
}

func TestCart(t *testing.T) {
	both := catalog.Variant{ID: id.New(id.Variant), ProductID: id.New(id.Product), SKU: "B",
		Prices: []money.Money{{Amount: 100, Currency: "EUR"}, {Amount: 120, Currency: "USD"}}}
	euroOnly := catalog.Variant{ID: id.New(id.Variant), ProductID: id.New(id.Product), SKU: "E", Prices: []money.Money{{Amount: 50, Currency: "EUR"}}}
	cat := fakeCatalog{items: map[string]catalog.Variant{both.ID: both, euroOnly.ID: euroOnly}}
	store := &memCarts{carts: map[string]*cart.Cart{}}
	s := cart.NewService(store, cat, time.Now)
	ctx := access.WithPrincipal(context.Background(), &access.Principal{UserID: id.New(id.User), Roles: []access.Role{access.Customer}})

	t.Run("a cart is in the default currency unless one is named, and only in one sold", func(t *testing.T) {
		if v, err := s.Create(ctx, ""); err != nil || v.Currency != "EUR" || v.Subtotal.Currency != "EUR" {
			t.Fatalf("default cart = %+v %v", v, err)
		}
		if _, err := s.Create(ctx, "GBP"); !errors.Is(err, catalog.ErrCurrencyNotSold) {
			t.Fatalf("GBP cart: %v", err)
		}
	})
	usd, err := s.Create(ctx, "USD")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a variant without a price in the cart's currency is refused", func(t *testing.T) {
		if _, err := s.SetItem(ctx, usd.ID, euroOnly.ID, 1); !errors.Is(err, catalog.ErrNotPriced) {
			t.Fatalf("err = %v", err)
		}
		if _, err := s.SetItem(ctx, usd.ID, id.New(id.Variant), 1); !errors.Is(err, catalog.ErrNotFound) {
			t.Fatalf("unknown variant: %v", err)
		}
		if _, err := s.SetItem(ctx, usd.ID, "../etc", 1); !errors.Is(err, catalog.ErrNotFound) {
			t.Fatalf("not an id: %v", err)
		}
	})
	t.Run("lines are priced in the cart's currency; hidden or unpriced lines are left out", func(t *testing.T) {
		v, err := s.SetItem(ctx, usd.ID, both.ID, 3)
		if err != nil || len(v.Lines) != 1 || v.Lines[0].UnitPrice != (money.Money{Amount: 120, Currency: "USD"}) || v.Subtotal.Amount != 360 {
			t.Fatalf("cart = %+v %v", v, err)
		}
		store.carts[usd.ID].Lines = append(store.carts[usd.ID].Lines, cart.Line{VariantID: euroOnly.ID, Quantity: 1},
			cart.Line{VariantID: id.New(id.Variant), Quantity: 1})
		v, err = s.Get(ctx, usd.ID)
		if err != nil || len(v.Lines) != 1 || v.Subtotal.Amount != 360 {
			t.Fatalf("cart with an unpriced and a hidden line = %+v %v", v, err)
		}
	})
	t.Run("someone else's cart is not found", func(t *testing.T) {
		other := access.WithPrincipal(context.Background(), &access.Principal{UserID: id.New(id.User), Roles: []access.Role{access.Customer}})
		if _, err := s.Get(other, usd.ID); !errors.Is(err, cart.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
}
