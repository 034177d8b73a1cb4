package cart_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// fakeCatalog sells what it holds; hidden items are catalog.ErrNotFound, as
// the real catalog answers.
type fakeCatalog struct {
	items map[string]catalog.Variant
}

func (f fakeCatalog) PurchasableVariants(_ context.Context, ids []string) (map[string]catalog.Item, error) {
	out := map[string]catalog.Item{}
	for _, i := range ids {
		if v, ok := f.items[i]; ok {
			out[i] = catalog.Item{Product: catalog.Product{ID: v.ProductID, Name: "P"}, Variant: v}
		}
	}
	return out, nil
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
func (m *memCarts) SetDiscountCode(_ context.Context, _, cartID, code string, _ time.Time) error {
	m.carts[cartID].DiscountCode = code
	return nil
}
func (m *memCarts) SetShipping(_ context.Context, _, cartID string, d pricing.Destination, optionID string, _ time.Time) error {
	m.carts[cartID].Destination, m.carts[cartID].ShippingOptionID = &d, optionID
	return nil
}

// pricingInputs is what pricing.Service reads to price a cart; the methods
// a cart never reaches panic through the nil embedded interface.
type pricingInputs struct {
	pricing.Store
	rates     []pricing.TaxRate
	options   []pricing.ShippingOption
	discounts []pricing.Discount
}

func (p *pricingInputs) TaxRatesFor(_ context.Context, country string) ([]pricing.TaxRate, error) {
	var out []pricing.TaxRate
	for _, r := range p.rates {
		if r.Place.Country == country {
			out = append(out, r)
		}
	}
	return out, nil
}
func (p *pricingInputs) ShippingOption(_ context.Context, optionID string) (pricing.ShippingOption, error) {
	for _, o := range p.options {
		if o.ID == optionID {
			return o, nil
		}
	}
	return pricing.ShippingOption{}, pricing.ErrShippingOptionNotFound
}
func (p *pricingInputs) ShippingOptionsTo(_ context.Context, country string, _ int) ([]pricing.ShippingOption, error) {
	var out []pricing.ShippingOption
	for _, o := range p.options {
		if o.Active && slices.ContainsFunc(o.Zones, func(z pricing.Place) bool { return z.Country == country }) {
			out = append(out, o)
		}
	}
	return out, nil
}
func (p *pricingInputs) DiscountForCustomer(_ context.Context, code, _ string) (pricing.Discount, int64, error) {
	for _, d := range p.discounts {
		if d.Code == code {
			return d, 0, nil
		}
	}
	return pricing.Discount{}, 0, pricing.ErrDiscountNotFound
}
func (p *pricingInputs) AnyShippingOption(context.Context) (bool, error) {
	return len(p.options) > 0, nil
}

type auditLog struct {
	audit.Store
	records []audit.Record
}

func (a *auditLog) AppendAudit(_ context.Context, r audit.Record) error {
	a.records = append(a.records, r)
	return nil
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
	s := cart.NewService(cart.Deps{Store: store, Catalog: cat, Pricer: pricing.NewService(&pricingInputs{}, []string{"EUR", "USD"}, pricing.TaxExclusive, time.Now),
		Guard: pricing.NewGuard(throttle.NewMemory(time.Now, 0)), Trail: audit.NewTrail(&auditLog{}, time.Now), Now: time.Now})
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
		if err != nil || len(v.Lines) != 1 || v.Subtotal.Amount != 360 || len(v.Unavailable) != 2 {
			t.Fatalf("cart with an unpriced and a hidden line = %+v %v", v, err)
		}
		if err := v.CheckoutProblem(); !errors.Is(err, cart.ErrUnavailableItems) {
			t.Fatalf("checkout of a cart with unavailable items: %v", err)
		}
	})
	t.Run("someone else's cart is not found", func(t *testing.T) {
		other := access.WithPrincipal(context.Background(), &access.Principal{UserID: id.New(id.User), Roles: []access.Role{access.Customer}})
		if _, err := s.Get(other, usd.ID); !errors.Is(err, cart.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestPricedCart prices carts with a discount code, a destination and a
// shipping option through the real pricing rules, and shows how the cart
// answers codes and options that do not apply.
func TestPricedCart(t *testing.T) {
	shirt := catalog.Variant{ID: id.New(id.Variant), ProductID: id.New(id.Product), SKU: "S", WeightGrams: 200,
		Prices: []money.Money{{Amount: 2000, Currency: "EUR"}}}
	cat := fakeCatalog{items: map[string]catalog.Variant{shirt.ID: shirt}}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	inputs := &pricingInputs{
		rates: []pricing.TaxRate{{ID: "tax_de", Name: "MwSt", Place: pricing.Place{Country: "DE"}, RatePPM: 190000}},
		options: []pricing.ShippingOption{{ID: id.New(id.ShippingOption), Name: "DHL", Kind: pricing.ShipFlat, Active: true,
			Zones: []pricing.Place{{Country: "DE"}}, Prices: []money.Money{{Amount: 490, Currency: "EUR"}}}},
		discounts: []pricing.Discount{
			{ID: "disc_ten", Code: "TENOFF", Kind: pricing.DiscountPercent, BasisPoints: 1000, Active: true},
			{ID: "disc_big", Code: "BIGSPENDER", Kind: pricing.DiscountPercent, BasisPoints: 2000, Active: true,
				MinSubtotal: []money.Money{{Amount: 100000, Currency: "EUR"}}},
			{ID: "disc_gone", Code: "USEDUP", Kind: pricing.DiscountPercent, BasisPoints: 2000, Active: true, MaxUses: 1, Uses: 1},
		},
	}
	log := &auditLog{}
	var refused, locks int
	store := &memCarts{carts: map[string]*cart.Cart{}}
	s := cart.NewService(cart.Deps{Store: store, Catalog: cat, Pricer: pricing.NewService(inputs, []string{"EUR"}, pricing.TaxExclusive, clock),
		Guard: pricing.NewGuard(throttle.NewMemory(clock, 0)), Trail: audit.NewTrail(log, clock), Now: clock,
		CodeRefused: func(locked bool) {
			refused++
			if locked {
				locks++
			}
		}})
	ctx := access.WithPrincipal(context.Background(), &access.Principal{UserID: id.New(id.User), Roles: []access.Role{access.Customer}})
	ctx = reqinfo.With(ctx, reqinfo.Info{IP: "203.0.113.7", RequestID: "req-1"})
	c, err := s.Create(ctx, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetItem(ctx, c.ID, shirt.ID, 2); err != nil {
		t.Fatal(err)
	}
	code := func(err error) string {
		var e *apperr.Error
		if errors.As(err, &e) {
			return e.Code
		}
		return fmt.Sprint(err)
	}

	t.Run("a code, a destination and an option price the whole cart", func(t *testing.T) {
		if _, err := s.SetDiscount(ctx, c.ID, "ten-off"); err != nil {
			t.Fatal(err)
		}
		v, err := s.SetShipping(ctx, c.ID, pricing.Destination{Country: "DE"}, inputs.options[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		q := v.Quote
		// 4000 − 400 discount + 490 shipping = 4090, + 19 % of it = 777.1 → 777.
		if q.Subtotal != 4000 || q.Discount != 400 || q.ShippingAmount() != 490 || q.Tax != 777 || q.Total != 4867 || len(v.Problems) != 0 {
			t.Fatalf("quote %+v problems %v", q, v.Problems)
		}
		if v.Lines[0].Discount.Amount != 400 || v.Lines[0].Tax.Amount != 684 {
			t.Fatalf("line %+v", v.Lines[0])
		}
	})

	t.Run("codes that do not apply answer alike, store nothing, and are counted", func(t *testing.T) {
		for _, typed := range []string{"NOSUCHCODE", "BIGSPENDER", "x", strings.Repeat("A", 500)} {
			_, err := s.SetDiscount(ctx, c.ID, typed)
			if !errors.Is(err, pricing.ErrDiscountUnknown) {
				t.Fatalf("%.20s: %v, want the one discount_invalid answer", typed, err)
			}
		}
		if _, err := s.SetDiscount(ctx, c.ID, "usedup"); code(err) != apperr.CodeDiscountExhausted {
			t.Fatalf("exhausted code: %v", err)
		}
		if got := store.carts[c.ID].DiscountCode; got != "TENOFF" {
			t.Fatalf("a refused code replaced the cart's: %q", got)
		}
		if refused != 5 || locks != 0 {
			t.Fatalf("refused %d, locks %d", refused, locks)
		}
	})

	t.Run("an option for another zone is refused and stores nothing", func(t *testing.T) {
		_, err := s.SetShipping(ctx, c.ID, pricing.Destination{Country: "FR"}, inputs.options[0].ID)
		if code(err) != apperr.CodeShippingUnavailable {
			t.Fatalf("err = %v", err)
		}
		if _, err := s.SetShipping(ctx, c.ID, pricing.Destination{Country: "fr"}, ""); code(err) != apperr.CodeValidation {
			t.Fatalf("malformed country: %v", err)
		}
		if d := store.carts[c.ID].Destination; d == nil || d.Country != "DE" {
			t.Fatalf("destination %+v", d)
		}
	})

	t.Run("a destination with options and none chosen must choose before checkout", func(t *testing.T) {
		v, err := s.SetShipping(ctx, c.ID, pricing.Destination{Country: "DE"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := v.CheckoutProblem(); !errors.Is(err, cart.ErrShippingRequired) {
			t.Fatalf("problem %v", err)
		}
		// No option serves AT: a shop that ships does not ship there for free.
		if _, err := s.SetShipping(ctx, c.ID, pricing.Destination{Country: "AT"}, ""); !errors.Is(err, cart.ErrNotShippedThere) {
			t.Fatalf("AT: %v", err)
		}
		// Nor to a country that does not exist, which no rate or zone names.
		if _, err := s.SetShipping(ctx, c.ID, pricing.Destination{Country: "ZZ"}, ""); code(err) != apperr.CodeValidation {
			t.Fatalf("ZZ: %v", err)
		}
		if d := store.carts[c.ID].Destination; d == nil || d.Country != "DE" {
			t.Fatalf("a refused destination was stored: %+v", d)
		}
	})

	t.Run("where taxes differ by region, the region is required and must be one the shop knows", func(t *testing.T) {
		inputs.rates = append(inputs.rates, pricing.TaxRate{ID: "tax_ny", Name: "NY", Place: pricing.Place{Country: "US", Region: "NY"}, RatePPM: 88750})
		inputs.options[0].Zones = append(inputs.options[0].Zones, pricing.Place{Country: "US"})
		defer func() { inputs.rates, inputs.options[0].Zones = inputs.rates[:1], inputs.options[0].Zones[:1] }()
		for _, region := range []string{"", "ZZ"} {
			if _, err := s.SetShipping(ctx, c.ID, pricing.Destination{Country: "US", Region: region}, inputs.options[0].ID); code(err) != pricing.CodeRegionRequired {
				t.Fatalf("US region %q: %v", region, err)
			}
		}
		v, err := s.SetShipping(ctx, c.ID, pricing.Destination{Country: "US", Region: "NY"}, inputs.options[0].ID)
		if err != nil || v.Quote.Tax == 0 {
			t.Fatalf("US-NY: %v %+v", err, v.Quote)
		}
		// A cart whose stored destination stops being enough shows the
		// problem, priced without the destination, and checkout is refused.
		inputs.rates = append(inputs.rates, pricing.TaxRate{ID: "tax_ca", Name: "CA", Place: pricing.Place{Country: "US", Region: "CA"}, RatePPM: 72500})
		store.carts[c.ID].Destination = &pricing.Destination{Country: "US", Region: "TX"}
		v, err = s.Get(ctx, c.ID)
		if err != nil || code(v.CheckoutProblem()) != pricing.CodeRegionRequired || v.Quote.TaxesKnown {
			t.Fatalf("stored US-TX: %v %+v %v", err, v.Quote, v.Problems)
		}
		if _, err := s.SetShipping(ctx, c.ID, pricing.Destination{Country: "DE"}, inputs.options[0].ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a cart in a currency no option is priced in does not ship for free", func(t *testing.T) {
		c := cart.Cart{ID: id.New(id.Cart), OwnerID: store.carts[c.ID].OwnerID, Currency: "USD", Lines: []cart.Line{{VariantID: shirt.ID, Quantity: 1}}}
		dollars := shirt
		dollars.Prices = []money.Money{{Amount: 2200, Currency: "USD"}}
		cat.items[shirt.ID] = dollars
		defer func() { cat.items[shirt.ID] = shirt }()
		usd := cart.NewService(cart.Deps{Store: store, Catalog: cat, Pricer: pricing.NewService(inputs, []string{"EUR", "USD"}, pricing.TaxExclusive, clock),
			Guard: pricing.NewGuard(throttle.NewMemory(clock, 0)), Trail: audit.NewTrail(log, clock), Now: clock})
		v, err := usd.Price(ctx, c, &pricing.Destination{Country: "DE"})
		if err != nil || !errors.Is(v.CheckoutProblem(), cart.ErrNotShippedThere) {
			t.Fatalf("USD to DE: %v %v", err, v.Problems)
		}
	})

	t.Run("a code that stops applying is shown as a problem and left out of the amounts", func(t *testing.T) {
		inputs.discounts[0].Active = false
		defer func() { inputs.discounts[0].Active = true }()
		v, err := s.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Quote.Discount != 0 || !errors.Is(v.CheckoutProblem(), pricing.ErrDiscountUnknown) {
			t.Fatalf("quote %+v problems %v", v.Quote, v.Problems)
		}
	})

	t.Run("a quantity that would overflow the largest amount is refused and stores nothing", func(t *testing.T) {
		dear := catalog.Variant{ID: id.New(id.Variant), ProductID: id.New(id.Product), SKU: "D",
			Prices: []money.Money{{Amount: money.MaxAmount, Currency: "EUR"}}}
		cat.items[dear.ID] = dear
		if _, err := s.SetItem(ctx, c.ID, dear.ID, 2); code(err) != apperr.CodeValidation {
			t.Fatalf("err = %v", err)
		}
		if n := len(store.carts[c.ID].Lines); n != 1 {
			t.Fatalf("%d lines after a refused quantity", n)
		}
	})

	t.Run("guessing codes locks code entry, audited, and every code is refused while locked", func(t *testing.T) {
		var err error
		for i := 0; i < pricing.GuessesPerCustomer; i++ {
			_, err = s.SetDiscount(ctx, c.ID, fmt.Sprintf("GUESS%04d", i))
		}
		var e *apperr.Error
		if !errors.As(err, &e) || e.Code != apperr.CodeTooManyAttempts || e.RetryAfter <= 0 || locks != 1 {
			t.Fatalf("after %d refusals: %v (locks %d)", refused, err, locks)
		}
		if _, err := s.SetDiscount(ctx, c.ID, "TENOFF"); code(err) != apperr.CodeTooManyAttempts {
			t.Fatalf("a valid code while locked: %v", err)
		}
		last := log.records[len(log.records)-1]
		if last.Action != cart.ActionDiscountGuessing || last.IP != "203.0.113.7" || strings.Contains(last.Detail, "GUESS") {
			t.Fatalf("audit %+v", last)
		}
		now = now.Add(pricing.GuessLock + time.Second)
		if _, err := s.SetDiscount(ctx, c.ID, "TENOFF"); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
	})
}
