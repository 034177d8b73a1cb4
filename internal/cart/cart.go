// Package cart owns shopping carts. A cart belongs to one customer, has a
// currency, and holds variant ids and quantities and the customer's choices
// (a discount code, where it ships to, a shipping option) only: names,
// prices, discounts, shipping and taxes always come from the catalog and
// from internal/pricing when the cart is read (and again at checkout), never
// from the client.
package cart

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
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
	// ErrShippingRequired is a cart whose destination some shipping options
	// serve, with none of them chosen: checkout would otherwise ship for free.
	ErrShippingRequired = apperr.New(CodeShippingRequired, "choose one of the shipping options for this address first (PUT /api/v1/carts/{id}/shipping)")
	// ErrNotShippedThere is a destination (or a currency) that none of the
	// shop's shipping options serves, in a shop that has some.
	ErrNotShippedThere = apperr.New(apperr.CodeShippingUnavailable, "the shop does not ship to this address in this currency")
	// ErrUnavailableItems is a cart holding items customers cannot buy now
	// (withdrawn from sale, or not priced in the cart's currency): the answer
	// checkout gives for stock it cannot take.
	ErrUnavailableItems = apperr.New("out_of_stock", "some items of the cart cannot be bought now; remove them (see unavailable_items)")
)

// CodeShippingRequired is the code of ErrShippingRequired.
const CodeShippingRequired = "shipping_required"

// Line is a variant and how many of it.
type Line struct {
	VariantID string
	Quantity  int
}

// Cart is a customer's cart as stored. Currency is the one its lines are
// priced in ("" for a cart from before carts had one: the shop's default).
type Cart struct {
	ID       string
	OwnerID  string
	Currency string
	Lines    []Line
	// DiscountCode is the normalized code the customer applied ("" for none).
	DiscountCode string
	// Destination is the country and region the cart ships to, nil until the
	// customer gives them; ShippingOptionID is the option chosen ("" for none).
	Destination      *pricing.Destination
	ShippingOptionID string
	CreatedAt        time.Time
}

// SameContents reports whether a and b hold the same lines and choices: a
// checkout reserves a cart only as it was priced.
func SameContents(a, b Cart) bool {
	if len(a.Lines) != len(b.Lines) || a.DiscountCode != b.DiscountCode || a.ShippingOptionID != b.ShippingOptionID ||
		(a.Destination == nil) != (b.Destination == nil) || (a.Destination != nil && *a.Destination != *b.Destination) {
		return false
	}
	for i := range a.Lines {
		if a.Lines[i] != b.Lines[i] {
			return false
		}
	}
	return true
}

// PricedLine is a line with the catalog's current product, variant and
// price, and its part of the discount and the tax.
type PricedLine struct {
	Product   catalog.Product
	Variant   catalog.Variant
	Quantity  int
	UnitPrice money.Money
	LineTotal money.Money
	Discount  money.Money
	Tax       money.Money
}

// View is a cart priced in its currency: the lines customers may buy now,
// the lines they may not (Unavailable), and every amount pricing computed.
// Problems are the refusals checkout would give for this cart as it is
// (besides stock and payment, which only checkout can know); the amounts are
// those of the cart without what a problem names (a discount code that no
// longer applies, a shipping option that no longer serves it).
type View struct {
	Cart        Cart
	ID          string
	Currency    string
	Lines       []PricedLine
	Unavailable []Line
	Subtotal    money.Money
	Quote       pricing.Quote
	Problems    []*apperr.Error
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
	// SetDiscountCode sets the cart's discount code ("" removes it);
	// ErrCheckingOut while a checkout holds the cart.
	SetDiscountCode(ctx context.Context, ownerID, cartID, code string, at time.Time) error
	// SetShipping sets where the cart ships to and the option chosen;
	// ErrCheckingOut while a checkout holds the cart.
	SetShipping(ctx context.Context, ownerID, cartID string, d pricing.Destination, optionID string, at time.Time) error
}

// Catalog finds what customers may buy, and the currencies the shop sells in.
type Catalog interface {
	// Purchasable resolves a variant id, or the product id of a
	// single-variant product, to a visible product and variant; anything
	// hidden or missing is catalog.ErrNotFound.
	Purchasable(ctx context.Context, itemID string) (catalog.Product, catalog.Variant, error)
	// PurchasableVariants resolves many variant ids at once; hidden and
	// missing ones are absent from the map.
	PurchasableVariants(ctx context.Context, variantIDs []string) (map[string]catalog.Item, error)
	Sells(currency string) bool
	Currency() string
}

var _ Catalog = (*catalog.Service)(nil)

// Pricer computes every amount (internal/pricing).
type Pricer interface {
	Quote(ctx context.Context, r pricing.QuoteRequest) (pricing.Quote, error)
}

