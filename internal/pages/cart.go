package pages

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/money"
)

// cartCookie holds the id of the visitor's cart, nothing else: the API
// answers a cart only to its owner (another's is a 404, like a missing one),
// so a forged or stale id gets the visitor a new cart, never someone else's.
const cartCookie = "__Host-bulwark_cart"

// The API's cart and order shapes, as far as the pages show them.
type (
	cartJSON struct {
		ID              string         `json:"id"`
		Currency        string         `json:"currency"`
		Items           []cartItemJSON `json:"items"`
		Unavailable     []struct{}     `json:"unavailable_items"`
		Subtotal        money.Money    `json:"subtotal"`
		Discount        *discountJSON  `json:"discount"`
		ShippingAddress *struct{}      `json:"shipping_address"`
		Shipping        *cartShipJSON  `json:"shipping"`
		TaxesKnown      bool           `json:"taxes_known"`
		TaxInclusive    bool           `json:"tax_inclusive"`
		Tax             money.Money    `json:"tax"`
		Total           money.Money    `json:"total"`
		Problems        []problemJSON  `json:"problems"`
	}
	cartItemJSON struct {
		VariantID string            `json:"variant_id"`
		ProductID string            `json:"product_id"`
		SKU       string            `json:"sku"`
		Name      string            `json:"name"`
		Options   map[string]string `json:"options"`
		Quantity  int               `json:"quantity"`
		UnitPrice money.Money       `json:"unit_price"`
		LineTotal money.Money       `json:"line_total"`
	}
	discountJSON struct {
		Code   string      `json:"code"`
		Amount money.Money `json:"amount"`
	}
	cartShipJSON struct {
		Name  string      `json:"name"`
		Price money.Money `json:"price"`
	}
	problemJSON struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	addressJSON struct {
		Name       string `json:"name"`
		Line1      string `json:"line1"`
		Line2      string `json:"line2,omitempty"`
		City       string `json:"city"`
		PostalCode string `json:"postal_code"`
		Country    string `json:"country"`
		Region     string `json:"region,omitempty"`
		Phone      string `json:"phone,omitempty"`
	}
	savedAddressJSON struct {
		ID      string      `json:"id"`
		Address addressJSON `json:"address"`
	}
	methodJSON struct {
		ID       string `json:"id"`
		Brand    string `json:"brand"`
		Last4    string `json:"last4"`
		ExpMonth int    `json:"exp_month"`
		ExpYear  int    `json:"exp_year"`
	}
)

// cartID is the visitor's cart id from its cookie ("" for none).
func (p *page) cartID() string {
	if c, err := p.r.Cookie(cartCookie); err == nil && strings.HasPrefix(c.Value, "cart_") && len(c.Value) < 64 {
		return c.Value
	}
	return ""
}

// cart reads the visitor's cart; with create, a visitor without one (or
// whose cookie names a cart the API does not give them) gets a new one.
func (p *page) cart(create bool) (*cartJSON, error) {
	if !p.signedIn() {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated"}
	}
	var c cartJSON
	if id := p.cartID(); id != "" {
		err := p.call(http.MethodGet, "/api/v1/carts/"+url.PathEscape(id), nil, &c)
		var e *apiError
		switch {
		case err == nil:
			return &c, nil
		case errors.As(err, &e) && e.Status == http.StatusNotFound:
		default:
			return nil, err
		}
	}
	if !create {
		return nil, nil
	}
	if err := p.call(http.MethodPost, "/api/v1/carts", nil, &c); err != nil {
		return nil, err
	}
	http.SetCookie(p.w, &http.Cookie{Name: cartCookie, Value: c.ID, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: 30 * 24 * 3600})
	return &c, nil
}

// cartPage draws the cart.
func (p *page) cartPage() error {
	c, err := p.cart(false)
	if err != nil {
		return err
	}
	return p.show("cart.html", "Your cart", c)
}

