package checkout_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// fakeStore answers Reserve with the replies queued in reserve, and records
// what the service asked of it. Methods the tests do not reach panic through
// the nil embedded interface.
type fakeStore struct {
	checkout.Store
	reserve   []reserveReply
	reserved  []checkout.Reservation
	expired   []checkout.Abandoned
	released  []string
	refusals  []string
	completed []checkout.Completion
	renewed   [][]string
	until     time.Time
	// onAuthorized runs when the authorization is recorded: the checkout is
	// running then.
	onAuthorized func()
	// completeErr, when set, is Complete's answer.
	completeErr error
	// setAuthErr, when set, is SetAuthorization's answer.
	setAuthErr error
}

type reserveReply struct {
	prior order.Prior
	err   error
}

func (f *fakeStore) Reserve(_ context.Context, r checkout.Reservation) (order.Order, order.Prior, error) {
	f.reserved = append(f.reserved, r)
	reply := f.reserve[0]
	f.reserve = f.reserve[1:]
	total := money.Money{Amount: 1000, Currency: "EUR"}
	return order.Order{ID: r.OrderID, CustomerID: r.CustomerID, Status: order.StatusPending, Total: total, Lines: r.Priced.Lines}, reply.prior, reply.err
}

func (f *fakeStore) PeekIdempotent(context.Context, string, string, string, string) (order.Prior, error) {
	return order.Prior{Fresh: true}, nil
}

func (f *fakeStore) FinishIdempotentError(_ context.Context, _, _, _, _, code string, _ time.Time, _ audit.Record) error {
	f.refusals = append(f.refusals, code)
	return nil
}

func (f *fakeStore) ExpiredPending(context.Context, time.Time) ([]checkout.Abandoned, error) {
	out := f.expired
	f.expired = nil
	return out, nil
}

func (f *fakeStore) Release(_ context.Context, orderID, _, _ string, _ audit.Record) error {
	f.released = append(f.released, orderID)
	return nil
}

func (f *fakeStore) SetAuthorization(context.Context, string, string) error {
	if f.setAuthErr != nil {
		return f.setAuthErr
	}
	if f.onAuthorized != nil {
		f.onAuthorized()
	}
	return nil
}

func (f *fakeStore) Complete(_ context.Context, c checkout.Completion, _ audit.Record) (order.Order, error) {
	if f.completeErr != nil {
		return order.Order{}, f.completeErr
	}
	f.completed = append(f.completed, c)
	return order.Order{ID: c.OrderID, Status: order.StatusPaid}, nil
}

func (f *fakeStore) RenewLeases(_ context.Context, owner string, orderIDs []string, until time.Time) error {
	if owner != "ins_test" {
		return errors.New("renewed another instance's leases")
	}
	f.renewed = append(f.renewed, orderIDs)
	f.until = until
	return nil
}

type fakeMethods struct{}

func (fakeMethods) Get(_ context.Context, methodID string) (payment.Method, error) {
	return payment.Method{ID: methodID, Token: id.New(id.CardToken), Brand: "visa", Last4: "4242"}, nil
}

// countingCards and countingGateway count card reads and charges.
type countingCards struct{ reads int }

func (c *countingCards) Detokenize(context.Context, string, string) (vault.Card, error) {
	c.reads++
	return vault.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2031}, nil
}

type countingGateway struct {
	payment.Simulator
	authorized, voided, refunded, captured int
}

func (g *countingGateway) Capture(ctx context.Context, authID string, amount money.Money) error {
	g.captured++
	return g.Simulator.Capture(ctx, authID, amount)
}

func (g *countingGateway) Refund(ctx context.Context, authID string, amount money.Money, reference string) (string, error) {
	g.refunded++
	return g.Simulator.Refund(ctx, authID, amount, reference)
}

func (g *countingGateway) Authorize(ctx context.Context, r payment.AuthorizeRequest) (string, error) {
	g.authorized++
	return g.Simulator.Authorize(ctx, r)
}

func (g *countingGateway) Void(ctx context.Context, authID string) error {
	g.voided++
	return g.Simulator.Void(ctx, authID)
}

// pricedCarts answers every cart with view: the cart as cart.Service would
// have priced it (its own tests and the end-to-end tests price real carts).
type pricedCarts struct{ view cart.View }

func (p pricedCarts) ForCheckout(context.Context, string, pricing.Destination) (cart.View, error) {
	return p.view, nil
}