var _ Pricer = (*pricing.Service)(nil)

// Guard limits how many discount codes a customer and a client address may
// try (pricing.Guard).
type Guard interface {
	Attempt(ctx context.Context, customerID, ip string) (locked []string, err error)
}

var _ Guard = (*pricing.Guard)(nil)

// Deps is what the cart service is built from.
type Deps struct {
	Store   Store
	Catalog Catalog
	Pricer  Pricer
	Guard   Guard
	Trail   *audit.Trail
	// CodeRefused, when set, is told of every refused discount code (false)
	// and of every try that locked code entry (true): guessing signals for
	// metrics and threat detection.
	CodeRefused func(locked bool)
	Now         func() time.Time
}

// Service is the cart use cases.
type Service struct{ d Deps }

// NewService returns the cart service.
func NewService(d Deps) *Service {
	if d.CodeRefused == nil {
		d.CodeRefused = func(bool) {}
	}
	return &Service{d: d}
}

// ActionDiscountGuessing is the audit action of a lock on discount codes.
const ActionDiscountGuessing = "discount.guessing_locked"

// Create starts an empty cart for the caller in currency ("" for the shop's
// default); a currency the shop does not sell is catalog.ErrCurrencyNotSold.
func (s *Service) Create(ctx context.Context, currency string) (View, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return View{}, err
	}
	c, err := s.Blank(p.UserID, currency)
	if err != nil {
		return View{}, err
	}
	if err := s.d.Store.CreateCart(ctx, c); err != nil {
		return View{}, fmt.Errorf("create cart: %w", err)
	}
	return s.Price(ctx, c, nil)
}

// Blank returns a new, empty cart of ownerID in currency ("" for the shop's
// default), not stored yet; catalog.ErrCurrencyNotSold for a currency the
// shop does not sell. Guest checkout stores it with its guest.
func (s *Service) Blank(ownerID, currency string) (Cart, error) {
	if currency == "" {
		currency = s.d.Catalog.Currency()
	}
	if !s.d.Catalog.Sells(currency) {
		return Cart{}, catalog.ErrCurrencyNotSold
	}
	return Cart{ID: id.New(id.Cart), OwnerID: ownerID, Currency: currency, CreatedAt: s.d.Now().UTC()}, nil
}

// Get returns the caller's cart, priced.
func (s *Service) Get(ctx context.Context, cartID string) (View, error) {
	c, err := s.own(ctx, cartID)
	if err != nil {
		return View{}, err
	}
	return s.Price(ctx, c, nil)
}

// ForCheckout returns the caller's cart priced for shipping to d (the
// checkout's address, which may differ from the one the cart was shown for).
func (s *Service) ForCheckout(ctx context.Context, cartID string, d pricing.Destination) (View, error) {
	c, err := s.own(ctx, cartID)
	if err != nil {
		return View{}, err
	}
	return s.Price(ctx, c, &d)
}

// own returns the caller's cart as stored: an account's own cart, or the
// one cart whose token a guest showed (any other is ErrNotFound, alike).
func (s *Service) own(ctx context.Context, cartID string) (Cart, error) {
	p := access.PrincipalFrom(ctx)
	if p == nil || p.GuestCartID == "" {
		if _, err := access.Require(ctx, access.Authenticated); err != nil {
			return Cart{}, err
		}
	}
	if !id.Valid(id.Cart, cartID) || !p.Shops(cartID) {
		return Cart{}, ErrNotFound
	}
	return s.d.Store.Cart(ctx, p.UserID, cartID)
}

func (s *Service) currencyOf(c Cart) string {
	if c.Currency == "" {
		return s.d.Catalog.Currency()
	}
	return c.Currency
}

// SetItem sets the quantity of a variant (or of a single-variant product,
// by its product id) in the caller's cart; 0 removes it. A hidden or missing
// item is catalog.ErrNotFound, alike; one without a price in the cart's
// currency is catalog.ErrNotPriced; a quantity that would take the cart past
// the largest amount the shop handles is refused (422) and stores nothing.
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
		_, variant, err := s.d.Catalog.Purchasable(ctx, itemID)
		if err != nil {
			return View{}, fmt.Errorf("add to cart: %w", err)
		}
		if _, ok := variant.Price(s.currencyOf(c)); !ok {
			return View{}, catalog.ErrNotPriced
		}
		lineID = variant.ID
		// Priced as it would be, before anything is stored: a cart whose
		// amounts would overflow is refused here, not shown broken after.
		if _, err := s.Price(ctx, withLine(c, lineID, quantity), nil); err != nil {
			return View{}, err
		}
	}
	if err := s.d.Store.SetLine(ctx, c.OwnerID, c.ID, lineID, quantity, s.d.Now().UTC()); err != nil {
		return View{}, fmt.Errorf("set cart line: %w", err)
	}
	return s.Get(ctx, cartID)
}

