package store_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// pricedAt returns r carrying its cart as the store holds it now, priced by
// pricing.Compute at unit (the same unit price for every line, in the cart's
// currency) with no discount, shipping or tax: what checkout would reserve.
func pricedAt(t *testing.T, db *store.DB, r checkout.Reservation, unit int64) checkout.Reservation {
	t.Helper()
	c, err := db.Cart(context.Background(), r.CustomerID, r.CartID)
	if err != nil {
		t.Fatal(err)
	}
	var lines []pricing.Line
	for _, l := range c.Lines {
		lines = append(lines, pricing.Line{VariantID: l.VariantID, UnitPrice: unit, Quantity: int64(l.Quantity)})
	}
	q, err := pricing.Compute(pricing.Input{Currency: c.Currency, TaxMode: pricing.TaxExclusive, Lines: lines})
	if err != nil {
		t.Fatal(err)
	}
	r.Cart, r.Priced = c, checkout.Priced(q)
	return r
}

// shopper is a customer with a saved card and a cart holding quantity of variantID.
type shopper struct {
	user   identity.User
	method payment.Method
	cart   cart.Cart
}

func newShopper(t *testing.T, db *store.DB, email, variantID string, quantity int) shopper {
	t.Helper()
	ctx, now := context.Background(), time.Now().UTC()
	u := identity.User{ID: id.New(id.User), Email: email, Name: "S", PasswordHash: "h", Roles: []access.Role{access.Customer}, CreatedAt: now}
	if err := db.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
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
	if err := db.SetLine(ctx, u.ID, c.ID, variantID, quantity, now); err != nil {
		t.Fatal(err)
	}
	return shopper{user: u, method: m, cart: c}
}

func (s shopper) reservation(key string) checkout.Reservation {
	now := time.Now().UTC()
	return checkout.Reservation{OrderID: id.New(id.Order), Key: key, Hash: "h-" + key, CustomerID: s.user.ID, CartID: s.cart.ID,
		Method: s.method, Address: order.Address{Name: "S", Line1: "1 Main St", City: "Albany", PostalCode: "12207", Country: "US", Region: "NY"},
		At: now, Owner: "ins_a", LeaseUntil: now.Add(time.Minute)}
}