// oneLine is a cart of one line of 2 × 500 EUR, priced with nothing else.
func oneLine() cart.View {
	l := pricing.Line{VariantID: id.New(id.Variant), ProductID: id.New(id.Product), UnitPrice: 500, Quantity: 2}
	q, err := pricing.Compute(pricing.Input{Currency: "EUR", TaxMode: pricing.TaxExclusive, Lines: []pricing.Line{l}})
	if err != nil {
		panic(err)
	}
	return cart.View{Cart: cart.Cart{Lines: []cart.Line{{VariantID: l.VariantID, Quantity: 2}}},
		Lines: []cart.PricedLine{{Quantity: 2}}, Quote: q}
}

func newService(st *fakeStore, now time.Time) (*checkout.Service, *countingCards, *countingGateway) {
	return newServiceFor(st, now, oneLine())
}

func newServiceFor(st *fakeStore, now time.Time, view cart.View) (*checkout.Service, *countingCards, *countingGateway) {
	return newServiceWith(st, now, view, nil)
}

func newServiceWith(st *fakeStore, now time.Time, view cart.View, sc checkout.Scorer) (*checkout.Service, *countingCards, *countingGateway) {
	return newServiceWithDeps(st, now, view, checkout.Deps{Scorer: sc})
}

// newServiceWithDeps is newServiceWith with the optional parts of d (fraud
// scoring and what it uses) added.
func newServiceWithDeps(st *fakeStore, now time.Time, view cart.View, d checkout.Deps) (*checkout.Service, *countingCards, *countingGateway) {
	cards, gw := &countingCards{}, &countingGateway{}
	d.Store, d.Carts, d.Methods, d.Cards, d.Gateway = st, pricedCarts{view}, fakeMethods{}, cards, gw
	d.Now, d.Instance, d.Lease = func() time.Time { return now }, "ins_test", 30*time.Second
	return checkout.NewService(d), cards, gw
}

func customer() context.Context {
	return access.WithPrincipal(context.Background(), &access.Principal{UserID: id.New(id.User)})
}

func request() checkout.Request {
	return checkout.Request{CartID: id.New(id.Cart), PaymentMethodID: id.New(id.PaymentMethod), CVC: "123",
		ShippingAddress: order.Address{Name: "Pat", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}}
}