// withLine is c with variantID's quantity set (a line added if it had none).
func withLine(c Cart, variantID string, quantity int) Cart {
	lines := make([]Line, 0, len(c.Lines)+1)
	found := false
	for _, l := range c.Lines {
		if l.VariantID == variantID {
			l.Quantity, found = quantity, true
		}
		lines = append(lines, l)
	}
	if !found {
		lines = append(lines, Line{VariantID: variantID, Quantity: quantity})
	}
	c.Lines = lines
	return c
}

// SetDiscount applies a discount code to the caller's cart. A code that does
// not apply to the cart answers discount_invalid (one answer whatever the
// reason) or discount_exhausted and stores nothing. Every code tried counts
// against the customer's and the address's limit (pricing.Guard), before it
// is evaluated; past it every code is refused 429 for a while, and the lock
// is audited.
func (s *Service) SetDiscount(ctx context.Context, cartID, code string) (View, error) {
	c, err := s.own(ctx, cartID)
	if err != nil {
		return View{}, err
	}
	locked, err := s.d.Guard.Attempt(ctx, c.OwnerID, reqinfo.From(ctx).IP)
	for _, what := range locked {
		if aerr := s.d.Trail.Record(ctx, ActionDiscountGuessing, c.OwnerID, audit.Failure,
			fmt.Sprintf("discount codes locked for this %s for %s after %s", what, pricing.GuessLock, limitOf(what))); aerr != nil {
			return View{}, aerr
		}
	}
	if err != nil {
		if len(locked) > 0 {
			s.d.CodeRefused(true)
		}
		return View{}, err
	}
	normalized, ok := pricing.NormalizeCode(code)
	var view View
	var refusal error = pricing.ErrDiscountUnknown
	if ok {
		c.DiscountCode = normalized
		if view, err = s.Price(ctx, c, nil); err != nil {
			return View{}, err
		}
		refusal = view.problem(apperr.CodeDiscountInvalid, apperr.CodeDiscountExhausted)
	}
	if refusal != nil {
		s.d.CodeRefused(false)
		return View{}, refusal
	}
	if err := s.d.Store.SetDiscountCode(ctx, c.OwnerID, c.ID, normalized, s.d.Now().UTC()); err != nil {
		return View{}, fmt.Errorf("set discount code: %w", err)
	}
	return view, nil
}

func limitOf(what string) string {
	if what == "address" {
		return fmt.Sprintf("%d codes tried in %s from one address", pricing.GuessesPerAddress, pricing.GuessWindow)
	}
	return fmt.Sprintf("%d codes tried in %s", pricing.GuessesPerCustomer, pricing.GuessWindow)
}

// RemoveDiscount takes the discount code off the caller's cart.
func (s *Service) RemoveDiscount(ctx context.Context, cartID string) (View, error) {
	c, err := s.own(ctx, cartID)
	if err != nil {
		return View{}, err
	}
	if err := s.d.Store.SetDiscountCode(ctx, c.OwnerID, c.ID, "", s.d.Now().UTC()); err != nil {
		return View{}, fmt.Errorf("remove discount code: %w", err)
	}
	return s.Get(ctx, cartID)
}

// SetShipping sets where the caller's cart ships to (a country and, where
// taxes or shipping differ by it, a region) and the shipping option chosen
// ("" to choose later). An option that does not serve the cart there answers
// shipping_unavailable and stores nothing.
func (s *Service) SetShipping(ctx context.Context, cartID string, d pricing.Destination, optionID string) (View, error) {
	c, err := s.own(ctx, cartID)
	if err != nil {
		return View{}, err
	}
	if err := pricing.CheckDestination(d, "address"); err != nil {
		return View{}, err
	}
	c.Destination, c.ShippingOptionID = &d, optionID
	view, err := s.Price(ctx, c, nil)
	if err != nil {
		return View{}, err
	}
	if err := view.problem(apperr.CodeShippingUnavailable, pricing.CodeRegionRequired); err != nil {
		return View{}, err
	}
	if err := s.d.Store.SetShipping(ctx, c.OwnerID, c.ID, d, optionID, s.d.Now().UTC()); err != nil {
		return View{}, fmt.Errorf("set shipping: %w", err)
	}
	return view, nil
}

// problem returns the first of v's problems with one of codes, or nil.
func (v View) problem(codes ...string) error {
	for _, p := range v.Problems {
		for _, c := range codes {
			if p.Code == c {
				return p
			}
		}
	}
	return nil
}