// addToCart adds the product page's variant and quantity to the cart.
func (p *page) addToCart() error {
	variant := p.r.PostFormValue("variant")
	qty, err := strconv.Atoi(p.r.PostFormValue("quantity"))
	if err != nil || qty < 1 || qty > 99 {
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Detail: "Choose a quantity from 1 to 99."}
	}
	if !p.signedIn() {
		back := "/cart"
		if prod := p.r.PostFormValue("product"); strings.HasPrefix(prod, "prod_") {
			back = "/products/" + url.PathEscape(prod)
		}
		return p.redirect("/signin?next="+url.QueryEscape(back), "")
	}
	c, err := p.cart(true)
	if err != nil {
		return err
	}
	for _, it := range c.Items {
		if it.VariantID == variant {
			qty += it.Quantity
		}
	}
	if err := p.call(http.MethodPut, "/api/v1/carts/"+url.PathEscape(c.ID)+"/items/"+url.PathEscape(variant),
		map[string]int{"quantity": min(qty, 99)}, nil); err != nil {
		return err
	}
	return p.redirect("/cart", "added")
}

// setCartItem changes a line's quantity (0 removes it).
func (p *page) setCartItem() error {
	qty, err := strconv.Atoi(p.r.PostFormValue("quantity"))
	if err != nil {
		qty = -1 // the API refuses it with its own message
	}
	c, err := p.cart(false)
	if err != nil {
		return err
	}
	if c == nil {
		return p.redirect("/cart", "")
	}
	err = p.call(http.MethodPut, "/api/v1/carts/"+url.PathEscape(c.ID)+"/items/"+url.PathEscape(p.r.PathValue("id")),
		map[string]int{"quantity": qty}, nil)
	if err != nil {
		return p.refuse("cart.html", "Your cart", c, err)
	}
	return p.redirect("/cart", "updated")
}

// setDiscount applies a discount code, or removes the cart's.
func (p *page) setDiscount() error {
	c, err := p.cart(false)
	if err != nil {
		return err
	}
	if c == nil {
		return p.redirect("/cart", "")
	}
	path := "/api/v1/carts/" + url.PathEscape(c.ID) + "/discount"
	if code := strings.TrimSpace(p.r.PostFormValue("code")); code != "" {
		err = p.call(http.MethodPut, path, map[string]string{"code": code}, nil)
	} else {
		err = p.call(http.MethodDelete, path, nil, nil)
	}
	if err != nil {
		return p.refuse("cart.html", "Your cart", c, err)
	}
	return p.redirect("/cart", "updated")
}

// checkoutPage is the checkout's data: the cart, where it goes, how it is
// paid, and the key that makes sending the form twice one order.
type checkoutPage struct {
	Cart           *cartJSON
	Addresses      []savedAddressJSON
	Methods        []methodJSON
	IdempotencyKey string
	// AddressID is the saved address the cart ships to, chosen in the
	// first step (?address=, or the form's address_id).
	AddressID string
}

// checkoutForm draws the checkout: first where the cart ships (which
// decides taxes and shipping), then the payment.
func (p *page) checkoutForm() error {
	c, err := p.cart(false)
	if err != nil {
		return err
	}
	if c == nil || len(c.Items) == 0 {
		return p.redirect("/cart", "")
	}
	data, err := p.checkoutData(c)
	if err != nil {
		return err
	}
	return p.show("checkout.html", "Checkout", data)
}

func (p *page) checkoutData(c *cartJSON) (checkoutPage, error) {
	data := checkoutPage{Cart: c, IdempotencyKey: newKey()}
	var addrs list[savedAddressJSON]
	if err := p.call(http.MethodGet, "/api/v1/me/addresses", nil, &addrs); err != nil {
		return data, err
	}
	var methods list[methodJSON]
	if err := p.call(http.MethodGet, "/api/v1/payment-methods", nil, &methods); err != nil {
		return data, err
	}
	data.Addresses, data.Methods = addrs.Items, methods.Items
	want := p.r.URL.Query().Get("address")
	if p.r.Method == http.MethodPost {
		want = p.r.PostFormValue("address_id")
	}
	for _, a := range data.Addresses {
		if a.ID == want {
			data.AddressID = a.ID
		}
	}
	return data, nil
}

// newKey is a random idempotency key for one checkout form.
func newKey() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return "page-" + base64.RawURLEncoding.EncodeToString(b)
}

// formAddress reads the new-address fields of a form.
func formAddress(f url.Values) addressJSON {
	return addressJSON{Name: f.Get("name"), Line1: f.Get("line1"), Line2: f.Get("line2"), City: f.Get("city"),
		PostalCode: f.Get("postal_code"), Country: strings.ToUpper(f.Get("country")), Region: f.Get("region"), Phone: f.Get("phone")}
}

