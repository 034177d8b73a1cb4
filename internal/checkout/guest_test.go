package checkout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// recordingVault stands in for the card vault: it hands out tokens and
// records which it was asked to delete.
type recordingVault struct {
	tokenized []vault.Card
	deleted   []string
	issued    []string
}

func (v *recordingVault) Tokenize(_ context.Context, c vault.Card) (vault.Token, error) {
	v.tokenized = append(v.tokenized, c)
	tok := vault.Token{ID: id.New(id.CardToken), Brand: vault.Visa, Last4: c.Number[len(c.Number)-4:], ExpMonth: c.ExpMonth, ExpYear: c.ExpYear}
	v.issued = append(v.issued, tok.ID)
	return tok, nil
}

func (v *recordingVault) Delete(_ context.Context, token string) error {
	v.deleted = append(v.deleted, token)
	return nil
}

type recordingGuests struct {
	emails map[string]string
	held   map[string]time.Time
}

func (g *recordingGuests) SetGuestEmail(_ context.Context, guestID, email, _ string, _ time.Time) error {
	g.emails[guestID] = email
	return nil
}

func (g *recordingGuests) HoldGuestCard(_ context.Context, token string, at time.Time) error {
	g.held[token] = at
	return nil
}

func (g *recordingGuests) DropGuestCard(_ context.Context, token string) error {
	delete(g.held, token)
	return nil
}

func (g *recordingGuests) StaleGuestCards(_ context.Context, before time.Time, _ int) ([]string, error) {
	var out []string
	for t, at := range g.held {
		if at.Before(before) {
			out = append(out, t)
		}
	}
	return out, nil
}

// failingDeleteVault is recordingVault whose deletes fail while failing is set.
type failingDeleteVault struct {
	recordingVault
	failing bool
}

func (v *failingDeleteVault) Delete(ctx context.Context, token string) error {
	if v.failing {
		return errors.New("vault unreachable")
	}
	return v.recordingVault.Delete(ctx, token)
}

// replayStore is fakeStore whose keys were all answered before.
type replayStore struct{ *fakeStore }

func (replayStore) PeekIdempotent(context.Context, string, string, string, string) (order.Prior, error) {
	return order.Prior{Order: &order.Order{ID: "ord_earlier", Status: order.StatusPaid}}, nil
}

func newGuestService(st checkout.Store, now time.Time) (*checkout.Service, *recordingVault, *recordingGuests, *countingGateway) {
	v, g, gw := &recordingVault{}, &recordingGuests{emails: map[string]string{}, held: map[string]time.Time{}}, &countingGateway{}
	svc := checkout.NewService(checkout.Deps{Store: st, Carts: pricedCarts{oneLine()}, Methods: fakeMethods{}, Cards: &countingCards{}, Gateway: gw,
		Now: func() time.Time { return now }, Instance: "ins_test", GuestCheckout: true, Vault: v, Guests: g})
	return svc, v, g, gw
}

func guestRequest(cartID string) checkout.GuestRequest {
	r := request()
	r.CartID, r.PaymentMethodID = cartID, ""
	return checkout.GuestRequest{Request: r, Email: "Guest@Example.com",
		Card: vault.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2031, Holder: "Pat"}}
}

func asGuest(cartID string) (context.Context, string) {
	guestID := id.New(id.User)
	return access.WithPrincipal(context.Background(), &access.Principal{UserID: guestID, GuestCartID: cartID}), guestID
}