// CheckoutProblem is the refusal checkout gives for v, or nil: items that
// cannot be bought, an empty cart, a discount code or shipping option that
// does not apply, or shipping not chosen.
func (v View) CheckoutProblem() error {
	if len(v.Unavailable) > 0 {
		return ErrUnavailableItems
	}
	if len(v.Problems) > 0 {
		return v.Problems[0]
	}
	return nil
}

// Price returns c priced in its currency, with its discount code and
// shipping option, for shipping to dest (nil: the cart's own destination).
// Lines customers may not buy now — hidden or gone, or without a price in
// the currency — are not priced but listed in Unavailable. A discount code or
// shipping option that does not apply is left out of the amounts and named
// in Problems; any other refusal of pricing (amounts past the largest the
// shop handles) is returned.
func (s *Service) Price(ctx context.Context, c Cart, dest *pricing.Destination) (View, error) {
	cur := s.currencyOf(c)
	view := View{Cart: c, ID: c.ID, Currency: cur, Lines: []PricedLine{}, Unavailable: []Line{}, Subtotal: money.Money{Currency: cur}}
	ids := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		ids[i] = l.VariantID
	}
	items, err := s.d.Catalog.PurchasableVariants(ctx, ids)
	if err != nil {
		return View{}, fmt.Errorf("price cart %s: %w", c.ID, err)
	}
	req := pricing.QuoteRequest{Currency: cur, DiscountCode: c.DiscountCode, CustomerID: c.OwnerID, Guest: isGuest(ctx),
		Destination: dest, ShippingOptionID: c.ShippingOptionID}
	if dest == nil {
		req.Destination = c.Destination
	}
	if req.Destination == nil {
		req.ShippingOptionID = "" // an option is chosen with a destination
	}
	for _, l := range c.Lines {
		it, ok := items[l.VariantID]
		unit, priced := it.Variant.Price(cur)
		if !ok || !priced {
			view.Unavailable = append(view.Unavailable, l)
			continue
		}
		view.Lines = append(view.Lines, PricedLine{Product: it.Product, Variant: it.Variant, Quantity: l.Quantity, UnitPrice: unit})
		req.Lines = append(req.Lines, pricing.Line{VariantID: l.VariantID, ProductID: it.Product.ID, CategoryIDs: it.Product.Categories,
			UnitPrice: unit.Amount, Quantity: int64(l.Quantity), WeightGrams: it.Variant.WeightGrams})
	}
	q, err := s.quote(ctx, req, &view)
	if err != nil {
		return View{}, err
	}
	view.Quote = q
	view.Subtotal.Amount = q.Subtotal
	for i, ql := range q.Lines {
		l := &view.Lines[i]
		l.LineTotal = money.Money{Amount: ql.Total, Currency: cur}
		l.Discount = money.Money{Amount: ql.Discount, Currency: cur}
		l.Tax = money.Money{Amount: ql.Tax, Currency: cur}
	}
	return view, nil
}

// quote prices req; a discount code or a shipping option pricing refuses is
// recorded as a problem of view and the cart priced without it.
func (s *Service) quote(ctx context.Context, req pricing.QuoteRequest, view *View) (pricing.Quote, error) {
	for {
		q, err := s.d.Pricer.Quote(ctx, req)
		var e *apperr.Error
		switch {
		case err == nil:
			if req.Destination != nil && req.ShippingOptionID == "" && view.problem(apperr.CodeShippingUnavailable) == nil {
				switch {
				case q.ShippingChoices > 0:
					view.Problems = append(view.Problems, ErrShippingRequired)
				case q.ShipsAnywhere:
					// The shop ships, but not there (or not in this
					// currency): not a free delivery.
					view.Problems = append(view.Problems, ErrNotShippedThere)
				}
			}
			return q, nil
		case !errors.As(err, &e):
			return pricing.Quote{}, fmt.Errorf("price cart %s: %w", view.ID, err)
		case req.DiscountCode != "" && (e.Code == apperr.CodeDiscountInvalid || e.Code == apperr.CodeDiscountExhausted):
			view.Problems = append(view.Problems, e)
			req.DiscountCode = ""
		case req.ShippingOptionID != "" && e.Code == apperr.CodeShippingUnavailable:
			view.Problems = append(view.Problems, e)
			req.ShippingOptionID = ""
		case req.Destination != nil && e.Code == pricing.CodeRegionRequired:
			// Priced as if no address were given yet: no tax, no shipping,
			// and checkout refused until the region is.
			view.Problems = append(view.Problems, e)
			req.Destination, req.ShippingOptionID = nil, ""
		default:
			return pricing.Quote{}, err
		}
	}
}

// isGuest reports whether the caller is a guest of guest checkout.
func isGuest(ctx context.Context) bool {
	p := access.PrincipalFrom(ctx)
	return p != nil && p.GuestCartID != ""
}
