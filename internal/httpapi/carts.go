package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/money"
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
}

// cartJSON is the API's Cart.
type cartJSON struct {
	ID       string         `json:"id"`
	Currency string         `json:"currency"`
	Items    []cartLineJSON `json:"items"`
	Subtotal money.Money    `json:"subtotal"`
}

func toCartJSON(v cart.View) cartJSON {
	out := cartJSON{ID: v.ID, Currency: v.Currency, Items: make([]cartLineJSON, 0, len(v.Lines)), Subtotal: v.Subtotal}
	for _, l := range v.Lines {
		opts := l.Variant.Options
		if opts == nil {
			opts = map[string]string{}
		}
		out.Items = append(out.Items, cartLineJSON{VariantID: l.Variant.ID, ProductID: l.Product.ID, Options: opts, SKU: l.Variant.SKU,
			Name: l.Product.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice, LineTotal: l.LineTotal})
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