func TestCheckout(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

	t.Run("a cart another checkout holds is refused before any card is read or charged", func(t *testing.T) {
		st := &fakeStore{reserve: []reserveReply{{err: checkout.ErrCartCheckedOut}}}
		svc, cards, gw := newService(st, now)
		_, _, err := svc.Checkout(customer(), "key-2", request())
		if !errors.Is(err, checkout.ErrCartCheckedOut) {
			t.Fatalf("err = %v, want ErrCartCheckedOut", err)
		}
		if cards.reads != 0 || gw.authorized != 0 {
			t.Fatalf("%d card reads and %d authorizations for a refused checkout", cards.reads, gw.authorized)
		}
		// The refusal is transient: the key stays free for the same request later.
		if len(st.refusals) != 0 {
			t.Fatalf("refusal recorded for the key: %v", st.refusals)
		}
	})

	t.Run("a reservation carries this instance's lease", func(t *testing.T) {
		st := &fakeStore{reserve: []reserveReply{{prior: order.Prior{Fresh: true}}}}
		svc, _, gw := newService(st, now)
		if _, _, err := svc.Checkout(customer(), "key-1", request()); err != nil {
			t.Fatal(err)
		}
		r := st.reserved[0]
		if r.Owner != "ins_test" || !r.LeaseUntil.Equal(now.Add(30*time.Second)) {
			t.Fatalf("reservation owner %q lease %v", r.Owner, r.LeaseUntil)
		}
		if gw.authorized != 1 || len(st.completed) != 1 {
			t.Fatalf("%d authorizations, %d completions", gw.authorized, len(st.completed))
		}
	})

	t.Run("a retry of a key whose checkout outlived its lease recovers it and runs again", func(t *testing.T) {
		st := &fakeStore{
			reserve: []reserveReply{{prior: order.Prior{InProgress: true}}, {prior: order.Prior{Fresh: true}}},
			expired: []checkout.Abandoned{{OrderID: "ord_left", AuthorizationID: "sim_auth_0123456789abcdef01234567", Key: "key-3"}},
		}
		svc, _, gw := newService(st, now)
		if _, _, err := svc.Checkout(customer(), "key-3", request()); err != nil {
			t.Fatalf("retry after the lease: %v", err)
		}
		if len(st.released) != 1 || st.released[0] != "ord_left" || gw.voided != 1 {
			t.Fatalf("released %v, voided %d: the abandoned checkout must be given back first", st.released, gw.voided)
		}
		if len(st.completed) != 1 {
			t.Fatalf("%d completions after recovery, want 1", len(st.completed))
		}
	})

	t.Run("a retry of a key whose checkout still holds its lease is in progress", func(t *testing.T) {
		st := &fakeStore{reserve: []reserveReply{{prior: order.Prior{InProgress: true}}}}
		svc, cards, _ := newService(st, now)
		if _, _, err := svc.Checkout(customer(), "key-4", request()); !errors.Is(err, order.ErrInProgress) {
			t.Fatalf("err = %v, want ErrInProgress", err)
		}
		if cards.reads != 0 || len(st.released) != 0 {
			t.Fatal("a live checkout was touched")
		}
	})

	t.Run("a total other than the one expected is refused before anything is reserved, and not recorded", func(t *testing.T) {
		st := &fakeStore{}
		svc, cards, _ := newService(st, now)
		r := request()
		r.ExpectedTotal = &money.Money{Amount: 999, Currency: "EUR"} // the cart costs 1000
		if _, _, err := svc.Checkout(customer(), "key-5", r); !errors.Is(err, checkout.ErrPriceChanged) {
			t.Fatalf("err = %v, want ErrPriceChanged", err)
		}
		r.ExpectedTotal = &money.Money{Amount: 1000, Currency: "USD"}
		if _, _, err := svc.Checkout(customer(), "key-5", r); !errors.Is(err, checkout.ErrPriceChanged) {
			t.Fatalf("other currency: err = %v, want ErrPriceChanged", err)
		}
		if len(st.reserved) != 0 || cards.reads != 0 || len(st.refusals) != 0 {
			t.Fatalf("reserved %d, card reads %d, refusals %v", len(st.reserved), cards.reads, st.refusals)
		}
		st.reserve = []reserveReply{{prior: order.Prior{Fresh: true}}}
		r.ExpectedTotal = &money.Money{Amount: 1000, Currency: "EUR"}
		if _, _, err := svc.Checkout(customer(), "key-5", r); err != nil {
			t.Fatalf("the expected total: %v", err)
		}
	})

	t.Run("a price changed during the reservation is not recorded for the key", func(t *testing.T) {
		st := &fakeStore{reserve: []reserveReply{{err: checkout.ErrPriceChanged}}}
		svc, cards, _ := newService(st, now)
		if _, _, err := svc.Checkout(customer(), "key-6", request()); !errors.Is(err, checkout.ErrPriceChanged) {
			t.Fatalf("err = %v", err)
		}
		if cards.reads != 0 || len(st.refusals) != 0 {
			t.Fatalf("card reads %d, refusals %v", cards.reads, st.refusals)
		}
	})

	t.Run("a cart with a problem is refused with it before anything is reserved", func(t *testing.T) {
		for name, view := range map[string]cart.View{
			"unavailable item": func() cart.View {
				v := oneLine()
				v.Unavailable = []cart.Line{{VariantID: id.New(id.Variant), Quantity: 1}}
				return v
			}(),
			"discount": func() cart.View { v := oneLine(); v.Problems = []*apperr.Error{pricing.ErrDiscountUnknown}; return v }(),
			"shipping": func() cart.View { v := oneLine(); v.Problems = []*apperr.Error{cart.ErrShippingRequired}; return v }(),
			"empty":    {Quote: pricing.Quote{Currency: "EUR"}},
		} {
			st := &fakeStore{}
			svc, cards, _ := newServiceFor(st, now, view)
			_, _, err := svc.Checkout(customer(), "key-7", request())
			var e *apperr.Error
			if !errors.As(err, &e) || len(st.reserved) != 0 || cards.reads != 0 {
				t.Fatalf("%s: err = %v, reserved %d, card reads %d", name, err, len(st.reserved), cards.reads)
			}
		}
	})

	t.Run("heartbeat renews the leases of the checkouts running here, only while they run", func(t *testing.T) {
		st := &fakeStore{reserve: []reserveReply{{prior: order.Prior{Fresh: true}}}}
		svc, _, _ := newService(st, now)
		st.onAuthorized = func() {
			if err := svc.Heartbeat(context.Background()); err != nil {
				t.Error(err)
			}
		}
		if _, _, err := svc.Checkout(customer(), "key-hb", request()); err != nil {
			t.Fatal(err)
		}
		if len(st.renewed) != 1 || len(st.renewed[0]) != 1 || st.renewed[0][0] != st.reserved[0].OrderID || !st.until.Equal(now.Add(30*time.Second)) {
			t.Fatalf("renewed %v until %v while the checkout ran", st.renewed, st.until)
		}
		if err := svc.Heartbeat(context.Background()); err != nil || len(st.renewed) != 1 {
			t.Fatalf("a heartbeat after the checkout ended renewed %v (%v)", st.renewed, err)
		}
	})

	t.Run("a completion of unknown outcome is left to recovery, not refunded", func(t *testing.T) {
		st := &fakeStore{reserve: []reserveReply{{prior: order.Prior{Fresh: true}}}, completeErr: io.ErrUnexpectedEOF}
		svc, _, gw := newService(st, now)
		if _, _, err := svc.Checkout(customer(), "key-lost", request()); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v", err)
		}
		if gw.refunded != 0 || len(st.released) != 0 {
			t.Fatalf("%d refunds, released %v: the order may have been paid", gw.refunded, st.released)
		}
		// Once the order is known not to be pending any more, the capture goes back.
		st = &fakeStore{reserve: []reserveReply{{prior: order.Prior{Fresh: true}}}, completeErr: order.ErrNotFound}
		svc, _, gw = newService(st, now)
		if _, _, err := svc.Checkout(customer(), "key-late", request()); err == nil {
			t.Fatal("a completion of a released order succeeded")
		}
		if gw.refunded != 1 || len(st.released) != 1 {
			t.Fatalf("%d refunds, released %v for an order released under the checkout", gw.refunded, st.released)
		}
	})
}

