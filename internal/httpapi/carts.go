package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/pricing"
)

type cartLineJSON struct {
	VariantID string            `json:"variant_id"`
	ProductID string            `json:"product_id"`
	Options   map[string]string `json:"options"`
	SKU       string            `json:"sku"`
	Name      string            `json:"name"`
	Quantity  int               `json:"quantity"`
	UnitPrice money.Money       `json:"unit_price"`
	LineTotal money.Money       `json:"line_total"`
	Discount  money.Money       `json:"discount"`
	Tax       money.Money       `json:"tax"`
}

type cartUnavailableJSON struct {
	VariantID string `json:"variant_id"`
	Quantity  int    `json:"quantity"`
}

type cartDiscountJSON struct {
	Code   string      `json:"code"`
	Amount money.Money `json:"amount"`
}

type cartDestinationJSON struct {
	Country string `json:"country"`
	Region  string `json:"region,omitempty"`
}

type cartShippingJSON struct {
	OptionID string `json:"option_id"`
	Name     string `json:"name"`
	// Price is the option's price for this cart; Amount what is charged
	// (0 under a free-shipping discount).
	Price  money.Money `json:"price"`
	Amount money.Money `json:"amount"`
}

type cartProblemJSON struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// cartJSON is the API's Cart: every amount computed by the server.
type cartJSON struct {
	ID               string                `json:"id"`
	Currency         string                `json:"currency"`
	Items            []cartLineJSON        `json:"items"`
	UnavailableItems []cartUnavailableJSON `json:"unavailable_items"`
	Subtotal         money.Money           `json:"subtotal"`
	// Discount is the applied code and what it takes off; null for none
	// (a code that no longer applies is named in problems instead).
	Discount        *cartDiscountJSON    `json:"discount"`
	ShippingAddress *cartDestinationJSON `json:"shipping_address"`
	Shipping        *cartShippingJSON    `json:"shipping"`
	TaxInclusive    bool                 `json:"tax_inclusive"`
	// TaxesKnown is false until the cart has a shipping address: taxes
	// depend on where it ships.
	TaxesKnown bool              `json:"taxes_known"`
	Taxes      []order.TaxLine   `json:"taxes"`
	Tax        money.Money       `json:"tax"`
	Total      money.Money       `json:"total"`
	Problems   []cartProblemJSON `json:"problems"`
}

func toCartJSON(v cart.View) cartJSON {
	q, cur := v.Quote, v.Currency
	m := func(a int64) money.Money { return money.Money{Amount: a, Currency: cur} }
	out := cartJSON{ID: v.ID, Currency: cur, Items: make([]cartLineJSON, 0, len(v.Lines)),
		UnavailableItems: make([]cartUnavailableJSON, 0, len(v.Unavailable)), Subtotal: v.Subtotal,
		TaxInclusive: q.TaxMode == pricing.TaxInclusive, TaxesKnown: q.TaxesKnown, Tax: m(q.Tax), Total: m(q.Total),
		Taxes: checkout.Priced(q).Taxes, Problems: make([]cartProblemJSON, 0, len(v.Problems))}
	for _, l := range v.Lines {
		opts := l.Variant.Options
		if opts == nil {
			opts = map[string]string{}
		}
		out.Items = append(out.Items, cartLineJSON{VariantID: l.Variant.ID, ProductID: l.Product.ID, Options: opts, SKU: l.Variant.SKU,
			Name: l.Product.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice, LineTotal: l.LineTotal, Discount: l.Discount, Tax: l.Tax})
	}
	for _, l := range v.Unavailable {
		out.UnavailableItems = append(out.UnavailableItems, cartUnavailableJSON{VariantID: l.VariantID, Quantity: l.Quantity})
	}
	if q.DiscountCode != "" {
		out.Discount = &cartDiscountJSON{Code: q.DiscountCode, Amount: m(q.Discount)}
	}
	if d := v.Cart.Destination; d != nil {
		out.ShippingAddress = &cartDestinationJSON{Country: d.Country, Region: d.Region}
	}
	if sh := q.Shipping; sh != nil {
		out.Shipping = &cartShippingJSON{OptionID: sh.OptionID, Name: sh.Name, Price: m(sh.Price), Amount: m(sh.Amount)}
	}
	for _, p := range v.Problems {
		out.Problems = append(out.Problems, cartProblemJSON{Code: p.Code, Detail: p.Message})
	}
	if len(v.Unavailable) > 0 {
		out.Problems = append(out.Problems, cartProblemJSON{Code: cart.ErrUnavailableItems.Code, Detail: cart.ErrUnavailableItems.Message})
	}
	return out
}

type createCartRequest struct {
	Currency string `json:"currency"`
}

func (a *API) createCart(w http.ResponseWriter, r *http.Request) error {
	var req createCartRequest
	if err := decodeOptionalBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	v, err := a.Carts.Create(r.Context(), req.Currency)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toCartJSON(v))
	return nil
}

func (a *API) getCart(w http.ResponseWriter, r *http.Request) error {
	v, err := a.Carts.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCartJSON(v))
	return nil
}

type cartItemRequest struct {
	// Quantity is required (the contract says so): a pointer, so that {} is
	// told apart from {"quantity":0}, which removes the line. Left absent it
	// would read as 0 and delete the line, as null did (issue 11).
	Quantity *int `json:"quantity"`
}

func (a *API) setCartItem(w http.ResponseWriter, r *http.Request) error {
	var req cartItemRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	var check apperr.Validator
	check.Check(req.Quantity != nil, "quantity", "is required (0 removes the line)")
	if err := check.Err(); err != nil {
		return err
	}
	v, err := a.Carts.SetItem(r.Context(), r.PathValue("id"), r.PathValue("item_id"), *req.Quantity)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCartJSON(v))
	return nil
}

type cartDiscountRequest struct {
	Code *string `json:"code"`
}

func (a *API) setCartDiscount(w http.ResponseWriter, r *http.Request) error {
	var req cartDiscountRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	var check apperr.Validator
	check.Check(req.Code != nil, "code", "is required (DELETE removes the discount)")
	if err := check.Err(); err != nil {
		return err
	}
	v, err := a.Carts.SetDiscount(r.Context(), r.PathValue("id"), *req.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCartJSON(v))
	return nil
}

func (a *API) removeCartDiscount(w http.ResponseWriter, r *http.Request) error {
	v, err := a.Carts.RemoveDiscount(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCartJSON(v))
	return nil
}

// cartShippingRequest takes an Address, of which the cart keeps only the
// country and region (all that pricing needs); the full address comes with
// the checkout and is sealed on the order.
type cartShippingRequest struct {
	Address        *order.Address `json:"address"`
	ShippingOption string         `json:"shipping_option"`
}

func (a *API) setCartShipping(w http.ResponseWriter, r *http.Request) error {
	var req cartShippingRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	var check apperr.Validator
	check.Check(req.Address != nil, "address", "is required: at least its country (and region where taxes or shipping differ by region)")
	if err := check.Err(); err != nil {
		return err
	}
	d := pricing.Destination{Country: req.Address.Country, Region: req.Address.Region}
	v, err := a.Carts.SetShipping(r.Context(), r.PathValue("id"), d, req.ShippingOption)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCartJSON(v))
	return nil
}
