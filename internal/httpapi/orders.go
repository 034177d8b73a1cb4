package httpapi

import (
	"net/http"
	"time"

	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
)

type orderPaymentJSON struct {
	Brand string `json:"brand"`
	Last4 string `json:"last4"`
}

// orderJSON is the API's Order.
type orderJSON struct {
	ID              string           `json:"id"`
	Status          string           `json:"status"`
	Items           []order.Line     `json:"items"`
	Subtotal        money.Money      `json:"subtotal"`
	Shipping        money.Money      `json:"shipping"`
	Total           money.Money      `json:"total"`
	Refunded        money.Money      `json:"refunded"`
	Payment         orderPaymentJSON `json:"payment"`
	ShippingAddress order.Address    `json:"shipping_address"`
	CreatedAt       time.Time        `json:"created_at"`
}

func toOrderJSON(o order.Order) orderJSON {
	items := o.Lines
	if items == nil {
		items = []order.Line{}
	}
	return orderJSON{ID: o.ID, Status: o.Status, Items: items, Subtotal: o.Subtotal, Shipping: o.Shipping, Total: o.Total,
		Refunded: o.Refunded, Payment: orderPaymentJSON{Brand: o.Brand, Last4: o.Last4}, ShippingAddress: o.ShippingAddress,
		CreatedAt: o.CreatedAt.UTC()}
}

// replayedHeader marks an answer given again for a repeated Idempotency-Key.
const replayedHeader = "Idempotent-Replayed"

type checkoutRequest struct {
	CartID          string        `json:"cart_id"`
	PaymentMethod   string        `json:"payment_method"`
	CVC             string        `json:"cvc"`
	ShippingAddress order.Address `json:"shipping_address"`
}

func (a *API) checkout(w http.ResponseWriter, r *http.Request) error {
	key := r.Header.Get("Idempotency-Key")
	if !order.ValidKey(key) {
		return order.ErrKeyRequired
	}
	var req checkoutRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	o, replayed, err := a.Checkout.Checkout(r.Context(), key, checkout.Request{CartID: req.CartID, PaymentMethodID: req.PaymentMethod,
		CVC: req.CVC, ShippingAddress: req.ShippingAddress})
	if replayed {
		w.Header().Set(replayedHeader, "true")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toOrderJSON(o))
	return nil
}

func writeOrders(w http.ResponseWriter, os []order.Order, more bool) {
	out := listJSON[orderJSON]{Items: make([]orderJSON, 0, len(os))}
	for _, o := range os {
		out.Items = append(out.Items, toOrderJSON(o))
	}
	if more {
		out.NextCursor = encodeCursor(os[len(os)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) myOrders(w http.ResponseWriter, r *http.Request) error {
	after, err := decodeCursor(r.URL.Query().Get("cursor"), id.Order)
	if err != nil {
		return err
	}
	os, more, err := a.Orders.Mine(r.Context(), parseLimit(r), after)
	if err != nil {
		return err
	}
	writeOrders(w, os, more)
	return nil
}

func (a *API) myOrder(w http.ResponseWriter, r *http.Request) error {
	o, err := a.Orders.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrderJSON(o))
	return nil
}

func (a *API) allOrders(w http.ResponseWriter, r *http.Request) error {
	after, err := decodeCursor(r.URL.Query().Get("cursor"), id.Order)
	if err != nil {
		return err
	}
	os, more, err := a.Orders.All(r.Context(), parseLimit(r), after)
	if err != nil {
		return err
	}
	writeOrders(w, os, more)
	return nil
}

type refundRequest struct {
	Amount *money.Money `json:"amount"`
}

func (a *API) refund(w http.ResponseWriter, r *http.Request) error {
	key := r.Header.Get("Idempotency-Key")
	if !order.ValidKey(key) {
		return order.ErrKeyRequired
	}
	// The body is required, {} for a full refund: a bare POST must not refund everything.
	var req refundRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	o, replayed, err := a.Orders.Refund(r.Context(), key, r.PathValue("id"), req.Amount)
	if replayed {
		w.Header().Set(replayedHeader, "true")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrderJSON(o))
	return nil
}
