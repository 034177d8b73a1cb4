package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/guest"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// Guest checkout (issue 13). The cart token travels in a header of its own,
// never in a URL (URLs end up in logs, histories and Referer headers); a
// browser cannot attach it to a forged cross-site request, as it would a
// cookie. The order link's token comes the same way: the mailed link opens
// the storefront with it in the fragment, which browsers never send to a
// server, and the storefront passes it on in Order-Token.
const (
	CartTokenHeader  = "Cart-Token"
	OrderTokenHeader = "Order-Token"
)

// guestCartJSON is a new guest cart with its token, shown this once.
type guestCartJSON struct {
	cartJSON
	CartToken string `json:"cart_token"`
}

func (a *API) createGuestCart(w http.ResponseWriter, r *http.Request) error {
	if !a.Guests.Enabled() {
		return guest.ErrOff
	}
	var req createCartRequest
	if err := decodeOptionalBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	v, token, err := a.Guests.StartCart(r.Context(), req.Currency)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, guestCartJSON{cartJSON: toCartJSON(v), CartToken: token})
	return nil
}

// guestCardJSON is the card of a guest checkout, as payment methods take it.
type guestCardJSON struct {
	Number   string `json:"number"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
	Holder   string `json:"holder"`
	// BillingCountry is the country of the card's billing address
	// (optional), for fraud scoring.
	BillingCountry string `json:"billing_country"`
}

type guestCheckoutRequest struct {
	Email           string         `json:"email"`
	Card            *guestCardJSON `json:"card"`
	CVC             string         `json:"cvc"`
	ShippingAddress order.Address  `json:"shipping_address"`
	ExpectedTotal   *money.Money   `json:"expected_total"`
}

func (a *API) guestCheckout(w http.ResponseWriter, r *http.Request) error {
	if !a.Guests.Enabled() {
		return guest.ErrOff
	}
	key := r.Header.Get("Idempotency-Key")
	if !order.ValidKey(key) {
		return order.ErrKeyRequired
	}
	var req guestCheckoutRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	var card vault.Card
	var billing string
	if req.Card != nil {
		card = vault.Card{Number: req.Card.Number, ExpMonth: req.Card.ExpMonth, ExpYear: req.Card.ExpYear, Holder: req.Card.Holder}
		billing = req.Card.BillingCountry
	}
	o, replayed, err := a.Guests.Checkout(r.Context(), key, checkout.GuestRequest{
		Request: checkout.Request{CartID: r.PathValue("id"), CVC: req.CVC, ShippingAddress: req.ShippingAddress, ExpectedTotal: req.ExpectedTotal},
		Email:   req.Email, Card: card, BillingCountry: billing})
	if replayed {
		w.Header().Set(replayedHeader, "true")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, toOrderJSON(o, access.OrderOwner))
	return nil
}

func (a *API) guestOrder(w http.ResponseWriter, r *http.Request) error {
	if !a.Guests.Enabled() {
		return guest.ErrOff
	}
	o, err := a.Guests.Order(r.Context(), r.PathValue("id"), r.Header.Get(OrderTokenHeader))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, toOrderJSON(o, access.OrderOwner))
	return nil
}

// authorizeGuest returns r with the guest principal of the cart {id} whose
// token the request carries in Cart-Token; a token that is not that cart's
// is not_found, as someone else's cart is.
func (a *API) authorizeGuest(r *http.Request) (*http.Request, error) {
	p, err := a.Guests.Authenticate(r.Context(), r.PathValue("id"), r.Header.Get(CartTokenHeader))
	if err != nil {
		return r, err
	}
	return r.WithContext(access.WithPrincipal(r.Context(), p)), nil
}
