// Package cart owns shopping carts. A cart belongs to one customer and holds
// product ids and quantities only: names and prices always come from the
// catalog when the cart is read (and again at checkout), never from the client.
package cart

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// Limits of a cart.
const (
	MaxQuantity = 99
	MaxLines    = 100
)

// Errors returned by the store and the service.
var (
	ErrNotFound = apperr.NotFound("cart")
	ErrFull     = apperr.New(apperr.CodeValidation, "a cart holds at most %d different products", MaxLines)
	// ErrCheckingOut refuses a change to a cart while a checkout pays it
	// (the code of checkout.ErrCartCheckedOut: 409, try again once it ended).
	ErrCheckingOut = apperr.New("checkout_in_progress", "the cart is being paid; change it once its checkout has ended")
)

// Line is a product and how many of it.
type Line struct {
	ProductID string
	Quantity  int
}

// Cart is a customer's cart as stored.
type Cart struct {
	ID        string
	OwnerID   string
	Lines     []Line
	CreatedAt time.Time
}

// PricedLine is a line with the catalog's current product and price.
type PricedLine struct {
	Product   catalog.Product
	Quantity  int
	LineTotal money.Money
}

// View is a cart priced from the catalog.
type View struct {
	ID       string
	Lines    []PricedLine
	Subtotal money.Money
}

// Store keeps carts.
type Store interface {
	CreateCart(ctx context.Context, c Cart) error
	// Cart returns the owner's cart; ErrNotFound for someone else's.
	Cart(ctx context.Context, ownerID, cartID string) (Cart, error)
	// SetLine sets a line's quantity (0 removes it); ErrFull past MaxLines,
	// ErrCheckingOut while a checkout holds the cart.
	SetLine(ctx context.Context, ownerID, cartID, productID string, quantity int, at time.Time) error
}

// Catalog reads products for pricing.
type Catalog interface {
	Product(ctx context.Context, id string) (catalog.Product, error)
}

// Service is the cart use cases.
type Service struct {
	store    Store
	catalog  Catalog
	currency string
	now      func() time.Time
}

// NewService returns the cart service.
func NewService(store Store, cat Catalog, currency string, now func() time.Time) *Service {
	return &Service{store: store, catalog: cat, currency: currency, now: now}
}

// Create starts an empty cart for the caller.
func (s *Service) Create(ctx context.Context) (View, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return View{}, err
	}
	c := Cart{ID: id.New(id.Cart), OwnerID: p.UserID, CreatedAt: s.now().UTC()}
	if err := s.store.CreateCart(ctx, c); err != nil {
		return View{}, fmt.Errorf("create cart: %w", err)
	}
	return s.Price(ctx, c)
}

// Get returns the caller's cart, priced.
func (s *Service) Get(ctx context.Context, cartID string) (View, error) {
	c, err := s.own(ctx, cartID)
	if err != nil {
		return View{}, err
	}
	return s.Price(ctx, c)
}

// Own returns the caller's cart as stored.
func (s *Service) own(ctx context.Context, cartID string) (Cart, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return Cart{}, err
	}
	if !id.Valid(id.Cart, cartID) {
		return Cart{}, ErrNotFound
	}
	return s.store.Cart(ctx, p.UserID, cartID)
}

// SetItem sets the quantity of a product in the caller's cart (0 removes it).
func (s *Service) SetItem(ctx context.Context, cartID, productID string, quantity int) (View, error) {
	c, err := s.own(ctx, cartID)
	if err != nil {
		return View{}, err
	}
	var v apperr.Validator
	v.Check(quantity >= 0 && quantity <= MaxQuantity, "quantity", fmt.Sprintf("must be between 0 and %d", MaxQuantity))
	if err := v.Err(); err != nil {
		return View{}, err
	}
	if quantity > 0 {
		if !id.Valid(id.Product, productID) {
			return View{}, catalog.ErrNotFound
		}
		p, err := s.catalog.Product(ctx, productID)
		if err != nil {
			return View{}, fmt.Errorf("add to cart: %w", err)
		}
		if !p.Active {
			return View{}, catalog.ErrNotFound
		}
	}
	if err := s.store.SetLine(ctx, c.OwnerID, c.ID, productID, quantity, s.now().UTC()); err != nil {
		return View{}, fmt.Errorf("set cart line: %w", err)
	}
	return s.Get(ctx, cartID)
}

// Price returns c with every line priced from the catalog. Lines whose product
// is gone or inactive are left out.
func (s *Service) Price(ctx context.Context, c Cart) (View, error) {
	view := View{ID: c.ID, Lines: []PricedLine{}, Subtotal: money.Money{Currency: s.currency}}
	for _, l := range c.Lines {
		p, err := s.catalog.Product(ctx, l.ProductID)
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return View{}, fmt.Errorf("price cart %s: %w", c.ID, err)
		}
		if !p.Active {
			continue
		}
		total := money.Money{Amount: p.Price.Amount * int64(l.Quantity), Currency: p.Price.Currency}
		view.Lines = append(view.Lines, PricedLine{Product: p, Quantity: l.Quantity, LineTotal: total})
		view.Subtotal.Amount += total.Amount
	}
	return view, nil
}
