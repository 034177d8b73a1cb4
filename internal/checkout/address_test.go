package checkout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/addressbook"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// book is an address book of one address, owned by owner.
type book struct {
	owner, id string
	address   order.Address
}

func (b book) Resolve(ctx context.Context, addressID string) (order.Address, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return order.Address{}, err
	}
	if p.UserID != b.owner || addressID != b.id {
		return order.Address{}, addressbook.ErrNotFound
	}
	return b.address, nil
}

func TestCheckoutWithSavedAddress(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	owner := id.New(id.User)
	saved := order.Address{Name: "Sam Saved", Line1: "2 Side St", City: "Paris", PostalCode: "75001", Country: "FR"}
	b := book{owner: owner, id: id.New(id.Address), address: saved}
	start := func(st *fakeStore, addresses checkout.Addresses) *checkout.Service {
		return checkout.NewService(checkout.Deps{Store: st, Carts: pricedCarts{oneLine()}, Methods: fakeMethods{}, Cards: &countingCards{},
			Gateway: &countingGateway{}, Addresses: addresses, Now: func() time.Time { return now }, Instance: "ins_test"})
	}
	as := func(userID string) context.Context {
		return access.WithPrincipal(context.Background(), &access.Principal{UserID: userID})
	}
	byID := func() checkout.Request {
		r := request()
		r.ShippingAddress, r.ShippingAddressID = order.Address{}, b.id
		return r
	}

	t.Run("the saved address is the order's", func(t *testing.T) {
		st := &fakeStore{reserve: []reserveReply{{prior: order.Prior{Fresh: true}}}}
		if _, _, err := start(st, b).Checkout(as(owner), "key-1", byID()); err != nil {
			t.Fatal(err)
		}
		if got := st.reserved[0].Address; got != saved {
			t.Fatalf("reserved address %+v, want %+v", got, saved)
		}
	})
	t.Run("another customer's address id is not found and nothing is reserved", func(t *testing.T) {
		st := &fakeStore{}
		_, _, err := start(st, b).Checkout(as(id.New(id.User)), "key-1", byID())
		if !errors.Is(err, addressbook.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
		if len(st.reserved) != 0 || len(st.refusals) != 0 {
			t.Fatal("a checkout with another's address reserved or recorded something")
		}
	})
	t.Run("both an address and an id are refused", func(t *testing.T) {
		st := &fakeStore{}
		r := byID()
		r.ShippingAddress = saved
		_, _, err := start(st, b).Checkout(as(owner), "key-1", r)
		if apperr.Code(err) != apperr.CodeValidation || len(st.reserved) != 0 {
			t.Fatalf("err = %v, %d reserved", err, len(st.reserved))
		}
	})
	t.Run("without an address book an id is refused", func(t *testing.T) {
		st := &fakeStore{}
		if _, _, err := start(st, nil).Checkout(as(owner), "key-1", byID()); apperr.Code(err) != apperr.CodeValidation {
			t.Fatalf("err = %v", err)
		}
	})
}
