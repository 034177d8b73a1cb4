package checkout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/payment"
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
	renewed   []string
	until     time.Time
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
	return order.Order{ID: r.OrderID, CustomerID: r.CustomerID, Status: order.StatusPending, Total: total}, reply.prior, reply.err
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

func (f *fakeStore) SetAuthorization(context.Context, string, string) error { return nil }

func (f *fakeStore) Complete(_ context.Context, c checkout.Completion, _ audit.Record) (order.Order, error) {
	f.completed = append(f.completed, c)
	return order.Order{ID: c.OrderID, Status: order.StatusPaid}, nil
}

func (f *fakeStore) RenewLeases(_ context.Context, owner string, until time.Time) error {
	f.renewed = append(f.renewed, owner)
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
	authorized, voided int
}

func (g *countingGateway) Authorize(ctx context.Context, r payment.AuthorizeRequest) (string, error) {
	g.authorized++
	return g.Simulator.Authorize(ctx, r)
}

func (g *countingGateway) Void(ctx context.Context, authID string) error {
	g.voided++
	return g.Simulator.Void(ctx, authID)
}

func newService(st *fakeStore, now time.Time) (*checkout.Service, *countingCards, *countingGateway) {
	cards, gw := &countingCards{}, &countingGateway{}
	return checkout.NewService(checkout.Deps{Store: st, Methods: fakeMethods{}, Cards: cards, Gateway: gw, Currency: "EUR",
		Now: func() time.Time { return now }, Instance: "ins_test", Lease: 30 * time.Second}), cards, gw
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

	t.Run("heartbeat renews this instance's leases", func(t *testing.T) {
		st := &fakeStore{}
		svc, _, _ := newService(st, now)
		if err := svc.Heartbeat(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(st.renewed) != 1 || st.renewed[0] != "ins_test" || !st.until.Equal(now.Add(30*time.Second)) {
			t.Fatalf("renewed %v until %v", st.renewed, st.until)
		}
	})
}
