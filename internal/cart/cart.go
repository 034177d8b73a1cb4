// Package cart owns shopping carts. A cart belongs to one customer, has a
// currency, and holds variant ids and quantities only: names and prices always come from the
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
	ErrFull     = apperr.New(apperr.CodeValidation, "a cart holds at most %d different items", MaxLines)
	// ErrCheckingOut refuses a change to a cart while a checkout pays it
	// (the code of checkout.ErrCartCheckedOut: 409, try again once it ended).
	ErrCheckingOut = apperr.New("checkout_in_progress", "the cart is being paid; change it once its checkout has ended")
)

// Line is a variant and how many of it.
type Line struct {
	VariantID string
	Quantity  int
}

// Cart is a customer's cart as stored. Currency is the one its lines are
// priced in ("" for a cart from before carts had one: the shop's default).
type Cart struct {
	ID        string
	OwnerID   string
	Currency  string
	Lines     []Line
	CreatedAt time.Time
}

// PricedLine is a line with the catalog's current product, variant and price.
type PricedLine struct {
	Product   catalog.Product
	Variant   catalog.Variant
	Quantity  int
	UnitPrice money.Money
	LineTotal money.Money
}

// View is a cart priced from the catalog in the cart's currency.
type View struct {
	ID       string
	Currency string
	Lines    []PricedLine
	Subtotal money.Money
}

// Store keeps carts.
type Store interface {
	CreateCart(ctx context.Context, c Cart) error
	// Cart returns the owner's cart; ErrNotFound for someone else's.
	Cart(ctx context.Context, ownerID, cartID string) (Cart, error)
	// SetLine sets a variant's quantity; quantity 0 removes the lines of
	// itemID, a variant id or a product id (every variant of it). ErrFull
	// past MaxLines, ErrCheckingOut while a checkout holds the cart.
	SetLine(ctx context.Context, ownerID, cartID, itemID string, quantity int, at time.Time) error
}

// Catalog finds what customers may buy, and the currencies the shop sells in.
type Catalog interface {
	// Purchasable resolves a variant id, or the product id of a
	// single-variant product, to a visible product and variant; anything
	// hidden or missing is catalog.ErrNotFound.
	Purchasable(ctx context.Context, itemID string) (catalog.Product, catalog.Variant, error)
	Sells(currency string) bool
	Currency() string
}

var _ Catalog = (*catalog.Service)(nil)

// Service is the cart use cases.
type Service struct {
	store   Store
	catalog Catalog
	now     func() time.Time
}

// NewService returns the cart service.
func NewService(store Store, cat Catalog, now func() time.Time) *Service {
	return &Service{store: store, catalog: cat, now: now}
}

// Create starts an empty cart for the caller in currency ("" for the shop's
// default); a currency the shop does not sell is catalog.ErrCurrencyNotSold.
func (s *Service) Create(ctx context.Context, currency string) (View, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return View{}, err
	}
	if currency == "" {
		currency = s.catalog.Currency()
	}
	if !s.catalog.Sells(currency) {
		return View{}, catalog.ErrCurrencyNotSold
	}
	c := Cart{ID: id.New(id.Cart), OwnerID: p.UserID, Currency: currency, CreatedAt: s.now().UTC()}
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

func (s *Service) currencyOf(c Cart) string {
	if c.Currency == "" {
		return s.catalog.Currency()
	}
	return c.Currency
}

// SetItem sets the quantity of a variant (or of a single-variant product,
// by its product id) in the caller's cart; 0 removes it. A hidden or missing
// item is catalog.ErrNotFound, alike; one without a price in the cart's
// currency is catalog.ErrNotPriced.
func (s *Service) SetItem(ctx context.Context, cartID, itemID string, quantity int) (View, error) {
	c, err := s.own(ctx, cartID)
	if err != nil {
		return View{}, err
	}
	var v apperr.Validator
	v.Check(quantity >= 0 && quantity <= MaxQuantity, "quantity", fmt.Sprintf("must be between 0 and %d", MaxQuantity))
	if err := v.Err(); err != nil {
		return View{}, err
	}
	if !id.Valid(id.Variant, itemID) && !id.Valid(id.Product, itemID) {
		return View{}, catalog.ErrNotFound
	}
	lineID := itemID
	if quantity > 0 {
		_, variant, err := s.catalog.Purchasable(ctx, itemID)
		if err != nil {
			return View{}, fmt.Errorf("add to cart: %w", err)
		}
		if _, ok := variant.Price(s.currencyOf(c)); !ok {
			return View{}, catalog.ErrNotPriced
		}
		lineID = variant.ID
	}
	if err := s.store.SetLine(ctx, c.OwnerID, c.ID, lineID, quantity, s.now().UTC()); err != nil {
		return View{}, fmt.Errorf("set cart line: %w", err)
	}
	return s.Get(ctx, cartID)
}

// Price returns c with every line priced from the catalog in the cart's
// currency. Lines customers may not buy now — hidden or gone, or without a
// price in the currency — are left out.
func (s *Service) Price(ctx context.Context, c Cart) (View, error) {
	cur := s.currencyOf(c)
	view := View{ID: c.ID, Currency: cur, Lines: []PricedLine{}, Subtotal: money.Money{Currency: cur}}
	for _, l := range c.Lines {
		p, variant, err := s.catalog.Purchasable(ctx, l.VariantID)
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return View{}, fmt.Errorf("price cart %s: %w", c.ID, err)
		}
		unit, ok := variant.Price(cur)
		if !ok {
			continue
		}
		total := money.Money{Amount: unit.Amount * int64(l.Quantity), Currency: cur}
		view.Lines = append(view.Lines, PricedLine{Product: p, Variant: variant, Quantity: l.Quantity, UnitPrice: unit, LineTotal: total})
		view.Subtotal.Amount += total.Amount
	}
	return view, nil
}