func TestCheckoutGuest(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	cartID := id.New(id.Cart)

	t.Run("a paid guest checkout uses the card once and deletes it from the vault", func(t *testing.T) {
		st := &fakeStore{reserve: []reserveReply{{prior: order.Prior{Fresh: true}}}}
		svc, v, g, gw := newGuestService(st, now)
		ctx, guestID := asGuest(cartID)
		o, replayed, err := svc.CheckoutGuest(ctx, "key-g1", guestRequest(cartID))
		if err != nil || replayed || o.Status != order.StatusPaid {
			t.Fatalf("= %+v, %v, %v", o, replayed, err)
		}
		if len(v.tokenized) != 1 || len(v.deleted) != 1 || v.deleted[0] != v.issued[0] || gw.authorized != 1 {
			t.Fatalf("vault: %d tokenized, deleted %v of %v; %d authorizations", len(v.tokenized), v.deleted, v.issued, gw.authorized)
		}
		r := st.reserved[0]
		if r.CustomerID != guestID || r.Method.ID != "" || r.Method.Token != v.issued[0] || r.Method.Last4 != "4242" {
			t.Fatalf("reservation for %s with method %+v", r.CustomerID, r.Method)
		}
		if len(g.held) != 0 {
			t.Fatalf("the card's token is still held after its delete: %v", g.held)
		}
		if g.emails[guestID] != "guest@example.com" {
			t.Fatalf("guest email kept as %q", g.emails[guestID])
		}
	})

	t.Run("a checkout refused after the card went to the vault deletes it too", func(t *testing.T) {
		st := &fakeStore{reserve: []reserveReply{{err: order.ErrOutOfStock}}}
		svc, v, _, gw := newGuestService(st, now)
		ctx, _ := asGuest(cartID)
		if _, _, err := svc.CheckoutGuest(ctx, "key-g2", guestRequest(cartID)); !errors.Is(err, order.ErrOutOfStock) {
			t.Fatalf("err = %v", err)
		}
		if len(v.deleted) != 1 || gw.authorized != 0 {
			t.Fatalf("deleted %v, %d authorizations", v.deleted, gw.authorized)
		}
	})

	t.Run("a replayed key answers before the card goes anywhere", func(t *testing.T) {
		svc, v, g, _ := newGuestService(replayStore{&fakeStore{}}, now)
		ctx, _ := asGuest(cartID)
		o, replayed, err := svc.CheckoutGuest(ctx, "key-g3", guestRequest(cartID))
		if err != nil || !replayed || o.ID != "ord_earlier" {
			t.Fatalf("= %+v, %v, %v", o, replayed, err)
		}
		if len(v.tokenized) != 0 || len(g.emails) != 0 {
			t.Fatalf("a replay sent %d cards to the vault and kept %d emails", len(v.tokenized), len(g.emails))
		}
	})

	t.Run("bad input and other callers change nothing", func(t *testing.T) {
		badEmail := guestRequest(cartID)
		badEmail.Email = "not an email"
		noCard := guestRequest(cartID)
		noCard.Card = vault.Card{}
		otherCart := guestRequest(id.New(id.Cart))
		guestCtx, _ := asGuest(cartID)
		for name, tc := range map[string]struct {
			ctx  context.Context
			r    checkout.GuestRequest
			code string
		}{
			"a bad email":               {guestCtx, badEmail, apperr.CodeValidation},
			"no card":                   {guestCtx, noCard, apperr.CodeValidation},
			"another cart than its own": {guestCtx, otherCart, apperr.CodeValidation},
			"an account":                {customer(), guestRequest(cartID), apperr.CodeUnauthenticated},
			"nobody":                    {context.Background(), guestRequest(cartID), apperr.CodeUnauthenticated},
		} {
			st := &fakeStore{}
			svc, v, g, _ := newGuestService(st, now)
			_, _, err := svc.CheckoutGuest(tc.ctx, "key-bad", tc.r)
			if apperr.Code(err) != tc.code {
				t.Errorf("%s: err = %v, want %s", name, err, tc.code)
			}
			if len(v.tokenized) != 0 || len(g.emails) != 0 || len(st.reserved) != 0 {
				t.Errorf("%s: %d cards to the vault, %d emails kept, %d reservations", name, len(v.tokenized), len(g.emails), len(st.reserved))
			}
		}
	})

	t.Run("a card the vault did not delete is held, and swept after GuestCardLife", func(t *testing.T) {
		st := &fakeStore{reserve: []reserveReply{{prior: order.Prior{Fresh: true}}}}
		clock := now
		v, g := &failingDeleteVault{}, &recordingGuests{emails: map[string]string{}, held: map[string]time.Time{}}
		svc := checkout.NewService(checkout.Deps{Store: st, Carts: pricedCarts{oneLine()}, Methods: fakeMethods{}, Cards: &countingCards{},
			Gateway: &countingGateway{}, Now: func() time.Time { return clock }, Instance: "ins_test", GuestCheckout: true, Vault: v, Guests: g})
		ctx, _ := asGuest(cartID)
		v.failing = true
		if _, _, err := svc.CheckoutGuest(ctx, "key-g4", guestRequest(cartID)); err != nil {
			t.Fatal(err)
		}
		if len(g.held) != 1 {
			t.Fatalf("%d cards held after a failed delete, want 1", len(g.held))
		}
		v.failing = false
		if n, err := svc.SweepGuestCards(context.Background()); err != nil || n != 0 {
			t.Fatalf("a young card swept: %d, %v", n, err)
		}
		clock = clock.Add(checkout.GuestCardLife + time.Minute)
		if n, err := svc.SweepGuestCards(context.Background()); err != nil || n != 1 || len(g.held) != 0 || len(v.deleted) != 1 || v.deleted[0] != v.issued[0] {
			t.Fatalf("sweep = %d, %v; held %v; deleted %v of %v", n, err, g.held, v.deleted, v.issued)
		}
	})

	t.Run("without a vault for guests (guest checkout off) it is not found", func(t *testing.T) {
		svc, _, _ := newService(&fakeStore{}, now)
		ctx, _ := asGuest(cartID)
		if _, _, err := svc.CheckoutGuest(ctx, "key-off", guestRequest(cartID)); !errors.Is(err, checkout.ErrGuestCheckoutOff) {
			t.Fatalf("err = %v", err)
		}
	})
}