// shipTo sets where the cart ships: a saved address, or a new one saved to
// the address book first (the checkout then names it by id).
func (p *page) shipTo() error {
	c, err := p.cart(false)
	if err != nil {
		return err
	}
	if c == nil {
		return p.redirect("/cart", "")
	}
	refuse := func(err error) error {
		data, derr := p.checkoutData(c)
		if derr != nil {
			return derr
		}
		return p.refuse("checkout.html", "Checkout", data, err)
	}
	id := p.r.PostFormValue("address_id")
	var addr addressJSON
	if id == "" || id == "new" {
		var saved savedAddressJSON
		if err := p.call(http.MethodPost, "/api/v1/me/addresses", map[string]any{"address": formAddress(p.r.PostForm)}, &saved); err != nil {
			return refuse(err)
		}
		id, addr = saved.ID, saved.Address
	} else {
		var addrs list[savedAddressJSON]
		if err := p.call(http.MethodGet, "/api/v1/me/addresses", nil, &addrs); err != nil {
			return err
		}
		for _, a := range addrs.Items {
			if a.ID == id {
				addr = a.Address
			}
		}
		if addr.Country == "" {
			return errNotFound
		}
	}
	body := map[string]any{"address": addr}
	if opt := p.r.PostFormValue("shipping_option"); opt != "" {
		body["shipping_option"] = opt
	}
	if err := p.call(http.MethodPut, "/api/v1/carts/"+url.PathEscape(c.ID)+"/shipping", body, nil); err != nil {
		return refuse(err)
	}
	return p.redirect("/checkout?address="+url.QueryEscape(id), "")
}

// placeOrder pays the cart: with a saved card, or a new one saved first
// (the number goes to the API once and is never drawn again), through POST
// /api/v1/checkout with the form's idempotency key and the total the
// visitor was shown: a second send of the same form is the same order, and
// a price that changed meanwhile is refused, not charged.
func (p *page) placeOrder() error {
	c, err := p.cart(false)
	if err != nil {
		return err
	}
	if c == nil {
		// The cart is gone: most often this very form was sent again
		// (a reload, a double click) after it made its order.
		return p.redirect("/account", "no-cart")
	}
	f := p.r.PostForm
	refuse := func(err error) error {
		data, derr := p.checkoutData(c)
		if derr != nil {
			return derr
		}
		return p.refuse("checkout.html", "Checkout", data, err)
	}
	method, typed := f.Get("payment_method"), false
	if method == "" || method == "new" {
		typed = true
		month, _ := strconv.Atoi(f.Get("exp_month"))
		year, _ := strconv.Atoi(f.Get("exp_year"))
		var m methodJSON
		if err := p.call(http.MethodPost, "/api/v1/payment-methods", map[string]any{"number": strings.ReplaceAll(f.Get("number"), " ", ""),
			"exp_month": month, "exp_year": year, "holder": f.Get("holder")}, &m); err != nil {
			return refuse(err)
		}
		method = m.ID
	}
	amount, _ := strconv.ParseInt(f.Get("expected_amount"), 10, 64)
	body := map[string]any{"cart_id": c.ID, "payment_method": method, "cvc": f.Get("cvc"),
		"shipping_address_id": f.Get("address_id"),
		"expected_total":      money.Money{Amount: amount, Currency: f.Get("expected_currency")}}
	var out struct {
		ID string `json:"id"`
	}
	err = p.callWith(http.MethodPost, "/api/v1/checkout", http.Header{"Idempotency-Key": {f.Get("idempotency_key")}}, body, &out)
	if err != nil {
		if typed {
			// A card typed for a checkout that did not happen is not kept.
			if derr := p.call(http.MethodDelete, "/api/v1/payment-methods/"+url.PathEscape(method), nil, nil); derr != nil {
				p.s.opts.Log.WarnContext(p.r.Context(), "pages: a refused checkout's new card was not removed", "err", derr)
			}
		}
		var e *apiError
		if errors.As(err, &e) && e.Code == "idempotency_key_reused" {
			// This very form was sent before and made its order: the
			// second send (a double click, a reload) charges nothing.
			return p.redirect("/account", "already-ordered")
		}
		return refuse(err)
	}
	http.SetCookie(p.w, &http.Cookie{Name: cartCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	return p.redirect("/account/orders/"+url.PathEscape(out.ID), "ordered")
}