// TestPriced checks the order made of a quote carries every amount of it.
func TestPriced(t *testing.T) {
	a := pricing.Line{VariantID: "var_a", ProductID: "prod_a", UnitPrice: 1999, Quantity: 3, WeightGrams: 100}
	b := pricing.Line{VariantID: "var_b", ProductID: "prod_b", UnitPrice: 501, Quantity: 1}
	dest := pricing.Destination{Country: "US", Region: "NY"}
	ship := pricing.ShippingOption{ID: "ship_x", Name: "Ground", Kind: pricing.ShipFlat, Active: true,
		Zones: []pricing.Place{{Country: "US"}}, Prices: []money.Money{{Amount: 700, Currency: "USD"}}}
	q, err := pricing.Compute(pricing.Input{Currency: "USD", TaxMode: pricing.TaxExclusive, Lines: []pricing.Line{a, b},
		Destination: &dest, Shipping: &ship, Now: time.Now(),
		TaxRates: []pricing.TaxRate{{ID: "tax_ny", Name: "NY", Place: pricing.Place{Country: "US", Region: "NY"}, RatePPM: 88750}},
		Discount: &pricing.Discount{ID: "disc_x", Code: "TENOFF", Kind: pricing.DiscountPercent, BasisPoints: 1000, Active: true}})
	if err != nil {
		t.Fatal(err)
	}
	o := checkout.Priced(q)
	usd := func(n int64) money.Money { return money.Money{Amount: n, Currency: "USD"} }
	if o.Subtotal != usd(q.Subtotal) || o.Discount != usd(q.Discount) || o.DiscountCode != "TENOFF" || o.Shipping != usd(700) ||
		o.Tax != usd(q.Tax) || o.Total != usd(q.Total) || o.TaxInclusive || o.ShippingOption == nil || o.ShippingOption.OptionID != "ship_x" {
		t.Fatalf("order %+v from quote %+v", o, q)
	}
	if len(o.Taxes) != 1 || o.Taxes[0].Region != "NY" || o.Taxes[0].Amount != usd(q.Tax) || o.Taxes[0].RatePPM != 88750 {
		t.Fatalf("taxes %+v", o.Taxes)
	}
	var lineTax, lineDiscount int64
	for i, l := range o.Lines {
		if l.VariantID != q.Lines[i].VariantID || l.UnitPrice != usd(q.Lines[i].UnitPrice) || l.LineTotal != usd(q.Lines[i].Total) {
			t.Fatalf("line %d: %+v", i, l)
		}
		lineTax += l.Tax.Amount
		lineDiscount += l.Discount.Amount
	}
	// Shipping is taxed too, so the lines hold less than the whole tax.
	if lineDiscount != o.Discount.Amount || lineTax > o.Tax.Amount || lineTax == 0 {
		t.Fatalf("line discounts %d of %d, line taxes %d of %d", lineDiscount, o.Discount.Amount, lineTax, o.Tax.Amount)
	}
}