// TestPricedReservation: Reserve takes a cart only as it was priced (a
// changed cart or unit price is ErrPriceChanged, and nothing is taken or
// claimed), counts a discount's last use once however many checkouts race
// for it, and keeps every amount of the quote on the order.
func TestPricedReservation(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		p := singleVariant("PRICED-1", money.Money{Amount: 1000, Currency: "EUR"}, 10)
		if err := db.CreateProduct(ctx, p, rec("catalog.create", p.ID)); err != nil {
			t.Fatal(err)
		}
		variant := p.Variants[0].ID
		stock := func() int64 {
			t.Helper()
			got, err := db.Product(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.First().Stock
		}
		keyFree := func(s shopper, key string) {
			t.Helper()
			prior, err := db.BeginIdempotent(ctx, s.user.ID, order.ScopeCheckout, key, "h-"+key, time.Now())
			if err != nil || !prior.Fresh {
				t.Fatalf("key %s was claimed by a refused reservation: %+v %v", key, prior, err)
			}
			if err := db.ForgetIdempotent(ctx, s.user.ID, order.ScopeCheckout, key); err != nil {
				t.Fatal(err)
			}
		}

		t.Run("a cart changed since it was priced is refused and takes nothing", func(t *testing.T) {
			s := newShopper(t, db, "changed@example.com", variant, 1)
			r := pricedAt(t, db, s.reservation("k-changed"), 1000)
			if err := db.SetLine(ctx, s.user.ID, s.cart.ID, variant, 2, time.Now()); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.Reserve(ctx, r); !errors.Is(err, checkout.ErrPriceChanged) {
				t.Fatalf("err = %v, want ErrPriceChanged", err)
			}
			if err := db.SetDiscountCode(ctx, s.user.ID, s.cart.ID, "OTHERCODE", time.Now()); err != nil {
				t.Fatal(err)
			}
			r = pricedAt(t, db, s.reservation("k-changed"), 1000)
			r.Cart.DiscountCode = ""
			if _, _, err := db.Reserve(ctx, r); !errors.Is(err, checkout.ErrPriceChanged) {
				t.Fatalf("another code: err = %v, want ErrPriceChanged", err)
			}
			if stock() != 10 {
				t.Fatalf("stock %d after refused reservations", stock())
			}
			keyFree(s, "k-changed")
		})

		t.Run("a unit price changed since the cart was priced is refused and takes nothing", func(t *testing.T) {
			s := newShopper(t, db, "reprice@example.com", variant, 1)
			r := pricedAt(t, db, s.reservation("k-reprice"), 900) // shown at 9.00, costs 10.00 now
			if _, _, err := db.Reserve(ctx, r); !errors.Is(err, checkout.ErrPriceChanged) {
				t.Fatalf("err = %v, want ErrPriceChanged", err)
			}
			if stock() != 10 {
				t.Fatalf("stock %d after a refused reservation", stock())
			}
			keyFree(s, "k-reprice")
		})

		t.Run("of checkouts racing for a code's last use, one reserves", func(t *testing.T) {
			before := stock()
			disc := pricing.Discount{ID: id.New(id.Discount), Code: "LASTONE" + string(d.Engine), Kind: pricing.DiscountFixed,
				Amounts: []money.Money{{Amount: 100, Currency: "EUR"}}, MaxUses: 1, Active: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := db.CreateDiscount(ctx, disc, rec("discount.create", disc.ID)); err != nil {
				t.Fatal(err)
			}
			const racers = 6
			var wg sync.WaitGroup
			errs := make([]error, racers)
			for i := range racers {
				s := newShopper(t, db, "racer"+string(rune('a'+i))+"@example.com", variant, 1)
				r := pricedAt(t, db, s.reservation("k-race"), 1000)
				r.DiscountID = disc.ID
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, errs[i] = db.Reserve(ctx, r)
				}()
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, pricing.ErrDiscountExhausted):
					t.Errorf("a racer: %v", err)
				}
			}
			got, err := db.Discount(ctx, disc.ID)
			if won != 1 || err != nil || got.Uses != 1 || stock() != before-1 {
				t.Fatalf("%d reservations, uses %d (%v), stock %d: want 1, 1, %d", won, got.Uses, err, stock(), before-1)
			}
		})

		t.Run("a released checkout gives its discount use back", func(t *testing.T) {
			disc := pricing.Discount{ID: id.New(id.Discount), Code: "ONCEONLY" + string(d.Engine), Kind: pricing.DiscountPercent, BasisPoints: 500,
				MaxUses: 1, MaxUsesPerCustomer: 1, Active: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := db.CreateDiscount(ctx, disc, rec("discount.create", disc.ID)); err != nil {
				t.Fatal(err)
			}
			s := newShopper(t, db, "declined@example.com", variant, 1)
			r := pricedAt(t, db, s.reservation("k-declined"), 1000)
			r.DiscountID = disc.ID
			pending, _, err := db.Reserve(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := db.Discount(ctx, disc.ID); got.Uses != 1 {
				t.Fatalf("uses %d while the checkout runs", got.Uses)
			}
			// The card is declined: the reservation is released, and with it the use.
			if err := db.Release(ctx, pending.ID, "k-declined", order.CodePaymentDeclined, rec(order.ActionCheckout, pending.ID)); err != nil {
				t.Fatal(err)
			}
			got, _ := db.Discount(ctx, disc.ID)
			mine, err := db.DiscountUses(ctx, disc.ID, s.user.ID)
			if got.Uses != 0 || err != nil || mine != 0 {
				t.Fatalf("after a decline: uses %d, the customer's %d (%v)", got.Uses, mine, err)
			}
			again := pricedAt(t, db, s.reservation("k-other-card"), 1000)
			again.DiscountID = disc.ID
			if _, _, err := db.Reserve(ctx, again); err != nil {
				t.Fatalf("the code after a declined checkout: %v", err)
			}
		})

		t.Run("a released reservation gives back its use of the code", func(t *testing.T) {
			disc := pricing.Discount{ID: id.New(id.Discount), Code: "ONCEBACK" + string(d.Engine), Kind: pricing.DiscountFixed,
				Amounts: []money.Money{{Amount: 100, Currency: "EUR"}}, MaxUses: 1, MaxUsesPerCustomer: 1, Active: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := db.CreateDiscount(ctx, disc, rec("discount.create", disc.ID)); err != nil {
				t.Fatal(err)
			}
			s := newShopper(t, db, "released@example.com", variant, 1)
			r := pricedAt(t, db, s.reservation("k-released"), 1000)
			r.DiscountID = disc.ID
			pending, _, err := db.Reserve(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			// A declined card, or recovery of a checkout a crash left half done.
			if err := db.Release(ctx, pending.ID, "k-released", "", rec(order.ActionCheckout, pending.ID)); err != nil {
				t.Fatal(err)
			}
			got, err := db.Discount(ctx, disc.ID)
			mine, uerr := db.DiscountUses(ctx, disc.ID, s.user.ID)
			if err != nil || uerr != nil || got.Uses != 0 || mine != 0 {
				t.Fatalf("after the release: uses %d, the customer's %d (%v %v), want 0 and 0", got.Uses, mine, err, uerr)
			}
			r.OrderID = id.New(id.Order)
			if _, _, err := db.Reserve(ctx, r); err != nil {
				t.Fatalf("the code's one use, given back, is refused: %v", err)
			}
		})

		t.Run("reservations and releases of one variant and code, racing, never wait on each other in a cycle", func(t *testing.T) {
			// Reserve and Release both take the variant's row and then the
			// code's: taken the other way round in either, a reservation
			// holding the code and a release holding the variant deadlock
			// (PostgreSQL aborts one of them).
			hot := singleVariant("HOT-1"+string(d.Engine), money.Money{Amount: 1000, Currency: "EUR"}, 1000)
			if err := db.CreateProduct(ctx, hot, rec("catalog.create", hot.ID)); err != nil {
				t.Fatal(err)
			}
			disc := pricing.Discount{ID: id.New(id.Discount), Code: "HOTCODE" + string(d.Engine), Kind: pricing.DiscountFixed,
				Amounts: []money.Money{{Amount: 100, Currency: "EUR"}}, Active: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := db.CreateDiscount(ctx, disc, rec("discount.create", disc.ID)); err != nil {
				t.Fatal(err)
			}
			const pairs, rounds = 6, 4
			n := 0
			reservation := func() checkout.Reservation {
				n++
				s := newShopper(t, db, fmt.Sprintf("hot%d@example.com", n), hot.Variants[0].ID, 1)
				r := pricedAt(t, db, s.reservation(fmt.Sprintf("k-hot-%d", n)), 1000)
				r.DiscountID = disc.ID
				return r
			}
			var pending []order.Order
			var keys []string
			for range pairs {
				r := reservation()
				o, _, err := db.Reserve(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				pending, keys = append(pending, o), append(keys, r.Key)
			}
			for round := range rounds {
				next := make([]checkout.Reservation, pairs)
				for i := range next {
					next[i] = reservation()
				}
				errs := make([]error, 2*pairs)
				made := make([]order.Order, pairs)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range pairs {
					wg.Go(func() {
						<-start
						errs[i] = db.Release(ctx, pending[i].ID, keys[i], order.CodePaymentDeclined, rec(order.ActionCheckout, pending[i].ID))
					})
					wg.Go(func() {
						<-start
						made[i], _, errs[pairs+i] = db.Reserve(ctx, next[i])
					})
				}
				close(start)
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
				}
				for i := range pending {
					pending[i], keys[i] = made[i], next[i].Key
				}
			}
			got, err := db.Discount(ctx, disc.ID)
			if err != nil || got.Uses != pairs {
				t.Fatalf("uses %d (%v), want %d: the ones still pending", got.Uses, err, pairs)
			}
			p, err := db.Product(ctx, hot.ID)
			if err != nil || p.First().Stock != 1000-pairs {
				t.Fatalf("stock %d (%v), want %d", p.First().Stock, err, 1000-pairs)
			}
		})

		t.Run("the order keeps every amount of the quote", func(t *testing.T) {
			s := newShopper(t, db, "amounts@example.com", variant, 3)
			line := pricing.Line{VariantID: variant, ProductID: p.ID, UnitPrice: 1000, Quantity: 3}
			dest := pricing.Destination{Country: "US", Region: "NY"}
			ship := pricing.ShippingOption{ID: id.New(id.ShippingOption), Name: "Ground", Kind: pricing.ShipFlat, Active: true,
				Zones: []pricing.Place{{Country: "US"}}, Prices: []money.Money{{Amount: 700, Currency: "EUR"}}}
			q, err := pricing.Compute(pricing.Input{Currency: "EUR", TaxMode: pricing.TaxExclusive, Lines: []pricing.Line{line},
				Destination: &dest, Shipping: &ship, Now: time.Now(),
				TaxRates: []pricing.TaxRate{{ID: "tax_ny", Name: "NY", Place: pricing.Place{Country: "US", Region: "NY"}, RatePPM: 88750}},
				Discount: &pricing.Discount{ID: "disc_x", Code: "TENOFF", Kind: pricing.DiscountPercent, BasisPoints: 1000, Active: true}})
			if err != nil {
				t.Fatal(err)
			}
			r := s.reservation("k-amounts")
			r.Cart, err = db.Cart(ctx, s.user.ID, s.cart.ID)
			if err != nil {
				t.Fatal(err)
			}
			r.Priced = checkout.Priced(q)
			pending, prior, err := db.Reserve(ctx, r)
			if err != nil || !prior.Fresh {
				t.Fatalf("reserve: %+v %v", prior, err)
			}
			paid, err := db.Complete(ctx, checkout.Completion{OrderID: pending.ID, CustomerID: s.user.ID, CartID: s.cart.ID, Key: "k-amounts",
				AuthorizationID: "auth", Captured: pending.Total, At: time.Now()}, rec(order.ActionCheckout, pending.ID))
			if err != nil {
				t.Fatal(err)
			}
			for name, o := range map[string]order.Order{"pending": pending, "paid": paid} {
				want := r.Priced
				if o.Subtotal != want.Subtotal || o.Discount != want.Discount || o.DiscountCode != "TENOFF" || o.Shipping != want.Shipping ||
					o.Tax != want.Tax || o.Total != want.Total || o.ShippingOption == nil || *o.ShippingOption != *want.ShippingOption {
					t.Fatalf("%s order %+v, want the amounts of %+v", name, o, want)
				}
				if len(o.Taxes) != 1 || o.Taxes[0] != want.Taxes[0] || o.ShippingAddress.Region != "NY" {
					t.Fatalf("%s taxes %+v, address %+v", name, o.Taxes, o.ShippingAddress)
				}
				if l := o.Lines[0]; l.Discount != want.Lines[0].Discount || l.Tax != want.Lines[0].Tax || l.Name != p.Name || l.SKU != "PRICED-1" {
					t.Fatalf("%s line %+v", name, l)
				}
			}
			// The region is kept beside the country, outside the sealed address.
			replayed, err := db.BeginIdempotent(ctx, s.user.ID, order.ScopeCheckout, "k-amounts", "h-k-amounts", time.Now())
			if err != nil || replayed.Order == nil || replayed.Order.Total != paid.Total || len(replayed.Order.Taxes) != 1 {
				t.Fatalf("replay %+v %v", replayed, err)
			}
			// Erasure keeps the order's amounts and region, not which code the pseudonymous id used.
			if _, err := db.Erase(ctx, s.user.ID, rec("user.erase", s.user.ID)); err != nil {
				t.Fatal(err)
			}
			erased, err := db.Order(ctx, "", paid.ID)
			if err != nil || erased.DiscountCode != "" || erased.Discount != paid.Discount || erased.Total != paid.Total || erased.ShippingAddress.Region != "NY" {
				t.Fatalf("the erased customer's order = %+v %v", erased, err)
			}
		})
	})
}
